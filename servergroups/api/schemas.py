"""Nova's request schemas of os-server-groups (nova/api/openstack/compute/schemas/server_groups.py).

The same dicts validate the requests and document them in /openapi.json; changing one changes
the API. Nova writes the one-policy list with ``prefixItems``; our validator is draft 4, where the
same constraint is the array form of ``items`` with ``additionalItems: false``.
"""

import copy

from cellsv2.api import validation
from cellsv2.api.parameter_types import NAME
from servergroups.models import RULE_MAX_SERVER_PER_HOST

CREATE = {
    "type": "object",
    "properties": {
        "server_group": {
            "type": "object",
            "properties": {
                "name": NAME,
                "policies": {
                    # Exactly one item, one of the enumerated values (a single string from 2.64).
                    "type": "array",
                    "items": [{"type": "string", "enum": ["anti-affinity", "affinity"]}],
                    "uniqueItems": True,
                    "minItems": 1,
                    "maxItems": 1,
                    "additionalItems": False,
                },
            },
            "required": ["name", "policies"],
            "additionalProperties": False,
        }
    },
    "required": ["server_group"],
    "additionalProperties": False,
}

# 2.15: the soft policies.
CREATE_V215 = copy.deepcopy(CREATE)
CREATE_V215["properties"]["server_group"]["properties"]["policies"]["items"][0]["enum"].extend(
    ["soft-anti-affinity", "soft-affinity"]
)

# 2.64: one ``policy`` string and optional ``rules`` instead of ``policies``.
CREATE_V264 = copy.deepcopy(CREATE_V215)
_group = CREATE_V264["properties"]["server_group"]
del _group["properties"]["policies"]
_group["required"] = ["name", "policy"]
_group["properties"]["policy"] = {
    "type": "string",
    "enum": ["anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"],
}
_group["properties"]["rules"] = {
    "type": "object",
    "properties": {RULE_MAX_SERVER_PER_HOST: validation.positive_integer},
    "additionalProperties": False,
}

INDEX_QUERY = {
    "type": "object",
    "properties": {
        "all_projects": validation.single_param({"type": "string"}),
        "limit": validation.single_param(validation.non_negative_integer_string),
        "offset": validation.single_param(validation.non_negative_integer_string),
    },
    # Unknown parameters are ignored until 2.75, refused from 2.75.
    "additionalProperties": True,
}
INDEX_QUERY_V275 = {**INDEX_QUERY, "additionalProperties": False}

# Show takes no query parameters; unknown ones are refused from 2.102.
SHOW_QUERY_V2102 = {"type": "object", "properties": {}, "additionalProperties": False}


# --- responses (documentation only: /openapi.json) ------------------------------------------------

_POLICY_ENUM = ["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]
SERVER_GROUP_RESPONSE = {
    "type": "object",
    "description": (
        "2.1-2.63: id, name, policies, members, metadata ({}); project_id and user_id from 2.13. "
        "2.64+: id, name, policy, rules, members, project_id, user_id."
    ),
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "policy": {"type": "string", "enum": _POLICY_ENUM},
        "rules": {"type": "object", "properties": {RULE_MAX_SERVER_PER_HOST: {"type": "integer"}}},
        "policies": {"type": "array", "items": {"type": "string", "enum": _POLICY_ENUM}, "maxItems": 1},
        "metadata": {"type": "object"},
        "members": {"type": "array", "items": {"type": "string", "format": "uuid"}},
        "project_id": {"type": "string"},
        "user_id": {"type": "string"},
    },
    "required": ["id", "name", "members"],
}
SHOW_RESPONSE = {
    "type": "object",
    "properties": {"server_group": SERVER_GROUP_RESPONSE},
    "required": ["server_group"],
}
INDEX_RESPONSE = {
    "type": "object",
    "properties": {"server_groups": {"type": "array", "items": SERVER_GROUP_RESPONSE}},
    "required": ["server_groups"],
}
