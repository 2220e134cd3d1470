"""os-hypervisors: every cell's compute nodes, Nova's bodies (tempest's schemas) at 2.1, 2.28,
2.33, 2.53 and the statistics-free 2.88 shape; show, search, servers, paging, a down cell."""

import pytest
from tempest.lib.api_schema.response.compute.v2_1 import hypervisors as v21
from tempest.lib.api_schema.response.compute.v2_28 import hypervisors as v228
from tempest.lib.api_schema.response.compute.v2_33 import hypervisors as v233
from tempest.lib.api_schema.response.compute.v2_53 import hypervisors as v253

from cellsv2.context import target_cell
from servers.models import ComputeNode
from servers.services.compute_nodes import compute_node_create
from tests.hosts.helpers import MEMBER, tempest_valid
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def node(cell, host) -> ComputeNode:
    with target_cell(cell):
        return ComputeNode.objects.live().get(host=host)


def test_list_and_detail_at_each_microversion(hosts, api):
    one, two = node(hosts.cells["cell1"], "compute1"), node(hosts.cells["cell2"], "compute2")
    body = tempest_valid(v21.list_search_hypervisors, api("get", "/os-hypervisors", version="2.1"))
    assert body == {
        "hypervisors": [
            {"id": one.id, "hypervisor_hostname": "compute1", "state": "up", "status": "enabled"},
            {"id": two.id, "hypervisor_hostname": "compute2", "state": "up", "status": "enabled"},
        ]
    }
    body = tempest_valid(v21.list_hypervisors_detail, api("get", "/os-hypervisors/detail", version="2.1"))
    first = body["hypervisors"][0]
    assert (first["vcpus"], first["memory_mb"], first["local_gb"], first["free_ram_mb"], first["cpu_info"]) == (
        8,
        16384,
        200,
        16384,
        "{}",
    )
    assert first["service"] == {"id": one.service_id, "host": "compute1", "disabled_reason": None}
    body = tempest_valid(v228.list_hypervisors_detail, api("get", "/os-hypervisors/detail", version="2.28"))
    assert body["hypervisors"][0]["cpu_info"] == {}
    tempest_valid(v233.list_hypervisors_detail, api("get", "/os-hypervisors/detail", version="2.33"))
    body = tempest_valid(v253.list_hypervisors_detail, api("get", "/os-hypervisors/detail", version="2.53"))
    assert [h["id"] for h in body["hypervisors"]] == [one.uuid, two.uuid]
    tempest_valid(v253.list_search_hypervisors, api("get", "/os-hypervisors", version="2.53"))


def test_2_88_drops_the_statistics_and_adds_uptime(hosts, api):
    body = api("get", "/os-hypervisors/detail", version="2.88").json()
    assert set(body["hypervisors"][0]) == {
        "id",
        "hypervisor_hostname",
        "state",
        "status",
        "hypervisor_type",
        "hypervisor_version",
        "host_ip",
        "service",
        "uptime",
    }
    assert api("get", "/os-hypervisors/statistics", version="2.88").status_code == 404
    stats = api("get", "/os-hypervisors/statistics", version="2.87").json()["hypervisor_statistics"]
    assert (stats["count"], stats["vcpus"], stats["memory_mb"], stats["local_gb"]) == (2, 12, 24576, 300)
    tempest_valid(v21.get_hypervisor_statistics, api("get", "/os-hypervisors/statistics", version="2.1"))


def test_show_by_integer_id_before_2_53_and_by_uuid_from_2_53(hosts, api):
    one, two = node(hosts.cells["cell1"], "compute1"), node(hosts.cells["cell2"], "compute2")
    body = tempest_valid(v21.get_hypervisor, api("get", f"/os-hypervisors/{one.id}", version="2.1"))
    assert body["hypervisor"]["hypervisor_hostname"] == "compute1"  # cell1 first, whoever else has the id
    body = tempest_valid(v253.get_hypervisor, api("get", f"/os-hypervisors/{two.uuid}", version="2.53"))
    assert (body["hypervisor"]["hypervisor_hostname"], body["hypervisor"]["service"]["host"]) == (
        "compute2",
        "compute2",
    )
    assert api("get", "/os-hypervisors/1", version="2.53").json() == {
        "badRequest": {"code": 400, "message": "Invalid uuid 1"}
    }
    assert api("get", "/os-hypervisors/abc", version="2.1").json() == {
        "itemNotFound": {"code": 404, "message": "Hypervisor with ID 'abc' could not be found."}
    }
    missing = "00000000-0000-4000-8000-000000000009"
    assert api("get", f"/os-hypervisors/{missing}", version="2.53").status_code == 404
    assert api("get", f"/os-hypervisors/{one.id}", version="2.1", token=MEMBER).status_code == 403


