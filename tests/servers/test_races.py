"""The API/conductor races: delete during scheduling in both orders, the build request vanishing
mid-placement, the hand-off window for readers, and updates of a server still in BUILD."""

import pytest

from mappings.models import InstanceMapping
from servers import conductor
from servers.models import BuildRequest, RequestSpec
from servers.selectors import show as server_selectors
from servers.serialization import instance_load
from tests.conftest import ALL_DATABASES, CELL_ALIASES
from tests.servers.conftest import (
    ADMIN,
    api_rows,
    cells_holding,
    instance_in,
    mapping_of,
    place_all,
)

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]


def node_usage(topology, host):
    node = topology.node(host)
    return node.vcpus_used, node.memory_mb_used, node.local_gb_used, node.running_vms


def total_usage(topology):
    return [node_usage(topology, host) for host in topology.nodes]


class TestDeleteDuringScheduling:
    def test_delete_first_then_the_conductor_places_nothing(self, api, topology):
        uuid = api.create_uuid()
        assert api("delete", f"/servers/{uuid}").status_code == 204

        assert conductor.conductor_run_once() == {}
        assert conductor.build_request_place(uuid) == "skipped"
        assert cells_holding(uuid) == []
        mapping = mapping_of(uuid)
        assert (mapping.cell, mapping.queued_for_delete) == (None, True)
        assert api_rows(uuid)["build_requests"] == 0
        assert api.show(uuid).status_code == 404
        assert api("get", "/servers").json()["servers"] == []
        assert total_usage(topology) == [(0, 0, 0, 0)] * 2

    def test_conductor_first_then_delete_soft_deletes_in_the_cell(self, api, topology):
        uuid = api.create_uuid()
        assert conductor.build_request_place(uuid) == "placed"
        assert api("delete", f"/servers/{uuid}").status_code == 204

        [alias] = cells_holding(uuid)
        assert alias in ("cell1", "cell2")
        row = instance_in(alias, uuid, deleted=True)
        assert row.deleted == row.id and row.vm_state == "deleted"
        assert instance_in(alias, uuid) is None
        mapping = mapping_of(uuid)
        assert (mapping.cell.name, mapping.queued_for_delete) == (alias, True)
        assert api.show(uuid).status_code == 404
        assert total_usage(topology) == [(0, 0, 0, 0)] * 2

    def test_one_cancelled_build_request_does_not_stop_the_others(self, api, topology):
        # LP#1661024: in a multi-create, one deleted build request must not stop the rest.
        api.create(min_count=3)
        uuids = list(BuildRequest.objects.order_by("id").values_list("instance_uuid", flat=True))
        api("delete", f"/servers/{uuids[1]}")
        assert place_all() == {"placed": 2}
        assert [len(cells_holding(u)) for u in uuids] == [1, 0, 1]

    def test_the_build_request_vanishes_between_the_cell_write_and_its_delete(self, api, topology, monkeypatch):
        """The user's delete wins after the instance was written: the conductor takes it back."""
        uuid = api.create_uuid()
        real = conductor._write_instance

        def write_then_user_deletes(cell, instance, spec, **kwargs):
            real(cell, instance, spec, **kwargs)
            # The user's delete, as server_delete does it for a build request.
            BuildRequest.objects.filter(instance_uuid=uuid).delete()
            InstanceMapping.objects.filter(instance_uuid=uuid).update(queued_for_delete=True)

        monkeypatch.setattr(conductor, "_write_instance", write_then_user_deletes)
        assert conductor.build_request_place(uuid) == "cancelled"

        assert all(instance_in(alias, uuid) is None for alias in CELL_ALIASES)
        assert total_usage(topology) == [(0, 0, 0, 0)] * 2
        assert api.show(uuid).status_code == 404
        assert api.show(uuid, token=ADMIN).status_code == 404
        assert api("get", "/servers").json()["servers"] == []
        assert mapping_of(uuid).queued_for_delete is True

    def test_the_build_request_vanishes_while_burying_in_cell0(self, api, cells, default_flavors, monkeypatch):
        uuid = api.create_uuid()
        real = conductor._write_instance

        def write_then_user_deletes(cell, instance, spec, **kwargs):
            real(cell, instance, spec, **kwargs)
            BuildRequest.objects.filter(instance_uuid=uuid).delete()

        monkeypatch.setattr(conductor, "_write_instance", write_then_user_deletes)
        assert conductor.build_request_place(uuid) == "cancelled"
        assert instance_in("cell0", uuid) is None
        assert api.show(uuid).status_code == 404

    def test_a_delete_racing_the_placement_answers_404_not_500(self, api, topology, monkeypatch):
        """The delete read the build request; the conductor placed it before the delete's write."""
        uuid = api.create_uuid()
        real_get = server_selectors.server_get

        def get_then_conductor_runs(**kwargs):
            server = real_get(**kwargs)
            conductor.build_request_place(uuid)
            return server

        # The delete reads the server once (the view's read, handed to server_delete).
        monkeypatch.setattr(server_selectors, "server_get", get_then_conductor_runs)
        assert api("delete", f"/servers/{uuid}").status_code == 204
        monkeypatch.undo()
        [alias] = cells_holding(uuid)
        assert instance_in(alias, uuid) is None
        assert mapping_of(uuid).queued_for_delete is True


