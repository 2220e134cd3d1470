"""images.selectors against a real Glance behind a real Keystone (tests/cloud_services), read with
the caller's own token and service catalog, as server create reads them."""

import uuid

import pytest
import requests

from cellsv2.api.authentication import ComputeContext, expand_roles
from images.exceptions import (
    BlockDeviceImageNotFound,
    FlavorDiskSmallerThanImage,
    FlavorDiskSmallerThanMinDisk,
    FlavorMemoryTooSmall,
    ImageNotActive,
    ImageNotFound,
    ImageServiceUnavailable,
)
from images.selectors import (
    Image,
    block_device_image_get,
    image_check_for_boot,
    image_get,
    image_properties_from_system_metadata,
    image_service_url,
    image_system_metadata,
)
from tests.cloud_services.keystone_service import REGION
from tests.support import free_port

pytestmark = pytest.mark.slow


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def context_of(user) -> ComputeContext:
    """What CELLSV2_AUTH=keystone makes of the user's token: its identity, the token and its catalog."""
    session = user.session()
    access = session.auth.get_access(session)
    return ComputeContext(
        user_id=access.user_id,
        project_id=access.project_id,
        roles=expand_roles(access.role_names),
        auth_token=access.auth_token,
        service_catalog=tuple(access.service_catalog.catalog),
    )


@pytest.fixture(scope="module")
def alice(keystone, glance):
    return keystone.create_user(unique("alice"), project=unique("images"), roles=["member"])


@pytest.fixture(scope="module")
def limited_image(glance, alice):
    return glance.upload_image(
        alice, "limits", min_ram=128, min_disk=2, properties={"hw_disk_bus": "scsi", "os_distro": "cirros"}
    )


def test_the_image_service_is_found_in_the_callers_catalog(alice, glance, settings):
    context = context_of(alice)
    assert image_service_url(context) == glance.url.rstrip("/")

    settings.CELLSV2_KEYSTONE = {**settings.CELLSV2_KEYSTONE, "region_name": REGION}
    assert image_service_url(context) == glance.url.rstrip("/")
    settings.CELLSV2_KEYSTONE = {**settings.CELLSV2_KEYSTONE, "region_name": "ElsewhereOne"}
    assert image_service_url(context) is None


def test_the_catalog_keystonemiddleware_passes_on_is_read_too(glance, settings):
    # X-Service-Catalog carries the v2 form: one entry per region, a URL per interface.
    v2 = [{"type": "image", "name": "glance", "endpoints": [{"region": REGION, "publicURL": glance.url + "/"}]}]
    context = ComputeContext(user_id="u", project_id="p", service_catalog=tuple(v2))
    assert image_service_url(context) == glance.url.rstrip("/")
    internal = [{**v2[0], "endpoints": [{**v2[0]["endpoints"][0], "internalURL": "http://glance.internal:9292/v2"}]}]
    context = ComputeContext(user_id="u", project_id="p", service_catalog=tuple(internal))
    assert image_service_url(context) == "http://glance.internal:9292"  # Nova's order: internal first


def test_without_an_image_service_any_id_is_accepted(alice):
    context = ComputeContext(user_id="u", project_id="p", roles=frozenset({"member"}))
    assert image_service_url(context) is None
    assert image_get(context, str(uuid.uuid4())) is None
    catalog_without_glance = tuple(s for s in context_of(alice).service_catalog if s["type"] != "image")
    assert image_get(ComputeContext(user_id="u", project_id="p", service_catalog=catalog_without_glance), "x") is None


def test_an_image_is_read_with_its_limits_and_properties(alice, limited_image):
    image = image_get(context_of(alice), limited_image)

    assert (image.id, image.name, image.status, image.size) == (limited_image, "limits", "active", 1024)
    assert (image.min_ram, image.min_disk, image.disk_format, image.container_format) == (128, 2, "raw", "bare")
    assert image.owner == alice.project_id
    assert image.properties["hw_disk_bus"] == "scsi"
    assert image.properties["os_distro"] == "cirros"
    assert not {"id", "status", "min_ram", "checksum", "self", "file"} & set(image.properties)


def test_a_public_image_is_seen_from_every_project(keystone, glance):
    bob = keystone.create_user(unique("bob"), project=unique("other"), roles=["member"])
    assert image_get(context_of(bob), glance.cirros_image_id).name == "cirros-tiny"


