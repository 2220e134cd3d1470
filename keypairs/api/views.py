"""``/v2.1/os-keypairs``: Nova's key pair API across microversions 2.1, 2.2, 2.10, 2.35, 2.75, 2.92."""

from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.faults import NotFound
from cellsv2.api.pagination import limit_and_marker, next_links
from cellsv2.api.policy import policy_allows, policy_authorize
from keypairs import selectors, services
from keypairs.api import schemas, serializers
from keypairs.crypto import InvalidKeypair
from keypairs.exceptions import KeyPairExists, KeypairNotFound, MarkerNotFound

# How the services' exceptions answer (registered in KeypairsConfig.ready()).
FAULTS = {InvalidKeypair: 400, MarkerNotFound: 400, KeypairNotFound: 404, KeyPairExists: 409}


class KeypairViewMixin:
    openapi_tag = "os-keypairs"

    def target_user(self, requested: str | None) -> str:
        """The user the call acts for: ``user_id`` from 2.10 (admins), else the caller."""
        if requested is not None and self.request.api_version >= "2.10":
            return requested
        return self.context.user_id

    @property
    def serializer(self) -> serializers.KeypairSerializer:
        return serializers.KeypairSerializer(self.request.api_version)


class KeypairListView(KeypairViewMixin, ComputeAPIView):
    openapi = {
        "get": {"summary": "List key pairs", "responses": {200: schemas.LIST_RESPONSE}},
        "post": {
            "summary": "Create or import a key pair",
            "request": schemas.create_schema_for("2.92"),
            "responses": {201: schemas.KEYPAIR_RESPONSE, 409: None},
        },
    }

    def get(self, request):
        params = self.validated_query(schemas.list_query_schema(request.api_version))
        user_id = self.target_user(params["user_id"][0] if params.get("user_id") else None)
        policy_authorize(self.context, "os_compute_api:os-keypairs:index", {"user_id": user_id})
        limit = marker = None
        if request.api_version >= "2.35":
            limit, marker = limit_and_marker(request)
        keypairs = selectors.keypair_list(user_id=user_id, limit=limit, marker=marker)
        serializer = self.serializer
        body = {"keypairs": [{"keypair": serializer.summary(k)} for k in keypairs]}
        if request.api_version >= "2.35":
            links = next_links(request, "os-keypairs", keypairs, limit, lambda k: k.name)
            if links:
                body["keypairs_links"] = links
        return Response(body)

    def post(self, request):
        version = request.api_version
        body = self.validated_body(schemas.create_schema(version))["keypair"]
        user_id = self.target_user(body.get("user_id"))
        policy_authorize(self.context, "os_compute_api:os-keypairs:create", {"user_id": user_id})
        created = services.keypair_create(
            user_id=user_id,
            project_id=self.context.project_id,
            name=body["name"].strip(),
            key_type=body.get("type", "ssh"),
            public_key=body.get("public_key"),
        )
        result = self.serializer.created(created.keypair, created.private_key)
        return Response({"keypair": result}, status=201 if version >= "2.2" else 200)


class KeypairDetailView(KeypairViewMixin, ComputeAPIView):
    openapi = {
        "get": {"summary": "Show a key pair", "responses": {200: schemas.KEYPAIR_DETAIL_RESPONSE}},
        "delete": {"summary": "Delete a key pair", "responses": {204: None}},
    }

    def _user(self, request, rule: str, name: str) -> str:
        params = self.validated_query(schemas.item_query_schema(request.api_version))
        user_id = self.target_user(params["user_id"][0] if params.get("user_id") else None)
        if not policy_allows(self.context, rule, {"user_id": user_id}):
            # Another user's key: not found, so that its existence is not revealed.
            raise NotFound(str(KeypairNotFound(name, user_id)))
        return user_id

    def get(self, request, name):
        user_id = self._user(request, "os_compute_api:os-keypairs:show", name)
        keypair = selectors.keypair_get(user_id=user_id, name=name)
        return Response({"keypair": self.serializer.detail(keypair)})

    def delete(self, request, name):
        user_id = self._user(request, "os_compute_api:os-keypairs:delete", name)
        services.keypair_delete(user_id=user_id, name=name)
        return Response(status=204 if request.api_version >= "2.2" else 202)
