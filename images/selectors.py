"""Images as Nova sees them, read from the image service (Glance's v2 API) in the caller's catalog.

No database of ours: an image is what Glance answers at the moment a server is created, read with
the caller's own token (so a private image of another project is as unknown as a missing one).
Without an image service in the catalog (the embedded authentication modes carry no catalog, and a
cloud may have no Glance) there is nothing to ask and ``image_get`` answers None: any image id is
accepted, as before.
"""

import logging
import uuid
from dataclasses import dataclass, field

import requests
from django.conf import settings

from images.exceptions import (
    GIB,
    BlockDeviceImageNotFound,
    FlavorDiskSmallerThanImage,
    FlavorDiskSmallerThanMinDisk,
    FlavorMemoryTooSmall,
    ImageNotActive,
    ImageNotFound,
    ImageServiceUnavailable,
)

logger = logging.getLogger("cellsv2.images")

# Nova's [glance] valid_interfaces default: the internal endpoint when the catalog has one.
INTERFACES = ("internal", "public")
# Glance v2's own attributes; everything else in an image is one of its properties (Nova's
# _extract_attributes_v2 reads the same split from Glance's schema).
BASE_ATTRIBUTES = frozenset(
    "id name status visibility protected checksum os_hash_algo os_hash_value os_hidden owner size virtual_size "
    "min_ram min_disk container_format disk_format created_at updated_at tags direct_url locations self file "
    "schema stores".split()
)
# nova/utils.py: what get_system_metadata_from_image copies besides the properties, and what it skips.
SM_IMAGE_PROP_PREFIX = "image_"
SM_INHERITABLE_KEYS = ("min_ram", "min_disk", "disk_format", "container_format")
SM_SKIP_KEYS = frozenset({"mappings", "block_device_mapping", "img_mappings", "img_block_device_mapping"})


@dataclass(frozen=True)
class Image:
    """An image as Glance shows it to the caller."""

    id: str
    name: str | None
    status: str
    size: int
    min_ram: int
    min_disk: int
    disk_format: str | None
    container_format: str | None
    owner: str | None
    properties: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_glance(cls, body: dict) -> "Image":
        return cls(
            id=body["id"],
            name=body.get("name"),
            status=body.get("status") or "",
            size=int(body.get("size") or 0),
            min_ram=int(body.get("min_ram") or 0),
            min_disk=int(body.get("min_disk") or 0),
            disk_format=body.get("disk_format"),
            container_format=body.get("container_format"),
            owner=body.get("owner"),
            properties={k: v for k, v in body.items() if k not in BASE_ATTRIBUTES},
        )


def _endpoint_urls(endpoint: dict) -> dict[str, str]:
    """{interface: url} of one catalog endpoint: Keystone's v3 form (``interface`` + ``url``) or
    the v2 form keystonemiddleware's X-Service-Catalog carries (``publicURL``, ``internalURL``...)."""
    if "interface" in endpoint:
        return {endpoint["interface"]: endpoint.get("url")}
    return {interface: endpoint.get(f"{interface}URL") for interface in ("public", "internal", "admin")}


def image_service_url(context) -> str | None:
    """The image service's URL in the caller's service catalog (the configured region), or None."""
    catalog = getattr(context, "service_catalog", None) or ()
    region = settings.CELLSV2_KEYSTONE.get("region_name")
    urls = [
        _endpoint_urls(endpoint)
        for service in catalog
        if isinstance(service, dict) and service.get("type") == "image"
        for endpoint in service.get("endpoints") or ()
        if isinstance(endpoint, dict) and (not region or region in (endpoint.get("region_id"), endpoint.get("region")))
    ]
    for interface in INTERFACES:
        for by_interface in urls:
            if by_interface.get(interface):
                url = by_interface[interface].rstrip("/")
                return url[: -len("/v2")] if url.endswith("/v2") else url
    return None


def image_get(context, image_id: str) -> Image | None:
    """The image ``image_id`` as the caller sees it in the image service of their catalog.

    None when the catalog has no image service. Raises ImageNotFound (unknown, or not the caller's
    to see) or ImageServiceUnavailable (no answer, or one that is not an image).
    """
    url = image_service_url(context)
    if url is None:
        return None
    try:
        uuid.UUID(str(image_id))
    except ValueError:
        raise ImageNotFound(image_id) from None  # Glance ids are UUIDs; Glance answers 404 too
    try:
        response = requests.get(
            f"{url}/v2/images/{image_id}",
            headers={"X-Auth-Token": context.auth_token or "", "Accept": "application/json"},
            timeout=settings.CELLSV2_IMAGE_TIMEOUT,
        )
    except requests.RequestException as exc:
        logger.warning("Image service at %s did not answer: %s", url, exc)
        raise ImageServiceUnavailable() from None
    if response.status_code in (403, 404):
        raise ImageNotFound(image_id)
    try:
        body = response.json() if response.status_code == 200 else None
        return Image.from_glance(body)
    except (ValueError, TypeError, KeyError):
        logger.warning("Image service at %s answered %s for image %s", url, response.status_code, image_id)
        raise ImageServiceUnavailable() from None


def image_check_for_boot(image: Image, *, memory_mb: int, root_gb: int, volume_backed: bool = False) -> None:
    """Nova's checks of the image a server boots from against its flavor (_check_requested_image):
    active, the flavor's RAM at least the image's min_ram and, for a local root disk of a flavor
    that has a size (0 means "the image's size"), the image and its min_disk fit in it."""
    if image.status != "active":
        raise ImageNotActive(image.id)
    if memory_mb < image.min_ram:
        raise FlavorMemoryTooSmall()
    if volume_backed or not root_gb:
        return
    flavor_size = root_gb * GIB
    if image.size > flavor_size:
        raise FlavorDiskSmallerThanImage(flavor_size, image.size)
    if image.min_disk * GIB > flavor_size:
        raise FlavorDiskSmallerThanMinDisk(flavor_size, image.min_disk * GIB)


def block_device_image_get(context, image_id: str) -> Image | None:
    """image_get for an image a block device mapping names (Nova's message differs)."""
    try:
        return image_get(context, image_id)
    except ImageNotFound:
        raise BlockDeviceImageNotFound(image_id) from None


def image_system_metadata(image: Image, *, root_gb: int = 0) -> dict[str, str]:
    """The ``image_*`` system metadata Nova keeps of a server's image (get_system_metadata_from_image):
    its properties, then min_ram, min_disk (at least the flavor's disk), disk and container format.
    Server show reads them back as the image's ``properties`` from microversion 2.98."""
    metadata = {
        SM_IMAGE_PROP_PREFIX + key: str(value)[:255]
        for key, value in image.properties.items()
        if key not in SM_SKIP_KEYS and value is not None
    }
    inherited = {
        "min_ram": image.min_ram,
        "min_disk": max(image.min_disk, root_gb or 0),
        "disk_format": image.disk_format,
        "container_format": image.container_format,
    }
    for key in SM_INHERITABLE_KEYS:
        if inherited[key] is not None:
            metadata[SM_IMAGE_PROP_PREFIX + key] = str(inherited[key])
    return metadata


def image_properties_from_system_metadata(system_metadata: dict) -> dict[str, str]:
    """2.98's ``image.properties`` of a server: its ``image_*`` system metadata without the prefix."""
    return {
        key[len(SM_IMAGE_PROP_PREFIX) :]: value
        for key, value in system_metadata.items()
        if key.startswith(SM_IMAGE_PROP_PREFIX)
    }
