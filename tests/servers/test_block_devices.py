"""Block device mappings of ``POST /servers``: Nova's schema and checks (400s with Nova's messages
and nothing written), the build request's BlockDeviceMappingList, the ``block_device_mapping``
rows the conductor writes into the server's cell (cell0 included), their soft delete, archive and
purge, ``os-extended-volumes:volumes_attached`` per microversion, and openstacksdk over HTTP."""

import json

import pytest

from cellsv2.context import target_cell
from cellsv2.quotas import quota_set
from flavors.models import Flavor
from mappings.models import InstanceMapping
from servers import conductor
from servers.models import (
    BlockDeviceMapping,
    BuildRequest,
    InstanceSystemMetadata,
    RequestSpec,
    ShadowBlockDeviceMapping,
)
from servers.scheduler import CLAIMED_DISK_KEY
from servers.serialization import UnsupportedFormat, block_device_mappings_load
from tests.factories import IMAGE
from tests.fixtures.compute import ADMIN, MEMBER, api_rows, cells_holding, fault, mapping_of, place_all
from tests.support import ALL_DATABASES, CELL_ALIASES, run_command

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]

NOTHING = {"build_requests": 0, "request_specs": 0, "instance_mappings": 0}
VOLUME = "6f1e3a04-9f2c-4f3e-8b8e-2d6f0c8a1b11"
VOLUME2 = "0b9b4c0a-3d5e-4a8e-9f51-7c2e1d4b6a22"
SNAPSHOT = "a3c1f6de-2b7a-4c1d-9e0f-5d8b7a6c4e33"
OTHER_IMAGE = "d2f6b7c8-1e3a-4b5c-8d9e-0f1a2b3c4d55"
BAD_SEQUENCE = (
    "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping "
    "combination is not valid."
)
EPHEMERAL_TOO_BIG = (
    "Ephemeral disks requested are larger than the instance type allows. If no size is given in one block "
    "device mapping, flavor ephemeral size will be used."
)


def image_root(image=IMAGE, **fields):
    """The mapping openstackclient and novaclient send with --image: the image as the local root disk."""
    return {"uuid": image, "source_type": "image", "destination_type": "local", "boot_index": 0, **fields}


def volume_root(volume=VOLUME, **fields):
    return {"uuid": volume, "source_type": "volume", "destination_type": "volume", "boot_index": 0, **fields}


def image_to_volume(image=IMAGE, **fields):
    return {
        "uuid": image,
        "source_type": "image",
        "destination_type": "volume",
        "boot_index": 0,
        "volume_size": 1,
        **fields,
    }


def post(api, *, token=MEMBER, version=None, **server):
    """POST /servers with ``server`` (name and flavor 1 unless given; no imageRef unless given)."""
    body = {"name": "vm", "flavorRef": "1", **server}
    if version is not None and version != "2.1" and tuple(map(int, version.split("."))) >= (2, 37):
        body.setdefault("networks", "none")
    return api("post", "/servers", token=token, version=version, body={"server": body})


def refused(response, message, status=400):
    assert response.status_code == status, response.content
    assert fault(response)[1:] == (status, message)
    assert api_rows() == NOTHING


def created(response) -> str:
    assert response.status_code == 202, response.content
    return response.json()["server"]["id"]


def mappings_of_build(uuid) -> list[dict]:
    return block_device_mappings_load(BuildRequest.objects.get(instance_uuid=uuid).block_device_mappings)


def rows_in(alias, uuid, *, live_only=True) -> list[BlockDeviceMapping]:
    with target_cell(alias):
        rows = BlockDeviceMapping.objects.filter(instance_id=uuid).order_by("id")
        return list(rows.live() if live_only else rows)


def cells_with_rows(uuid) -> list[str]:
    return [alias for alias in CELL_ALIASES if rows_in(alias, uuid, live_only=False)]


@pytest.fixture
def big_flavor():
    """A flavor with an ephemeral disk (2 GB) and swap (512 MB)."""
    return Flavor.objects.create(
        flavorid="eph", name="m1.eph", memory_mb=512, vcpus=1, root_gb=10, ephemeral_gb=2, swap=512
    )


# --- the request schema -----------------------------------------------------------------------------------


