"""Server actions of ``POST /servers/{id}/action`` (servers.api.actions' registry): reboot,
os-stop / os-start, pause / unpause, suspend / resume, lock / unlock, rebuild, and Nova's
restore, forceDelete and os-getConsoleOutput as a cloud without soft delete or hypervisor
answers them.

Each handler validates the body with Nova's schema, reads the server (404; 503 when its cell
does not answer, at every microversion: Nova has no partial record for an action and answers
500), authorizes with Nova's rule and target, and calls servers.services.actions, whose
conflicts (409) and limits (403) are the app's faults.
"""

from django.conf import settings
from rest_framework.response import Response

from cellsv2.api import validation
from cellsv2.api.pagination import resource_links
from cellsv2.api.policy import policy_authorize
from servers.api import schemas
from servers.api.actions import register_server_action
from servers.api.serializers import UPDATE_HIDDEN_BEFORE_2_75, ServerSerializer
from servers.api.views import cell_down_fault
from servers.exceptions import CellDown
from servers.selectors import show
from servers.services import actions
from servers.services.create import admin_password_generate
from servers.services.lifecycle import access_ip_v6_normalized


def _server(view, server_id: str):
    try:
        return show.server_get(context=view.context, uuid=server_id)
    except CellDown:
        raise cell_down_fault(server_id) from None


def _accepted() -> Response:
    return Response(status=202)


def _power_action(action: str, rule: str, *, owner_target: bool = True):
    """A handler for an action without arguments: ``action`` (services' name), Nova's ``rule``;
    ``owner_target``: whether Nova's target names the user too (it does for the first action of
    each pair, not for its inverse)."""

    def handler(view, request, server_id, body):
        validation.validate_body(schemas.no_argument_action(next(iter(body))), body)
        server = _server(view, server_id)
        target = ServerSerializer.target(server) if owner_target else {"project_id": server.get("project_id")}
        policy_authorize(view.context, rule, target)
        actions.server_power_action(context=view.context, server=server, action=action)
        return _accepted()

    return handler


def reboot(view, request, server_id, body):
    validation.validate_body(schemas.REBOOT, body)
    server = _server(view, server_id)
    policy_authorize(view.context, "os_compute_api:servers:reboot", {"project_id": server.get("project_id")})
    actions.server_reboot(context=view.context, server=server, hard=body["reboot"]["type"].upper() == "HARD")
    return _accepted()


def lock(view, request, server_id, body):
    version = request.api_version
    validation.validate_body(schemas.LOCK_V273 if version >= "2.73" else schemas.no_argument_action("lock"), body)
    server = _server(view, server_id)
    policy_authorize(view.context, "os_compute_api:os-lock-server:lock", ServerSerializer.target(server))
    reason = body["lock"].get("locked_reason") if version >= "2.73" and body["lock"] is not None else None
    actions.server_lock(context=view.context, server=server, reason=reason)
    return _accepted()


def unlock(view, request, server_id, body):
    if request.api_version < "2.73":
        validation.validate_body(schemas.no_argument_action("unlock"), body)
    server = _server(view, server_id)
    target = {"project_id": server.get("project_id")}
    policy_authorize(view.context, "os_compute_api:os-lock-server:unlock", target)
    if not actions.lock_expected_by(view.context, server.instance):
        # Someone else's lock (the owner's for an admin, an admin's for the owner).
        policy_authorize(view.context, "os_compute_api:os-lock-server:unlock:unlock_override", target)
    actions.server_unlock(context=view.context, server=server)
    return _accepted()


