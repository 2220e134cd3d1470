"""Every ``cell_v2`` subcommand as an operator runs it: a real process on a pseudo-terminal.

The long ones (``discover_hosts``, ``map_instances``) also run through pipes, where their
progress must be plain lines: no carriage return, no escape sequence.
"""

import pytest

from cellsv2.cells import CELL0_UUID, configured_alias_url
from cellsv2.dburls import mask_password, sqlite_url
from mappings.models import CellMapping, HostMapping, InstanceMapping
from tests.factories import ComputeNodeFactory, InstanceFactory
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


def plain(text: str) -> bool:
    return "\r" not in text and "\x1b" not in text


def test_map_cell0_then_simple_cell_setup(manage_py):
    cell0 = manage_py.terminal("cell_v2", "map_cell0")
    setup = manage_py.terminal("cell_v2", "simple_cell_setup")

    assert cell0.code == 0, cell0.raw
    url = mask_password(configured_alias_url("cell0"))
    assert cell0.lines == [f"Created the cell0 mapping ({CELL0_UUID}) for {url}"]
    assert setup.code == 0, setup.raw
    assert setup.lines == [
        "Cell0 is already setup",
        "No hosts found to map to cell yet: add compute nodes with `manage.py compute_nodes add` and run "
        "`manage.py cell_v2 discover_hosts`.",
        "Cells cell0, cell1 and cell2 are mapped; newly mapped: 0 hosts and 0 instances.",
    ]
    assert sorted(CellMapping.objects.values_list("name", flat=True)) == ["cell0", "cell1", "cell2"]


def test_a_cell_is_created_listed_updated_and_deleted(manage_py, cells, tmp_path):
    url = sqlite_url(tmp_path / "cell3.sqlite3")

    created = manage_py.terminal("cell_v2", "create_cell", "--name", "cell3", "--database_connection", url)
    cell3 = CellMapping.objects.get(name="cell3")
    listed = manage_py.terminal("cell_v2", "list_cells")
    renamed = manage_py.terminal("cell_v2", "update_cell", "--cell_uuid", cell3.uuid, "--name", "cell9", "--disable")
    deleted = manage_py.terminal("cell_v2", "delete_cell", "--cell_uuid", cell3.uuid)

    assert (created.code, created.lines) == (0, [f"Created cell cell3 ({cell3.uuid})"])
    assert listed.code == 0
    header = [column.strip() for column in listed.lines[1].split("|")[1:-1]]
    assert header == ["Name", "UUID", "Transport URL", "Database Connection", "Disabled"]
    assert any(cell3.uuid in line and url in line for line in listed.lines)
    assert (renamed.code, renamed.lines) == (0, [f"Updated cell cell9 ({cell3.uuid}): name cell9, disabled"])
    assert (deleted.code, deleted.lines) == (0, [f"Deleted cell cell9 ({cell3.uuid})"])
    assert not CellMapping.objects.filter(uuid=cell3.uuid).exists()


def test_hosts_are_discovered_listed_and_deleted(manage_py, cells):
    ComputeNodeFactory(cell="cell1", host="compute-1")
    ComputeNodeFactory(cell="cell2", host="compute-2")

    piped = manage_py.pipe("cell_v2", "discover_hosts")
    ComputeNodeFactory(cell="cell2", host="compute-3")
    shown = manage_py.terminal("cell_v2", "discover_hosts")
    listed = manage_py.terminal("cell_v2", "list_hosts")
    deleted = manage_py.terminal("cell_v2", "delete_host", "--cell_uuid", cells["cell2"].uuid, "--host", "compute-3")

    # Through a pipe: one plain line per cell searched, then what was mapped.
    assert (piped.code, piped.err) == (0, "")
    assert plain(piped.out)
    assert piped.out.splitlines() == [
        "cell1: 1 new host mapping",
        "cell2: 1 new host mapping",
        "Mapped 2 new compute hosts in 2 cells (cell1: compute-1; cell2: compute-2)",
    ]
    # On a terminal: a bar while it searches, then only the summary stays.
    assert shown.code == 0, shown.raw
    assert shown.drew_progress
    assert shown.lines == ["Mapped 1 new compute host in 1 cell (cell2: compute-3)"]
    assert listed.code == 0
    assert [line.split("|")[3].strip() for line in listed.lines[3:-1]] == ["compute-1", "compute-2", "compute-3"]
    assert deleted.code == 0, deleted.raw
    assert deleted.lines == [f"Deleted the host mapping of compute-3 from cell cell2 ({cells['cell2'].uuid})"]
    assert sorted(HostMapping.objects.values_list("host", flat=True)) == ["compute-1", "compute-2"]


def test_instances_are_mapped_and_verified(manage_py, cells):
    uuids = [InstanceFactory(cell="cell1").uuid for _ in range(30)]
    label = f"cell1 ({cells['cell1'].uuid})"

    first = manage_py.terminal("cell_v2", "map_instances", "--cell_uuid", cells["cell1"].uuid, "--max-count", "10")
    rest = manage_py.pipe("cell_v2", "map_instances", "--cell_uuid", cells["cell1"].uuid)
    verified = manage_py.terminal("cell_v2", "verify_instance", "--uuid", uuids[0])

    assert first.code == 1, first.raw
    assert first.drew_progress
    assert first.lines == [
        f"Mapped 10 instances of cell {label} in 1 batch; more remain: run it again until it exits 0."
    ]
    assert (rest.code, rest.err) == (0, "")
    assert plain(rest.out)
    assert rest.out.splitlines() == [
        "Batch 1: 20 instances looked at, 20 mapped",
        f"Mapped 20 instances of cell {label} in 1 batch.",
    ]
    assert InstanceMapping.objects.filter(cell=cells["cell1"]).count() == 30
    assert (verified.code, verified.lines) == (0, [f"Instance {uuids[0]} is in cell: cell1 ({cells['cell1'].uuid})"])
