"""Block device mappings of a server create, built and checked as Nova's API does it.

``POST /servers`` may describe the server's disks with ``block_device_mapping_v2`` (or the legacy
``block_device_mapping``). They go through Nova's steps, in Nova's order, with Nova's messages
(every refusal is a servers.exceptions.InvalidBlockDeviceRequest, a 400):

1. ``block_device_mappings_from_request`` (servers.py ``_process_bdms_for_create`` with
   nova/block_device.py ``BlockDeviceDict.from_api``): each v2 mapping on its own;
2. ``boot_device_check`` (``block_device.get_bdm_image_metadata``): without ``imageRef``, what
   the server boots from must exist;
3. ``block_device_mappings_transform`` (compute API ``_check_and_transform_bdm``): the legacy
   format converted, with the image mapping of ``imageRef`` (a request without mappings is a
   legacy one: every server booted from ``imageRef`` has an image mapping, as in Nova), then the
   flavor's ephemeral disk and swap unless the request asked for its own;
4. ``block_device_mappings_validate`` (``_get_volumes_for_bdms`` and ``_validate_bdm``): the boot
   sequence, sizes against the flavor, the number of local disks; each mapping then gets its size.

There is no image or volume service in this product. An image, volume or snapshot is referenced
by its id only, as ``imageRef`` is: an id of a UUID's form (what Glance and Cinder hand out) is
taken as given; any other id is refused with the message Nova gives when Glance or Cinder finds
nothing under it. Nova cannot check a volume or snapshot without Cinder (its API answers 500
while Cinder is unreachable); here nothing more is checked: not a volume's status, size or
availability zone, not whether another server uses it, not the volume type (kept as given). A
volume that Nova's compute would create (image, snapshot or blank to a volume) is never created,
so its mapping never gets a ``volume_id``.

Mappings are plain dicts with Nova's BlockDeviceMapping field names. Nothing here reads or
writes a database.
"""

import re
import uuid as uuid_lib
from collections.abc import Iterable

from servers.exceptions import (
    InvalidBDM,
    InvalidBDMBootSequence,
    InvalidBDMDiskBus,
    InvalidBDMEphemeralSize,
    InvalidBDMFormat,
    InvalidBDMImage,
    InvalidBDMLocalsLimit,
    InvalidBDMSnapshot,
    InvalidBDMSwapSize,
    InvalidBDMVolume,
    InvalidBlockDeviceRequest,
    InvalidRequest,
    SnapshotNotFound,
    VolumeNotFound,
)

# nova/block_device.py: bdm_new_fields (also the columns a mapping fills), the legacy ones and
# those only the database sets.
FIELDS = (
    "source_type",
    "destination_type",
    "guest_format",
    "device_type",
    "disk_bus",
    "boot_index",
    "device_name",
    "delete_on_termination",
    "snapshot_id",
    "volume_id",
    "volume_size",
    "image_id",
    "no_device",
    "connection_info",
    "tag",
    "volume_type",
    "encrypted",
    "encryption_secret_uuid",
    "encryption_format",
    "encryption_options",
)
LEGACY_FIELDS = frozenset(
    {
        "device_name",
        "delete_on_termination",
        "virtual_name",
        "snapshot_id",
        "volume_id",
        "volume_size",
        "no_device",
        "connection_info",
    }
)
DB_ONLY_FIELDS = frozenset(
    {"id", "instance_uuid", "attachment_id", "uuid", "created_at", "updated_at", "deleted_at", "deleted"}
)
# Fields a legacy mapping cannot tell (from_legacy leaves them unset).
_NON_COMPUTABLE = frozenset({"boot_index", "disk_bus", "guest_format", "device_type"})
# nova.objects.fields: DiskBus.ALL and BlockDeviceType.ALL.
DISK_BUSES = ("fdc", "ide", "sata", "scsi", "usb", "virtio", "xen", "lxc", "uml")
DEVICE_TYPES = ("cdrom", "disk", "floppy", "fs", "lun")
# The root device name Nova's API assumes when the image names none (no image has one here).
ROOT_DEVICE_NAME = "vda"
# Nova's [DEFAULT] max_local_block_devices default (negative: no limit).
MAX_LOCAL_BLOCK_DEVICES = 3

_TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
_EPHEMERAL = re.compile(r"^ephemeral(\d|[1-9]\d+)$")
_DEV = re.compile(r"^/dev/")
_PREFIX = re.compile(r"^((x?v|s|h)d)")
_DIGITS = re.compile(r"\d+")


def bool_from_string(value) -> bool:
    """oslo.utils strutils.bool_from_string (not strict): anything not a true word is False."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE_STRINGS


def _found(reference) -> bool:
    """Whether an image, volume or snapshot id can name something: it has a UUID's form.

    Glance and Cinder hand out UUIDs, and answer 404 for anything else; with neither here, an id
    of that form is taken as given.
    """
    try:
        uuid_lib.UUID(str(reference))
    except ValueError:
        return False
    return True


def strip_dev(device_name):
    return _DEV.sub("", device_name) if device_name else device_name


def _prepend_dev(device_name):
    return device_name and "/dev/" + strip_dev(device_name)


def _device_letter(device_name):
    if not device_name:
        return device_name
    return _DIGITS.sub("", _PREFIX.sub("", strip_dev(device_name)))


def _is_swap_or_ephemeral(virtual_name) -> bool:
    return bool(virtual_name) and (virtual_name == "swap" or _EPHEMERAL.match(virtual_name) is not None)


def is_swap(bdm: dict) -> bool:
    """A blank local disk formatted as swap (new_format_is_swap)."""
    return (
        bdm.get("source_type") == "blank"
        and bdm.get("destination_type") == "local"
        and bdm.get("guest_format") == "swap"
    )


def is_ephemeral(bdm: dict) -> bool:
    """A blank local disk that is not swap (new_format_is_ephemeral)."""
    return (
        bdm.get("source_type") == "blank"
        and bdm.get("destination_type") == "local"
        and bdm.get("guest_format") != "swap"
    )


def root_mapping(mappings: Iterable[dict]) -> dict | None:
    """The mapping the server boots from (boot_index 0), or None."""
    return next((bdm for bdm in mappings if bdm.get("boot_index") == 0), None)


def is_volume_backed(mappings: Iterable[dict]) -> bool:
    """Whether the server's root disk is a volume (Nova's RequestSpec.is_bfv)."""
    root = root_mapping(mappings)
    return root is not None and root.get("destination_type") == "volume"


def volume_size(flavor: dict, bdm: dict):
    """The size a mapping gets: its own, or for a blank local disk the flavor's swap (MB) or
    ephemeral disk (GB) (compute API / conductor ``_volume_size``)."""
    size = bdm.get("volume_size")
    if size is None and bdm.get("source_type") == "blank" and bdm.get("destination_type") == "local":
        size = (flavor.get("swap") or 0) if bdm.get("guest_format") == "swap" else (flavor.get("ephemeral_gb") or 0)
    return size


# --- 1. each mapping on its own (nova/block_device.py BlockDeviceDict) ------------------------------


def _check_format(values: dict) -> None:
    """BlockDeviceDict._validate: basic format checks; converts booleans, sizes and boot indexes."""
    invalid = set(values) - set(FIELDS) - DB_ONLY_FIELDS
    if invalid:
        raise InvalidBDMFormat("Following fields are invalid: " + " ".join(sorted(invalid)))
    if values.get("no_device"):
        return
    if "source_type" not in values:
        raise InvalidBDMFormat("Some required fields are missing")
    if "delete_on_termination" in values:
        values["delete_on_termination"] = bool_from_string(values["delete_on_termination"])
    device_name = values.get("device_name")
    if device_name is not None:
        if not isinstance(device_name, str) or not 1 <= len(device_name) <= 255:
            raise InvalidBDMFormat("Device name empty or too long.")
        if " " in device_name:
            raise InvalidBDMFormat("Device name contains spaces.")
    if values.get("volume_size"):
        try:
            size = int(values["volume_size"])
        except (TypeError, ValueError):
            raise InvalidBDMFormat("Invalid volume_size.") from None
        if size < 0:
            raise InvalidBDMFormat("Invalid volume_size.")
        values["volume_size"] = size
    if values.get("boot_index"):
        try:
            values["boot_index"] = int(values["boot_index"])
        except (TypeError, ValueError):
            raise InvalidBDMFormat("Boot index is invalid.") from None


def _block_device_dict(values: dict, do_not_default: frozenset = frozenset()) -> dict:
    """BlockDeviceDict(values): checked, every field present (None unless given or not computable)."""
    values = dict(values)
    _check_format(values)
    if values.get("device_name"):
        values["device_name"] = _prepend_dev(values["device_name"])
    values["delete_on_termination"] = bool(values.get("delete_on_termination"))
    bdm = {name: None for name in FIELDS if name not in do_not_default}
    bdm.update(values)
    return bdm


def _from_api(api: dict, *, image_uuid_specified: bool) -> dict:
    """BlockDeviceDict.from_api: a block_device_mapping_v2 item as a mapping."""
    api = dict(api)
    if not api.get("no_device"):
        source_type = api.get("source_type")
        device_uuid = api.get("uuid")
        destination_type = api.get("destination_type")
        volume_type = api.get("volume_type")
        if source_type == "blank" and device_uuid:
            raise InvalidBDMFormat("Invalid device UUID.")
        if source_type != "blank":
            if not device_uuid:
                raise InvalidBDMFormat("Missing device UUID.")
            # Without a source type this names a field "None_id", refused below as Nova does.
            api[f"{source_type}_id"] = device_uuid
        if source_type == "image" and destination_type == "local":
            boot_index = api.get("boot_index", -1)
            boot_index = -1 if boot_index is None else int(boot_index)
            # Only the mapping of imageRef itself (the root disk) may copy an image to a local disk.
            if not (image_uuid_specified and boot_index == 0):
                raise InvalidBDMFormat("Mapping image to local is not supported.")
        if destination_type == "local" and volume_type:
            raise InvalidBDMFormat("Specifying a volume_type with destination_type=local is not supported.")
        if source_type == "volume" and volume_type:
            raise InvalidBDMFormat("Specifying volume type to existing volume is not supported.")
    api.pop("uuid", None)
    return _block_device_dict(api)


def block_device_mappings_from_request(
    *, v2: list[dict] | None, legacy: list[dict] | None, image_ref: str | None
) -> tuple[list[dict], bool]:
    """``(mappings, is_legacy)`` of a create request's ``block_device_mapping_v2`` or legacy
    ``block_device_mapping`` (Nova's _process_bdms_for_create). Without either: ``([], True)``,
    the legacy path that gives ``imageRef`` its image mapping. Raises InvalidBlockDeviceRequest.
    """
    if legacy and v2:
        raise InvalidBlockDeviceRequest(
            "Using different block_device_mapping syntaxes is not allowed in the same request."
        )
    if legacy:
        mappings = []
        for bdm in legacy:
            bdm = dict(bdm)
            if "delete_on_termination" in bdm:
                bdm["delete_on_termination"] = bool_from_string(bdm["delete_on_termination"])
            mappings.append(bdm)
        return mappings, True
    if v2:
        specified = image_ref not in (None, "")
        return [_from_api(bdm, image_uuid_specified=specified) for bdm in v2], False
    return [], True


# --- 2. what a server without imageRef boots from ---------------------------------------------------


def boot_device_check(*, mappings: list[dict], legacy: bool) -> None:
    """The image, volume or snapshot a server without ``imageRef`` boots from must exist (Nova's
    get_bdm_image_metadata reads it from Glance or Cinder; here its id must have a UUID's form).

    The boot device is the one with boot_index 0, or in the legacy format the first disk (``vda``,
    ``sda``, ...). Raises SnapshotNotFound, InvalidBDMImage or InvalidBDMVolume.
    """
    for bdm in mappings:
        if legacy and _device_letter(bdm.get("device_name", "")) != "a":
            continue
        if not legacy and bdm.get("boot_index") != 0:
            continue
        snapshot_id, volume_id, image_id = bdm.get("snapshot_id"), bdm.get("volume_id"), bdm.get("image_id")
        if snapshot_id and not _found(snapshot_id):
            raise SnapshotNotFound(snapshot_id=snapshot_id)
        if image_id:
            if not _found(image_id):
                raise InvalidBDMImage(id=image_id)
            return
        if volume_id and not _found(volume_id):
            raise InvalidBDMVolume(id=volume_id)
        if volume_id or snapshot_id:
            # Nova would read the volume's image metadata here; there is none to read.
            return


# --- 3. the mappings of every server of the request -------------------------------------------------


def _from_legacy(legacy_bdm: dict) -> dict:
    """BlockDeviceDict.from_legacy: one legacy mapping in the v2 format."""
    copy_over = (LEGACY_FIELDS & set(FIELDS)) | DB_ONLY_FIELDS
    new = {key: value for key, value in legacy_bdm.items() if key in copy_over}
    virtual_name = legacy_bdm.get("virtual_name")
    if _is_swap_or_ephemeral(virtual_name):
        new.update(source_type="blank", delete_on_termination=True, destination_type="local")
        # Nova's [DEFAULT] default_ephemeral_format is unset: the hypervisor's own format.
        new["guest_format"] = "swap" if virtual_name == "swap" else None
    elif legacy_bdm.get("snapshot_id"):
        new.update(source_type="snapshot", destination_type="volume")
    elif legacy_bdm.get("volume_id"):
        new.update(source_type="volume", destination_type="volume")
    elif legacy_bdm.get("no_device"):
        pass
    else:
        raise InvalidBDMFormat("Unrecognized legacy format.")
    return _block_device_dict(new, _NON_COMPUTABLE)


def _image_mapping(image_ref: str) -> dict:
    """create_image_bdm: the root disk copied from imageRef."""
    return _block_device_dict(
        {
            "source_type": "image",
            "image_id": image_ref,
            "delete_on_termination": True,
            "boot_index": 0,
            "device_type": "disk",
            "destination_type": "local",
        }
    )


def _blank_mapping(size: int, guest_format: str | None = None) -> dict:
    """create_blank_bdm: a local disk the flavor gives (ephemeral in GB, swap in MB)."""
    return _block_device_dict(
        {
            "source_type": "blank",
            "delete_on_termination": True,
            "device_type": "disk",
            "boot_index": -1,
            "destination_type": "local",
            "guest_format": guest_format,
            "volume_size": size,
        }
    )


def _from_legacy_mapping(legacy: list[dict], image_ref: str, root_device_name: str) -> list[dict]:
    """from_legacy_mapping: the root disk is the volume named like the root device, else imageRef's."""
    mappings = [_from_legacy(bdm) for bdm in legacy]
    volume_backed = False
    for bdm in mappings:
        if bdm.get("source_type") in ("volume", "snapshot", "image") and strip_dev(
            bdm.get("device_name")
        ) == strip_dev(root_device_name):
            bdm["boot_index"] = 0
            volume_backed = True
        elif not bdm.get("no_device"):
            bdm["boot_index"] = -1
        else:
            bdm["boot_index"] = None
    if not volume_backed and image_ref:
        return [_image_mapping(image_ref), *mappings]
    return mappings


def _as_object(bdm: dict) -> dict:
    """The mapping as Nova's BlockDeviceMapping object holds it: enumerations checked, booleans
    without a value take their default (False)."""
    device_type = bdm.get("device_type")
    if device_type is not None and device_type not in DEVICE_TYPES:
        # Nova's object refuses it with a ValueError the API does not catch (a 500): a client's
        # mistake, answered as the other format errors.
        raise InvalidBDMFormat(f"Field value {device_type} is invalid")
    for name in ("delete_on_termination", "no_device", "encrypted"):
        if name in bdm:
            bdm[name] = bool(bdm[name])
    return bdm


def block_device_mappings_transform(
    *,
    mappings: list[dict],
    legacy: bool,
    image_ref: str | None,
    flavor: dict,
    min_count: int,
    max_count: int,
) -> list[dict]:
    """Every disk of one server of the request (Nova's _check_and_transform_bdm).

    Legacy mappings are converted, the root disk being the volume named like the root device or
    else ``imageRef``'s image; the flavor's ephemeral disk and swap are added unless the request
    has its own. There are no image-defined mappings (no image service). Raises InvalidRequest
    or InvalidBDMFormat.
    """
    if image_ref:
        for bdm in mappings:
            if bdm.get("destination_type") == "volume" and strip_dev(bdm.get("device_name")) == ROOT_DEVICE_NAME:
                raise InvalidRequest(
                    f"The volume cannot be assigned the same device name as the root device {ROOT_DEVICE_NAME}"
                )
    if legacy:
        mappings = _from_legacy_mapping(mappings, image_ref or "", ROOT_DEVICE_NAME)
    else:
        mappings = [dict(bdm) for bdm in mappings]
    if (min_count > 1 or max_count > 1) and any(bdm.get("source_type") == "volume" for bdm in mappings):
        raise InvalidRequest("Cannot attach one or more volumes to multiple instances")
    if flavor.get("ephemeral_gb") and not any(map(is_ephemeral, mappings)):
        mappings.append(_blank_mapping(flavor["ephemeral_gb"]))
    if flavor.get("swap") and not any(map(is_swap, mappings)):
        mappings.append(_blank_mapping(flavor["swap"], "swap"))
    return [_as_object(bdm) for bdm in mappings]


# --- 4. checks against the flavor, and sizes ---------------------------------------------------------


def block_device_mappings_validate(
    *, mappings: list[dict], image_ref: str | None, flavor: dict, max_local: int = MAX_LOCAL_BLOCK_DEVICES
) -> list[dict]:
    """Nova's _get_volumes_for_bdms and _validate_bdm, then each mapping's size (_volume_size).

    Returns new mappings. Raises VolumeNotFound, InvalidBDMBootSequence, InvalidBDMImage,
    InvalidBDMVolume, InvalidBDMSnapshot, InvalidBDM, InvalidBDMDiskBus, InvalidBDMEphemeralSize,
    InvalidBDMFormat, InvalidBDMSwapSize or InvalidBDMLocalsLimit.
    """
    for bdm in mappings:
        volume_id = bdm.get("volume_id")
        if volume_id and not _found(volume_id):
            raise VolumeNotFound(volume_id=volume_id)
    # Each bootable device has a unique boot index, from 0 up without a gap; at least one boots.
    boot_indexes = sorted(
        bdm["boot_index"] for bdm in mappings if bdm.get("boot_index") is not None and bdm["boot_index"] >= 0
    )
    if not boot_indexes or any(index != value for index, value in enumerate(boot_indexes)):
        raise InvalidBDMBootSequence()
    for bdm in mappings:
        # A volume_type would be looked up in Cinder (and stored by its name): kept as given here.
        snapshot_id, volume_id, image_id = bdm.get("snapshot_id"), bdm.get("volume_id"), bdm.get("image_id")
        if image_id is not None:
            if image_id != image_ref and not _found(image_id):
                raise InvalidBDMImage(id=image_id)
            if (
                bdm.get("source_type") == "image"
                and bdm.get("destination_type") == "volume"
                and not bdm.get("volume_size")
            ):
                raise InvalidBDM("Images with destination_type 'volume' need to have a non-zero size specified")
        elif volume_id is not None:
            # Cinder would say whether it can be attached, and its size.
            if not _found(volume_id):
                raise InvalidBDMVolume(id=volume_id)
        elif snapshot_id is not None:
            if not _found(snapshot_id):
                raise InvalidBDMSnapshot(id=snapshot_id)
        elif (
            bdm.get("source_type") == "blank"
            and bdm.get("destination_type") == "volume"
            and not bdm.get("volume_size")
        ):
            raise InvalidBDM("Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size")
        disk_bus = bdm.get("disk_bus")
        if disk_bus and disk_bus not in DISK_BUSES:
            raise InvalidBDMDiskBus()
    flavor_ephemeral = flavor.get("ephemeral_gb") or 0
    ephemeral_size = sum(bdm.get("volume_size") or flavor_ephemeral for bdm in mappings if is_ephemeral(bdm))
    if ephemeral_size > flavor_ephemeral:
        raise InvalidBDMEphemeralSize()
    swaps = [bdm for bdm in mappings if is_swap(bdm)]
    if len(swaps) > 1:
        raise InvalidBDMFormat("More than one swap drive requested.")
    if swaps and (swaps[0].get("volume_size") or 0) > (flavor.get("swap") or 0):
        raise InvalidBDMSwapSize()
    if max_local >= 0 and sum(1 for bdm in mappings if bdm.get("destination_type") == "local") > max_local:
        raise InvalidBDMLocalsLimit()
    sized = []
    for bdm in mappings:
        bdm = dict(bdm)
        bdm["volume_size"] = volume_size(flavor, bdm)
        sized.append(bdm)
    return sized