def rebuild(view, request, server_id, body):
    version = request.api_version
    validation.validate_body(schemas.rebuild_schema(version), body)
    data = body["rebuild"]
    server = _server(view, server_id)
    target = ServerSerializer.target(server)
    policy_authorize(view.context, "os_compute_api:servers:rebuild", target)
    if version >= "2.63" and "trusted_image_certificates" in data:
        policy_authorize(view.context, "os_compute_api:servers:rebuild:trusted_certs", target)
    changes = {}
    if "name" in data:
        changes["display_name"] = data["name"].strip()
    if "description" in data:
        changes["display_description"] = data["description"]
    if "accessIPv4" in data:
        changes["access_ip_v4"] = data["accessIPv4"]
    if "accessIPv6" in data:
        changes["access_ip_v6"] = access_ip_v6_normalized(data["accessIPv6"])
    if "OS-DCF:diskConfig" in data:
        changes["auto_disk_config"] = data["OS-DCF:diskConfig"] == "AUTO"
    if "user_data" in data:
        changes["user_data"] = data["user_data"]
    if "hostname" in data:
        changes["hostname"] = data["hostname"]
    admin_pass = data.get("adminPass") or admin_password_generate()
    answer = actions.server_rebuild(
        context=view.context,
        server=server,
        request=actions.RebuildRequest(
            image_ref=data["imageRef"],
            changes=changes,
            metadata=data.get("metadata"),
            key_name=data["key_name"] if "key_name" in data else actions.UNSET,
        ),
    )
    server = _server(view, server_id)
    # Nova's answer shows the server as its API left it for the compute host (status REBUILD).
    server.instance.update(vm_state=answer.vm_state, task_state=answer.task_state, power_state=answer.power_state)
    serializer = ServerSerializer(request, view.context)
    show.server_extras_read(server, **serializer.extras(show=version >= "2.71"))
    rendered = serializer.full(server, show=True)
    rendered.pop("OS-EXT-SRV-ATTR:user_data", None)  # Nova's rebuild never shows it (show_user_data=False)
    if version < "2.75":
        hidden = UPDATE_HIDDEN_BEFORE_2_75 - ({"key_name"} if version >= "2.54" else set())
        rendered = {k: v for k, v in rendered.items() if k not in hidden and not k.startswith("OS-EXT-SRV-ATTR:")}
    if settings.CELLSV2_ENABLE_INSTANCE_PASSWORD:
        rendered["adminPass"] = admin_pass
    if version >= "2.57":
        rendered["user_data"] = server.get("user_data")
    location = resource_links(request, "servers", server_id)[0]["href"]
    return Response({"server": rendered}, status=202, headers={"Location": location})


def restore(view, request, server_id, body):
    validation.validate_body(schemas.no_argument_action("restore"), body)
    server = _server(view, server_id)
    target = {"project_id": server.get("project_id")}
    policy_authorize(view.context, "os_compute_api:os-deferred-delete:restore", target)
    actions.server_restore(context=view.context, server=server)
    return _accepted()


def force_delete(view, request, server_id, body):
    validation.validate_body(schemas.no_argument_action("forceDelete"), body)
    server = _server(view, server_id)
    policy_authorize(view.context, "os_compute_api:os-deferred-delete:force", ServerSerializer.target(server))
    actions.server_force_delete(context=view.context, server=server)
    return _accepted()


def console_output(view, request, server_id, body):
    validation.validate_body(schemas.CONSOLE_OUTPUT, body)
    server = _server(view, server_id)
    policy_authorize(view.context, "os_compute_api:os-console-output", {"project_id": server.get("project_id")})
    return Response({"output": actions.server_console_output(context=view.context, server=server)})


def register_server_actions() -> None:
    """Register the handlers in servers.api.actions' registry (called from the app's ready())."""
    power = {
        "os-stop": ("stop", "os_compute_api:servers:stop", True),
        "os-start": ("start", "os_compute_api:servers:start", True),
        "pause": ("pause", "os_compute_api:os-pause-server:pause", True),
        "unpause": ("unpause", "os_compute_api:os-pause-server:unpause", False),
        "suspend": ("suspend", "os_compute_api:os-suspend-server:suspend", True),
        "resume": ("resume", "os_compute_api:os-suspend-server:resume", False),
    }
    for name, (action, rule, owner_target) in power.items():
        register_server_action(name)(_power_action(action, rule, owner_target=owner_target))
    for name, handler in (
        ("reboot", reboot),
        ("lock", lock),
        ("unlock", unlock),
        ("rebuild", rebuild),
        ("restore", restore),
        ("forceDelete", force_delete),
        ("os-getConsoleOutput", console_output),
    ):
        register_server_action(name)(handler)