class TestSchema:
    def test_the_image_mapping_openstackclient_sends_with_an_image_is_accepted(self, api, topology):
        uuid = created(post(api, imageRef=IMAGE, block_device_mapping_v2=[image_root(delete_on_termination=True)]))
        assert api.show(uuid).json()["server"]["image"]["id"] == IMAGE

    @pytest.mark.parametrize(
        ("mapping", "message"),
        [
            (
                {"source_type": "disk", "uuid": VOLUME},
                "Invalid input for field/attribute source_type. Value: disk. "
                "'disk' is not one of ['volume', 'image', 'snapshot', 'blank']",
            ),
            (
                {**volume_root(), "destination_type": "remote"},
                "Invalid input for field/attribute destination_type. Value: remote. "
                "'remote' is not one of ['local', 'volume']",
            ),
            (
                image_to_volume(volume_size=0),
                "Invalid input for field/attribute volume_size. Value: 0. 0 is less than the minimum of 1",
            ),
            (
                image_to_volume(volume_size="0"),
                "Invalid input for field/attribute volume_size. Value: 0. 0 is less than the minimum of 1",
            ),
            (
                image_to_volume(volume_size="ten"),
                "Invalid input for field/attribute volume_size. Value: ten. 'ten' does not match '^[0-9]+$'",
            ),
            (
                volume_root(boot_index="first"),
                "Invalid input for field/attribute boot_index. Value: first. 'first' does not match '^-?[0-9]+$'",
            ),
            (
                volume_root(uuid="a b"),
                "Invalid input for field/attribute uuid. Value: a b. 'a b' does not match '^[a-zA-Z0-9._-]*$'",
            ),
            (
                volume_root(device_name="/dev/v da"),
                "Invalid input for field/attribute device_name. Value: /dev/v da. "
                "'/dev/v da' does not match '^[a-zA-Z0-9._/-]*$'",
            ),
            (
                volume_root(delete_on_termination="maybe"),
                "Invalid input for field/attribute delete_on_termination. Value: maybe. 'maybe' is not one of "
                "[True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, "
                "'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']",
            ),
            (
                {"source_type": "blank", "destination_type": "local", "size": 1},
                "Invalid input for field/attribute 0. Value: {'source_type': 'blank', 'destination_type': "
                "'local', 'size': 1}. Additional properties are not allowed ('size' was unexpected)",
            ),
        ],
    )
    def test_a_mapping_refused_by_the_schema(self, api, topology, mapping, message):
        refused(post(api, block_device_mapping_v2=[mapping]), message)

    def test_image_ref_null_is_refused_as_by_nova(self, api, topology):
        # What openstacksdk sends for image_id=None: imageRef is a uuid or "", never null.
        refused(
            post(api, imageRef=None, block_device_mapping_v2=[volume_root()]),
            "Invalid input for field/attribute imageRef. Value: None. "
            "None is not valid under any of the given schemas",
        )
        created(post(api, imageRef="", block_device_mapping_v2=[volume_root()]))

    def test_block_device_mapping_v2_is_a_list(self, api, topology):
        refused(
            post(api, block_device_mapping_v2=volume_root()),
            "Invalid input for field/attribute block_device_mapping_v2. Value: "
            f"{volume_root()}. {volume_root()} is not of type 'array'",
        )

    @pytest.mark.parametrize(
        ("version", "accepted"), [("2.31", False), ("2.32", True), ("2.33", False), ("2.41", False), ("2.42", True)]
    )
    def test_a_tag_in_2_32_and_from_2_42(self, api, topology, version, accepted):
        response = post(api, version=version, block_device_mapping_v2=[volume_root(tag="root")])
        if accepted:
            uuid = created(response)
            assert mappings_of_build(uuid)[0]["tag"] == "root"
        else:
            refused(
                response,
                f"Invalid input for field/attribute 0. Value: {volume_root(tag='root')}. "
                "Additional properties are not allowed ('tag' was unexpected)",
            )

    def test_an_empty_tag_is_refused(self, api, topology):
        refused(
            post(api, version="2.42", block_device_mapping_v2=[volume_root(tag="")]),
            "Invalid input for field/attribute tag. Value: . '' should be non-empty",
        )

    @pytest.mark.parametrize(("version", "accepted"), [("2.66", False), ("2.67", True)])
    def test_a_volume_type_from_2_67(self, api, topology, version, accepted):
        response = post(api, version=version, block_device_mapping_v2=[image_to_volume(volume_type="ssd")])
        if accepted:
            assert mappings_of_build(created(response))[0]["volume_type"] == "ssd"
        else:
            refused(
                response,
                f"Invalid input for field/attribute 0. Value: {image_to_volume(volume_type='ssd')}. "
                "Additional properties are not allowed ('volume_type' was unexpected)",
            )

    def test_the_legacy_format_is_accepted_from_2_1(self, api, topology):
        uuid = created(
            post(api, block_device_mapping=[{"volume_id": VOLUME, "device_name": "vda", "delete_on_termination": "1"}])
        )
        (root,) = mappings_of_build(uuid)
        assert (root["source_type"], root["destination_type"], root["volume_id"]) == ("volume", "volume", VOLUME)
        assert (root["boot_index"], root["device_name"], root["delete_on_termination"]) == (0, "/dev/vda", True)

    def test_the_legacy_format_keeps_its_own_fields(self, api, topology):
        refused(
            post(api, block_device_mapping=[{"volume_id": VOLUME, "source_type": "volume"}]),
            f"Invalid input for field/attribute 0. Value: {{'volume_id': '{VOLUME}', 'source_type': 'volume'}}. "
            "Additional properties are not allowed ('source_type' was unexpected)",
        )
        refused(
            post(api, block_device_mapping=[{"volume_id": "vol-1", "device_name": "vda"}]),
            "Invalid input for field/attribute volume_id. Value: vol-1. 'vol-1' is not a 'uuid'",
        )


