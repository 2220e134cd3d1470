"""``/servers/{id}/os-instance-actions``: actions read from the server's cell through its mapping,
bodies checked against tempest's schemas at every microversion that changes them."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from cellsv2.context import target_cell
from instance_actions.models import InstanceAction
from instance_actions.services import instance_action_event_record, instance_action_start
from mappings.models import InstanceMapping
from tests.fixtures.compute import fault, seed_build_request, seed_instance
from tests.support import ALL_DATABASES
from tests.tempest_schemas import assert_matches_tempest

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells")]

ALICE = "alice:proj1"
READER_OTHER = "carol:proj2"
ADMIN = "admin:admin"


def record(cell, instance, action, request_id, *, host="compute1", failure=None, at=None):
    with target_cell(cell):
        recorded = instance_action_start(
            instance_uuid=instance.uuid, action=action, user_id="alice", project_id="proj1", request_id=request_id
        )
        if at is not None:
            InstanceAction.objects.filter(pk=recorded.pk).update(created_at=at, updated_at=at, start_time=at)
            recorded.refresh_from_db()
        instance_action_event_record(
            action=recorded, event="conductor_schedule_and_build_instances", host=host, failure=failure
        )
    return recorded


@pytest.fixture
def server(cells):
    instance = seed_instance(cells["cell2"])
    now = timezone.now()
    record(cells["cell2"], instance, "create", "req-1", at=now - timedelta(minutes=2))
    record(
        cells["cell2"],
        instance,
        "delete",
        "req-2",
        failure=RuntimeError("disk on fire"),
        at=now - timedelta(minutes=1),
    )
    return instance


LIST_VERSIONS = [("2.1", "v2_1"), ("2.58", "v2_58")]
SHOW_VERSIONS = [("2.1", "v2_1"), ("2.51", "v2_51"), ("2.58", "v2_58"), ("2.62", "v2_62"), ("2.84", "v2_84")]


@pytest.mark.parametrize(("version", "schema_dir"), LIST_VERSIONS)
def test_list_is_newest_first_and_matches_tempest(api, server, version, schema_dir):
    response = api("get", f"/servers/{server.uuid}/os-instance-actions", token=ALICE, version=version)
    assert response.status_code == 200, response.content
    assert_matches_tempest(response, schema_dir, "servers", "list_instance_actions")
    actions = response.json()["instanceActions"]
    assert [a["request_id"] for a in actions] == ["req-2", "req-1"]
    assert actions[1] == {**actions[1], "action": "create", "instance_uuid": server.uuid, "project_id": "proj1"}
    assert ("updated_at" in actions[0]) == (version >= "2.58")


@pytest.mark.parametrize(("version", "schema_dir"), SHOW_VERSIONS)
@pytest.mark.parametrize("token", [ALICE, ADMIN])
def test_show_matches_tempest_for_owner_and_admin(api, server, version, schema_dir, token):
    response = api("get", f"/servers/{server.uuid}/os-instance-actions/req-2", token=token, version=version)
    assert response.status_code == 200, response.content
    assert_matches_tempest(response, schema_dir, "servers", "show_instance_action")
    action = response.json()["instanceAction"]
    admin = token == ADMIN
    if not admin and version < "2.51":
        assert "events" not in action
        return
    (event,) = action["events"]
    assert event["result"] == "Error"
    assert ("traceback" in event) == admin
    assert ("host" in event) == (admin and version >= "2.62")
    if version >= "2.62":
        assert event["hostId"] == hashlib.sha224(b"proj1compute1").hexdigest()
    assert ("details" in event) == (admin and version >= "2.84")
    if "details" in event:
        assert event["details"] == "disk on fire"


def test_paging_and_changes_since_from_2_58(api, server):
    path = f"/servers/{server.uuid}/os-instance-actions"
    first = api("get", f"{path}?limit=1", token=ALICE, version="2.58").json()
    assert [a["request_id"] for a in first["instanceActions"]] == ["req-2"]
    assert first["links"][0]["rel"] == "next" and "marker=req-2" in first["links"][0]["href"]
    second = api("get", f"{path}?limit=1&marker=req-2", token=ALICE, version="2.58").json()
    assert [a["request_id"] for a in second["instanceActions"]] == ["req-1"]
    bad = api("get", f"{path}?marker=nope", token=ALICE, version="2.58")
    assert bad.status_code == 400 and fault(bad)[2] == "Marker nope could not be found."
    since = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert api("get", f"{path}?changes-since={since}", token=ALICE, version="2.58").json()["instanceActions"] == []
    assert api("get", f"{path}?foo=1", token=ALICE, version="2.58").status_code == 400
    assert api("get", f"{path}?changes-before=2020-01-01T00:00:00Z", token=ALICE, version="2.58").status_code == 400
    window = api(
        "get", f"{path}?changes-since={since}&changes-before=2020-01-01T00:00:00Z", token=ALICE, version="2.66"
    )
    assert window.status_code == 400


def test_a_deleted_server_from_2_21_only(api, cells):
    instance = seed_instance(cells["cell1"], deleted=True)
    record(cells["cell1"], instance, "delete", "req-d")
    path = f"/servers/{instance.uuid}/os-instance-actions"
    assert api("get", path, token=ALICE, version="2.20").status_code == 404
    response = api("get", path, token=ALICE, version="2.21")
    assert [a["action"] for a in response.json()["instanceActions"]] == ["delete"]


def test_another_projects_server_is_forbidden_and_an_unknown_one_not_found(api, server):
    refused = api("get", f"/servers/{server.uuid}/os-instance-actions", token=READER_OTHER)
    assert refused.status_code == 403
    assert api("get", "/servers/00000000-1111-2222-3333-444444444444/os-instance-actions").status_code == 404
    missing = api("get", f"/servers/{server.uuid}/os-instance-actions/req-none", token=ALICE)
    assert missing.status_code == 404 and fault(missing)[2] == "Action req-none not found"


def test_a_build_request_has_no_actions_yet(api):
    build = seed_build_request()
    response = api("get", f"/servers/{build.instance_uuid}/os-instance-actions", token=ALICE)
    assert response.status_code == 200 and response.json() == {"instanceActions": []}


def test_a_server_in_a_down_cell_answers_503(api, cells, down_cell):

    InstanceMapping.objects.create(
        instance_uuid="9d5a3a2e-1111-4f4f-8a8a-000000000001", cell=down_cell, project_id="proj1"
    )
    response = api("get", "/servers/9d5a3a2e-1111-4f4f-8a8a-000000000001/os-instance-actions", token=ALICE)
    assert response.status_code == 503
    assert fault(response)[0] == "serviceUnavailable"