def test_with_servers(hosts, api):
    one = node(hosts.cells["cell1"], "compute1")
    body = tempest_valid(
        v253.get_hypervisor, api("get", f"/os-hypervisors/{one.uuid}?with_servers=true", version="2.53")
    )
    assert body["hypervisor"]["servers"] == [{"name": "web", "uuid": hosts.server_uuid}]
    body = api("get", "/os-hypervisors?with_servers=1", version="2.75").json()
    assert [h.get("servers") for h in body["hypervisors"]] == [[{"name": "web", "uuid": hosts.server_uuid}], []]
    body = api("get", "/os-hypervisors?with_servers=1", version="2.53").json()
    assert "servers" not in body["hypervisors"][1]  # an empty list is shown from 2.75
    assert api("get", "/os-hypervisors?with_servers=maybe", version="2.53").status_code == 400


def test_search_by_hostname_pattern(hosts, api):
    body = tempest_valid(v21.list_search_hypervisors, api("get", "/os-hypervisors/ute2/search", version="2.1"))
    assert [h["hypervisor_hostname"] for h in body["hypervisors"]] == ["compute2"]
    body = tempest_valid(v21.get_hypervisors_servers, api("get", "/os-hypervisors/compute/servers", version="2.1"))
    assert body["hypervisors"][0]["servers"] == [{"name": "web", "uuid": hosts.server_uuid}]
    assert api("get", "/os-hypervisors/nothing/search", version="2.1").json() == {
        "itemNotFound": {"code": 404, "message": "No hypervisor matching 'nothing' could be found."}
    }
    assert api("get", "/os-hypervisors/ute2/search", version="2.53").status_code == 404  # the route is gone
    body = api("get", "/os-hypervisors?hypervisor_hostname_pattern=ute1", version="2.53").json()
    assert [h["hypervisor_hostname"] for h in body["hypervisors"]] == ["compute1"]
    response = api("get", "/os-hypervisors?hypervisor_hostname_pattern=ute1&limit=1", version="2.53")
    assert response.json()["badRequest"]["message"] == (
        "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported."
    )


def test_paging_across_cells_from_2_33(hosts, api):
    compute_node_create(
        cell=hosts.cells["cell2"], host="compute2", hypervisor_hostname="compute2b", vcpus=1, memory_mb=1, local_gb=1
    )
    first = tempest_valid(v253.list_search_hypervisors, api("get", "/os-hypervisors?limit=2", version="2.53"))
    assert [h["hypervisor_hostname"] for h in first["hypervisors"]] == ["compute1", "compute2"]
    marker = first["hypervisors"][-1]["id"]
    assert first["hypervisors_links"] == [
        {"rel": "next", "href": f"http://testserver/v2.1/os-hypervisors?limit=2&marker={marker}"}
    ]
    rest = api("get", f"/os-hypervisors?limit=2&marker={marker}", version="2.53").json()
    assert [h["hypervisor_hostname"] for h in rest["hypervisors"]] == ["compute2b"]
    assert "hypervisors_links" not in rest
    assert api("get", "/os-hypervisors?marker=nope", version="2.53").json() == {
        "badRequest": {"code": 400, "message": "marker [nope] not found"}
    }
    # Before 2.33 there is no paging: the parameters are ignored.
    assert len(api("get", "/os-hypervisors?limit=1", version="2.32").json()["hypervisors"]) == 3


def test_a_down_cell_is_skipped_and_an_unmapped_host_is_not_shown(hosts, down_cell, api):
    compute_node_create(cell=hosts.cells["cell1"], host="compute3", vcpus=1, memory_mb=1, local_gb=1)
    body = api("get", "/os-hypervisors", version="2.53").json()
    assert [h["hypervisor_hostname"] for h in body["hypervisors"]] == ["compute1", "compute2"]


def test_a_disabled_service_shows_on_its_hypervisor(hosts, api):
    api(
        "put",
        "/os-services/disable-log-reason",
        version="2.1",
        body={"host": "compute1", "binary": "nova-compute", "disabled_reason": "rma"},
    )
    body = api("get", "/os-hypervisors/detail", version="2.88").json()
    assert (body["hypervisors"][0]["status"], body["hypervisors"][0]["service"]["disabled_reason"]) == (
        "disabled",
        "rma",
    )


def test_uptime_is_not_supported_before_2_88_and_gone_from_2_88(hosts, api):
    one = node(hosts.cells["cell1"], "compute1")
    response = api("get", f"/os-hypervisors/{one.uuid}/uptime", version="2.53")
    assert response.json() == {
        "notImplemented": {"code": 501, "message": "The requested functionality is not supported."}
    }
    assert api("get", "/os-hypervisors/00000000-0000-4000-8000-000000000009/uptime", version="2.53").status_code == 404
    assert api("get", f"/os-hypervisors/{one.uuid}/uptime", version="2.88").status_code == 404
