"""Query schemas of os-instance-actions (nova/api/openstack/compute/schemas/instance_actions.py)."""

from cellsv2.api.microversions import APIVersion
from cellsv2.api.parameter_types import NON_NEGATIVE_INTEGER
from cellsv2.api.validation import single_param


def list_query_schema(version: APIVersion) -> dict:
    """Anything goes before 2.58; limit, marker, changes-since from 2.58; changes-before from 2.66."""
    if version < "2.58":
        return {"type": "object", "properties": {}, "additionalProperties": True}
    properties = {
        "limit": single_param(NON_NEGATIVE_INTEGER),
        "marker": single_param({"type": "string"}),
        "changes-since": single_param({"type": "string"}),
    }
    if version >= "2.66":
        properties["changes-before"] = single_param({"type": "string"})
    return {"type": "object", "properties": properties, "additionalProperties": False}


def show_query_schema(version: APIVersion) -> dict:
    return {"type": "object", "properties": {}, "additionalProperties": version < "2.102"}


_ACTION = {
    "type": "object",
    "properties": {
        "action": {"type": "string"},
        "instance_uuid": {"type": "string"},
        "request_id": {"type": "string"},
        "user_id": {"type": "string"},
        "project_id": {"type": "string"},
        "start_time": {"type": "string"},
        "message": {"type": ["string", "null"]},
        "updated_at": {"type": "string"},
    },
}
LIST_RESPONSE = {"type": "object", "properties": {"instanceActions": {"type": "array", "items": _ACTION}}}
SHOW_RESPONSE = {"type": "object", "properties": {"instanceAction": _ACTION}}
