"""``/v2.1/servers/{id}/metadata[/{key}]``: a server's user metadata (Nova's server_metadata controller).

Read from the server as show reads it (its build request, or instance_metadata in its cell);
written in its cell under Nova's state rules (servers.services.actions). A server still being
built has its metadata readable and not changeable (409, as Nova's vm_state check answers).
"""

from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.policy import policy_authorize
from servers.api import schemas
from servers.api.views import cell_down_fault
from servers.exceptions import CellDown, MetadataItemNotFound, RequestURIMismatch
from servers.selectors import show
from servers.services import actions

RULE = "os_compute_api:server-metadata:%s"


class ServerMetadataMixin:
    openapi_tag = "servers"

    def server(self, server_id: str, rule: str):
        """The server (404; 503 for a down cell at every microversion, as Nova answers 500 for
        any), once the caller passes ``rule`` for its project."""
        try:
            server = show.server_get(context=self.context, uuid=server_id)
        except CellDown:
            raise cell_down_fault(server_id) from None
        policy_authorize(self.context, RULE % rule, {"project_id": server.get("project_id")})
        return server


class ServerMetadataView(ServerMetadataMixin, ComputeAPIView):
    openapi = {
        "get": {"summary": "List a server's metadata"},
        "post": {
            "summary": "Add or change metadata items (200, the whole result)",
            "request": schemas.METADATA_COLLECTION,
        },
        "put": {"summary": "Replace all of a server's metadata", "request": schemas.METADATA_COLLECTION},
    }

    def get(self, request, server_id):
        self.validated_query(schemas.metadata_query_schema(request.api_version))
        server = self.server(server_id, "index")
        return Response({"metadata": dict(server.metadata)})

    def post(self, request, server_id):
        return self._write(request, server_id, rule="create", replace=False)

    def put(self, request, server_id):
        return self._write(request, server_id, rule="update_all", replace=True)

    def _write(self, request, server_id, *, rule: str, replace: bool):
        body = self.validated_body(schemas.METADATA_COLLECTION)
        server = self.server(server_id, rule)
        result = actions.server_metadata_update(
            context=self.context, server=server, metadata=body["metadata"], replace=replace
        )
        return Response({"metadata": result})


class ServerMetadataItemView(ServerMetadataMixin, ComputeAPIView):
    openapi = {
        "get": {"summary": "Show one metadata item of a server"},
        "put": {"summary": "Set one metadata item", "request": schemas.METADATA_ITEM},
        "delete": {"summary": "Remove one metadata item", "responses": {204: None}},
    }

    def get(self, request, server_id, key):
        self.validated_query(schemas.metadata_query_schema(request.api_version))
        server = self.server(server_id, "show")
        if key not in server.metadata:
            raise MetadataItemNotFound()
        return Response({"meta": {key: server.metadata[key]}})

    def put(self, request, server_id, key):
        body = self.validated_body(schemas.METADATA_ITEM)
        server = self.server(server_id, "update")
        if key not in body["meta"]:
            raise RequestURIMismatch()
        actions.server_metadata_update(context=self.context, server=server, metadata=body["meta"], replace=False)
        return Response({"meta": body["meta"]})

    def delete(self, request, server_id, key):
        server = self.server(server_id, "delete")
        actions.server_metadata_delete(context=self.context, server=server, key=key)
        return Response(status=204)
