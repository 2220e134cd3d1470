"""os-services: every cell's compute services, Nova's bodies (checked with tempest's schemas) at
2.1, 2.11, 2.53 and 2.69, the pre-2.53 actions, the 2.53 update, delete, and a down cell."""

import pytest
from tempest.lib.api_schema.response.compute.v2_1 import services as v21
from tempest.lib.api_schema.response.compute.v2_11 import services as v211
from tempest.lib.api_schema.response.compute.v2_53 import services as v253

from cellsv2.context import target_cell
from hosts.models import Service
from mappings.models import HostMapping
from servers.models import ComputeNode
from tests.hosts.helpers import MEMBER, tempest_valid
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def bad_request(message):
    return {"badRequest": {"code": 400, "message": message}}


def not_found(message):
    return {"itemNotFound": {"code": 404, "message": message}}


def service_of(cell, host) -> Service:
    with target_cell(cell):
        return Service.objects.live().get(host=host)


def listed(api, version="2.53", **query):
    path = "/os-services" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return api("get", path, version=version)


def test_registering_a_compute_node_creates_its_service_in_the_same_cell(hosts):
    for cell, host in (("cell1", "compute1"), ("cell2", "compute2")):
        service = service_of(hosts.cells[cell], host)
        assert (service.binary, service.topic, service.disabled, service.forced_down) == (
            "nova-compute",
            "compute",
            False,
            False,
        )
        with target_cell(hosts.cells[cell]):
            assert ComputeNode.objects.get(host=host).service_id == service.id
    with target_cell(hosts.cells["cell1"]):
        assert not Service.objects.filter(host="compute2").exists()


def test_the_list_across_cells_at_each_microversion(hosts, api):
    one, two = service_of(hosts.cells["cell1"], "compute1"), service_of(hosts.cells["cell2"], "compute2")
    body = tempest_valid(v21.list_services, listed(api, "2.1"))
    # Each cell numbers its own services: integer ids can repeat across cells (why 2.53 exists).
    assert [(s["host"], s["id"]) for s in body["services"]] == [("compute1", one.id), ("compute2", two.id)]
    assert body["services"][0] == {
        "binary": "nova-compute",
        "host": "compute1",
        "id": one.id,
        "zone": "nova",
        "status": "enabled",
        "state": "up",
        "updated_at": None,
        "disabled_reason": None,
    }
    body = tempest_valid(v211.list_services, listed(api, "2.11"))
    assert all(s["forced_down"] is False for s in body["services"])
    body = tempest_valid(v253.list_services, listed(api, "2.53"))
    assert [s["id"] for s in body["services"]] == [
        service_of(hosts.cells["cell1"], "compute1").uuid,
        service_of(hosts.cells["cell2"], "compute2").uuid,
    ]


def test_the_list_filters_by_host_and_binary(hosts, api):
    assert [s["host"] for s in listed(api, host="compute2").json()["services"]] == ["compute2"]
    assert listed(api, binary="nova-conductor").json() == {"services": []}
    assert len(listed(api, binary="nova-compute").json()["services"]) == 2
    # Before 2.75 unknown parameters are ignored, from 2.75 refused.
    assert listed(api, "2.74", foo="bar").status_code == 200
    assert listed(api, "2.75", foo="bar").status_code == 400


def test_a_down_cell_is_left_out_before_2_69_and_shown_as_unknown_from_2_69(hosts, down_cell, api):
    HostMapping.objects.create(cell=down_cell, host="compute9")
    body = tempest_valid(v253.list_services, listed(api, "2.68"))
    assert [s["host"] for s in body["services"]] == ["compute1", "compute2"]
    body = listed(api, "2.69").json()
    assert body["services"][-1] == {"binary": "nova-compute", "host": "compute9", "status": "UNKNOWN"}
    assert [s["host"] for s in body["services"]] == ["compute1", "compute2", "compute9"]


def test_only_admins_list_services_unless_the_policy_says_otherwise(hosts, api, policy_file):
    response = api("get", "/os-services", token=MEMBER)
    assert response.status_code == 403
    assert (
        response.json()["forbidden"]["message"]
        == "Policy doesn't allow os_compute_api:os-services:list to be performed."
    )
    policy_file({"os_compute_api:os-services:list": "@"})
    assert api("get", "/os-services", token=MEMBER).status_code == 200


