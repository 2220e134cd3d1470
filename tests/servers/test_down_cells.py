"""A cell that cannot be reached (its database is missing) or does not answer in time, during list
and show: skipped below 2.69, partial UNKNOWN records from 2.69 (reference §5.6), and 503 for a
show below 2.69 (DESIGN §5: Nova answers 500)."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from cellsv2 import cells as cells_module
from cellsv2.api.microversions import MAX_VERSION_STRING as MAX
from cellsv2.cells import DID_NOT_RESPOND
from mappings.models import InstanceMapping
from servers.models import RequestSpec
from servers.selectors import listing as server_selectors
from servers.serialization import request_spec_dump
from tests.conftest import ALL_DATABASES
from tests.servers.conftest import (
    ADMIN,
    HOST,
    IMAGE,
    TINY,
    api_rows,
    cells_holding,
    fault,
    new_uuid,
    place_all,
    seed_build_request,
    seed_instance,
)

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

BASE = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
INDEX_KEYS = {"id", "status", "links"}
DETAIL_KEYS = {"id", "status", "tenant_id", "created", "links"}
SHOW_KEYS = {
    "id",
    "status",
    "tenant_id",
    "created",
    "links",
    "image",
    "flavor",
    "OS-EXT-AZ:availability_zone",
    "OS-EXT-STS:power_state",
    "user_id",
}
TINY_EMBEDDED = {
    "vcpus": 1,
    "ram": 512,
    "disk": 1,
    "ephemeral": 0,
    "swap": 0,
    "original_name": "m1.tiny",
    "extra_specs": {},
}


def isotime(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def links(uuid):
    return [
        {"rel": "self", "href": f"{HOST}/v2.1/servers/{uuid}"},
        {"rel": "bookmark", "href": f"{HOST}/servers/{uuid}"},
    ]


def server_in(cell, *, project_id="proj1", user_id="alice", spec=None, queued_for_delete=False, created_at=None):
    """A server whose mapping points at ``cell`` (its instance row cannot be read there), with its spec."""
    uuid = new_uuid()
    mapping = InstanceMapping.objects.create(
        instance_uuid=uuid, cell=cell, project_id=project_id, user_id=user_id, queued_for_delete=queued_for_delete
    )
    if created_at is not None:
        InstanceMapping.objects.filter(pk=mapping.pk).update(created_at=created_at)
    if spec is not False:
        body = {
            "instance_uuid": uuid,
            "project_id": project_id,
            "user_id": user_id,
            "flavor": TINY,
            "image": {"id": IMAGE},
            "availability_zone": None,
            **(spec or {}),
        }
        RequestSpec.objects.create(instance_uuid=uuid, spec=request_spec_dump(body))
    return uuid


def ids(response):
    assert response.status_code == 200, response.content
    return [s["id"] for s in response.json()["servers"]]


@pytest.fixture
def mixed(cells, down_cell):
    """A build request, a server in cell1, two in the down cell (one queued for delete), another
    project's server in the down cell."""
    return {
        "up": seed_instance(cells["cell1"], created_at=BASE).uuid,
        "building": seed_build_request().instance_uuid,
        "down": [
            server_in(down_cell, created_at=BASE - timedelta(days=2)),
            server_in(down_cell, created_at=BASE - timedelta(days=1)),
        ],
        "deleted": server_in(down_cell, queued_for_delete=True),
        "other": server_in(down_cell, project_id="proj2", user_id="bob"),
    }


class TestListBelow269:
    @pytest.mark.parametrize("version", ["2.1", "2.68"])
    @pytest.mark.parametrize("path", ["/servers", "/servers/detail"])
    def test_the_down_cell_is_skipped(self, api, mixed, version, path):
        assert ids(api("get", path, version=version)) == [mixed["building"], mixed["up"]]
        assert ids(api("get", f"{path}?all_tenants=1", token=ADMIN, version=version)) == [
            mixed["building"],
            mixed["up"],
        ]


