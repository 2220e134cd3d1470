"""``/v2.1/limits``, ``/v2.1/os-quota-sets`` and ``/v2.1/os-quota-class-sets``: Nova's bodies at
2.1, 2.36 (nova-network's resources gone), 2.39 (no maxImageMeta), 2.50 (quota classes: server
groups in, nova-network out), 2.57 (personality gone) and 2.75 (unknown query parameters refused).

Order of checks as in Nova: query and body schemas, then policy, then the project, then the call.
"""

from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.policy import policy_authorize
from quotas import policies, selectors, services
from quotas.api import schemas, serializers
from quotas.exceptions import InvalidProject, InvalidQuotaClassName, QuotaLimitOutOfRange

# How the services' exceptions answer (registered in QuotasConfig.ready()).
FAULTS = {QuotaLimitOutOfRange: 400, InvalidProject: 400, InvalidQuotaClassName: 400}

_TRUE = ("true", "1", "on", "yes", "y", "t")


def _first(params: dict, name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


class LimitsView(ComputeAPIView):
    openapi_tag = "limits"
    openapi = {"get": {"summary": "Show rate and absolute limits", "responses": {200: schemas.LIMITS_RESPONSE}}}

    def get(self, request):
        params = self.validated_query(schemas.limits_query_schema(request.api_version))
        policy_authorize(self.context, policies.LIMITS, {})
        project_id = self.context.project_id
        if "tenant_id" in params:
            project_id = _first(params, "tenant_id")
            policy_authorize(self.context, policies.LIMITS_OTHER_PROJECT)
        quota_set = selectors.quota_set_get(project_id=project_id, usages=True)
        return Response(serializers.LimitsSerializer(request.api_version).limits(quota_set))


class QuotaSetViewMixin:
    openapi_tag = "os-quota-sets"

    def authorized_user(self, request, action: str, project_id: str) -> str | None:
        """Validate the query, authorize ``action`` on the project, verify it; the ``user_id`` asked."""
        params = self.validated_query(schemas.user_query_schema(request.api_version))
        policy_authorize(self.context, policies.QUOTA_SETS % action, {"project_id": project_id})
        if action != "delete":  # Nova deletes without asking Keystone
            selectors.project_verify(project_id=project_id)
        return _first(params, "user_id")

    @property
    def serializer(self) -> serializers.QuotaSetSerializer:
        return serializers.QuotaSetSerializer(self.request.api_version)


class QuotaSetView(QuotaSetViewMixin, ComputeAPIView):
    openapi = {
        "get": {"summary": "Show a project's (or user's) quotas", "responses": {200: schemas.QUOTA_SET_RESPONSE}},
        "put": {"summary": "Update quotas", "responses": {200: schemas.QUOTA_SET_RESPONSE}},
        "delete": {"summary": "Revert quotas to defaults", "responses": {202: None}},
    }

    def get(self, request, project_id):
        user_id = self.authorized_user(request, "show", project_id)
        quota_set = selectors.quota_set_get(project_id=project_id, user_id=user_id)
        return Response({"quota_set": self.serializer.limits(quota_set)})

    def put(self, request, project_id):
        body = self.validated_body(schemas.quota_set_update_schema(request.api_version))["quota_set"]
        user_id = self.authorized_user(request, "update", project_id)
        force = str(body.pop("force", "false")).lower() in _TRUE
        limits = {name: int(value) for name, value in body.items()}
        services.quota_set_update(project_id=project_id, user_id=user_id, limits=limits, force=force)
        quota_set = selectors.quota_set_get(project_id=project_id, user_id=user_id)
        return Response({"quota_set": self.serializer.limits(quota_set, with_id=False)})

    def delete(self, request, project_id):
        user_id = self.authorized_user(request, "delete", project_id)
        services.quota_set_delete(project_id=project_id, user_id=user_id)
        return Response(status=202)


class QuotaSetDetailView(QuotaSetViewMixin, ComputeAPIView):
    openapi = {"get": {"summary": "Show quotas with usage", "responses": {200: schemas.QUOTA_SET_RESPONSE}}}

    def get(self, request, project_id):
        user_id = self.authorized_user(request, "detail", project_id)
        quota_set = selectors.quota_set_get(project_id=project_id, user_id=user_id, usages=True)
        return Response({"quota_set": self.serializer.detail(quota_set)})


class QuotaSetDefaultsView(QuotaSetViewMixin, ComputeAPIView):
    openapi = {"get": {"summary": "Show the default quotas", "responses": {200: schemas.QUOTA_SET_RESPONSE}}}

    def get(self, request, project_id):
        self.validated_query(schemas.empty_query_schema(request.api_version, "2.102"))
        policy_authorize(self.context, policies.QUOTA_SETS % "defaults", {"project_id": project_id})
        selectors.project_verify(project_id=project_id)
        quota_set = selectors.quota_defaults_get(project_id=project_id)
        return Response({"quota_set": self.serializer.limits(quota_set)})


class QuotaClassSetView(ComputeAPIView):
    openapi_tag = "os-quota-class-sets"
    openapi = {
        "get": {"summary": "Show a quota class", "responses": {200: schemas.QUOTA_CLASS_SET_RESPONSE}},
        "put": {"summary": "Update a quota class", "responses": {200: schemas.QUOTA_CLASS_SET_RESPONSE}},
    }

    @property
    def serializer(self) -> serializers.QuotaClassSetSerializer:
        return serializers.QuotaClassSetSerializer(self.request.api_version)

    def get(self, request, class_name):
        self.validated_query(schemas.empty_query_schema(request.api_version, "2.102"))
        policy_authorize(self.context, policies.QUOTA_CLASS_SETS % "show", {})
        quota_set = selectors.quota_class_get(class_name=class_name)
        return Response({"quota_class_set": self.serializer.limits(quota_set)})

    def put(self, request, class_name):
        body = self.validated_body(schemas.quota_class_set_update_schema(request.api_version))["quota_class_set"]
        policy_authorize(self.context, policies.QUOTA_CLASS_SETS % "update", {})
        services.quota_class_set_update(class_name=class_name, limits={k: int(v) for k, v in body.items()})
        quota_set = selectors.quota_class_get(class_name=class_name)
        return Response({"quota_class_set": self.serializer.limits(quota_set, with_id=False)})
