"""Request schemas of limits, os-quota-sets and os-quota-class-sets
(nova/api/openstack/compute/schemas/{limits,quota_sets,quota_classes}.py)."""

from functools import lru_cache

from cellsv2.api.microversions import APIVersion
from cellsv2.api.parameter_types import BOOLEAN

_LIMIT = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": 0x7FFFFFFF}
NOVA_NETWORK = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
PERSONALITY = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
ALL_RESOURCES = (
    "instances", "cores", "ram", "floating_ips", "fixed_ips", "metadata_items", "key_pairs",
    "security_groups", "security_group_rules", *PERSONALITY, "server_groups", "server_group_members",
)  # fmt: skip


def hidden_resources(version: APIVersion, *, nova_network_until: str = "2.36") -> tuple[str, ...]:
    """Resources a body leaves out at ``version``: nova-network's from 2.36 (quota classes: 2.50),
    personality's from 2.57."""
    hidden = ()
    if version >= nova_network_until:
        hidden += NOVA_NETWORK
    if version >= "2.57":
        hidden += PERSONALITY
    return hidden


@lru_cache(maxsize=16)
def _update(wrapper: str, hidden: tuple[str, ...], with_force: bool) -> dict:
    properties = {name: _LIMIT for name in ALL_RESOURCES if name not in hidden}
    if with_force:
        properties["force"] = BOOLEAN
    return {
        "type": "object",
        "properties": {wrapper: {"type": "object", "properties": properties, "additionalProperties": False}},
        "required": [wrapper],
        "additionalProperties": False,
    }


def quota_set_update_schema(version: APIVersion) -> dict:
    return _update("quota_set", hidden_resources(version), True)


def quota_class_set_update_schema(version: APIVersion) -> dict:
    return _update("quota_class_set", hidden_resources(version, nova_network_until="2.50"), False)


def user_query_schema(version: APIVersion) -> dict:
    """show, detail, update and delete: ``user_id``; unknown parameters refused from 2.75."""
    return {
        "type": "object",
        "properties": {"user_id": {"type": "array", "items": {"type": "string"}}},
        "additionalProperties": version < "2.75",
    }


def limits_query_schema(version: APIVersion) -> dict:
    """``tenant_id`` (admins); unknown parameters refused from 2.75."""
    return {
        "type": "object",
        "properties": {"tenant_id": {"type": "array", "items": {"type": "string"}}},
        "additionalProperties": version < "2.75",
    }


def empty_query_schema(version: APIVersion, strict_from: str) -> dict:
    return {"type": "object", "properties": {}, "additionalProperties": version < strict_from}


_LIMIT_VALUE = {"type": "integer", "minimum": -1}
QUOTA_SET_RESPONSE = {
    "type": "object",
    "properties": {
        "quota_set": {"type": "object", "properties": {"id": {"type": "string"}, "instances": _LIMIT_VALUE}}
    },
}
QUOTA_CLASS_SET_RESPONSE = {
    "type": "object",
    "properties": {
        "quota_class_set": {"type": "object", "properties": {"id": {"type": "string"}, "instances": _LIMIT_VALUE}}
    },
}
LIMITS_RESPONSE = {
    "type": "object",
    "properties": {
        "limits": {
            "type": "object",
            "properties": {"rate": {"type": "array"}, "absolute": {"type": "object"}},
        }
    },
}
