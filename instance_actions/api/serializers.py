"""Instance action bodies per microversion (Nova's InstanceActionsController formatting).
Nothing here queries."""

import hashlib

ACTION_KEYS = ("action", "instance_uuid", "request_id", "user_id", "project_id", "start_time", "message")


def _time(value) -> str | None:
    # Nova serialises these naive UTC datetimes with microseconds and no zone suffix.
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def host_id(host: str | None, project_id: str) -> str:
    """Nova's generate_hostid: sha224(project_id + host), "" without a host."""
    return hashlib.sha224((project_id + host).encode()).hexdigest() if host else ""


class InstanceActionSerializer:
    """Actions and their events at one microversion; what the caller may see is decided by the view."""

    def __init__(self, version):
        self.version = version
        self.with_updated_at = version >= "2.58"

    def action(self, action) -> dict:
        body = {
            "action": action.action,
            "instance_uuid": action.instance_uuid,
            "request_id": action.request_id,
            "user_id": action.user_id,
            "project_id": action.project_id,
            "start_time": _time(action.start_time),
            "message": action.message,
        }
        if self.with_updated_at:
            body["updated_at"] = _time(action.updated_at)
        return body

    def event(self, event, *, project_id: str, traceback: bool, host: bool, details: bool) -> dict:
        body = {
            "event": event.event,
            "start_time": _time(event.start_time),
            "finish_time": _time(event.finish_time),
            "result": event.result,
        }
        if traceback:
            body["traceback"] = event.traceback
        if host:
            body["host"] = event.host
        if self.version >= "2.62":
            body["hostId"] = host_id(event.host, project_id)
        if details:
            body["details"] = event.details
        return body
