"""The operators' commands of the ``openstack`` CLI and openstacksdk against a running server:
``compute service list/set/delete``, ``hypervisor list/show``, ``availability zone list``, with
cell0, two cells and a cell that is down."""

import pytest

from cellsv2.context import target_cell
from hosts.models import Service
from mappings.models import HostMapping
from tests.support import ALL_DATABASES, clouds_yaml_write, openstack_cli

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


@pytest.fixture
def clouds_yaml(live_server, settings, hosts, down_cell, tmp_path):
    """An admin's clouds.yaml for the running server; a host of the down cell is mapped."""
    settings.CELLSV2_AUTH = "noauth"
    HostMapping.objects.create(cell=down_cell, host="compute9")
    return clouds_yaml_write(tmp_path / "clouds.yaml", live_server.url, "admin:admin")


@pytest.fixture
def sdk(clouds_yaml, monkeypatch):
    import openstack as openstacksdk

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    connection = openstacksdk.connect(cloud="cellsv2")
    yield connection
    connection.close()


def test_the_cli_lists_disables_and_enables_compute_services(clouds_yaml, hosts):
    rows = openstack_cli(clouds_yaml, "compute", "service", "list")
    by_host = {row["Host"]: row for row in rows}
    assert set(by_host) == {"compute1", "compute2", "compute9"}
    assert (by_host["compute1"]["Binary"], by_host["compute1"]["Zone"], by_host["compute1"]["Status"]) == (
        "nova-compute",
        "nova",
        "enabled",
    )
    assert by_host["compute9"]["Status"] == "UNKNOWN"  # its cell is down
    openstack_cli(
        clouds_yaml,
        "compute", "service", "set", "--disable", "--disable-reason", "new disks", "compute2", "nova-compute",
        json_output=False,
    )  # fmt: skip
    with target_cell(hosts.cells["cell2"]):
        service = Service.objects.get(host="compute2")
    assert (service.disabled, service.disabled_reason) == (True, "new disks")
    rows = openstack_cli(clouds_yaml, "compute", "service", "list", "--long", "--host", "compute2")
    assert [(r["Status"], r["Disabled Reason"]) for r in rows] == [("disabled", "new disks")]
    openstack_cli(clouds_yaml, "compute", "service", "set", "--enable", "compute2", "nova-compute", json_output=False)
    assert openstack_cli(clouds_yaml, "compute", "service", "list", "--host", "compute2")[0]["Status"] == "enabled"


def test_the_cli_lists_and_shows_hypervisors(clouds_yaml, hosts):
    rows = openstack_cli(clouds_yaml, "hypervisor", "list")
    assert [row["Hypervisor Hostname"] for row in rows] == ["compute1", "compute2"]
    shown = openstack_cli(clouds_yaml, "hypervisor", "show", "compute1")
    assert shown["hypervisor_hostname"] == "compute1"
    assert shown["host_ip"] == "10.0.0.1"
    assert shown["state"] == "up"


def test_the_cli_lists_availability_zones(clouds_yaml, hosts):
    rows = openstack_cli(clouds_yaml, "availability", "zone", "list", "--compute")
    assert rows == [{"Zone Name": "nova", "Zone Status": "available"}]
    rows = openstack_cli(clouds_yaml, "availability", "zone", "list", "--compute", "--long")
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
