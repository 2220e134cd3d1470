"""``compute_nodes``, ``conductor --once`` and ``db`` as operators run them.

Each is a real ``python manage.py`` process on a pseudo-terminal; ``db archive_deleted_rows``, a
long one, also runs through pipes, where its progress must be plain text.
"""

import pytest

from cellsv2.context import target_cell
from servers.models import ComputeNode
from tests.fixtures.compute import api_rows, seed_build_request, seed_instance
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


def plain(text: str) -> bool:
    return "\r" not in text and "\x1b" not in text


def test_compute_nodes_are_added_listed_and_deleted(manage_py, cells):
    added = manage_py.terminal(
        "compute_nodes", "add", "--cell", "cell1", "--host", "compute-1", "--vcpus", "4", "--memory-mb", "8192",
        "--local-gb", "100",
    )  # fmt: skip
    listed = manage_py.terminal("compute_nodes", "list", "--cell", "cell1")
    deleted = manage_py.terminal("compute_nodes", "delete", "--cell", "cell1", "--host", "compute-1")

    assert added.code == 0, added.raw
    assert added.lines == [
        "Added compute node compute-1 (host compute-1) to cell cell1: 4 vCPUs, 8192 MB RAM, 100 GB disk; "
        "map its host with `cell_v2 discover_hosts`"
    ]
    assert listed.code == 0
    assert [c.strip() for c in listed.lines[3].split("|")[2:7]] == ["compute-1", "compute-1", "4", "8192", "100"]
    assert (deleted.code, deleted.lines) == (0, ["Deleted 1 compute node of host compute-1 from cell cell1"])
    with target_cell("cell1"):
        assert not ComputeNode.objects.live().exists()


def test_the_conductor_places_what_is_waiting_and_says_so(manage_py, topology):
    builds = [seed_build_request() for _ in range(3)]

    result = manage_py.terminal("conductor", "--once", "--batch", "2")

    assert result.code == 0, result.raw
    assert [line[20:] for line in result.lines[:2]] == [
        "batch 1: 2 build requests: placed=2",
        "batch 2: 1 build requests: placed=1",
    ]
    assert result.lines[2:] == ["Done in 2 batches: placed=3"]
    assert api_rows()["build_requests"] == 0 and len(builds) == 3


def test_deleted_servers_are_archived_then_purged(manage_py, cells):
    for cell in ("cell1", "cell2"):
        for _ in range(2):
            seed_instance(cells[cell], deleted=True)
    seed_instance(cells["cell1"])  # live: stays

    shown = manage_py.terminal("db", "archive_deleted_rows", "--cell", "cell1", "--max_rows", "1", "--until-complete")
    piped = manage_py.pipe("db", "archive_deleted_rows", "--all-cells", "--max_rows", "1", "--until-complete",
                           "--verbose")  # fmt: skip
    purged = manage_py.terminal("db", "purge", "--all", "--all-cells")

    # A terminal: a bar while it works, then one line.
    assert shown.code == 1, shown.raw
    assert shown.drew_progress
    assert shown.lines == ["Archived 4 rows from 1 cell and deleted 2 rows from the API database."]
    # A pipe: Nova's progress for --verbose --until-complete, a dot per batch, then Nova's table.
    assert (piped.code, piped.err) == (1, "")
    assert plain(piped.out)
    lines = piped.out.splitlines()
    assert lines[0] == "Archiving" + ".." + ".." + ".complete"  # two batches archived something
    assert "| cell2.instances              | 2                       |" in lines
    # Purge removed the 4 archived instances and their instance_extra rows.
    assert (purged.code, purged.lines) == (0, ["Purged 8 rows from the shadow tables of 3 cells."])
