"""The serialized columns of a build request and the request spec: versioned JSON documents.

The instance and the spec use the envelope of Nova's versioned objects so the format carries its
own version::

    {"nova_object.name": "Instance", "nova_object.namespace": "cellsv2",
     "nova_object.version": "1.0", "nova_object.data": {...}}

Readers accept every version up to the one they know and refuse newer ones with a clear error,
so a row written by a later release is never misread. docs/server-build-flow.md lists the fields.

Version history:
- Instance 1.0: the first format.
- RequestSpec 1.0: the first format; 1.1: requested_destination; 1.2: is_bfv.

``build_requests.block_device_mappings`` is Nova's own primitive of a BlockDeviceMappingList
(namespace ``nova``, the versions Nova gives them), as a Nova API database holds it.
"""

import json
from datetime import UTC, datetime

INSTANCE_VERSION = "1.0"
# 1.1: requested_destination. 1.2: is_bfv (the root disk is a volume: not claimed on the node).
REQUEST_SPEC_VERSION = "1.2"
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
EXTRA_FIELDS = (
    "metadata",
    "flavor",
    "keypairs",
    "security_groups",
    "tags",
    "locked_reason",
    # The boot image as Nova's image_* system metadata (images.selectors.image_system_metadata).
    "image_system_metadata",
)
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


# Nova's BlockDeviceMappingList 1.18 of BlockDeviceMapping 1.21 (nova/objects/block_device.py).
BDM_LIST_VERSION = "1.18"
BDM_VERSION = "1.21"


def block_device_mappings_dump(mappings: list[dict]) -> str:
    """The build request's ``block_device_mappings`` column: a BlockDeviceMappingList primitive.

    Each mapping is a dict of BlockDeviceMapping fields; the fields it has are the object's set
    fields (its ``nova_object.changes``, as for an object not yet created).
    """
    objects = [
        {
            "nova_object.name": "BlockDeviceMapping",
            "nova_object.namespace": "nova",
            "nova_object.version": BDM_VERSION,
            "nova_object.data": dict(bdm),
            "nova_object.changes": sorted(bdm),
        }
        for bdm in mappings
    ]
    return json.dumps(
        {
            "nova_object.name": "BlockDeviceMappingList",
            "nova_object.namespace": "nova",
            "nova_object.version": BDM_LIST_VERSION,
            "nova_object.data": {"objects": objects},
            "nova_object.changes": ["objects"],
        },
        sort_keys=True,
    )


def block_device_mappings_load(text: str | None) -> list[dict]:
    """The mappings of a build request's ``block_device_mappings`` column; NULL is an empty list
    (as Nova reads a row written before the column existed). Raises UnsupportedFormat.
    """
    if not text:
        return []
    try:
        document = json.loads(text)
        found, version = document["nova_object.name"], document["nova_object.version"]
        objects = document["nova_object.data"]["objects"]
    except (TypeError, ValueError, KeyError) as exc:
        raise UnsupportedFormat(f"Not a serialized BlockDeviceMappingList: {exc}") from None
    if found != "BlockDeviceMappingList":
        raise UnsupportedFormat(f"Expected a serialized BlockDeviceMappingList, found {found}")
    if _version_tuple(version) > _version_tuple(BDM_LIST_VERSION):
        raise UnsupportedFormat(f"BlockDeviceMappingList {version} is newer than {BDM_LIST_VERSION}")
    mappings = []
    for item in objects:
        try:
            item_version, data = item["nova_object.version"], item["nova_object.data"]
        except (TypeError, KeyError) as exc:
            raise UnsupportedFormat(f"Not a serialized BlockDeviceMapping: {exc}") from None
        if _version_tuple(item_version) > _version_tuple(BDM_VERSION):
            raise UnsupportedFormat(f"BlockDeviceMapping {item_version} is newer than {BDM_VERSION}")
        mappings.append(dict(data))
    return mappings
