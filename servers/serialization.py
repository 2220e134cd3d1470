"""The serialized instance of a build request and the request spec: versioned JSON documents.

Both use the envelope of Nova's versioned objects so the format carries its own version::

    {"nova_object.name": "Instance", "nova_object.namespace": "cellsv2",
     "nova_object.version": "1.0", "nova_object.data": {...}}

Readers accept every version up to the one they know and refuse newer ones with a clear error,
so a row written by a later release is never misread. docs/server-build-flow.md lists the fields.

Version history:
- Instance 1.0: the first format.
- RequestSpec 1.0: the first format.
"""

import json
from datetime import UTC, datetime

INSTANCE_VERSION = "1.0"
# 1.1: requested_destination.
REQUEST_SPEC_VERSION = "1.1"
NAMESPACE = "cellsv2"

# Instance columns carried in a build request (everything the API sets before placement).
INSTANCE_FIELDS = (
    "uuid",
    "user_id",
    "project_id",
    "image_ref",
    "hostname",
    "display_name",
    "display_description",
    "key_name",
    "key_data",
    "power_state",
    "vm_state",
    "task_state",
    "memory_mb",
    "vcpus",
    "root_gb",
    "ephemeral_gb",
    "instance_type_id",
    "user_data",
    "reservation_id",
    "launch_index",
    "availability_zone",
    "locked",
    "locked_by",
    "config_drive",
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "progress",
    "created_at",
)
# Beyond the instances columns: what the conductor writes to instance_extra and instance_metadata.
EXTRA_FIELDS = ("metadata", "flavor", "keypairs", "security_groups", "tags", "locked_reason")
DATETIME_FIELDS = ("created_at", "launched_at", "terminated_at", "updated_at")


class UnsupportedFormat(ValueError):
    """A serialized object of an unknown name or of a newer version than this release reads."""


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _dump(name: str, version: str, data: dict) -> str:
    def default(value):
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        raise TypeError(f"{type(value).__name__} is not serializable")

    return json.dumps(
        {
            "nova_object.name": name,
            "nova_object.namespace": NAMESPACE,
            "nova_object.version": version,
            "nova_object.data": data,
        },
        default=default,
        sort_keys=True,
    )


def _load(text: str, name: str, known_version: str) -> dict:
    try:
        document = json.loads(text)
        found_name, version = document["nova_object.name"], document["nova_object.version"]
        data = document["nova_object.data"]
    except (TypeError, ValueError, KeyError) as exc:
        raise UnsupportedFormat(f"Not a serialized {name}: {exc}") from None
    if found_name != name:
        raise UnsupportedFormat(f"Expected a serialized {name}, found {found_name}")
    if _version_tuple(version) > _version_tuple(known_version):
        raise UnsupportedFormat(f"{name} {version} is newer than {known_version}, the newest this release reads")
    for key in DATETIME_FIELDS:
        if isinstance(data.get(key), str):
            data[key] = datetime.strptime(data[key], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return data


def instance_dump(instance: dict) -> str:
    """The build request's ``instance`` column for an instance dict (INSTANCE_FIELDS + EXTRA_FIELDS)."""
    data = {key: instance.get(key) for key in (*INSTANCE_FIELDS, *EXTRA_FIELDS)}
    return _dump("Instance", INSTANCE_VERSION, data)


def instance_load(text: str) -> dict:
    """An instance dict from a build request's ``instance`` column; raises UnsupportedFormat."""
    data = _load(text, "Instance", INSTANCE_VERSION)
    data.setdefault("metadata", {})
    data.setdefault("tags", [])
    data.setdefault("security_groups", [])
    return data


def request_spec_dump(spec: dict) -> str:
    """The request_specs.spec column for a spec dict."""
    return _dump("RequestSpec", REQUEST_SPEC_VERSION, spec)


def request_spec_load(text: str) -> dict:
    """A spec dict from request_specs.spec; raises UnsupportedFormat."""
    return _load(text, "RequestSpec", REQUEST_SPEC_VERSION)
