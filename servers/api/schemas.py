"""Request schemas of /servers per microversion (nova/api/openstack/compute/schemas/servers.py)."""

from functools import lru_cache

from cellsv2.api.microversions import APIVersion
from cellsv2.api.parameter_types import BOOLEAN, FQDN, HOSTNAME, METADATA, NAME, POSITIVE_INTEGER, UUID

DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 255, "pattern": r"^[^\x00-\x1f\x7f]*$"}
IP_V4 = {"type": "string", "format": "ipv4"}
IP_V6 = {"type": "string", "format": "ipv6"}
TAG = {"type": "string", "maxLength": 60, "pattern": r"^[^,/]*$"}
SCHEDULER_HINTS = {
    "type": "object",
    "properties": {
        "group": {"oneOf": [UUID, {"type": "array", "items": UUID, "maxItems": 1}]},
        "different_host": {"oneOf": [UUID, {"type": "array", "items": UUID}]},
        "same_host": {"oneOf": [UUID, {"type": "array", "items": UUID}]},
        "query": {"type": ["string", "object"]},
        "target_cell": {"type": "string", "maxLength": 255},
        "different_cell": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "build_near_host_ip": IP_V4,
        "cidr": {"type": "string", "pattern": r"^/[0-9a-f.:]+$"},
    },
    "additionalProperties": True,
}


VOLUME_SIZE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": 0x7FFFFFFF}
# Nova's parameter_types.tag (the servers' own TAG above has no minimum length).
BDM_TAG = {"type": "string", "pattern": "^[^,/]*$", "minLength": 1, "maxLength": 60}
LEGACY_BLOCK_DEVICE_MAPPING = {
    "type": "object",
    "properties": {
        "virtual_name": {"type": "string", "maxLength": 255},
        "volume_id": UUID,
        "snapshot_id": UUID,
        "volume_size": VOLUME_SIZE,
        # Neither empty nor with spaces (nova/block_device.py validate_device_name).
        "device_name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._/-]*$"},
        "delete_on_termination": BOOLEAN,
        "no_device": {},
        # block_device_mapping.connection_info is a MEDIUMTEXT column.
        "connection_info": {"type": "string", "maxLength": 16777215},
    },
    "additionalProperties": False,
}


def _block_device_mapping_v2(version: APIVersion) -> dict:
    """One block_device_mapping_v2 item: the legacy fields and the v2 ones (tag in 2.32 and from
    2.42, as Nova's schemas have it; volume_type from 2.67)."""
    properties = {
        **LEGACY_BLOCK_DEVICE_MAPPING["properties"],
        "source_type": {"type": "string", "enum": ["volume", "image", "snapshot", "blank"]},
        "uuid": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._-]*$"},
        "image_id": UUID,
        "destination_type": {"type": "string", "enum": ["local", "volume"]},
        "guest_format": {"type": "string", "maxLength": 255},
        "device_type": {"type": "string", "maxLength": 255},
        "disk_bus": {"type": "string", "maxLength": 255},
        # boot_index null is accepted as the legacy v2 API did.
        "boot_index": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"},
    }
    if version.matches("2.32", "2.32") or version >= "2.42":
        properties["tag"] = BDM_TAG
    if version >= "2.67":
        properties["volume_type"] = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _networks(version: APIVersion) -> dict:
    item = {
        "type": "object",
        "properties": {
            "fixed_ip": {"type": "string"},
            "port": {"oneOf": [UUID, {"type": "null"}]},
            "uuid": {"type": "string"},
        },
        "additionalProperties": False,
    }
    if version.matches("2.32", "2.32") or version >= "2.42":
        item["properties"]["tag"] = TAG
    if version >= "2.37":
        return {"oneOf": [{"type": "array", "items": item}, {"type": "string", "enum": ["none", "auto"]}]}
    return {"type": "array", "items": item}


