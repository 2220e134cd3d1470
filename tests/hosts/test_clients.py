"""The operators' commands of the ``openstack`` CLI and openstacksdk against a running server:
``compute service list/set/delete``, ``hypervisor list/show``, ``availability zone list``, with
cell0, two cells and a cell that is down."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cellsv2.context import target_cell
from hosts.models import Service
from mappings.models import HostMapping
from tests.conftest import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)

BIN = Path(sys.executable).parent


@pytest.fixture
def clouds_yaml(live_server, settings, hosts, down_cell, tmp_path):
    """An admin's clouds.yaml for the running server; a host of the down cell is mapped."""
    settings.CELLSV2_AUTH = "noauth"
    HostMapping.objects.create(cell=down_cell, host="compute9")
    path = tmp_path / "clouds.yaml"
    path.write_text(
        "clouds:\n"
        "  cellsv2:\n"
        "    auth_type: admin_token\n"
        "    auth:\n"
        f"      endpoint: {live_server.url}/v2.1\n"
        "      token: admin:admin\n"
        "    identity_api_version: 3\n"
        f"    identity_endpoint_override: {live_server.url}/v2.1\n"
    )
    return path


def openstack(clouds_yaml, *args: str, json_output: bool = True):
    """The ``openstack`` command with the clouds.yaml and nothing else (its JSON output, parsed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CELLSV2_", "DJANGO_"))}
    env.update(OS_CLIENT_CONFIG_FILE=str(clouds_yaml), OS_CLOUD="cellsv2")
    result = subprocess.run(
        [str(BIN / "openstack"), *args, *(["-f", "json"] if json_output else [])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout) if json_output and result.stdout.strip() else result.stdout


@pytest.fixture
def sdk(clouds_yaml, monkeypatch):
    import openstack as openstacksdk

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    connection = openstacksdk.connect(cloud="cellsv2")
    yield connection
    connection.close()


def test_the_cli_lists_disables_and_enables_compute_services(clouds_yaml, hosts):
    rows = openstack(clouds_yaml, "compute", "service", "list")
    by_host = {row["Host"]: row for row in rows}
    assert set(by_host) == {"compute1", "compute2", "compute9"}
    assert (by_host["compute1"]["Binary"], by_host["compute1"]["Zone"], by_host["compute1"]["Status"]) == (
        "nova-compute",
        "nova",
        "enabled",
    )
    assert by_host["compute9"]["Status"] == "UNKNOWN"  # its cell is down
    openstack(
        clouds_yaml,
        "compute", "service", "set", "--disable", "--disable-reason", "new disks", "compute2", "nova-compute",
        json_output=False,
    )  # fmt: skip
    with target_cell(hosts.cells["cell2"]):
        service = Service.objects.get(host="compute2")
    assert (service.disabled, service.disabled_reason) == (True, "new disks")
    rows = openstack(clouds_yaml, "compute", "service", "list", "--long", "--host", "compute2")
    assert [(r["Status"], r["Disabled Reason"]) for r in rows] == [("disabled", "new disks")]
    openstack(clouds_yaml, "compute", "service", "set", "--enable", "compute2", "nova-compute", json_output=False)
    assert openstack(clouds_yaml, "compute", "service", "list", "--host", "compute2")[0]["Status"] == "enabled"


def test_the_cli_lists_and_shows_hypervisors(clouds_yaml, hosts):
    rows = openstack(clouds_yaml, "hypervisor", "list")
    assert [row["Hypervisor Hostname"] for row in rows] == ["compute1", "compute2"]
    shown = openstack(clouds_yaml, "hypervisor", "show", "compute1")
    assert shown["hypervisor_hostname"] == "compute1"
    assert shown["host_ip"] == "10.0.0.1"
    assert shown["state"] == "up"


def test_the_cli_lists_availability_zones(clouds_yaml, hosts):
    rows = openstack(clouds_yaml, "availability", "zone", "list", "--compute")
    assert rows == [{"Zone Name": "nova", "Zone Status": "available"}]
    rows = openstack(clouds_yaml, "availability", "zone", "list", "--compute", "--long")
    assert {(r["Zone Name"], r["Host Name"], r["Service Name"]) for r in rows} == {
        ("nova", "compute1", "nova-compute"),
        ("nova", "compute2", "nova-compute"),
    }


def test_openstacksdk_reads_and_updates_services_hypervisors_and_zones(sdk, hosts):
    services = list(sdk.compute.services())
    assert sorted(s.host for s in services) == ["compute1", "compute2", "compute9"]
    compute1 = next(s for s in services if s.host == "compute1")
    sdk.compute.disable_service(compute1, compute1.host, compute1.binary, disabled_reason="rma")
    refreshed = next(s for s in sdk.compute.services() if s.host == "compute1")
    assert (refreshed.status, refreshed.disabled_reason) == ("disabled", "rma")
    sdk.compute.update_service_forced_down(compute1, compute1.host, compute1.binary, True)
    assert next(s for s in sdk.compute.services() if s.host == "compute1").state == "down"

    hypervisors = list(sdk.compute.hypervisors(details=True))
    assert [h.name for h in hypervisors] == ["compute1", "compute2"]
    assert hypervisors[0].status == "disabled"
    assert sdk.compute.get_hypervisor(hypervisors[1].id).name == "compute2"

    zones = list(sdk.compute.availability_zones(details=True))
    assert [z.name for z in zones] == ["nova"]
    assert set(zones[0].hosts) == {"compute2"}  # the disabled host's services are not listed

    compute2 = next(s for s in sdk.compute.services() if s.host == "compute2")
    sdk.compute.delete_service(compute2)
    assert sorted(s.host for s in sdk.compute.services()) == ["compute1", "compute9"]
    assert [h.name for h in sdk.compute.hypervisors()] == ["compute1"]