# --- Nova's checks of the mappings --------------------------------------------------------------------------


class TestChecks:
    @pytest.mark.parametrize(
        ("server", "message"),
        [
            # nova/block_device.py BlockDeviceDict.from_api
            (
                {
                    "block_device_mapping_v2": [
                        {"source_type": "volume", "destination_type": "volume", "boot_index": 0}
                    ]
                },
                "Block Device Mapping is Invalid: Missing device UUID.",
            ),
            (
                {"block_device_mapping_v2": [{"source_type": "blank", "uuid": VOLUME, "destination_type": "local"}]},
                "Block Device Mapping is Invalid: Invalid device UUID.",
            ),
            (
                {"block_device_mapping_v2": [image_root()]},
                "Block Device Mapping is Invalid: Mapping image to local is not supported.",
            ),
            (
                {"imageRef": "", "block_device_mapping_v2": [image_root()]},
                "Block Device Mapping is Invalid: Mapping image to local is not supported.",
            ),
            (
                {"imageRef": IMAGE, "block_device_mapping_v2": [image_root(boot_index=1)]},
                "Block Device Mapping is Invalid: Mapping image to local is not supported.",
            ),
            (
                {"block_device_mapping_v2": [{"uuid": VOLUME, "destination_type": "volume", "boot_index": 0}]},
                "Block Device Mapping is Invalid: Following fields are invalid: None_id",
            ),
            (
                {"block_device_mapping_v2": [volume_root(virtual_name="swap")]},
                "Block Device Mapping is Invalid: Following fields are invalid: virtual_name",
            ),
            (
                {
                    "block_device_mapping_v2": [volume_root()],
                    "block_device_mapping": [{"volume_id": VOLUME, "device_name": "vda"}],
                },
                "Using different block_device_mapping syntaxes is not allowed in the same request.",
            ),
            # compute API: what the server boots from (get_bdm_image_metadata)
            (
                {"block_device_mapping_v2": [volume_root("vol-1")]},
                "Block Device Mapping is Invalid: failed to get volume vol-1.",
            ),
            (
                {"block_device_mapping_v2": [image_to_volume("img-1")]},
                "Block Device Mapping is Invalid: failed to get image img-1.",
            ),
            (
                {
                    "block_device_mapping_v2": [
                        {**volume_root("snap-1"), "source_type": "snapshot", "uuid": "snap-1"},
                    ]
                },
                "Snapshot snap-1 could not be found.",
            ),
            # compute API _check_and_transform_bdm
            (
                {
                    "imageRef": IMAGE,
                    "block_device_mapping_v2": [
                        image_root(),
                        {**volume_root(boot_index=1), "device_name": "/dev/vda"},
                    ],
                },
                "The volume cannot be assigned the same device name as the root device vda",
            ),
            (
                {"block_device_mapping_v2": [volume_root()], "min_count": 2},
                "Cannot attach one or more volumes to multiple instances",
            ),
            (
                {"block_device_mapping": [{"device_name": "vdb", "volume_size": 1}]},
                "Block Device Mapping is Invalid: Unrecognized legacy format.",
            ),
            (
                {"block_device_mapping_v2": [volume_root(device_type="usb-stick")]},
                "Block Device Mapping is Invalid: Field value usb-stick is invalid",
            ),
            # compute API _validate_bdm
            (
                {
                    "imageRef": IMAGE,
                    "block_device_mapping_v2": [{**image_to_volume(), "boot_index": 1}],
                },
                BAD_SEQUENCE,
            ),
            (
                {"block_device_mapping_v2": [volume_root(), volume_root(VOLUME2, boot_index=2)]},
                BAD_SEQUENCE,
            ),
            (
                {"block_device_mapping_v2": [volume_root(), volume_root(VOLUME2)]},
                BAD_SEQUENCE,
            ),
            (
                {"block_device_mapping": [{"volume_id": VOLUME, "device_name": "vdb"}]},
                BAD_SEQUENCE,
            ),
            (
                {"imageRef": IMAGE, "block_device_mapping_v2": [image_root(), volume_root("vol-2", boot_index=1)]},
                "Volume vol-2 could not be found.",
            ),
            (
                {
                    "block_device_mapping_v2": [
                        volume_root(),
                        {"source_type": "snapshot", "uuid": "snap-2", "destination_type": "volume", "boot_index": 1},
                    ]
                },
                "Block Device Mapping is Invalid: failed to get snapshot snap-2.",
            ),
            (
                {"block_device_mapping_v2": [volume_root(), {**image_to_volume("img-2"), "boot_index": 1}]},
                "Block Device Mapping is Invalid: failed to get image img-2.",
            ),
            (
                {"block_device_mapping_v2": [{k: v for k, v in image_to_volume().items() if k != "volume_size"}]},
                "Images with destination_type 'volume' need to have a non-zero size specified",
            ),
            (
                {"block_device_mapping_v2": [{"source_type": "blank", "destination_type": "volume", "boot_index": 0}]},
                "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size",
            ),
            (
                {"block_device_mapping_v2": [volume_root(disk_bus="floppy-bus")]},
                "Block Device Mapping is Invalid.",
            ),
            (
                {
                    "block_device_mapping_v2": [
                        volume_root(),
                        {"source_type": "blank", "destination_type": "local", "volume_size": 1},
                    ]
                },
                EPHEMERAL_TOO_BIG,
            ),
            (
                {
                    "block_device_mapping_v2": [
                        volume_root(),
                        {
                            "source_type": "blank",
                            "destination_type": "local",
                            "guest_format": "swap",
                            "volume_size": 1,
                        },
                    ]
                },
                "Swap drive requested is larger than instance type allows.",
            ),
        ],
    )
    def test_refused_with_novas_message(self, api, topology, server, message):
        refused(post(api, **server), message)

    def test_mappings_are_checked_against_the_flavor(self, api, topology, big_flavor):
        blank = {"source_type": "blank", "destination_type": "local"}
        swap = {**blank, "guest_format": "swap"}
        refused(
            post(api, flavorRef="eph", block_device_mapping_v2=[volume_root(), {**blank, "volume_size": 3}]),
            EPHEMERAL_TOO_BIG,
        )
        # A mapping without a size takes the flavor's whole ephemeral disk.
        refused(
            post(api, flavorRef="eph", block_device_mapping_v2=[volume_root(), blank, {**blank, "volume_size": 1}]),
            EPHEMERAL_TOO_BIG,
        )
        refused(
            post(api, flavorRef="eph", block_device_mapping_v2=[volume_root(), swap, swap]),
            "Block Device Mapping is Invalid: More than one swap drive requested.",
        )
        refused(
            post(api, flavorRef="eph", block_device_mapping_v2=[volume_root(), {**swap, "volume_size": 513}]),
            "Swap drive requested is larger than instance type allows.",
        )
        # Nova's max_local_block_devices (3): the image's root disk, two ephemeral disks and swap are 4.
        refused(
            post(
                api,
                flavorRef="eph",
                imageRef=IMAGE,
                block_device_mapping_v2=[image_root(), {**blank, "volume_size": 1}, {**blank, "volume_size": 1}],
            ),
            "Block Device Mapping is Invalid: You specified more local devices than the limit allows",
        )
        ok = [volume_root(), {**blank, "volume_size": 1}, {**blank, "volume_size": 1}, {**swap, "volume_size": 512}]
        uuid = created(post(api, flavorRef="eph", block_device_mapping_v2=ok))
        assert [m["volume_size"] for m in mappings_of_build(uuid)] == [None, 1, 1, 512]

    def test_the_local_disk_limit_is_a_setting(self, api, topology, settings):
        settings.CELLSV2_MAX_LOCAL_BLOCK_DEVICES = 0
        refused(
            post(api, imageRef=IMAGE),
            "Block Device Mapping is Invalid: You specified more local devices than the limit allows",
        )
        created(post(api, block_device_mapping_v2=[volume_root()]))

    def test_the_flavor_is_looked_up_after_the_mappings_as_nova_does(self, api, topology):
        refused(
            post(api, flavorRef="nope", block_device_mapping_v2=[{"source_type": "volume"}]),
            "Block Device Mapping is Invalid: Missing device UUID.",
        )
        refused(
            post(api, flavorRef="nope", block_device_mapping_v2=[volume_root()]), "Flavor nope could not be found."
        )

    def test_an_image_is_taken_by_reference_as_imageref_is(self, api, topology):
        uuid = created(
            post(
                api,
                imageRef=IMAGE,
                block_device_mapping_v2=[image_root(), {**image_to_volume(OTHER_IMAGE), "boot_index": 1}],
            )
        )
        root, data = mappings_of_build(uuid)
        assert (root["image_id"], data["image_id"], data["volume_size"]) == (IMAGE, OTHER_IMAGE, 1)

    def test_no_image_ref_is_needed_with_mappings_even_without_a_boot_device(self, api, topology):
        # Nova's API asks for imageRef only without mappings; the boot sequence check then answers.
        refused(
            post(
                api, block_device_mapping_v2=[{"source_type": "blank", "destination_type": "volume", "volume_size": 1}]
            ),
            BAD_SEQUENCE,
        )

    def test_the_quota_is_checked_before_the_boot_sequence_as_nova_does(self, api, topology):
        quota_set(project_id="proj1", resource="instances", hard_limit=0)
        refused(
            post(api, block_device_mapping_v2=[volume_root(boot_index=1)]),
            "Quota exceeded for instances: Requested 1, but already used 0 of 0 instances",
            status=403,
        )
        # The checks before the quota come first.
        refused(
            post(api, block_device_mapping_v2=[volume_root("vol-1")]),
            "Block Device Mapping is Invalid: failed to get volume vol-1.",
        )

    def test_attaching_volumes_is_a_policy(self, api, topology, policy_file):
        policy_file({"os_compute_api:servers:create:attach_volume": "role:admin"})
        refused(
            post(api, block_device_mapping_v2=[volume_root()]),
            "Policy doesn't allow os_compute_api:servers:create:attach_volume to be performed.",
            status=403,
        )
        created(post(api, imageRef=IMAGE))  # no mappings asked for: no such check
        created(post(api, token=ADMIN, block_device_mapping_v2=[volume_root()]))