def test_unknown_malformed_and_other_projects_private_images_are_not_found(keystone, alice, limited_image):
    bob = keystone.create_user(unique("bob"), project=unique("other"), roles=["member"])
    for context, image_id in (
        (context_of(alice), str(uuid.uuid4())),
        (context_of(alice), "not-a-uuid"),
        (context_of(bob), limited_image),  # alice's private image
    ):
        with pytest.raises(ImageNotFound) as missing:
            image_get(context, image_id)
        assert str(missing.value) == "Can not find requested image"

    ghost = str(uuid.uuid4())
    with pytest.raises(BlockDeviceImageNotFound) as missing:
        block_device_image_get(context_of(alice), ghost)
    assert str(missing.value) == f"Block Device Mapping is Invalid: failed to get image {ghost}."


def test_an_image_service_that_does_not_answer_is_unavailable(alice):
    context = context_of(alice)
    dead = [
        {**service, "endpoints": [{**e, "url": f"http://127.0.0.1:{free_port()}"} for e in service["endpoints"]]}
        if service["type"] == "image"
        else service
        for service in context.service_catalog
    ]
    unreachable = ComputeContext(
        user_id=context.user_id, project_id=context.project_id, auth_token=context.auth_token, service_catalog=dead
    )
    with pytest.raises(ImageServiceUnavailable):
        image_get(unreachable, str(uuid.uuid4()))


def test_an_image_without_data_is_not_active(alice, glance):
    context = context_of(alice)
    queued = requests.post(
        f"{glance.url}/v2/images",
        json={"name": "queued", "disk_format": "raw", "container_format": "bare"},
        headers={"X-Auth-Token": context.auth_token},
        timeout=30,
    ).json()
    image = image_get(context, queued["id"])

    assert image.status == "queued"
    with pytest.raises(ImageNotActive) as refused:
        image_check_for_boot(image, memory_mb=512, root_gb=1)
    assert str(refused.value) == f"Image {queued['id']} is not active."


def test_the_flavor_must_have_the_ram_and_disk_the_image_asks_for(alice, limited_image):
    image = image_get(context_of(alice), limited_image)

    with pytest.raises(FlavorMemoryTooSmall) as refused:
        image_check_for_boot(image, memory_mb=64, root_gb=20)
    assert str(refused.value) == "Flavor's memory is too small for requested image."
    with pytest.raises(FlavorDiskSmallerThanMinDisk) as refused:
        image_check_for_boot(image, memory_mb=512, root_gb=1)
    assert str(refused.value) == (
        "Flavor's disk is smaller than the minimum size specified in image metadata. "
        "Flavor disk is 1073741824 bytes, minimum size is 2147483648 bytes."
    )
    image_check_for_boot(image, memory_mb=128, root_gb=2)
    image_check_for_boot(image, memory_mb=128, root_gb=0)  # 0: the root disk is the image's size
    image_check_for_boot(image, memory_mb=128, root_gb=1, volume_backed=True)  # the root disk is a volume


def test_an_image_larger_than_the_flavor_disk_is_refused():
    image = Image("i", "big", "active", 3 * 1024**3, 0, 0, "qcow2", "bare", "p")
    with pytest.raises(FlavorDiskSmallerThanImage) as refused:
        image_check_for_boot(image, memory_mb=512, root_gb=2)
    assert str(refused.value) == (
        "Flavor's disk is too small for requested image. Flavor disk is 2147483648 bytes, image is 3221225472 bytes."
    )


def test_the_image_is_kept_as_novas_system_metadata_and_read_back_as_298_properties(alice, limited_image):
    image = image_get(context_of(alice), limited_image)
    metadata = image_system_metadata(image, root_gb=5)

    assert metadata["image_hw_disk_bus"] == "scsi"
    assert metadata["image_min_ram"] == "128"
    assert metadata["image_min_disk"] == "5"  # Nova keeps the larger of the image's and the flavor's
    assert (metadata["image_disk_format"], metadata["image_container_format"]) == ("raw", "bare")
    properties = image_properties_from_system_metadata({**metadata, "owner_user_name": "alice"})
    assert properties["os_distro"] == "cirros"
    assert properties["min_ram"] == "128"
    assert "owner_user_name" not in properties