# --- before 2.53: actions by host and binary -------------------------------------------------


def test_disable_with_a_reason_and_enable_before_2_53(hosts, api):
    body = {"host": "compute2", "binary": "nova-compute", "disabled_reason": "maintenance"}
    response = api("put", "/os-services/disable-log-reason", version="2.1", body=body)
    assert tempest_valid(v21.disable_log_reason, response) == {
        "service": {
            "host": "compute2",
            "binary": "nova-compute",
            "status": "disabled",
            "disabled_reason": "maintenance",
        }
    }
    service = service_of(hosts.cells["cell2"], "compute2")
    assert (service.disabled, service.disabled_reason) == (True, "maintenance")
    row = next(s for s in listed(api, "2.1").json()["services"] if s["host"] == "compute2")
    assert (row["status"], row["disabled_reason"]) == ("disabled", "maintenance")
    assert row["updated_at"] is not None

    body = {"host": "compute2", "binary": "nova-compute"}
    response = api("put", "/os-services/enable", version="2.1", body=body)
    assert tempest_valid(v21.enable_disable_service, response)["service"]["status"] == "enabled"
    service = service_of(hosts.cells["cell2"], "compute2")
    assert (service.disabled, service.disabled_reason) == (False, None)

    response = api("put", "/os-services/disable", version="2.1", body=body)
    assert tempest_valid(v21.enable_disable_service, response)["service"] == {**body, "status": "disabled"}


def test_force_down_from_2_11(hosts, api):
    body = {"host": "compute1", "binary": "nova-compute", "forced_down": True}
    assert api("put", "/os-services/force-down", version="2.10", body={"host": "compute1", "binary": "x"}).json() == (
        not_found("Unknown action")
    )
    response = api("put", "/os-services/force-down", version="2.11", body=body)
    assert tempest_valid(v211.update_forced_down, response) == {"service": body}
    row = listed(api, "2.11", host="compute1").json()["services"][0]
    assert (row["forced_down"], row["state"]) == (True, "down")
    response = api(
        "put", "/os-services/force-down", version="2.11", body={"host": "compute1", "binary": "nova-compute"}
    )
    assert response.json() == bad_request("Missing forced_down field")


def test_actions_refuse_what_nova_refuses(hosts, api):
    assert api(
        "put", "/os-services/disable-log-reason", version="2.1", body={"host": "compute1", "binary": "nova-compute"}
    ).json() == (bad_request("Missing disabled reason field"))
    assert api(
        "put", "/os-services/disable", version="2.1", body={"host": "nowhere", "binary": "nova-compute"}
    ).json() == (not_found("Host 'nowhere' is not mapped to any cell"))
    assert api(
        "put", "/os-services/disable", version="2.1", body={"host": "compute1", "binary": "nova-scheduler"}
    ).json() == (not_found("Could not find binary nova-scheduler on host compute1."))
    response = api("put", "/os-services/disable", version="2.1", body={"host": "compute1"})
    assert response.status_code == 400
    assert api(
        "put", "/os-services/reboot", version="2.1", body={"host": "compute1", "binary": "nova-compute"}
    ).json() == (not_found("Unknown action"))
    assert (
        api(
            "put",
            "/os-services/disable",
            version="2.1",
            body={"host": "compute1", "binary": "nova-compute"},
            token=MEMBER,
        ).status_code
        == 403
    )


# --- 2.53: update by uuid ----------------------------------------------------------------------


def test_update_by_uuid_at_2_53(hosts, api):
    service = service_of(hosts.cells["cell2"], "compute2")
    response = api(
        "put", f"/os-services/{service.uuid}", version="2.53", body={"status": "disabled", "disabled_reason": "rack 4"}
    )
    body = tempest_valid(v253.update_service, response)["service"]
    assert (body["id"], body["host"], body["status"], body["disabled_reason"], body["forced_down"]) == (
        service.uuid,
        "compute2",
        "disabled",
        "rack 4",
        False,
    )
    response = api("put", f"/os-services/{service.uuid}", version="2.53", body={"forced_down": True})
    body = tempest_valid(v253.update_service, response)["service"]
    assert (body["status"], body["forced_down"], body["state"]) == ("disabled", True, "down")
    response = api(
        "put", f"/os-services/{service.uuid}", version="2.53", body={"status": "enabled", "forced_down": "false"}
    )
    body = tempest_valid(v253.update_service, response)["service"]
    assert (body["status"], body["disabled_reason"], body["forced_down"], body["state"]) == (
        "enabled",
        None,
        False,
        "up",
    )
    # The other cell's service is untouched.
    assert service_of(hosts.cells["cell1"], "compute1").updated_at is None