# --- the build request -----------------------------------------------------------------------------------


class TestBuildRequest:
    def test_the_mappings_are_a_block_device_mapping_list_primitive(self, api, topology):
        uuid = created(
            post(api, version="2.67", block_device_mapping_v2=[image_to_volume(tag="root", volume_type="ssd")])
        )
        document = json.loads(BuildRequest.objects.get(instance_uuid=uuid).block_device_mappings)
        assert {k: v for k, v in document.items() if k != "nova_object.data"} == {
            "nova_object.name": "BlockDeviceMappingList",
            "nova_object.namespace": "nova",
            "nova_object.version": "1.18",
            "nova_object.changes": ["objects"],
        }
        (item,) = document["nova_object.data"]["objects"]
        assert (item["nova_object.name"], item["nova_object.namespace"], item["nova_object.version"]) == (
            "BlockDeviceMapping",
            "nova",
            "1.21",
        )
        assert item["nova_object.data"] == {
            "instance_uuid": uuid,
            "source_type": "image",
            "destination_type": "volume",
            "image_id": IMAGE,
            "boot_index": 0,
            "volume_size": 1,
            "tag": "root",
            "volume_type": "ssd",
            "delete_on_termination": False,
            "no_device": False,
            "encrypted": False,
            "guest_format": None,
            "device_type": None,
            "disk_bus": None,
            "device_name": None,
            "snapshot_id": None,
            "volume_id": None,
            "connection_info": None,
            "encryption_secret_uuid": None,
            "encryption_format": None,
            "encryption_options": None,
        }
        assert item["nova_object.changes"] == sorted(item["nova_object.data"])
        # The server boots from a volume: the request spec says so, and there is no image.
        spec = json.loads(RequestSpec.objects.get(instance_uuid=uuid).spec)["nova_object.data"]
        assert (spec["is_bfv"], spec["image"]) == (True, None)
        shown = api.show(uuid).json()["server"]
        assert (shown["status"], shown["image"]) == ("BUILD", "")

    def test_a_server_booted_from_imageref_has_its_image_mapping(self, api, topology):
        # Nova gives every server booted from an image its root disk mapping (a legacy request).
        uuid = api.create_uuid()
        (root,) = mappings_of_build(uuid)
        assert {k: root[k] for k in ("source_type", "destination_type", "image_id", "boot_index")} == {
            "source_type": "image",
            "destination_type": "local",
            "image_id": IMAGE,
            "boot_index": 0,
        }
        assert (root["delete_on_termination"], root["device_type"], root["volume_size"]) == (True, "disk", None)
        spec = json.loads(RequestSpec.objects.get(instance_uuid=uuid).spec)["nova_object.data"]
        assert (spec["is_bfv"], spec["image"]) == (False, {"id": IMAGE})

    def test_the_flavors_ephemeral_disk_and_swap_are_added(self, api, topology, big_flavor):
        uuid = api.create_uuid(flavorRef="eph")
        image, ephemeral, swap = mappings_of_build(uuid)
        assert (image["source_type"], image["boot_index"]) == ("image", 0)
        for blank in (ephemeral, swap):
            assert (blank["source_type"], blank["destination_type"], blank["boot_index"]) == ("blank", "local", -1)
            assert (blank["delete_on_termination"], blank["device_type"]) == (True, "disk")
        assert (ephemeral["guest_format"], ephemeral["volume_size"]) == (None, 2)  # GB
        assert (swap["guest_format"], swap["volume_size"]) == ("swap", 512)  # MB
        # A request with its own swap gets no second one.
        own = created(
            post(
                api,
                flavorRef="eph",
                imageRef=IMAGE,
                block_device_mapping_v2=[
                    image_root(),
                    {"source_type": "blank", "destination_type": "local", "guest_format": "swap", "volume_size": 256},
                ],
            )
        )
        assert [(m["source_type"], m["guest_format"], m["volume_size"]) for m in mappings_of_build(own)] == [
            ("image", None, None),
            ("blank", "swap", 256),
            ("blank", None, 2),
        ]

    def test_legacy_mappings_are_converted(self, api, topology):
        uuid = api.create_uuid(
            block_device_mapping=[
                {"volume_id": VOLUME, "device_name": "/dev/vdb"},
                {"snapshot_id": SNAPSHOT, "device_name": "vdc", "volume_size": 2, "delete_on_termination": "true"},
            ]
        )
        image, volume, snapshot = mappings_of_build(uuid)
        assert (image["source_type"], image["image_id"], image["boot_index"]) == ("image", IMAGE, 0)
        assert (volume["source_type"], volume["volume_id"], volume["boot_index"]) == ("volume", VOLUME, -1)
        assert (volume["delete_on_termination"], volume["device_name"]) == (False, "/dev/vdb")
        assert (snapshot["source_type"], snapshot["destination_type"], snapshot["snapshot_id"]) == (
            "snapshot",
            "volume",
            SNAPSHOT,
        )
        assert (snapshot["volume_size"], snapshot["delete_on_termination"], snapshot["device_name"]) == (
            2,
            True,
            "/dev/vdc",
        )
        # The legacy format cannot tell a disk bus, device type or format: the fields are not set.
        assert not {"disk_bus", "device_type", "guest_format"} & set(volume)

    def test_a_build_request_of_a_newer_release_is_left_alone(self, api, topology):
        uuid = created(post(api, block_device_mapping_v2=[volume_root()]))
        build = BuildRequest.objects.get(instance_uuid=uuid)
        document = json.loads(build.block_device_mappings)
        document["nova_object.data"]["objects"][0]["nova_object.version"] = "1.22"
        BuildRequest.objects.filter(pk=build.pk).update(block_device_mappings=json.dumps(document))
        with pytest.raises(UnsupportedFormat):
            mappings_of_build(uuid)
        assert place_all() == {"skipped": 1}
        assert cells_holding(uuid) == [] and api_rows(uuid)["build_requests"] == 1

    def test_a_build_request_without_mappings_is_placed_without_rows(self, api, topology):
        # Rows written before the column was filled read as an empty list, as Nova reads them.
        uuid = api.create_uuid()
        BuildRequest.objects.filter(instance_uuid=uuid).update(block_device_mappings=None)
        assert place_all() == {"placed": 1}
        assert cells_with_rows(uuid) == []


