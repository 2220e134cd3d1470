"""``/v2.1/servers/{id}/tags[/{tag}]`` (Nova's server_tags controller, from 2.26) and
``/v2.1/servers/{id}/os-server-password`` (Nova's server_password controller).

Read from the server as show reads it (its build request, or its cell); written in its cell
through servers.services.tags under Nova's state rules.
"""

import jsonschema
from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.policy import policy_authorize
from servers.api import schemas
from servers.api.views import cell_down_fault
from servers.exceptions import CellDown, InvalidTag, ServerTagNotFound
from servers.selectors import show
from servers.services import tags as services

TAGS_RULE = "os_compute_api:os-server-tags:%s"
PASSWORD_RULE = "os_compute_api:os-server-password:%s"
TAGS_VERSION = "2.26"


def _server(view, server_id: str, rule: str):
    """The server (404; 503 for a down cell), once the caller passes ``rule`` for its project."""
    try:
        server = show.server_get(context=view.context, uuid=server_id)
    except CellDown:
        raise cell_down_fault(server_id) from None
    policy_authorize(view.context, rule, {"project_id": server.get("project_id")})
    return server


class ServerTagsView(ComputeAPIView):
    openapi_tag = "servers"
    openapi = {
        "get": {"summary": "List a server's tags (2.26)"},
        "put": {"summary": "Replace all of a server's tags (2.26)", "request": schemas.TAGS_UPDATE_ALL},
        "delete": {"summary": "Remove all of a server's tags (2.26)", "responses": {204: None}},
    }

    def get(self, request, server_id):
        self.require_version(TAGS_VERSION)
        server = _server(self, server_id, TAGS_RULE % "index")
        return Response({"tags": list(server.tags)})

    def put(self, request, server_id):
        self.require_version(TAGS_VERSION)
        body = self.validated_body(schemas.TAGS_UPDATE_ALL)
        server = _server(self, server_id, TAGS_RULE % "update_all")
        return Response({"tags": services.server_tags_replace(context=self.context, server=server, tags=body["tags"])})

    def delete(self, request, server_id):
        self.require_version(TAGS_VERSION)
        server = _server(self, server_id, TAGS_RULE % "delete_all")
        services.server_tags_clear(context=self.context, server=server)
        return Response(status=204)


class ServerTagItemView(ComputeAPIView):
    openapi_tag = "servers"
    openapi = {
        "get": {"summary": "Check that a server has a tag (204, 2.26)", "responses": {204: None}},
        "put": {"summary": "Add a tag (201, or 204 when it was there; 2.26)", "responses": {201: None}},
        "delete": {"summary": "Remove a tag (2.26)", "responses": {204: None}},
    }

    def get(self, request, server_id, tag):
        self.require_version(TAGS_VERSION)
        server = _server(self, server_id, TAGS_RULE % "show")
        if tag not in server.tags:
            raise ServerTagNotFound(server_id, tag)
        return Response(status=204)

    def put(self, request, server_id, tag):
        self.require_version(TAGS_VERSION)
        self.validated_body(schemas.TAG_UPDATE)
        server = _server(self, server_id, TAGS_RULE % "update")
        # Nova checks the state before the tag's rules.
        services.UPDATE_TAG.check(self.context, {"uuid": server.uuid, **server.instance})
        try:
            jsonschema.validate(tag, schemas.TAG)
        except jsonschema.ValidationError as error:
            raise InvalidTag(tag, error.message) from None
        if not services.server_tag_add(context=self.context, server=server, tag=tag):
            return Response(status=204)
        response = Response(status=201)
        response["Location"] = request.build_absolute_uri(request.path)
        return response

    def delete(self, request, server_id, tag):
        self.require_version(TAGS_VERSION)
        server = _server(self, server_id, TAGS_RULE % "delete")
        services.server_tag_delete(context=self.context, server=server, tag=tag)
        return Response(status=204)


class ServerPasswordView(ComputeAPIView):
    openapi_tag = "servers"
    openapi = {
        "get": {"summary": "Show the encrypted password a server's guest posted"},
        "delete": {"summary": "Clear it (the guest's password does not change)", "responses": {204: None}},
    }

    def get(self, request, server_id):
        server = _server(self, server_id, PASSWORD_RULE % "show")
        return Response({"password": services.server_password(server)})

    def delete(self, request, server_id):
        server = _server(self, server_id, PASSWORD_RULE % "clear")
        services.server_password_clear(context=self.context, server=server)
        return Response(status=204)
