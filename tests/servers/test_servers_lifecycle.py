"""A server's life through the API: accepted as a build request, placed into a cell, shown, listed,
renamed and deleted, with three cells and compute nodes in two of them (cell1, cell2)."""

import hashlib
import json
import re

import pytest
from django.db import OperationalError, connections, transaction

from cellsv2.api.microversions import MAX_VERSION_STRING as MAX
from cellsv2.api.microversions import APIVersion
from cellsv2.context import target_cell
from keypairs.serialization import keypair_list_load
from keypairs.services import keypair_create
from mappings.models import InstanceMapping
from servers.models import BuildRequest, Instance, RequestSpec
from servers.serialization import instance_load, request_spec_load
from tests.factories import IMAGE, new_uuid
from tests.fixtures.compute import (
    ADMIN,
    HOST,
    MEMBER,
    MEMBER_SAME_PROJECT,
    OTHER,
    api_rows,
    cells_holding,
    extra_of,
    fault,
    instance_in,
    mapping_of,
    metadata_of,
    place_all,
)
from tests.keypairs.keys import KNOWN_RSA_2048
from tests.servers.helpers import SERVER_KEYS_2_1
from tests.support import ALL_DATABASES, CELL_ALIASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def links(uuid):
    return [
        {"rel": "self", "href": f"{HOST}/v2.1/servers/{uuid}"},
        {"rel": "bookmark", "href": f"{HOST}/servers/{uuid}"},
    ]


def not_found(uuid):
    return {"itemNotFound": {"code": 404, "message": f"Instance {uuid} could not be found."}}


def host_of(uuid) -> tuple[str, str]:
    """(cell alias, host) of a placed server."""
    [alias] = [a for a in CELL_ALIASES if instance_in(a, uuid) is not None]
    return alias, instance_in(alias, uuid).host


# --- the whole life -----------------------------------------------------------------------------


