"""The cells dashboard's figures: compute-node capacity per cell and instances with no mapping.

Each figure is read with a fixed number of queries whatever the cell's size: one per cell for the
capacity, one per cell and one on the API database for the instances with no mapping.
"""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cellsv2.admin.base import Usage
from cellsv2.context import target_cell
from mappings.selectors import instance_mapping_count_by_cell
from operators.dashboard import Capacity, dashboard_capacity_total, dashboard_cells
from servers.selectors.compute_nodes import compute_node_capacity, instance_count_by_state
from tests.admin.helpers import seed_capacity_and_long_values
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


@pytest.fixture
def seeded(deployment):
    seed_capacity_and_long_values(deployment)
    return deployment


def test_a_cells_live_compute_nodes_are_added_up_in_one_query(seeded, cells):
    with target_cell(cells["cell1"]), CaptureQueriesContext(connections["cell1"]) as queries:
        capacity = compute_node_capacity()
    assert len(queries) == 1
    # compute1 (8 vCPUs, 8 GiB, 100 GB) and the big node; the soft-deleted node counts nothing.
    assert capacity == {
        "nodes": 2,
        "vcpus": 72,
        "vcpus_used": 14,
        "memory_mb": 270336,
        "memory_mb_used": 67584,
        "local_gb": 2100,
        "local_gb_used": 420,
    }
    with target_cell(cells["cell0"]):
        assert set(compute_node_capacity().values()) == {0}


def test_instances_by_state_and_every_row_are_counted_in_one_query(seeded, cells):
    with target_cell(cells["cell2"]), CaptureQueriesContext(connections["cell2"]) as queries:
        by_state, rows = instance_count_by_state()
    assert len(queries) == 1
    # Live ones by state; every row, the soft-deleted unmapped one too (map_instances maps it).
    assert by_state == {"active": 2} and rows == 3
    with target_cell(cells["cell1"]):
        assert instance_count_by_state() == ({"active": 2, "error": 1}, 4)


def test_mappings_are_counted_per_cell_in_one_query_without_the_marker(seeded, cells):
    from mappings.models import InstanceMapping
    from mappings.selectors import INSTANCE_MIGRATION_MARKER

    InstanceMapping.objects.create(
        instance_uuid="00000000-0000-0000-0000-00000000feed", project_id=INSTANCE_MIGRATION_MARKER
    )
    with CaptureQueriesContext(connections["api"]) as queries:
        counts = instance_mapping_count_by_cell()
    assert len(queries) == 1
    ids = {alias: cell.id for alias, cell in cells.items()}
    # Two build requests have a mapping and no cell; the marker is not counted.
    assert counts == {ids["cell0"]: 1, ids["cell1"]: 4, ids["cell2"]: 1, None: 2}


def test_the_dashboard_reads_each_cell_twice_and_counts_its_unmapped_instances(seeded, cells):
    with CaptureQueriesContext(connections["cell2"]) as cell2_queries:
        statuses = {status.mapping.name: status for status in dashboard_cells()}
    assert len(cell2_queries) == 2
    assert {name: status.unmapped for name, status in statuses.items()} == {"cell0": 0, "cell1": 0, "cell2": 2}
    cell1 = statuses["cell1"].capacity
    assert (cell1.nodes, cell1.vcpus, cell1.memory_mb, cell1.local_gb) == (
        2,
        Usage(14, 72),
        Usage(67584, 270336),
        Usage(420, 2100),
    )
    assert [f["text"] for f in cell1.figures] == ["14 / 72", "66 / 264 GiB", "420 / 2,100 GB"]
    total = dashboard_capacity_total(list(statuses.values()))
    assert [f["text"] for f in total.figures] == ["18 / 80", "70 / 272 GiB", "470 / 2,200 GB"]


def test_mapping_an_instance_takes_it_off_the_unmapped_count(seeded, cells):
    from mappings.models import InstanceMapping

    InstanceMapping.objects.create(instance_uuid=seeded.rows["unmapped"][0], cell=cells["cell2"], project_id="p")
    statuses = {status.mapping.name: status for status in dashboard_cells()}
    assert statuses["cell2"].unmapped == 1


def test_a_cell_that_does_not_answer_counts_nothing_and_the_page_says_so(operator, seeded, down_cell):
    page = operator.get(reverse("admin:cellsv2_dashboard"))
    assert page.status_code == 200
    statuses = {status.mapping.name: status for status in page.context["cells"]}
    broken = statuses["cell-down"]
    assert not broken.reachable and broken.capacity is None and broken.unmapped is None
    assert statuses["cell2"].unmapped == 2
    # The totals are those of the cells that answered, and say which did not.
    assert [f["text"] for f in page.context["capacity_total"].figures] == ["18 / 80", "70 / 272 GiB", "470 / 2,200 GB"]
    html = page.content.decode()
    assert "not counted: cell-down" in html and "unable to open database file" in html


def test_usage_reads_as_used_over_total():
    assert Usage(1536, 2048).display("GiB", 1024) == "1.5 / 2 GiB"
    assert Usage(420, 2100).display("GB") == "420 / 2,100 GB"
    assert Usage(0, 0).percent is None and Usage(0, 0).bar == 0
    # Overcommitted (allocation ratios): the percentage says so, the bar stops at full.
    assert Usage(24, 8).percent == 300 and Usage(24, 8).bar == 100
    assert (Capacity() + Capacity(1, Usage(1, 2), Usage(3, 4), Usage(5, 6))).vcpus == Usage(1, 2)
