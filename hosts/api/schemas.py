"""Nova's request and query schemas of os-services, os-hypervisors and os-availability-zone
(nova/api/openstack/compute/schemas/{services,hypervisors,availability_zone}.py)."""

import copy

from cellsv2.api import validation
from cellsv2.api.parameter_types import BOOLEAN, FQDN

_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
MULTI = {"type": "array", "items": {"type": "string"}}

# --- os-services --------------------------------------------------------------------------------

SERVICE_UPDATE = {
    "type": "object",
    "properties": {"host": FQDN, "binary": _NAME, "disabled_reason": _NAME},
    "required": ["host", "binary"],
    "additionalProperties": False,
}
SERVICE_UPDATE_V211 = copy.deepcopy(SERVICE_UPDATE)
SERVICE_UPDATE_V211["properties"]["forced_down"] = BOOLEAN
SERVICE_UPDATE_V253 = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabled_reason": _NAME,
        "forced_down": BOOLEAN,
    },
    "additionalProperties": False,
}
SERVICE_INDEX_QUERY = {"type": "object", "properties": {"host": MULTI, "binary": MULTI}, "additionalProperties": True}
SERVICE_INDEX_QUERY_V275 = {**SERVICE_INDEX_QUERY, "additionalProperties": False}

# --- os-hypervisors -----------------------------------------------------------------------------

HYPERVISOR_INDEX_QUERY = {"type": "object", "properties": {}, "additionalProperties": True}
HYPERVISOR_INDEX_QUERY_V233 = {
    "type": "object",
    "properties": {
        "limit": validation.single_param(validation.non_negative_integer_string),
        "marker": validation.single_param({"type": "string"}),
    },
    "additionalProperties": True,
}
HYPERVISOR_INDEX_QUERY_V253 = {
    "type": "object",
    "properties": {
        **HYPERVISOR_INDEX_QUERY_V233["properties"],
        "hypervisor_hostname_pattern": validation.single_param(FQDN),
        "with_servers": validation.single_param(BOOLEAN),
    },
    "additionalProperties": False,
}
HYPERVISOR_SHOW_QUERY = {"type": "object", "properties": {}, "additionalProperties": True}
HYPERVISOR_SHOW_QUERY_V253 = {
    "type": "object",
    "properties": {"with_servers": validation.single_param(BOOLEAN)},
    "additionalProperties": False,
}

# --- os-availability-zone -----------------------------------------------------------------------

AZ_QUERY = {"type": "object", "properties": {}, "additionalProperties": True}
AZ_QUERY_V2102 = {"type": "object", "properties": {}, "additionalProperties": False}