class TestListFrom269:
    @pytest.mark.parametrize("version", ["2.69", MAX])
    def test_index_prepends_minimal_records(self, api, mixed, version):
        servers = api("get", "/servers", version=version).json()["servers"]
        assert [s["id"] for s in servers] == [*mixed["down"], mixed["building"], mixed["up"]]
        for record in servers[:2]:
            assert record == {"id": record["id"], "status": "UNKNOWN", "links": links(record["id"])}
        assert "name" in servers[2] and "name" in servers[3]

    @pytest.mark.parametrize("version", ["2.69", MAX])
    def test_detail_records_carry_the_project_and_the_mapping_s_creation_time(self, api, mixed, version):
        servers = api("get", "/servers/detail", version=version).json()["servers"]
        assert [s["id"] for s in servers] == [*mixed["down"], mixed["building"], mixed["up"]]
        created = {
            m.instance_uuid: m.created_at for m in InstanceMapping.objects.filter(instance_uuid__in=mixed["down"])
        }
        for record in servers[:2]:
            assert set(record) == DETAIL_KEYS
            assert record["status"] == "UNKNOWN"
            assert record["tenant_id"] == "proj1"
            assert record["created"] == isotime(created[record["id"]])
            assert record["links"] == links(record["id"])
        assert servers[2]["status"] == "BUILD" and servers[3]["status"] == "ACTIVE"

    def test_admin_all_tenants_gets_every_project_s_records(self, api, mixed):
        servers = api("get", "/servers?all_tenants=1", token=ADMIN, version="2.69").json()["servers"]
        assert [s["id"] for s in servers[:3]] == [*mixed["down"], mixed["other"]]
        assert all(s["status"] == "UNKNOWN" for s in servers[:3])
        assert mixed["deleted"] not in [s["id"] for s in servers]

    def test_queued_for_delete_servers_are_not_listed(self, api, mixed):
        assert mixed["deleted"] not in ids(api("get", "/servers", version="2.69"))

    @pytest.mark.parametrize(
        "query",
        [
            "limit=10",
            "sort_key=display_name",
            "sort_dir=asc",
            "name=x",
            "status=ACTIVE",
            "changes-since=2020-01-01T00:00:00Z",
        ],
    )
    def test_with_filters_limit_marker_or_sort_the_down_cell_is_skipped(self, api, mixed, query):
        listed = ids(api("get", f"/servers?{query}", version="2.69"))
        assert not set(mixed["down"]) & set(listed)

    def test_with_a_marker_the_down_cell_is_skipped(self, api, mixed):
        listed = ids(api("get", f"/servers?marker={mixed['building']}", version="2.69"))
        assert listed == [mixed["up"]]


class TestShow:
    @pytest.mark.parametrize("version", ["2.1", "2.68"])
    def test_below_2_69_is_503_service_unavailable(self, api, mixed, version):
        uuid = mixed["down"][0]
        response = api.show(uuid, version=version)
        assert response.status_code == 503
        name, code, message = fault(response)
        assert (name, code) == ("serviceUnavailable", 503)
        assert "unreachable" in message and uuid in message

    def test_from_2_69_the_partial_record(self, api, mixed):
        uuid = mixed["down"][0]
        mapping = InstanceMapping.objects.get(instance_uuid=uuid)
        response = api.show(uuid, version="2.69")
        assert response.status_code == 200
        assert response.json()["server"] == {
            "id": uuid,
            "status": "UNKNOWN",
            "tenant_id": "proj1",
            "created": isotime(mapping.created_at),
            "links": links(uuid),
            "image": {"id": IMAGE, "links": [{"rel": "bookmark", "href": f"{HOST}/images/{IMAGE}"}]},
            "flavor": TINY_EMBEDDED,
            "OS-EXT-AZ:availability_zone": "UNKNOWN",
            "OS-EXT-STS:power_state": 0,
            "user_id": "alice",
        }

    def test_from_2_71_server_groups_too(self, api, down_cell):
        group = new_uuid()
        in_group = server_in(down_cell, spec={"instance_group": {"uuid": group, "policy": "affinity", "rules": {}}})
        alone = server_in(down_cell)
        shown = api.show(in_group, version="2.71").json()["server"]
        assert set(shown) == SHOW_KEYS | {"server_groups"}
        assert shown["server_groups"] == [group]
        assert api.show(alone, version=MAX).json()["server"]["server_groups"] == []
        assert "server_groups" not in api.show(alone, version="2.70").json()["server"]

    def test_the_requested_zone_and_a_boot_from_volume_image(self, api, down_cell):
        uuid = server_in(down_cell, spec={"availability_zone": "zone-a", "image": None})
        shown = api.show(uuid, version="2.69").json()["server"]
        assert shown["OS-EXT-AZ:availability_zone"] == "zone-a"
        assert shown["image"] == ""

    def test_an_admin_sees_another_project_s_partial_record(self, api, mixed):
        shown = api.show(mixed["other"], token=ADMIN, version="2.69").json()["server"]
        assert (shown["status"], shown["tenant_id"], shown["user_id"]) == ("UNKNOWN", "proj2", "bob")

    @pytest.mark.parametrize("version", ["2.1", "2.69"])
    def test_another_project_s_server_is_404(self, api, mixed, version):
        assert api.show(mixed["other"], version=version).status_code == 404

    def test_a_server_queued_for_delete_is_404(self, api, mixed):
        assert api.show(mixed["deleted"], version="2.69").status_code == 404

    def test_without_a_request_spec_404(self, api, down_cell):
        uuid = server_in(down_cell, spec=False)
        response = api.show(uuid, version="2.69")
        assert response.status_code == 404
        assert fault(response) == ("itemNotFound", 404, f"Instance {uuid} could not be found.")

    @pytest.mark.parametrize("version", ["2.1", "2.69"])
    def test_delete_is_503(self, api, mixed, version):
        uuid = mixed["down"][0]
        response = api("delete", f"/servers/{uuid}", version=version)
        assert response.status_code == 503
        assert InstanceMapping.objects.get(instance_uuid=uuid).queued_for_delete is False

    @pytest.mark.parametrize("version", ["2.1", "2.69", MAX])
    def test_update_is_503_as_show_and_delete(self, api, mixed, version):
        uuid = mixed["down"][0]
        response = api("put", f"/servers/{uuid}", version=version, body={"server": {"name": "x"}})
        assert response.status_code == 503
        assert fault(response)[:2] == ("serviceUnavailable", 503)
        assert uuid in fault(response)[2]

    def test_servers_in_healthy_cells_are_unaffected(self, api, mixed):
        assert api.show(mixed["up"]).json()["server"]["status"] == "ACTIVE"
        assert api.show(mixed["building"]).json()["server"]["status"] == "BUILD"


