"""os-availability-zone: zones of the compute services of every cell, for everybody; with their
hosts and services for admins (tempest's schemas)."""

import pytest
from tempest.lib.api_schema.response.compute.v2_1 import availability_zone as schemas

from cellsv2.context import target_cell
from hosts.models import Service
from tests.hosts.helpers import MEMBER, tempest_valid
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def test_everybody_lists_the_zones(hosts, api):
    response = api("get", "/os-availability-zone", token=MEMBER)
    assert tempest_valid(schemas.list_availability_zone_list, response) == {
        "availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]
    }


def test_admins_see_hosts_and_services_including_the_internal_zone(hosts, api):
    with target_cell(hosts.cells["cell1"]):
        Service.objects.create(
            uuid="00000000-0000-4000-8000-00000000000c", host="ctl1", binary="nova-conductor", topic="conductor"
        )
    response = api("get", "/os-availability-zone/detail")
    body = tempest_valid(schemas.list_availability_zone_list_detail, response)["availabilityZoneInfo"]
    assert [zone["zoneName"] for zone in body] == ["internal", "nova"]
    assert body[1]["hosts"] == {
        "compute1": {"nova-compute": {"available": True, "active": True, "updated_at": None}},
        "compute2": {"nova-compute": {"available": True, "active": True, "updated_at": None}},
    }
    assert list(body[0]["hosts"]) == ["ctl1"]
    # The summary hides the internal zone.
    assert [z["zoneName"] for z in api("get", "/os-availability-zone").json()["availabilityZoneInfo"]] == ["nova"]
    assert api("get", "/os-availability-zone/detail", token=MEMBER).status_code == 403


def test_a_zone_whose_every_compute_service_is_disabled_is_unavailable(hosts, api):
    for host in ("compute1", "compute2"):
        api("put", "/os-services/disable", version="2.1", body={"host": host, "binary": "nova-compute"})
    body = tempest_valid(schemas.list_availability_zone_list, api("get", "/os-availability-zone"))
    assert body["availabilityZoneInfo"] == [{"zoneName": "nova", "zoneState": {"available": False}, "hosts": None}]
    detail = api("get", "/os-availability-zone/detail").json()["availabilityZoneInfo"]
    assert detail == [{"zoneName": "nova", "zoneState": {"available": False}, "hosts": None}]


def test_a_down_cell_does_not_fail_the_listing(hosts, down_cell, api):
    assert api("get", "/os-availability-zone").status_code == 200


def test_host_aggregates_are_an_empty_list_for_admins(hosts, api):
    assert api("get", "/os-aggregates").json() == {"aggregates": []}
    assert api("get", "/os-aggregates", token=MEMBER).status_code == 403