# --- the cell's block_device_mapping rows --------------------------------------------------------------


class TestCellRows:
    def test_placement_writes_the_rows_into_the_servers_cell(self, api, topology):
        uuid = created(
            post(
                api,
                version="2.42",
                block_device_mapping_v2=[
                    volume_root(delete_on_termination=True, tag="boot", disk_bus="virtio", device_name="vda"),
                    {"source_type": "blank", "destination_type": "volume", "volume_size": 5, "boot_index": 1},
                ],
            )
        )
        assert place_all() == {"placed": 1}
        alias = mapping_of(uuid).cell.name
        assert alias in ("cell1", "cell2")
        assert cells_with_rows(uuid) == [alias]
        root, blank = rows_in(alias, uuid)
        assert (root.source_type, root.destination_type, root.volume_id, root.boot_index) == (
            "volume",
            "volume",
            VOLUME,
            0,
        )
        assert (root.delete_on_termination, root.tag, root.disk_bus, root.device_name) == (
            True,
            "boot",
            "virtio",
            "/dev/vda",
        )
        # No volume service creates the blank volume: it never gets a volume id.
        assert (blank.source_type, blank.destination_type, blank.volume_size, blank.volume_id) == (
            "blank",
            "volume",
            5,
            None,
        )
        assert root.uuid != blank.uuid and all(len(row.uuid) == 36 for row in (root, blank))
        assert (root.deleted, root.no_device, root.encrypted) == (0, False, False)
        assert not BuildRequest.objects.filter(instance_uuid=uuid).exists()

    def test_a_server_with_no_valid_host_keeps_its_mappings_in_cell0(self, api, cells, default_flavors):
        uuid = created(post(api, block_device_mapping_v2=[volume_root(delete_on_termination=True)]))
        assert place_all() == {"buried": 1}
        assert cells_with_rows(uuid) == ["cell0"]
        (row,) = rows_in("cell0", uuid)
        assert (row.volume_id, row.boot_index) == (VOLUME, 0)
        shown = api.show(uuid, version="2.3").json()["server"]
        assert shown["status"] == "ERROR"
        assert shown["os-extended-volumes:volumes_attached"] == [{"id": VOLUME, "delete_on_termination": True}]

    def test_every_server_of_a_multi_create_has_its_own_rows(self, api, topology):
        response = post(api, block_device_mapping_v2=[image_to_volume()], min_count=3)
        assert response.status_code == 202, response.content
        assert place_all() == {"placed": 3}
        uuids = list(InstanceMapping.objects.values_list("instance_uuid", flat=True))
        assert len(uuids) == 3
        rows = []
        for uuid in uuids:
            (row,) = rows_in(mapping_of(uuid).cell.name, uuid)
            assert (row.instance_id, row.image_id, row.volume_size) == (uuid, IMAGE, 1)
            rows.append(row.uuid)
        assert len(set(rows)) == 3

    def test_a_volume_backed_server_takes_no_root_disk_on_its_node(self, api, topology):
        root_gb = Flavor.objects.get(flavorid="2").root_gb  # m1.small: 20 GB
        bfv = created(post(api, flavorRef="2", block_device_mapping_v2=[image_to_volume(volume_size=30)]))
        local = api.create_uuid(flavorRef="2")
        place_all()
        for uuid, disk in ((bfv, 0), (local, root_gb)):
            alias = mapping_of(uuid).cell.name
            with target_cell(alias):
                claimed = InstanceSystemMetadata.objects.get(instance_id=uuid, key=CLAIMED_DISK_KEY).value
            assert claimed == str(disk)
        used = {host: topology.node(host).local_gb_used for host in ("compute1", "compute2")}
        assert sorted(used.values()) == [0, root_gb]
        for uuid in (bfv, local):
            assert api("delete", f"/servers/{uuid}").status_code == 204
        assert [topology.node(host).local_gb_used for host in ("compute1", "compute2")] == [0, 0]

    def test_delete_soft_deletes_the_rows(self, api, topology):
        uuid = created(post(api, block_device_mapping_v2=[volume_root()]))
        place_all()
        alias = mapping_of(uuid).cell.name
        assert api("delete", f"/servers/{uuid}").status_code == 204
        assert rows_in(alias, uuid) == []
        (row,) = rows_in(alias, uuid, live_only=False)
        assert row.deleted == row.id and row.deleted_at is not None
        listed = api("get", "/servers/detail?deleted=true&all_tenants=1", token=ADMIN).json()["servers"]
        assert [(s["id"], s["os-extended-volumes:volumes_attached"]) for s in listed] == [(uuid, [])]

    def test_cancelling_a_build_request_leaves_no_rows(self, api, topology):
        uuid = created(post(api, block_device_mapping_v2=[volume_root()]))
        assert api("delete", f"/servers/{uuid}").status_code == 204
        assert place_all() == {}
        assert cells_with_rows(uuid) == []

    def test_the_conductor_takes_the_rows_back_when_the_user_deleted_meanwhile(self, api, topology, monkeypatch):
        uuid = created(post(api, block_device_mapping_v2=[volume_root()]))
        real = conductor._write_instance

        def write_then_user_deletes(cell, instance, spec, **kwargs):
            real(cell, instance, spec, **kwargs)
            BuildRequest.objects.filter(instance_uuid=uuid).delete()

        monkeypatch.setattr(conductor, "_write_instance", write_then_user_deletes)
        assert conductor.build_request_place(uuid) == "cancelled"
        assert cells_with_rows(uuid) == []

    def test_archive_moves_the_rows_to_the_shadow_table_and_purge_deletes_them(self, api, topology):
        uuid = created(post(api, block_device_mapping_v2=[volume_root(delete_on_termination=True)]))
        place_all()
        alias = mapping_of(uuid).cell.name
        assert api("delete", f"/servers/{uuid}").status_code == 204
        result = run_command("db", "archive_deleted_rows", "--all-cells", "--verbose")
        assert result.code == 1, result.err
        assert f"| {alias}.block_device_mapping" in result.out
        assert rows_in(alias, uuid, live_only=False) == []
        with target_cell(alias):
            (shadow,) = ShadowBlockDeviceMapping.objects.filter(instance_uuid=uuid)
        assert (shadow.volume_id, shadow.boot_index, shadow.delete_on_termination) == (VOLUME, 0, True)
        assert shadow.deleted == shadow.id
        assert run_command("db", "purge", "--all", "--all-cells").code == 0
        with target_cell(alias):
            assert not ShadowBlockDeviceMapping.objects.exists()


