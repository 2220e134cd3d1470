"""Request and response schemas of os-keypairs (nova/api/openstack/compute/schemas/keypairs.py)."""

from functools import lru_cache

from cellsv2.api.microversions import APIVersion
from cellsv2.api.parameter_types import NAME as _NAME
from cellsv2.api.parameter_types import NON_NEGATIVE_INTEGER, multi_params

NAME = {"allOf": [_NAME, {"type": "string", "pattern": r"^[_\- a-zA-Z0-9]+$"}]}
NAME_V292 = {"allOf": [_NAME, {"type": "string", "pattern": r"^[_\-\@\. a-zA-Z0-9]+$"}]}


@lru_cache(maxsize=16)
def _create(v292: bool, with_type: bool, with_user: bool) -> dict:
    properties = {"name": NAME_V292 if v292 else NAME, "public_key": {"type": "string"}}
    if with_type:
        properties["type"] = {"type": "string", "enum": ["ssh", "x509"]}
    if with_user:
        properties["user_id"] = {"type": "string"}
    keypair = {
        "type": "object",
        "properties": properties,
        "required": ["name", "public_key"] if v292 else ["name"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"keypair": keypair},
        "required": ["keypair"],
        "additionalProperties": False,
    }


def create_schema(version: APIVersion) -> dict:
    return _create(version >= "2.92", version >= "2.2", version >= "2.10")


def create_schema_for(version: str) -> dict:
    return create_schema(APIVersion(version))


def list_query_schema(version: APIVersion) -> dict | None:
    """None before 2.10 (every parameter is ignored), strict from 2.75."""
    if version < "2.10":
        return None
    return _list_query(version >= "2.35", version >= "2.75")


def item_query_schema(version: APIVersion) -> dict | None:
    """Show and delete: ``user_id`` from 2.10, unknown parameters refused from 2.75."""
    if version < "2.10":
        return None
    return _item_query(version >= "2.75")


# The same object for every request of a shape, so validation reuses the validator it built from
# it (cellsv2.api.validation caches them by schema object).
@lru_cache(maxsize=4)
def _list_query(paged: bool, strict: bool) -> dict:
    properties = {"user_id": multi_params({"type": "string"})}
    if paged:
        properties.update(limit=multi_params(NON_NEGATIVE_INTEGER), marker=multi_params({"type": "string"}))
    return {"type": "object", "properties": properties, "additionalProperties": not strict}


@lru_cache(maxsize=2)
def _item_query(strict: bool) -> dict:
    return {
        "type": "object",
        "properties": {"user_id": multi_params({"type": "string"})},
        "additionalProperties": not strict,
    }


_KEYPAIR_FIELDS = {
    "name": {"type": "string"},
    "public_key": {"type": "string"},
    "fingerprint": {"type": "string"},
    "type": {"type": "string", "enum": ["ssh", "x509"]},
}
KEYPAIR_RESPONSE = {
    "type": "object",
    "properties": {
        "keypair": {
            "type": "object",
            "properties": {**_KEYPAIR_FIELDS, "user_id": {"type": "string"}, "private_key": {"type": "string"}},
        }
    },
}
KEYPAIR_DETAIL_RESPONSE = {
    "type": "object",
    "properties": {
        "keypair": {
            "type": "object",
            "properties": {
                **_KEYPAIR_FIELDS,
                "user_id": {"type": "string"},
                "id": {"type": "integer"},
                "created_at": {"type": "string"},
                "updated_at": {"type": ["string", "null"]},
                "deleted_at": {"type": ["string", "null"]},
                "deleted": {"type": "boolean"},
            },
        }
    },
}
LIST_RESPONSE = {
    "type": "object",
    "properties": {
        "keypairs": {
            "type": "array",
            "items": {"type": "object", "properties": {"keypair": {"type": "object", "properties": _KEYPAIR_FIELDS}}},
        },
        "keypairs_links": {"type": "array", "items": {"type": "object"}},
    },
}