@pytest.mark.usefixtures("worker_mode")
class TestWritesWhileACellIsDown:
    def test_new_servers_are_placed_in_the_healthy_cells(self, api, topology, down_cell):
        uuids = [api.create_uuid() for _ in range(3)]
        assert place_all() == {"placed": 3}
        assert all(cells_holding(u)[0] in ("cell1", "cell2") for u in uuids)

    def test_servers_in_a_down_cell_count_against_the_quota(self, api, topology, down_cell, settings):
        settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "instances": 2}
        server_in(down_cell)
        server_in(down_cell)
        response = api.create()
        assert response.status_code == 403
        assert fault(response)[2] == "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
        assert api_rows()["build_requests"] == 0


# --- a cell that does not answer in time ------------------------------------------------------------


@pytest.fixture
def cell2_times_out(monkeypatch, cells):
    """Nova's DownCellFixture: scatter-gather reports cell2 as not having answered."""
    real = server_selectors.scatter_gather_cells

    def scatter_gather(cell_list, fn, *args, **kwargs):
        results = real(cell_list, fn, *args, **kwargs)
        if cells["cell2"].uuid in results:
            results[cells["cell2"].uuid] = DID_NOT_RESPOND
        return results

    monkeypatch.setattr(server_selectors, "scatter_gather_cells", scatter_gather)


@pytest.mark.usefixtures("cell2_times_out")
class TestTimeout:
    def test_below_2_69_the_silent_cell_is_skipped(self, api, cells):
        up = seed_instance(cells["cell1"]).uuid
        seed_instance(cells["cell2"])
        assert ids(api("get", "/servers")) == [up]
        assert ids(api("get", "/servers/detail")) == [up]

    def test_from_2_69_its_servers_are_partial_records(self, api, cells):
        up = seed_instance(cells["cell1"]).uuid
        silent = seed_instance(cells["cell2"]).uuid
        servers = api("get", "/servers/detail", version="2.69").json()["servers"]
        assert [s["id"] for s in servers] == [silent, up]
        assert set(servers[0]) == DETAIL_KEYS and servers[0]["status"] == "UNKNOWN"
        assert servers[1]["status"] == "ACTIVE"

    def test_a_cell_that_times_out_while_loading_the_chosen_rows_is_skipped(self, api, cells, monkeypatch):
        """The page query answered; the second round (full records) did not."""
        up = seed_instance(cells["cell1"], created_at=BASE).uuid
        seed_instance(cells["cell2"], created_at=BASE + timedelta(seconds=1))
        real = cells_module.scatter_gather_cells
        calls = []

        def second_round_silent(cell_list, fn, *args, **kwargs):
            results = real(cell_list, fn, *args, **kwargs)
            calls.append(fn)
            if len(calls) == 2 and cells["cell2"].uuid in results:
                results[cells["cell2"].uuid] = DID_NOT_RESPOND
            return results

        monkeypatch.setattr(server_selectors, "scatter_gather_cells", second_round_silent)
        assert ids(api("get", "/servers/detail")) == [up]


@pytest.mark.usefixtures("default_flavors")
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_a_real_timeout_is_bounded_by_the_scatter_gather_timeout(api, cells, monkeypatch, settings):
    """Cell queries run in pool threads; a slow cell is given up after CELLSV2_SCATTER_GATHER_TIMEOUT."""
    settings.CELLSV2_SCATTER_GATHER_TIMEOUT = 0.3
    up = seed_instance(cells["cell1"]).uuid
    slow = seed_instance(cells["cell2"]).uuid
    real = cells_module._run_in_cell

    def run_in_cell(alias, mapping, fn, args, kwargs):
        if alias == "cell2":
            time.sleep(1.0)
        return real(alias, mapping, fn, args, kwargs)

    monkeypatch.setattr(cells_module, "_run_in_cell", run_in_cell)
    started = time.monotonic()
    assert ids(api("get", "/servers")) == [up]
    assert time.monotonic() - started < 1.0
    servers = api("get", "/servers", version="2.69").json()["servers"]
    assert [s["id"] for s in servers] == [slow, up]
    assert servers[0] == {"id": slow, "status": "UNKNOWN", "links": links(slow)}
    time.sleep(1.0)  # let the pool threads finish before the databases are flushed