@lru_cache(maxsize=64)
def _create(version_string: str) -> dict:
    version = APIVersion(version_string)
    server = {
        "name": NAME,
        "imageRef": {"oneOf": [UUID, {"type": "string", "maxLength": 0}]},
        "flavorRef": {"type": ["string", "integer"], "minLength": 1},
        "adminPass": {"type": "string"},
        "metadata": METADATA,
        "networks": _networks(version),
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": IP_V4,
        "accessIPv6": IP_V6,
        "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255},
        "key_name": NAME,
        "min_count": POSITIVE_INTEGER,
        "max_count": POSITIVE_INTEGER,
        "return_reservation_id": BOOLEAN,
        "security_groups": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": False},
        },
        "user_data": {"type": "string", "format": "base64", "maxLength": 65535},
        "config_drive": BOOLEAN,
        "block_device_mapping": {"type": "array", "items": LEGACY_BLOCK_DEVICE_MAPPING},
        "block_device_mapping_v2": {"type": "array", "items": _block_device_mapping_v2(version)},
    }
    if version < "2.57":
        server["personality"] = {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "contents": {"type": "string", "format": "base64"}},
                "additionalProperties": False,
            },
        }
    if version >= "2.19":
        server["description"] = DESCRIPTION
    if version >= "2.52":
        server["tags"] = {"type": "array", "items": TAG, "maxItems": 50}
    if version >= "2.63":
        server["trusted_image_certificates"] = {
            "type": ["array", "null"],
            "minItems": 1,
            "maxItems": 50,
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
        }
    if version >= "2.74":
        server["host"] = {"type": "string", "minLength": 1, "maxLength": 255}
        server["hypervisor_hostname"] = {"type": "string", "minLength": 1, "maxLength": 255}
    if version >= "2.90":
        server["hostname"] = FQDN if version >= "2.94" else HOSTNAME
    required = ["name", "flavorRef"] + (["networks"] if version >= "2.37" else [])
    return {
        "type": "object",
        "properties": {
            "server": {
                "type": "object",
                "properties": server,
                "required": required,
                "additionalProperties": False,
            },
            "os:scheduler_hints": SCHEDULER_HINTS,
            "OS-SCH-HNT:scheduler_hints": SCHEDULER_HINTS,
        },
        "required": ["server"],
        "additionalProperties": False,
    }


def create_schema(version: APIVersion) -> dict:
    return _create(str(version))


@lru_cache(maxsize=32)
def _update(version_string: str) -> dict:
    version = APIVersion(version_string)
    server = {
        "name": NAME,
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": IP_V4,
        "accessIPv6": IP_V6,
    }
    if version >= "2.19":
        server["description"] = DESCRIPTION
    if version >= "2.90":
        server["hostname"] = FQDN if version >= "2.94" else HOSTNAME
    return {
        "type": "object",
        "properties": {"server": {"type": "object", "properties": server, "additionalProperties": False}},
        "required": ["server"],
        "additionalProperties": False,
    }


def update_schema(version: APIVersion) -> dict:
    return _update(str(version))


LIST_PARAMS = {
    "user_id",
    "project_id",
    "tenant_id",
    "launch_index",
    "image_ref",
    "image",
    "kernel_id",
    "ramdisk_id",
    "hostname",
    "key_name",
    "power_state",
    "vm_state",
    "task_state",
    "host",
    "node",
    "flavor",
    "reservation_id",
    "launched_at",
    "terminated_at",
    "availability_zone",
    "name",
    "display_name",
    "description",
    "display_description",
    "locked_by",
    "uuid",
    "root_device_name",
    "config_drive",
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "progress",
    "sort_key",
    "sort_dir",
    "all_tenants",
    "soft_deleted",
    "deleted",
    "status",
    "changes-since",
    "changes-before",
    "ip",
    "ip6",
    "created_at",
    "block_device_mapping",
    "services",
    "metadata",
    "pci_devices",
    "security_groups",
    "system_metadata",
    "info_cache",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
    "limit",
    "marker",
    "locked",
}


def list_query_schema(version: APIVersion) -> dict:
    """Every parameter Nova knows; unknown ones are refused from 2.75 (ignored before)."""
    return {
        "type": "object",
        "properties": {name: {"type": "array", "items": {"type": "string"}} for name in LIST_PARAMS},
        # Internal attributes ("_..." ) are not stripped as unknown: the view refuses them with a 400.
        "patternProperties": {"^_": {"type": "array", "items": {"type": "string"}}},
        "additionalProperties": version < "2.75",
    }


