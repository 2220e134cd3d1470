"""What is recorded, where: Nova's create (built, or refused into cell0) and delete actions, in
the cell that holds the instance and nowhere else."""

import pytest

from cellsv2.context import target_cell
from instance_actions.models import InstanceAction, InstanceActionEvent
from servers import conductor
from servers.models import BuildRequest
from tests.fixtures.compute import ADMIN, mapping_of, place_all
from tests.support import ALL_DATABASES, CELL_ALIASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]


def actions_everywhere(uuid) -> dict[str, list[tuple]]:
    """{cell alias: [(action, user, [(event, result, host)])]} for the cells holding any."""
    found = {}
    for alias in CELL_ALIASES:
        with target_cell(alias):
            rows = [
                (
                    a.action,
                    a.user_id,
                    [(e.event, e.result, e.host) for e in InstanceActionEvent.objects.filter(action=a).order_by("id")],
                )
                for a in InstanceAction.objects.filter(instance_uuid=uuid).order_by("id")
            ]
        if rows:
            found[alias] = rows
    return found


def test_a_placed_server_has_its_create_and_delete_in_its_cell(api, topology):
    uuid = api.create_uuid()
    assert actions_everywhere(uuid) == {}  # a build request has no cell yet
    place_all()
    alias = mapping_of(uuid).cell.name
    host = {"cell1": "compute1", "cell2": "compute2"}[alias]
    assert actions_everywhere(uuid) == {
        alias: [("create", "alice", [("compute_build_and_run_instance", "Success", host)])]
    }
    assert api("delete", f"/servers/{uuid}", token=ADMIN).status_code == 204
    assert actions_everywhere(uuid)[alias][1] == ("delete", "admin", [("compute_terminate_instance", "Success", host)])


def test_a_server_with_no_host_has_a_failed_create_in_cell0(api, cells, default_flavors):
    uuid = api.create_uuid()
    place_all()
    ((action, user, events),) = actions_everywhere(uuid)["cell0"]
    assert (action, user) == ("create", "alice")
    assert [(event, result) for event, result, _ in events] == [("conductor_schedule_and_build_instances", "Error")]
    with target_cell("cell0"):
        assert "No valid host" in InstanceActionEvent.objects.get().details
    assert api("delete", f"/servers/{uuid}").status_code == 204
    assert [a[0] for a in actions_everywhere(uuid)["cell0"]] == ["create", "delete"]  # no compute host: no event


def test_a_build_request_deleted_before_placement_records_nothing(api, topology):
    uuid = api.create_uuid()
    assert api("delete", f"/servers/{uuid}").status_code == 204
    assert place_all() == {}
    assert actions_everywhere(uuid) == {}


def test_a_placement_taken_back_takes_its_action_back(api, topology, monkeypatch):
    uuid = api.create_uuid()
    real = conductor._write_instance

    def write_then_user_deletes(cell, instance, spec, **kwargs):
        real(cell, instance, spec, **kwargs)
        BuildRequest.objects.filter(instance_uuid=uuid).delete()

    monkeypatch.setattr(conductor, "_write_instance", write_then_user_deletes)
    assert conductor.build_request_place(uuid) == "cancelled"
    assert actions_everywhere(uuid) == {}