# --- os-extended-volumes:volumes_attached ----------------------------------------------------------------


class TestVolumesAttached:
    KEY = "os-extended-volumes:volumes_attached"

    @pytest.fixture
    def server(self, api, topology):
        """A server booted from VOLUME2, with VOLUME attached and an image copied to a volume (which
        no volume service creates: it has no volume id)."""
        return created(
            post(
                api,
                block_device_mapping_v2=[
                    volume_root(VOLUME2),
                    {
                        "uuid": VOLUME,
                        "source_type": "volume",
                        "destination_type": "volume",
                        "boot_index": 1,
                        "delete_on_termination": "yes",
                    },
                    {**image_to_volume(), "boot_index": 2},
                ],
            )
        )

    def test_a_build_request_shows_none_as_nova_does(self, api, server):
        # Nova reads the mappings of volumes_attached from the cells only.
        for version in ("2.1", "2.3", "2.75"):
            assert api.show(server, version=version).json()["server"][self.KEY] == []
        (listed,) = api("get", "/servers/detail", version="2.3").json()["servers"]
        assert listed[self.KEY] == []

    @pytest.mark.parametrize(
        ("version", "expected"),
        [
            ("2.1", [{"id": VOLUME2}, {"id": VOLUME}]),
            ("2.2", [{"id": VOLUME2}, {"id": VOLUME}]),
            (
                "2.3",
                [{"id": VOLUME2, "delete_on_termination": False}, {"id": VOLUME, "delete_on_termination": True}],
            ),
            (
                "2.100",
                [{"id": VOLUME2, "delete_on_termination": False}, {"id": VOLUME, "delete_on_termination": True}],
            ),
        ],
    )
    def test_volumes_of_a_placed_server_per_microversion(self, api, server, version, expected):
        place_all()
        assert api.show(server, version=version).json()["server"][self.KEY] == expected
        (listed,) = api("get", "/servers/detail", version=version).json()["servers"]
        assert listed[self.KEY] == expected
        (index,) = api("get", "/servers", version=version).json()["servers"]
        assert self.KEY not in index

    def test_the_update_answer_shows_them_from_2_75(self, api, server):
        place_all()
        body = {"server": {"name": "renamed"}}
        before = api("put", f"/servers/{server}", version="2.74", body=body).json()["server"]
        assert self.KEY not in before
        after = api("put", f"/servers/{server}", version="2.75", body=body).json()["server"]
        assert after[self.KEY] == [
            {"id": VOLUME2, "delete_on_termination": False},
            {"id": VOLUME, "delete_on_termination": True},
        ]

    def test_a_server_booted_from_an_image_has_none(self, api, topology, big_flavor):
        uuid = api.create_uuid(flavorRef="eph")
        place_all()
        assert len(rows_in(mapping_of(uuid).cell.name, uuid)) == 3  # image, ephemeral disk, swap
        assert api.show(uuid, version="2.3").json()["server"][self.KEY] == []

    def test_each_server_of_a_listing_shows_its_own(self, api, topology):
        first = created(post(api, block_device_mapping_v2=[volume_root(VOLUME)]))
        second = created(post(api, block_device_mapping_v2=[volume_root(VOLUME2)]))
        plain = api.create_uuid()
        place_all()
        listed = {s["id"]: s[self.KEY] for s in api("get", "/servers/detail").json()["servers"]}
        assert listed == {first: [{"id": VOLUME}], second: [{"id": VOLUME2}], plain: []}