class TestReadsDuringTheHandOff:
    def test_show_rereads_the_mapping_when_the_build_request_just_vanished(self, api, topology, monkeypatch):
        """Reader saw the mapping without a cell, then the conductor finished before it read the build request."""
        uuid = api.create_uuid()
        real = server_selectors.instance_mapping_lookup

        def lookup_then_conductor_runs(instance_uuid):
            mapping = real(instance_uuid)
            conductor.build_request_place(uuid)
            return mapping

        monkeypatch.setattr(server_selectors, "instance_mapping_lookup", lookup_then_conductor_runs)
        response = api.show(uuid)
        assert response.status_code == 200
        assert response.json()["server"]["status"] == "ACTIVE"

    def test_a_server_both_in_a_build_request_and_a_cell_is_listed_once(self, api, topology):
        """The window between the cell write and the build request's delete: the build request wins."""
        uuid = api.create_uuid()
        build = BuildRequest.objects.get(instance_uuid=uuid)
        conductor.build_request_place(uuid)
        build.pk = None
        build.save()  # the build request as it was an instant before its delete
        InstanceMapping.objects.filter(instance_uuid=uuid).update(cell=None)
        listed = api("get", "/servers/detail").json()["servers"]
        assert [(s["id"], s["status"]) for s in listed] == [(uuid, "BUILD")]


class TestUpdateWhileBuilding:
    def test_a_rename_of_a_build_request_survives_placement(self, api, topology):
        uuid = api.create_uuid(name="original")
        body = {"server": {"name": "renamed", "description": "new", "accessIPv4": "10.1.1.1"}}
        assert api("put", f"/servers/{uuid}", version="2.19", body=body).status_code == 200
        assert instance_load(BuildRequest.objects.get(instance_uuid=uuid).instance)["display_name"] == "renamed"
        place_all()
        [alias] = cells_holding(uuid)
        row = instance_in(alias, uuid)
        assert (row.display_name, row.display_description, row.access_ip_v4) == ("renamed", "new", "10.1.1.1")
        shown = api.show(uuid, version="2.19").json()["server"]
        assert (shown["name"], shown["description"], shown["accessIPv4"]) == ("renamed", "new", "10.1.1.1")

    def test_a_hostname_update_survives_placement(self, api, topology):
        uuid = api.create_uuid(version="2.90", hostname="first")
        assert (
            api("put", f"/servers/{uuid}", version="2.90", body={"server": {"hostname": "second"}}).status_code == 200
        )
        place_all()
        assert api.show(uuid, version="2.90").json()["server"]["OS-EXT-SRV-ATTR:hostname"] == "second"

    def test_an_update_racing_the_placement_reaches_the_cell(self, api, topology, monkeypatch):
        """The update read the build request; the conductor placed it before the update's write."""
        uuid = api.create_uuid(name="original")
        real_get = server_selectors.server_get

        def get_then_conductor_runs(**kwargs):
            server = real_get(**kwargs)
            if BuildRequest.objects.filter(instance_uuid=uuid).exists():
                conductor.build_request_place(uuid)
            return server

        # The update reads the server once before its write (the view's read, handed to server_update).
        monkeypatch.setattr(server_selectors, "server_get", get_then_conductor_runs)
        response = api("put", f"/servers/{uuid}", body={"server": {"name": "renamed"}})
        assert response.status_code == 200
        assert response.json()["server"]["name"] == "renamed"
        [alias] = cells_holding(uuid)
        assert instance_in(alias, uuid).display_name == "renamed"

    def test_an_update_racing_a_delete_of_the_build_request_is_404(self, api, topology, monkeypatch):
        """The update read the build request; the user's delete removed it before the update's write."""
        uuid = api.create_uuid()
        real_get = server_selectors.server_get

        def get_then_deleted(**kwargs):
            server = real_get(**kwargs)
            BuildRequest.objects.filter(instance_uuid=uuid).delete()
            InstanceMapping.objects.filter(instance_uuid=uuid).update(queued_for_delete=True)
            return server

        monkeypatch.setattr(server_selectors, "server_get", get_then_deleted)
        response = api("put", f"/servers/{uuid}", body={"server": {"name": "renamed"}})
        assert response.status_code == 404
        assert response.json()["itemNotFound"]["message"] == f"Instance {uuid} could not be found."

    def test_the_request_spec_is_kept_for_the_life_of_the_server(self, api, topology):
        uuid = api.create_uuid()
        place_all()
        api("put", f"/servers/{uuid}", body={"server": {"name": "x"}})
        assert RequestSpec.objects.filter(instance_uuid=uuid).count() == 1