def test_update_at_2_53_refuses_what_nova_refuses(hosts, api):
    service = service_of(hosts.cells["cell1"], "compute1")
    path = f"/os-services/{service.uuid}"
    assert api("put", "/os-services/1", version="2.53", body={"status": "enabled"}).json() == bad_request(
        "Invalid uuid 1"
    )
    assert api("put", path, version="2.53", body={}).json() == bad_request(
        "No updates were requested. Fields 'status' or 'forced_down' should be specified."
    )
    assert api("put", path, version="2.53", body={"status": "enabled", "disabled_reason": "x"}).json() == bad_request(
        "Specifying 'disabled_reason' with status 'enabled' is invalid."
    )
    assert api("put", path, version="2.53", body={"status": "paused"}).status_code == 400
    missing = "00000000-0000-4000-8000-000000000001"
    assert api("put", f"/os-services/{missing}", version="2.53", body={"status": "enabled"}).json() == not_found(
        f"Service {missing} could not be found."
    )
    with target_cell(hosts.cells["cell1"]):
        Service.objects.create(
            uuid="00000000-0000-4000-8000-000000000002", host="compute1", binary="nova-conductor", topic="conductor"
        )
    response = api(
        "put", "/os-services/00000000-0000-4000-8000-000000000002", version="2.53", body={"status": "disabled"}
    )
    assert response.json() == bad_request(
        "Updating a nova-conductor service is not supported. Only nova-compute services can be updated."
    )


# --- delete -------------------------------------------------------------------------------------


def test_delete_refuses_a_host_with_servers_and_removes_an_empty_one(hosts, api):
    busy = service_of(hosts.cells["cell1"], "compute1")
    response = api("delete", f"/os-services/{busy.uuid}", version="2.53")
    assert response.status_code == 409
    assert response.json()["conflictingRequest"]["message"] == (
        "Unable to delete compute service that is hosting instances. Migrate or delete the instances first."
    )
    idle = service_of(hosts.cells["cell2"], "compute2")
    response = api("delete", f"/os-services/{idle.uuid}", version="2.53")
    assert (response.status_code, response.content) == (204, b"")
    assert not HostMapping.objects.filter(host="compute2").exists()
    with target_cell(hosts.cells["cell2"]):
        assert not Service.objects.live().exists()
        assert not ComputeNode.objects.live().filter(host="compute2").exists()
    assert [s["host"] for s in listed(api).json()["services"]] == ["compute1"]
    assert api("delete", f"/os-services/{idle.uuid}", version="2.53").json() == not_found(
        f"Service {idle.uuid} not found."
    )


def test_delete_by_integer_id_before_2_53_names_the_ambiguity(hosts, api):
    # Each cell numbers its own rows: the same integer id in two cells.
    for cell, host in (("cell1", "ctl-a"), ("cell2", "ctl-b")):
        with target_cell(hosts.cells[cell]):
            Service.objects.create(id=4242, host=host, binary="nova-conductor", topic="conductor")
    assert api("delete", "/os-services/4242", version="2.52").json() == bad_request(
        "Service id 4242 refers to multiple services."
    )
    assert api("delete", "/os-services/abc", version="2.52").json() == bad_request(
        "Invalid input received: id must be an integer"
    )
    assert api("delete", "/os-services/abc", version="2.53").json() == bad_request("Invalid uuid abc")
    assert api("delete", "/os-services/4242", version="2.52", token=MEMBER).status_code == 403
    two = service_of(hosts.cells["cell2"], "compute2")
    if two.id != service_of(hosts.cells["cell1"], "compute1").id:
        assert api("delete", f"/os-services/{two.id}", version="2.52").status_code == 204
        assert not HostMapping.objects.filter(host="compute2").exists()
