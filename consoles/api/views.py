"""Console API: remote consoles (2.6+), the legacy console actions (2.1-2.5) and the admin's
token lookup (2.31+), with Nova's status codes and messages.

No token is ever logged or put in an error body: the token lookup marks its error responses as
logged (so Django's request logger, which prints the path, stays quiet) and logs the path masked.
"""

import logging

from rest_framework.response import Response

from cellsv2.api import validation
from cellsv2.api.base import ComputeAPIView
from cellsv2.api.faults import BadRequest, NotFound
from cellsv2.api.policy import policy_authorize
from consoles import exceptions, selectors, services
from consoles.api import schemas
from consoles.api.serializers import ConsoleSerializer
from servers.api.actions import register_server_action
from servers.api.views import cell_down_fault
from servers.exceptions import CellDown
from servers.selectors.show import server_get

logger = logging.getLogger("cellsv2.api")

REMOTE_CONSOLES_RULE = "os_compute_api:os-remote-consoles"
TOKENS_RULE = "os_compute_api:os-console-auth-tokens"
# webob's HTTPBadRequest explanation, which Nova answers below 2.31.
WEBOB_BAD_REQUEST = "The server could not comply with the request since it is either malformed or otherwise incorrect."


def _server(view, server_id):
    """The server the caller may use a console of: 404 (ServerNotFound, also another project's),
    503 (cell down, whatever the microversion: no partial record has a console)."""
    try:
        server = server_get(context=view.context, uuid=server_id)
    except CellDown:
        raise cell_down_fault(server_id) from None
    policy_authorize(
        view.context,
        REMOTE_CONSOLES_RULE,
        {"project_id": server.get("project_id"), "user_id": server.get("user_id")},
    )
    return server


# Nova's compute API errors as faults (the message is the exception's text): 409 not ready /
# wrong state / no serial port, 400 for the console type. InvalidToken is not here: the token
# lookup answers "Token not found" whatever the exception says.
FAULTS = {
    exceptions.InstanceNotReady: 409,
    exceptions.InstanceInvalidState: 409,
    exceptions.SerialPortsExhausted: 409,
    exceptions.ConsoleTypeUnavailable: 400,
    exceptions.ConsoleTypeInvalid: 400,
}


class RemoteConsoleView(ComputeAPIView):
    openapi_tag = "consoles"
    openapi = {
        "post": {
            "summary": "Create a remote console URL (2.6+; mks 2.8+, spice-direct 2.99+)",
            "request": schemas.create_schema(schemas.APIVersion("2.8")),
            "responses": {200: schemas.REMOTE_CONSOLE_RESPONSE, 409: None},
        }
    }

    def post(self, request, server_id):
        self.require_version("2.6")
        body = self.validated_body(schemas.create_schema(request.api_version))
        protocol, console_type = body["remote_console"]["protocol"], body["remote_console"]["type"]
        server = _server(self, server_id)
        console = services.remote_console_create(server=server, protocol=protocol, console_type=console_type)
        serializer = ConsoleSerializer(request.api_version)
        return Response(serializer.remote_console(console, protocol=protocol, console_type=console_type))


def _legacy_action(action: str, protocol: str, schema: dict):
    """The handler of one legacy console action (``POST /servers/{id}/action``, 2.1-2.5)."""

    def handler(view, request, server_id, body):
        validation.validate_body(schema, body)
        console_type = body[action]["type"]
        server = _server(view, server_id)
        console = services.remote_console_create(server=server, protocol=protocol, console_type=console_type)
        return Response(ConsoleSerializer(request.api_version).legacy_console(console, console_type=console_type))

    return handler


def register_server_actions() -> None:
    """Register the legacy console actions with the servers app's action dispatch (from ready())."""
    for action, protocol, schema in (
        ("os-getVNCConsole", "vnc", schemas.GET_VNC_CONSOLE),
        ("os-getSPICEConsole", "spice", schemas.GET_SPICE_CONSOLE),
        ("os-getSerialConsole", "serial", schemas.GET_SERIAL_CONSOLE),
    ):
        register_server_action(action, max_version="2.5")(_legacy_action(action, protocol, schema))


class ConsoleAuthTokenView(ComputeAPIView):
    openapi_tag = "consoles"
    openapi = {
        "get": {
            "summary": "Show the connection a console token opens (admin; 2.31+, 400 below)",
            "responses": {200: schemas.TOKEN_RESPONSE},
        }
    }

    def get(self, request, token):
        if request.api_version < "2.31":
            raise BadRequest(WEBOB_BAD_REQUEST)
        policy_authorize(self.context, TOKENS_RULE)
        if request.api_version >= "2.99":
            self.validated_query(schemas.SHOW_TOKEN_QUERY_V299)
        try:
            connection = selectors.console_auth_token_validate(token=token)
        except exceptions.InvalidToken:
            raise NotFound("Token not found") from None
        return Response(ConsoleSerializer(request.api_version).token_connection(connection))

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            # Django's request logger would print the path, token included (LP#1492140).
            response._has_been_logged = True
            logger.warning("%s: /v2.1/os-console-auth-tokens/***", response.status_code)
        return response
