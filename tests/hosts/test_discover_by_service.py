"""``cell_v2 discover_hosts --by-service``: hosts found by their nova-compute services, as Nova's."""

import pytest

from cellsv2.context import target_cell
from hosts.models import Service
from mappings.models import HostMapping
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def service(cell, host, binary="nova-compute", **fields):
    with target_cell(cell):
        return Service.objects.create(host=host, binary=binary, topic=binary.split("-")[-1], **fields)


def test_by_service_maps_the_hosts_of_compute_services_only(cells):
    # A compute service whose node has not reported yet, a disabled one, and a conductor.
    service(cells["cell1"], "bare1")
    service(cells["cell2"], "bare2", disabled=True)
    service(cells["cell2"], "ctl", binary="nova-conductor")
    assert run_command("cell_v2", "discover_hosts").code == 0
    assert not HostMapping.objects.exists()  # no compute node to find by

    result = run_command("cell_v2", "discover_hosts", "--by-service", "--verbose", "--strict")
    assert result.code == 0, result.err
    assert "Creating host mapping for service bare1" in result.out
    assert {(m.host, m.cell.name) for m in HostMapping.objects.select_related("cell")} == {
        ("bare1", "cell1"),
        ("bare2", "cell2"),
    }
    again = run_command("cell_v2", "discover_hosts", "--by-service", "--strict")
    assert again.code == 1  # --strict: nothing new was found


def test_by_service_reports_a_cell_it_cannot_reach(cells, down_cell):
    service(cells["cell1"], "bare1")
    result = run_command("cell_v2", "discover_hosts", "--by-service")
    assert result.code == 3
    assert HostMapping.objects.filter(host="bare1").exists()
    assert f"Unable to reach cell {down_cell.uuid}" in result.err
