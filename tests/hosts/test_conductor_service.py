"""A conductor worker reports as a nova-conductor service of its host in cell0: listed by
os-services in the internal zone, up while it reports, down once its reports stop."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cellsv2.context import target_cell
from hosts.models import Service
from hosts.services import conductor_report
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def conductor_row(cells) -> Service:
    with target_cell(cells["cell0"]):
        return Service.objects.live().get(binary="nova-conductor")


def test_the_conductor_command_reports_in_cell0(hosts, api):
    assert run_command("conductor", "--once").code == 0
    row = conductor_row(hosts.cells)
    assert (row.topic, row.report_count) == ("conductor", 1)
    assert row.last_seen_up is not None
    conductor_report(host=row.host)
    assert conductor_row(hosts.cells).report_count == 2
    listed = api("get", "/os-services?binary=nova-conductor", version="2.53").json()["services"]
    assert [(s["host"], s["zone"], s["state"], s["status"]) for s in listed] == [
        (row.host, "internal", "up", "enabled")
    ]
    assert listed[0]["updated_at"] is not None
    # It cannot be disabled (only compute services can), as in Nova.
    response = api("put", f"/os-services/{row.uuid}", version="2.53", body={"status": "disabled"})
    assert response.status_code == 400


def test_a_conductor_that_stopped_reporting_is_down(hosts, api, settings):
    conductor_report(host="ctl1")
    settings.CELLSV2_SERVICE_DOWN_TIME = 60
    with target_cell(hosts.cells["cell0"]):
        Service.objects.filter(host="ctl1").update(last_seen_up=timezone.now() - timedelta(seconds=61))
    listed = api("get", "/os-services?host=ctl1", version="2.53").json()["services"]
    assert listed[0]["state"] == "down"
    # Compute hosts never report here: they stay up.
    assert {s["state"] for s in api("get", "/os-services?binary=nova-compute").json()["services"]} == {"up"}
    zones = api("get", "/os-availability-zone/detail").json()["availabilityZoneInfo"]
    internal = next(z for z in zones if z["zoneName"] == "internal")
    assert internal["hosts"]["ctl1"]["nova-conductor"]["available"] is False