# --- a real client over HTTP ------------------------------------------------------------------------------


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_openstacksdk_boots_a_server_from_block_device_mappings(live_server, settings, topology):
    import openstack.config
    from openstack import connection

    settings.CELLSV2_AUTH = "noauth"
    settings.CELLSV2_CONDUCTOR_MODE = "inline"  # placed as soon as the create commits
    region = openstack.config.get_cloud_region(
        load_yaml_config=False,
        load_envvars=False,
        auth_type="admin_token",
        auth={"endpoint": f"{live_server.url}/v2.1", "token": MEMBER},
    )
    conn = connection.Connection(config=region)

    from_volume = conn.compute.create_server(
        name="from-volume",
        flavor_id="1",
        networks="none",
        block_device_mapping=[
            {
                "uuid": VOLUME,
                "source_type": "volume",
                "destination_type": "volume",
                "boot_index": 0,
                "delete_on_termination": True,
            }
        ],
    )
    from_volume = conn.compute.wait_for_server(from_volume, status="ACTIVE", wait=30)
    assert not from_volume.image  # booted from a volume: the API shows "" for the image
    assert [(v.id, v.delete_on_termination) for v in from_volume.attached_volumes] == [(VOLUME, True)]

    from_image = conn.compute.create_server(
        name="image-to-volume",
        flavor_id="1",
        networks="none",
        block_device_mapping=[image_to_volume(delete_on_termination=True)],
    )
    from_image = conn.compute.wait_for_server(from_image, status="ACTIVE", wait=30)
    assert from_image.attached_volumes == []  # no volume service created the volume
    alias = mapping_of(from_image.id).cell.name
    (row,) = rows_in(alias, from_image.id)
    assert (row.source_type, row.destination_type, row.image_id, row.volume_size) == ("image", "volume", IMAGE, 1)

    assert sorted(s.name for s in conn.compute.servers(details=True)) == ["from-volume", "image-to-volume"]
    for server in (from_volume, from_image):
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=30)
    assert rows_in(alias, from_image.id) == []