# One object for every request, so validation can reuse what it builds from it.
_NO_QUERY_PARAMETERS = {"type": "object", "properties": {}, "additionalProperties": False}


def show_query_schema(version: APIVersion) -> dict | None:
    """GET /servers/{id} takes no parameters; unknown ones are refused from 2.102."""
    if version < "2.102":
        return None
    return _NO_QUERY_PARAMETERS


# --- server metadata (nova/api/openstack/compute/schemas/server_metadata.py) ----------------------

METADATA_COLLECTION = {
    "type": "object",
    "properties": {"metadata": METADATA},
    "required": ["metadata"],
    "additionalProperties": False,
}
METADATA_ITEM = {
    "type": "object",
    "properties": {"meta": {**METADATA, "minProperties": 1, "maxProperties": 1}},
    "required": ["meta"],
    "additionalProperties": False,
}


def metadata_query_schema(version: APIVersion) -> dict | None:
    """GET of a server's metadata (or one item) takes no parameters; unknown ones are refused from 2.102."""
    return show_query_schema(version)


# --- server actions (schemas/servers.py, lock_server.py, pause_server.py, suspend_server.py) -------

REBOOT = {
    "type": "object",
    "properties": {
        "reboot": {
            "type": "object",
            "properties": {"type": {"type": "string", "enum": ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}},
            "required": ["type"],
            "additionalProperties": False,
        }
    },
    "required": ["reboot"],
    "additionalProperties": False,
}


def no_argument_action(name: str) -> dict:
    """os-start, os-stop, pause, unpause, suspend, resume, unlock (and lock before 2.73): any value."""
    return {"type": "object", "properties": {name: {}}, "required": [name], "additionalProperties": False}


CONSOLE_OUTPUT = {
    "type": "object",
    "properties": {
        "os-getConsoleOutput": {
            "type": "object",
            "properties": {"length": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$", "minimum": -1}},
            "additionalProperties": False,
        }
    },
    "required": ["os-getConsoleOutput"],
    "additionalProperties": False,
}

LOCK_V273 = {
    "type": "object",
    "properties": {
        "lock": {
            "type": ["object", "null"],
            "properties": {"locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
            "additionalProperties": False,
        }
    },
    "required": ["lock"],
    "additionalProperties": False,
}


@lru_cache(maxsize=32)
def _rebuild(version_string: str) -> dict:
    version = APIVersion(version_string)
    rebuild = {
        "name": NAME,
        "imageRef": UUID,
        "adminPass": {"type": "string"},
        "metadata": METADATA,
        "preserve_ephemeral": BOOLEAN,
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": IP_V4,
        "accessIPv6": IP_V6,
    }
    if version < "2.57":
        rebuild["personality"] = _create(version_string)["properties"]["server"]["properties"]["personality"]
    if version >= "2.19":
        rebuild["description"] = DESCRIPTION
    if version >= "2.54":
        rebuild["key_name"] = {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 255}, {"type": "null"}]}
    if version >= "2.57":
        rebuild["user_data"] = {"type": ["string", "null"], "format": "base64", "maxLength": 65535}
    if version >= "2.63":
        rebuild["trusted_image_certificates"] = _create(version_string)["properties"]["server"]["properties"][
            "trusted_image_certificates"
        ]
    if version >= "2.90":
        rebuild["hostname"] = FQDN if version >= "2.94" else HOSTNAME
    return {
        "type": "object",
        "properties": {
            "rebuild": {
                "type": "object",
                "properties": rebuild,
                "required": ["imageRef"],
                "additionalProperties": False,
            }
        },
        "required": ["rebuild"],
        "additionalProperties": False,
    }


def rebuild_schema(version: APIVersion) -> dict:
    return _rebuild(str(version))


# os-server-tags (Nova's schemas/server_tags.py): PUT /tags replaces them all, PUT /tags/{tag} has no body.
TAGS_UPDATE_ALL = {
    "type": "object",
    "properties": {"tags": {"type": "array", "items": TAG, "maxItems": 50}},
    "required": ["tags"],
    "additionalProperties": False,
}
TAG_UPDATE = {"type": "null"}
