"""``POST /servers/{id}/action``: Nova's action dispatch by the body's single key.

Nova routes every server action through one URL and picks the handler by the name of the only
key of the body (``wsgi.Resource`` + ``action_peek``). Handlers register here with the
microversions they exist at; another app adds its actions the same way:

    @register_server_action("os-getVNCConsole", max_version="2.5")
    def get_vnc_console(view, request, server_id, body): ...

A body that is not one JSON object with exactly one key is ``Malformed request body`` (400); an
unknown key is ``There is no such action: <key>`` (400); a known action outside its microversions
is 404, as Nova's version-gated methods are.
"""

from collections.abc import Callable
from dataclasses import dataclass

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.faults import BadRequest, NotFound


@dataclass(frozen=True)
class ServerAction:
    handler: Callable
    min_version: str | None = None
    max_version: str | None = None


SERVER_ACTIONS: dict[str, ServerAction] = {}


def register_server_action(name: str, *, min_version: str | None = None, max_version: str | None = None):
    """Decorator: ``handler(view, request, server_id, body) -> Response`` serves action ``name``."""

    def decorator(handler):
        SERVER_ACTIONS[name] = ServerAction(handler, min_version, max_version)
        return handler

    return decorator


class ServerActionView(ComputeAPIView):
    openapi_tag = "servers"
    openapi = {
        "post": {
            "summary": "Run a server action (the body's single key names it)",
            "description": "Console actions os-getVNCConsole, os-getSPICEConsole, os-getSerialConsole (2.1-2.5).",
            "request": {"type": "object", "minProperties": 1, "maxProperties": 1},
            "responses": {200: {"type": "object"}, 409: None},
        }
    }

    def post(self, request, server_id):
        body = self.body()
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("Malformed request body")
        (name,) = body
        action = SERVER_ACTIONS.get(name)
        if action is None:
            raise BadRequest(f"There is no such action: {name}")
        if not request.api_version.matches(action.min_version, action.max_version):
            raise NotFound()
        return action.handler(self, request, server_id, body)