@pytest.mark.usefixtures("worker_mode")
class TestLifecycle:
    def test_create_show_place_show_list_update_delete(self, api, topology):
        # create: 202, Nova's body and a Location header; the API database holds the three records.
        response = api.create(name="web", metadata={"role": "front"})
        assert response.status_code == 202
        server = response.json()["server"]
        uuid = server["id"]
        assert set(server) == {"id", "links", "OS-DCF:diskConfig", "security_groups", "adminPass"}
        assert server["links"] == links(uuid)
        assert server["OS-DCF:diskConfig"] == "MANUAL"
        assert server["security_groups"] == [{"name": "default"}]
        assert re.fullmatch(r"[A-Za-z0-9]{12}", server["adminPass"])
        assert response["Location"] == f"{HOST}/v2.1/servers/{uuid}"
        assert api_rows(uuid) == {"build_requests": 1, "request_specs": 1, "instance_mappings": 1}
        mapping = mapping_of(uuid)
        assert (mapping.cell, mapping.project_id, mapping.user_id, mapping.queued_for_delete) == (
            None,
            "proj1",
            "alice",
            False,
        )
        assert cells_holding(uuid) == []

        # show while it is a build request
        build = BuildRequest.objects.get(instance_uuid=uuid)
        shown = api.show(uuid).json()["server"]
        assert shown["status"] == "BUILD"
        assert shown["OS-EXT-STS:vm_state"] == "building"
        assert shown["OS-EXT-STS:task_state"] == "scheduling"
        assert shown["OS-EXT-STS:power_state"] == 0
        assert shown["hostId"] == ""
        assert shown["progress"] == 0
        assert shown["addresses"] == {}
        assert shown["OS-SRV-USG:launched_at"] is None and shown["OS-SRV-USG:terminated_at"] is None
        assert shown["created"] == build.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert ISO.match(shown["updated"])
        assert (shown["name"], shown["tenant_id"], shown["user_id"]) == ("web", "proj1", "alice")
        assert shown["metadata"] == {"role": "front"}
        assert shown["image"] == {"id": IMAGE, "links": [{"rel": "bookmark", "href": f"{HOST}/images/{IMAGE}"}]}
        assert shown["flavor"] == {"id": "1", "links": [{"rel": "bookmark", "href": f"{HOST}/flavors/1"}]}
        assert shown["OS-EXT-AZ:availability_zone"] == ""
        assert shown["config_drive"] == ""
        assert shown["key_name"] is None
        assert shown["os-extended-volumes:volumes_attached"] == []
        assert shown["links"] == links(uuid)
        assert "fault" not in shown
        assert "OS-EXT-SRV-ATTR:host" not in shown
        admin_view = api.show(uuid, token=ADMIN).json()["server"]
        assert admin_view["OS-EXT-SRV-ATTR:host"] is None
        assert admin_view["OS-EXT-SRV-ATTR:hypervisor_hostname"] is None
        assert admin_view["OS-EXT-SRV-ATTR:instance_name"] == ""

        # placed by the conductor
        assert place_all() == {"placed": 1}
        assert api_rows(uuid) == {"build_requests": 0, "request_specs": 1, "instance_mappings": 1}
        [alias] = cells_holding(uuid)
        assert alias in ("cell1", "cell2")
        assert mapping_of(uuid).cell.name == alias
        instance = instance_in(alias, uuid)
        assert instance.host == {"cell1": "compute1", "cell2": "compute2"}[alias]

        shown = api.show(uuid).json()["server"]
        assert shown["status"] == "ACTIVE"
        assert shown["OS-EXT-STS:vm_state"] == "active"
        assert shown["OS-EXT-STS:task_state"] is None
        assert shown["OS-EXT-STS:power_state"] == 1
        assert shown["hostId"] == hashlib.sha224(("proj1" + instance.host).encode()).hexdigest()
        assert shown["created"] == build.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert shown["OS-EXT-AZ:availability_zone"] == "nova"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", shown["OS-SRV-USG:launched_at"])
        assert shown["metadata"] == {"role": "front"}
        assert shown["flavor"]["id"] == "1"
        admin_view = api.show(uuid, token=ADMIN).json()["server"]
        assert admin_view["OS-EXT-SRV-ATTR:host"] == instance.host
        assert admin_view["OS-EXT-SRV-ATTR:hypervisor_hostname"] == instance.node
        assert admin_view["OS-EXT-SRV-ATTR:instance_name"] == f"instance-{instance.id:08x}"

        # list and detail
        index = api("get", "/servers").json()
        assert index == {"servers": [{"id": uuid, "name": "web", "links": links(uuid)}]}
        detail = api("get", "/servers/detail").json()["servers"]
        assert [s["id"] for s in detail] == [uuid]
        assert {k: v for k, v in detail[0].items()} == shown

        # update the name
        response = api("put", f"/servers/{uuid}", body={"server": {"name": "web-renamed"}})
        assert response.status_code == 200
        assert response.json()["server"]["name"] == "web-renamed"
        assert api.show(uuid).json()["server"]["name"] == "web-renamed"
        assert instance_in(alias, uuid).display_name == "web-renamed"

        # delete: soft-deleted in its cell, the mapping queued for delete, 404 afterwards
        response = api("delete", f"/servers/{uuid}")
        assert response.status_code == 204
        assert response.content == b""
        assert api.show(uuid).json() == not_found(uuid)
        assert api.show(uuid).status_code == 404
        assert api("delete", f"/servers/{uuid}").status_code == 404
        assert api("get", "/servers").json() == {"servers": []}
        gone = instance_in(alias, uuid, deleted=True)
        assert gone.deleted == gone.id
        assert (gone.vm_state, gone.deleted_at is not None, gone.terminated_at is not None) == ("deleted", True, True)
        assert mapping_of(uuid).queued_for_delete is True

    def test_servers_spread_over_the_two_cells_with_compute_nodes_and_never_cell0(self, api, topology):
        uuids = [api.create_uuid(name=f"s{n}") for n in range(4)]
        assert place_all() == {"placed": 4}
        holders = [cells_holding(u) for u in uuids]
        assert all(len(h) == 1 for h in holders)
        assert sorted(h[0] for h in holders) == ["cell1", "cell1", "cell2", "cell2"]
        listed = api("get", "/servers").json()["servers"]
        assert sorted(s["id"] for s in listed) == sorted(uuids)

    def test_a_build_request_and_a_placed_server_are_listed_together_build_request_first(self, api, topology):
        placed = api.create_uuid(name="placed")
        place_all()
        waiting = api.create_uuid(name="waiting")
        listed = [s["id"] for s in api("get", "/servers").json()["servers"]]
        assert listed == [waiting, placed]
        statuses = {s["id"]: s["status"] for s in api("get", "/servers/detail").json()["servers"]}
        assert statuses == {waiting: "BUILD", placed: "ACTIVE"}


