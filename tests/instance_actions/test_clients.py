"""Server events as a user and an operator read them: openstacksdk and ``openstack server event``
over HTTP against a served process; servers placed in cell1/cell2 or buried in cell0."""

import pytest

from tests.clients import openstack_cli, sdk
from tests.factories import IMAGE
from tests.fixtures.compute import add_node, discover
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


@pytest.fixture
def endpoint(live_server, settings, cells, default_flavors):
    settings.CELLSV2_AUTH = "noauth"
    settings.CELLSV2_CONDUCTOR_MODE = "inline"
    add_node(cells, "cell1", "compute1", vcpus=2, memory_mb=4096)
    add_node(cells, "cell2", "compute2", vcpus=2, memory_mb=4096)
    discover()
    return f"{live_server.url}/v2.1"


def test_a_servers_life_is_listed_as_events(endpoint, tmp_path):
    alice = sdk(endpoint, "alice:proj1")
    body = {"server": {"name": "web", "flavorRef": "1", "imageRef": IMAGE}}
    response = alice.compute.post("/servers", json=body)
    assert response.status_code == 202
    server = alice.compute.wait_for_server(alice.compute.get_server(response.json()["server"]["id"]), wait=60)

    (create,) = openstack_cli(tmp_path, endpoint, "alice:proj1", "server", "event", "list", server.id)
    assert create["Action"] == "create"
    # Placed in the API process right after the create: the action carries the create's request id.
    assert create["Request ID"] == response.headers["x-openstack-request-id"]
    args = ("--os-compute-api-version", "2.84", "server", "event", "show", server.id, create["Request ID"])
    shown = openstack_cli(tmp_path, endpoint, "admin:admin", *args)
    assert shown["action"] == "create" and shown["user_id"] == "alice"
    (event,) = shown["events"]
    assert event["event"] == "compute_build_and_run_instance"
    host = sdk(endpoint, "admin:admin").compute.get_server(server.id).compute_host
    assert event["result"] == "Success" and event["host"] == host in ("compute1", "compute2")
    assert event["host_id"] == server.host_id

    alice.compute.delete_server(server)
    alice.compute.wait_for_delete(server, wait=60)
    actions = list(sdk(endpoint, "alice:proj1").compute.server_actions(server.id))
    assert [a.action for a in actions] == ["delete", "create"]  # newest first; deleted servers from 2.21


def test_a_server_buried_in_cell0_shows_the_failed_build(endpoint, tmp_path):
    alice = sdk(endpoint, "alice:proj1")
    created = alice.compute.create_server(name="huge", flavor_id="5", image_id=IMAGE, networks="none")
    alice.compute.wait_for_server(created, status="ERROR", wait=60)
    (create,) = openstack_cli(tmp_path, endpoint, "alice:proj1", "server", "event", "list", created.id)
    args = ("--os-compute-api-version", "2.84", "server", "event", "show", created.id, create["Request ID"])
    (event,) = openstack_cli(tmp_path, endpoint, "admin:admin", *args)["events"]
    assert event["result"] == "Error"
    assert "No valid host" in event["details"]
