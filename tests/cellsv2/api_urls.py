"""A URLconf of small views that exercise the compute API framework on its own."""

from django.db import transaction
from django.urls import include, path
from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.pagination import limit_and_marker, next_links, offset_and_limit
from cellsv2.api.policy import policy_authorize
from cellsv2.quotas import quota_counter, quota_reserve
from identity.models import Project

ECHO_SCHEMA = {
    "type": "object",
    "properties": {
        "thing": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 255, "format": "name"},
                "size": {"type": "integer", "minimum": 1},
            },
            "required": ["name"],
            "additionalProperties": False,
        }
    },
    "required": ["thing"],
    "additionalProperties": False,
}
QUERY_SCHEMA = {
    "type": "object",
    "properties": {"limit": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]+$"}}},
    "additionalProperties": False,
}
ITEMS = [f"item{n:02d}" for n in range(25)]


@quota_counter("widgets")
def count_widgets(project_id, user_id):
    return Project.objects.filter(description=f"widget of {project_id}").count()


class EchoView(ComputeAPIView):
    def post(self, request):
        body = self.validated_body(ECHO_SCHEMA)
        ctx = self.context
        return Response(
            {
                "thing": body["thing"],
                "version": str(request.api_version),
                "user_id": ctx.user_id,
                "project_id": ctx.project_id,
                "roles": sorted(ctx.roles),
            }
        )

    def get(self, request):
        self.validated_query(QUERY_SCHEMA if request.api_version >= "2.75" else None)
        return Response({"version": str(request.api_version), "user_id": self.context.user_id})


class PolicyView(ComputeAPIView):
    def get(self, request, project_id):
        policy_authorize(self.context, "os_compute_api:os-server-groups:delete", {"project_id": project_id})
        return Response({"allowed": True})


class WidgetView(ComputeAPIView):
    def post(self, request):
        project_id = self.context.project_id
        with quota_reserve(project_id=project_id, resource="widgets", message="Quota exceeded, too many widgets."):
            with transaction.atomic(using="api"):
                count = Project.objects.filter(description=f"widget of {project_id}").count()
                Project.objects.create(
                    name=f"{project_id}-w{count}",
                    project_id=f"{project_id}-w{count}",
                    description=f"widget of {project_id}",
                )
        return Response({"created": True}, status=201)


class PageView(ComputeAPIView):
    def get(self, request):
        limit, marker = limit_and_marker(request)
        start = ITEMS.index(marker) + 1 if marker in ITEMS else 0
        page = ITEMS[start : start + limit]
        body = {"items": page}
        links = next_links(request, "test-page", page, limit, lambda item: item)
        if links:
            body["items_links"] = links
        return Response(body)


PAGE_QUERY = {
    "type": "object",
    "properties": {"limit": {"type": "array"}, "marker": {"type": "array"}},
    "additionalProperties": True,
}


class ValidatedPageView(PageView):
    """PageView behind a query schema that lets unknown parameters through (Nova before 2.75)."""

    def get(self, request):
        self.validated_query(PAGE_QUERY)
        return super().get(request)


class OffsetView(ComputeAPIView):
    def get(self, request):
        offset, limit = offset_and_limit(request)
        return Response({"items": ITEMS[offset : offset + limit]})


class BoomView(ComputeAPIView):
    def get(self, request):
        raise RuntimeError("secret internal detail")


class GatedView(ComputeAPIView):
    def get(self, request):
        self.require_version("2.50")
        return Response({"gated": True})

    def delete(self, request):
        return Response(status=204)


api = [
    path("test-echo", EchoView.as_view()),
    path("test-policy/<str:project_id>", PolicyView.as_view()),
    path("test-widgets", WidgetView.as_view()),
    path("test-page", PageView.as_view()),
    path("test-page-validated", ValidatedPageView.as_view()),
    path("test-offset", OffsetView.as_view()),
    path("test-boom", BoomView.as_view()),
    path("test-gated", GatedView.as_view()),
]

urlpatterns = [
    path("", include("cellsv2.urls")),
    path("v2.1/", include(api)),
]