def test_inline_mode_places_the_server_when_the_create_transaction_commits(
    api, topology, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(using="api", execute=True) as callbacks:
        uuid = api.create_uuid()
    assert len(callbacks) == 1
    assert api.show(uuid).json()["server"]["status"] == "ACTIVE"
    assert BuildRequest.objects.filter(instance_uuid=uuid).count() == 0


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_inline_mode_with_real_commits(api, topology):
    uuid = api.create_uuid()
    assert api.show(uuid).json()["server"]["status"] == "ACTIVE"
    assert len(cells_holding(uuid)) == 1
    assert not transaction.get_connection("api").in_atomic_block


# --- create options -----------------------------------------------------------------------------


@pytest.mark.usefixtures("worker_mode")
class TestCreateOptions:
    def test_return_reservation_id_answers_only_the_reservation(self, api, topology):
        response = api.create(return_reservation_id=True, min_count=2)
        assert response.status_code == 202
        body = response.json()
        assert set(body) == {"reservation_id"}
        assert re.fullmatch(r"r-[0-9a-z]{8}", body["reservation_id"])
        assert "Location" not in response
        specs = [instance_load(b.instance) for b in BuildRequest.objects.all()]
        assert [s["reservation_id"] for s in specs] == [body["reservation_id"]] * 2
        listed = api("get", f"/servers?reservation_id={body['reservation_id']}").json()["servers"]
        assert len(listed) == 2
        place_all()
        listed = api("get", f"/servers?reservation_id={body['reservation_id']}").json()["servers"]
        assert len(listed) == 2

    @pytest.mark.parametrize("value", [False, "false", "0"])
    def test_return_reservation_id_false_answers_the_server(self, api, topology, value):
        response = api.create(return_reservation_id=value)
        assert set(response.json()["server"]) >= {"id", "links"}

    def test_min_and_max_count_name_the_servers_name_1_name_2(self, api, topology):
        response = api.create(name="batch", min_count=2, max_count=3)
        assert response.status_code == 202
        first = response.json()["server"]["id"]
        names = {}
        for build in BuildRequest.objects.order_by("id"):
            instance = instance_load(build.instance)
            names[instance["display_name"]] = (instance["launch_index"], instance["hostname"], build.instance_uuid)
        assert sorted(names) == ["batch-1", "batch-2", "batch-3"]
        assert [names[f"batch-{n}"][:2] for n in (1, 2, 3)] == [(0, "batch-1"), (1, "batch-2"), (2, "batch-3")]
        assert names["batch-1"][2] == first
        assert len({request_spec_load(r.spec)["num_instances"] for r in RequestSpec.objects.all()}) == 1
        place_all()
        placed = sorted(s["name"] for s in api("get", "/servers").json()["servers"])
        assert placed == ["batch-1", "batch-2", "batch-3"]

    def test_a_single_server_keeps_its_name(self, api, topology):
        uuid = api.create_uuid(name="solo", min_count=1, max_count=1)
        assert api.show(uuid).json()["server"]["name"] == "solo"

    def test_key_name_embeds_the_key_in_the_build_request_and_in_the_cell(self, api, topology):
        keypair = keypair_create(user_id="alice", project_id="proj1", name="mykey", public_key=KNOWN_RSA_2048).keypair
        uuid = api.create_uuid(key_name="mykey")

        instance = instance_load(BuildRequest.objects.get(instance_uuid=uuid).instance)
        assert (instance["key_name"], instance["key_data"]) == ("mykey", KNOWN_RSA_2048)
        [embedded] = keypair_list_load(instance["keypairs"])
        assert (embedded["name"], embedded["public_key"], embedded["user_id"]) == ("mykey", KNOWN_RSA_2048, "alice")
        assert api.show(uuid).json()["server"]["key_name"] == "mykey"

        place_all()
        [alias] = cells_holding(uuid)
        row = instance_in(alias, uuid)
        assert (row.key_name, row.key_data) == ("mykey", KNOWN_RSA_2048)
        [embedded] = keypair_list_load(extra_of(alias, uuid).keypairs)
        assert embedded["name"] == "mykey"
        assert embedded["public_key"] == KNOWN_RSA_2048
        assert embedded["fingerprint"] == keypair.fingerprint
        assert embedded["type"] == "ssh"
        assert api.show(uuid).json()["server"]["key_name"] == "mykey"

    def test_without_a_key_the_cell_has_an_empty_key_list(self, api, topology):
        uuid = api.create_uuid()
        place_all()
        [alias] = cells_holding(uuid)
        assert keypair_list_load(extra_of(alias, uuid).keypairs) == []
        assert instance_in(alias, uuid).key_data is None

    def test_metadata_round_trip(self, api, topology):
        metadata = {"role": "db", "tier.level": "2", "a b": "", "k:v-x_y": "x" * 255}
        uuid = api.create_uuid(metadata=metadata)
        assert api.show(uuid).json()["server"]["metadata"] == metadata
        place_all()
        assert api.show(uuid).json()["server"]["metadata"] == metadata
        [alias] = cells_holding(uuid)
        assert metadata_of(alias, uuid) == metadata
        assert api("get", "/servers/detail").json()["servers"][0]["metadata"] == metadata

    def test_description_tags_access_ips_and_disk_config(self, api, topology):
        uuid = api.create_uuid(
            version="2.52",
            description="my server",
            tags=["b", "a"],
            accessIPv4="10.0.0.1",
            accessIPv6="fe80::1",
            **{"OS-DCF:diskConfig": "AUTO"},
        )
        for _ in range(2):
            shown = api.show(uuid, version="2.52").json()["server"]
            assert shown["description"] == "my server"
            assert sorted(shown["tags"]) == ["a", "b"]
            assert (shown["accessIPv4"], shown["accessIPv6"]) == ("10.0.0.1", "fe80::1")
            assert shown["OS-DCF:diskConfig"] == "AUTO"
            place_all()

    def test_the_disk_config_and_security_groups_are_echoed(self, api, topology):
        response = api.create(security_groups=[{"name": "web"}, {"name": "ssh"}], **{"OS-DCF:diskConfig": "AUTO"})
        server = response.json()["server"]
        assert server["OS-DCF:diskConfig"] == "AUTO"
        assert server["security_groups"] == [{"name": "web"}, {"name": "ssh"}]
        shown = api.show(server["id"]).json()["server"]
        assert shown["security_groups"] == [{"name": "web"}, {"name": "ssh"}]
        place_all()
        assert api.show(server["id"]).json()["server"]["security_groups"] == [{"name": "web"}, {"name": "ssh"}]

    def test_an_admin_password_given_is_returned(self, api, topology):
        assert api.create(adminPass="s3cret").json()["server"]["adminPass"] == "s3cret"

    def test_no_admin_password_when_instance_passwords_are_disabled(self, api, topology, settings):
        settings.CELLSV2_ENABLE_INSTANCE_PASSWORD = False
        assert "adminPass" not in api.create().json()["server"]

    def test_a_flavor_href_is_accepted(self, api, topology):
        uuid = api.create_uuid(flavorRef=f"{HOST}/flavors/2")
        assert api.show(uuid).json()["server"]["flavor"]["id"] == "2"


# --- fields per microversion --------------------------------------------------------------------

BASE_KEYS = {
    "id",
    "name",
    "status",
    "tenant_id",
    "user_id",
    "metadata",
    "hostId",
    "image",
    "flavor",
    "created",
    "updated",
    "addresses",
    "accessIPv4",
    "accessIPv6",
    "links",
    "key_name",
    "config_drive",
    "OS-DCF:diskConfig",
    "OS-EXT-AZ:availability_zone",
    "OS-EXT-STS:task_state",
    "OS-EXT-STS:vm_state",
    "OS-EXT-STS:power_state",
    "OS-SRV-USG:launched_at",
    "OS-SRV-USG:terminated_at",
    "os-extended-volumes:volumes_attached",
    "security_groups",
    "progress",
}
ADMIN_2_3 = {
    "OS-EXT-SRV-ATTR:hostname",
    "OS-EXT-SRV-ATTR:kernel_id",
    "OS-EXT-SRV-ATTR:launch_index",
    "OS-EXT-SRV-ATTR:ramdisk_id",
    "OS-EXT-SRV-ATTR:reservation_id",
    "OS-EXT-SRV-ATTR:root_device_name",
    "OS-EXT-SRV-ATTR:user_data",
}


def expected_keys(version: str, *, admin: bool, show: bool) -> set[str]:
    """The keys of a show/detail body (reference §5.2's table)."""
    v = APIVersion(version)
    keys = set(BASE_KEYS)
    if admin:
        keys |= {"OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:hypervisor_hostname", "OS-EXT-SRV-ATTR:instance_name"}
        if v >= "2.3":
            keys |= ADMIN_2_3
        if v >= "2.16":
            keys.add("host_status")
    if v >= "2.9":
        keys.add("locked")
    if v >= "2.19":
        keys.add("description")
    if v >= "2.26":
        keys.add("tags")
    if v >= "2.63":
        keys.add("trusted_image_certificates")
    if v >= "2.71" and show:
        keys.add("server_groups")
    if v >= "2.73":
        keys.add("locked_reason")
    if v >= "2.90":
        keys.add("OS-EXT-SRV-ATTR:hostname")
    if v >= "2.96":
        keys.add("pinned_availability_zone")
    if v >= "2.100":
        keys.add("scheduler_hints")
    return keys


def interesting_versions() -> list[str]:
    versions = ["2.1", "2.2", "2.3", "2.9", "2.16", "2.19", "2.26", "2.46", "2.47", "2.63", "2.70", "2.71"]
    versions += ["2.72", "2.73", "2.89", "2.90", MAX]
    return [v for v in dict.fromkeys(versions) if APIVersion(v) <= APIVersion(MAX)]


@pytest.mark.usefixtures("worker_mode")
class TestFieldsPerMicroversion:
    @pytest.mark.parametrize("version", interesting_versions())
    @pytest.mark.parametrize("token", [MEMBER, ADMIN], ids=["member", "admin"])
    def test_show_and_detail_keys_while_building_and_once_placed(self, api, topology, version, token):
        uuid = api.create_uuid(name="fields")
        admin = token == ADMIN
        for state in ("BUILD", "ACTIVE"):
            shown = api.show(uuid, token=token, version=version).json()["server"]
            assert shown["status"] == state
            assert set(shown) == expected_keys(version, admin=admin, show=True), state
            query = "?all_tenants=1" if admin else ""
            [detail] = api("get", f"/servers/detail{query}", token=token, version=version).json()["servers"]
            assert set(detail) == expected_keys(version, admin=admin, show=False), state
            place_all()

    @pytest.mark.parametrize("version", ["2.46", "2.47", MAX])
    def test_flavor_is_a_link_before_2_47_and_embedded_from_2_47(self, api, topology, version):
        uuid = api.create_uuid(flavorRef="3")
        for _ in range(2):
            flavor = api.show(uuid, version=version).json()["server"]["flavor"]
            if APIVersion(version) < "2.47":
                assert flavor == {"id": "3", "links": [{"rel": "bookmark", "href": f"{HOST}/flavors/3"}]}
            else:
                assert flavor == {
                    "vcpus": 2,
                    "ram": 4096,
                    "disk": 40,
                    "ephemeral": 0,
                    "swap": 0,
                    "original_name": "m1.medium",
                    "extra_specs": {},
                }
            place_all()

    def test_values_of_the_microversion_fields(self, api, topology):
        uuid = api.create_uuid(version=MAX, name="vals", description="d", hostname="vals-host")
        building = api.show(uuid, token=ADMIN, version=MAX).json()["server"]
        assert building["locked"] is False
        assert building["host_status"] == ""
        assert building["description"] == "d"
        assert building["tags"] == []
        assert building["trusted_image_certificates"] is None
        assert building["server_groups"] == []
        assert building["locked_reason"] is None
        assert building["OS-EXT-SRV-ATTR:hostname"] == "vals-host"
        assert building["OS-EXT-SRV-ATTR:launch_index"] == 0
        assert building["OS-EXT-SRV-ATTR:reservation_id"].startswith("r-")
        place_all()
        placed = api.show(uuid, token=ADMIN, version=MAX).json()["server"]
        assert placed["host_status"] == "UP"
        assert placed["OS-EXT-SRV-ATTR:hostname"] == "vals-host"
        assert placed["description"] == "d"
        member = api.show(uuid, version=MAX).json()["server"]
        assert member["OS-EXT-SRV-ATTR:hostname"] == "vals-host"
        assert "host_status" not in member and "OS-EXT-SRV-ATTR:host" not in member

    def test_the_hostname_is_derived_from_the_name_before_2_90(self, api, topology):
        uuid = api.create_uuid(name="My Web_Server.1")
        assert api.show(uuid, token=ADMIN, version="2.3").json()["server"]["OS-EXT-SRV-ATTR:hostname"] == (
            "my-web-server-1"
        )

    def test_locked_and_locked_reason_come_from_the_cell(self, api, topology):
        uuid = api.create_uuid()
        place_all()
        [alias] = cells_holding(uuid)
        with target_cell(alias):
            Instance.objects.filter(uuid=uuid).update(locked=True, locked_by="admin")
        shown = api.show(uuid, version="2.73").json()["server"]
        assert shown["locked"] is True
        assert shown["locked_reason"] is None


# --- who sees what --------------------------------------------------------------------------------


@pytest.mark.usefixtures("worker_mode")
class TestVisibility:
    @pytest.mark.parametrize("placed", [False, True], ids=["build_request", "placed"])
    def test_another_projects_server_is_404_for_a_non_admin_and_visible_to_admin(self, api, topology, placed):
        uuid = api.create_uuid(token=OTHER)
        if placed:
            place_all()
        for method, body in (("get", None), ("put", {"server": {"name": "x"}}), ("delete", None)):
            response = api(method, f"/servers/{uuid}", body=body)
            assert response.status_code == 404, method
            assert response.json() == not_found(uuid)
        assert api("get", "/servers").json()["servers"] == []
        assert api("get", "/servers/detail").json()["servers"] == []
        assert api.show(uuid, token=ADMIN).status_code == 200
        assert api.show(uuid, token=ADMIN).json()["server"]["tenant_id"] == "proj2"
        assert [s["id"] for s in api("get", "/servers?all_tenants=1", token=ADMIN).json()["servers"]] == [uuid]
        # The owner's project still has it, untouched.
        assert api.show(uuid, token=OTHER).json()["server"]["name"] == "vm"

    def test_another_user_of_the_same_project_sees_the_server(self, api, topology):
        uuid = api.create_uuid()
        assert api.show(uuid, token=MEMBER_SAME_PROJECT).status_code == 200
        place_all()
        assert api.show(uuid, token=MEMBER_SAME_PROJECT).status_code == 200

    def test_admin_list_without_all_tenants_shows_its_own_project_only(self, api, topology):
        api.create_uuid(token=OTHER)
        mine = api.create_uuid(token=ADMIN)
        assert [s["id"] for s in api("get", "/servers", token=ADMIN).json()["servers"]] == [mine]

    def test_admin_deletes_another_projects_server(self, api, topology):
        uuid = api.create_uuid(token=OTHER)
        place_all()
        assert api("delete", f"/servers/{uuid}", token=ADMIN).status_code == 204
        assert api.show(uuid, token=OTHER).status_code == 404

    @pytest.mark.parametrize("server_id", ["not-a-uuid", "-1", str(2**64), new_uuid()])
    def test_unknown_ids_are_404(self, api, topology, server_id):
        for method in ("get", "delete"):
            response = api(method, f"/servers/{server_id}")
            assert response.status_code == 404
            assert response.json() == not_found(server_id)

    def test_a_locked_server_cannot_be_deleted_by_its_owner_but_by_an_admin(self, api, topology):
        uuid = api.create_uuid()
        place_all()
        [alias] = cells_holding(uuid)
        with target_cell(alias):
            Instance.objects.filter(uuid=uuid).update(locked=True, locked_by="owner")
        response = api("delete", f"/servers/{uuid}")
        assert response.status_code == 409
        assert fault(response) == ("conflictingRequest", 409, f"Instance {uuid} is locked")
        assert instance_in(alias, uuid) is not None
        assert api("delete", f"/servers/{uuid}", token=ADMIN).status_code == 204


@pytest.fixture
def header_auth(api, settings):
    settings.CELLSV2_AUTH = "headers"


def as_role(role, project="proj1", user="alice"):
    return {"HTTP_X_USER_ID": user, "HTTP_X_PROJECT_ID": project, "HTTP_X_ROLES": role}


@pytest.mark.usefixtures("worker_mode", "header_auth")
class TestReader:
    def test_a_reader_cannot_create_nor_delete_but_can_read(self, api, topology):
        body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": IMAGE}}
        response = api("post", "/servers", token=None, body=body, headers=as_role("reader"))
        assert response.status_code == 403
        assert fault(response) == (
            "forbidden",
            403,
            "Policy doesn't allow os_compute_api:servers:create to be performed.",
        )
        assert api_rows() == {"build_requests": 0, "request_specs": 0, "instance_mappings": 0}

        response = api("post", "/servers", token=None, body=body, headers=as_role("member"))
        assert response.status_code == 202
        uuid = response.json()["server"]["id"]
        for _state in ("BUILD", "ACTIVE"):
            response = api("delete", f"/servers/{uuid}", token=None, headers=as_role("reader"))
            assert response.status_code == 403
            assert fault(response)[2] == "Policy doesn't allow os_compute_api:servers:delete to be performed."
            response = api(
                "put", f"/servers/{uuid}", token=None, body={"server": {"name": "x"}}, headers=as_role("reader")
            )
            assert response.status_code == 403
            assert api("get", f"/servers/{uuid}", token=None, headers=as_role("reader")).status_code == 200
            listed = api("get", "/servers/detail", token=None, headers=as_role("reader")).json()["servers"]
            assert [s["id"] for s in listed] == [uuid]
            place_all()
        assert api.show(uuid, token=None, version=None).status_code == 401
        assert InstanceMapping.objects.get(instance_uuid=uuid).queued_for_delete is False

    def test_a_reader_of_another_project_gets_404(self, api, topology):
        body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": IMAGE}}
        uuid = api("post", "/servers", token=None, body=body, headers=as_role("member")).json()["server"]["id"]
        response = api("delete", f"/servers/{uuid}", token=None, headers=as_role("reader", project="proj9"))
        assert response.status_code == 404


# --- update -----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("worker_mode")
class TestUpdate:
    def test_update_while_building_and_once_placed(self, api, topology):
        uuid = api.create_uuid(name="before")
        response = api("put", f"/servers/{uuid}", version="2.19", body={"server": {"name": "during"}})
        assert response.status_code == 200
        assert response.json()["server"]["name"] == "during"
        assert response.json()["server"]["status"] == "BUILD"
        place_all()
        response = api(
            "put", f"/servers/{uuid}", version="2.19", body={"server": {"name": "after", "description": "desc"}}
        )
        assert response.status_code == 200
        shown = api.show(uuid, version="2.19").json()["server"]
        assert (shown["name"], shown["description"]) == ("after", "desc")

    @pytest.mark.parametrize("placed", [False, True], ids=["build_request", "placed"])
    @pytest.mark.parametrize("token", [MEMBER, ADMIN], ids=["member", "admin"])
    def test_the_update_body_is_short_before_2_75_and_the_show_body_from_it(self, api, topology, placed, token):
        """Nova's update answers without the extended attributes before 2.75 (show_all_attributes)."""
        uuid = api.create_uuid(token=token)
        if placed:
            place_all()
        admin = token == ADMIN
        for version in ("2.1", "2.9", "2.19", "2.26", "2.63", "2.71", "2.73", "2.74"):
            body = api("put", f"/servers/{uuid}", token=token, version=version, body={"server": {"name": "n"}})
            assert body.status_code == 200
            server = body.json()["server"]
            v = APIVersion(version)
            expected = set(SERVER_KEYS_2_1)
            for since, key in (
                ("2.9", "locked"),
                ("2.19", "description"),
                ("2.26", "tags"),
                ("2.63", "trusted_image_certificates"),
                ("2.71", "server_groups"),
                ("2.73", "locked_reason"),
            ):
                if v >= since:
                    expected.add(key)
            assert set(server) == expected, version
        for version in ("2.75", MAX):
            body = api("put", f"/servers/{uuid}", token=token, version=version, body={"server": {"name": "n"}})
            assert set(body.json()["server"]) == expected_keys(version, admin=admin, show=True)
            assert body.json()["server"] == api.show(uuid, token=token, version=version).json()["server"]

    def test_update_of_an_unknown_server_is_404(self, api, topology):
        uuid = new_uuid()
        response = api("put", f"/servers/{uuid}", body={"server": {"name": "x"}})
        assert response.status_code == 404
        assert response.json() == not_found(uuid)

    @pytest.mark.parametrize("body", [{"server": {"name": ""}}, {"server": {"name": "a" * 256}}, {"server": {"x": 1}}])
    def test_bad_updates_are_400(self, api, topology, body):
        uuid = api.create_uuid()
        response = api("put", f"/servers/{uuid}", body=body)
        assert response.status_code == 400
        assert api.show(uuid).json()["server"]["name"] == "vm"


def test_delete_of_a_build_request_cancels_it(api, topology, worker_mode):
    uuid = api.create_uuid()
    assert api("delete", f"/servers/{uuid}").status_code == 204
    assert api_rows(uuid) == {"build_requests": 0, "request_specs": 1, "instance_mappings": 1}
    mapping = mapping_of(uuid)
    assert (mapping.cell, mapping.queued_for_delete) == (None, True)
    assert api.show(uuid).status_code == 404
    assert place_all() == {}
    assert cells_holding(uuid) == []


def refusing(fragment: str):
    """An execute wrapper for the API connection: the database fails every statement that contains
    ``fragment`` (as an unreachable or overloaded server would, mid-request)."""

    def wrapper(execute, sql, params, many, context):
        if fragment in sql:
            raise OperationalError("could not send the statement: server closed the connection")
        return execute(sql, params, many, context)

    return wrapper


def test_a_cancel_failing_at_its_group_write_leaves_the_build_request_for_the_retry(api, topology, worker_mode):
    group = api("post", "/os-server-groups", body={"server_group": {"name": "g", "policies": ["affinity"]}})
    group_id = group.json()["server_group"]["id"]
    uuid = api.create_uuid(hints={"group": group_id})
    with connections["api"].execute_wrapper(refusing("instance_group_member")):
        response = api("delete", f"/servers/{uuid}")
    # Not a 503 for a server already gone: nothing was done, and the retry does it all.
    assert response.status_code == 503, response.content
    assert api_rows(uuid) == {"build_requests": 1, "request_specs": 1, "instance_mappings": 1}
    assert mapping_of(uuid).queued_for_delete is False
    assert api("get", f"/os-server-groups/{group_id}").json()["server_group"]["members"] == [uuid]
    assert api("delete", f"/servers/{uuid}").status_code == 204
    assert api_rows(uuid)["build_requests"] == 0 and mapping_of(uuid).queued_for_delete is True
    assert api("get", f"/os-server-groups/{group_id}").json()["server_group"]["members"] == []


def test_a_delete_failing_at_its_api_write_leaves_the_server_as_it_was_for_the_retry(api, topology, worker_mode):
    uuid = api.create_uuid()
    place_all()
    alias, _ = host_of(uuid)
    with connections["api"].execute_wrapper(refusing('SET "queued_for_delete"')):
        response = api("delete", f"/servers/{uuid}")
    assert response.status_code == 503, response.content
    # Before, the cell's delete was committed first: the server was gone while its mapping still
    # counted it against the project's quota, and the client's retry got a 404.
    assert instance_in(alias, uuid).vm_state == "active"
    assert mapping_of(uuid).queued_for_delete is False
    assert api.show(uuid).json()["server"]["status"] == "ACTIVE"
    assert api("delete", f"/servers/{uuid}").status_code == 204
    assert mapping_of(uuid).queued_for_delete is True
    assert api.show(uuid).status_code == 404


def test_the_build_request_document_is_versioned_json(api, topology, worker_mode):
    uuid = api.create_uuid()
    document = json.loads(BuildRequest.objects.get(instance_uuid=uuid).instance)
    assert (document["nova_object.name"], document["nova_object.version"]) == ("Instance", "1.0")
    spec = json.loads(RequestSpec.objects.get(instance_uuid=uuid).spec)
    assert (spec["nova_object.name"], spec["nova_object.version"]) == ("RequestSpec", "1.2")
    assert spec["nova_object.data"]["is_bfv"] is False
