"""The cell registry and scatter-gather across cell0 + two cells."""

import threading
import time

import pytest
from django.core.management import call_command
from django.db import connections

from cellsv2.cells import (
    DID_NOT_RESPOND,
    CellDatabaseUnusable,
    CellNotFound,
    CellRaised,
    alias_for_mapping,
    cell_alias,
    cell_mappings,
    cells_answering,
    in_cell,
    is_cell_failure,
    scatter_gather_all_cells,
    scatter_gather_cells,
)
from cellsv2.context import current_cell_alias, target_cell
from mappings.models import CellMapping
from servers.models import Instance
from tests.support import ALL_DATABASES, on_postgres

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def test_settings_cells_resolve_to_their_aliases(cells):
    assert {name: alias_for_mapping(m) for name, m in cells.items()} == {
        "cell0": "cell0",
        "cell1": "cell1",
        "cell2": "cell2",
    }


def test_a_cache_refresh_parses_no_url_already_seen(cells, monkeypatch):
    """Resolving the mappings compares each URL with every configured database: with cells x cells
    URL parses at each refresh, 75 cells took 60 ms; each URL is parsed once per process."""
    import dj_database_url

    from cellsv2.cells import cells_cache_clear

    def resolve_all():
        cells_cache_clear()
        return {m.name: alias_for_mapping(m) for m in cell_mappings()}

    first = resolve_all()
    parsed = []
    real_parse = dj_database_url.parse
    monkeypatch.setattr(dj_database_url, "parse", lambda *a, **k: parsed.append(a[0]) or real_parse(*a, **k))
    assert resolve_all() == first
    assert parsed == []


def test_unknown_cells_raise_cell_not_found(cells):
    with pytest.raises(CellNotFound):
        cell_alias("no-such-cell")
    with pytest.raises(CellNotFound):
        cell_alias("00000000-0000-0000-0000-00000000ffff")


def test_a_mapping_without_a_usable_url_is_reported():
    broken = CellMapping.objects.create(uuid="44444444-4444-4444-4444-444444444444", database_connection="nope")
    with pytest.raises(CellDatabaseUnusable, match="Invalid database URL"):
        alias_for_mapping(broken)


def test_cell_list_is_cached_and_cleared_when_mappings_change(cells, django_assert_num_queries):
    assert [c.name for c in cell_mappings()] == ["cell0", "cell1", "cell2"]
    with django_assert_num_queries(0, using="api"):
        cell_mappings()
    cells["cell2"].disabled = True
    cells["cell2"].save()
    assert [c.name for c in cell_mappings(include_disabled=False)] == ["cell0", "cell1"]
    assert [c.name for c in cell_mappings(include_cell0=False)] == ["cell1", "cell2"]


def test_a_cell_registered_at_run_time_is_usable_without_settings(fresh_database_url):
    mapping = CellMapping.objects.create(
        uuid="55555555-5555-5555-5555-555555555555", name="runtime", database_connection=fresh_database_url
    )
    alias = alias_for_mapping(mapping)
    assert alias == "cell-55555555-5555-5555-5555-555555555555"
    call_command("migrate", database=alias, verbosity=0)
    with target_cell(mapping):
        Instance.objects.create(uuid="66666666-6666-6666-6666-666666666666", project_id="p")
        assert Instance.objects.count() == 1
    assert "instances" in connections[alias].introspection.table_names()
    assert "cell_mappings" not in connections[alias].introspection.table_names()


def _count_instances(cell):
    return Instance.objects.count()


def test_scatter_gather_inside_a_transaction_sees_uncommitted_rows(cells):
    with target_cell("cell1"):
        Instance.objects.create(uuid="77777777-7777-7777-7777-777777777777", project_id="p")
    results = scatter_gather_all_cells(_count_instances)
    assert results == {cells["cell0"].uuid: 0, cells["cell1"].uuid: 1, cells["cell2"].uuid: 0}


# No transaction open in this thread: a cell the caller has one open on is read in its thread anyway.
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_a_read_of_one_cell_runs_in_a_cell_thread_on_postgresql_and_here_on_sqlite(cells):
    """in_cell: a cell database server gets the deadline of a cell thread; an SQLite file is read
    in the calling thread (no hand-off). Either way the cell is targeted, and an error is raised."""
    threads = []

    def read(cell):
        threads.append(threading.get_ident())
        return current_cell_alias(), Instance.objects.count()

    assert in_cell(cells["cell2"], read) == ("cell2", 0)
    assert (threads == [threading.get_ident()]) is not on_postgres()
    assert current_cell_alias() is None

    def fail(cell):
        raise LookupError("in the cell")

    with pytest.raises(LookupError, match="in the cell"):
        in_cell(cells["cell1"], fail)
    assert current_cell_alias() is None


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
class TestThreadedScatterGather:
    def test_results_are_keyed_by_cell_uuid_and_each_call_sees_its_cell(self, cells):
        with target_cell("cell2"):
            Instance.objects.create(uuid="88888888-8888-8888-8888-888888888888", project_id="p")

        def where(cell):
            return current_cell_alias(), threading.current_thread().name, Instance.objects.count()

        results = scatter_gather_all_cells(where)
        assert {uuid: r[0] for uuid, r in results.items()} == {m.uuid: name for name, m in cells.items()}
        assert {uuid: r[2] for uuid, r in results.items()} == {
            m.uuid: int(name == "cell2") for name, m in cells.items()
        }
        assert all(r[1].startswith("cellsv2-cell") for r in results.values())

    @pytest.mark.skipif(not on_postgres(), reason="cell connection pools are PostgreSQL's")
    def test_idle_cell_connections_beyond_the_ceiling_are_closed(self, cells, settings):
        """A process keeps at most CELLSV2_CELL_IDLE_CONNECTIONS idle cell connections (75 cells
        left 75 idle in one API process after a listing, for minutes), and the pools still serve."""
        from cellsv2 import cells as registry

        def idle():
            return sum(connections[alias].pool.get_stats().get("pool_available", 0) for alias in cells)

        settings.CELLSV2_CELL_IDLE_CONNECTIONS = 1
        settings.CELLSV2_CELL_IDLE_SECONDS = 0.3
        assert set(scatter_gather_all_cells(_count_instances).values()) == {0}
        assert idle() >= 3  # kept while in use: a list every few seconds reopens nothing
        deadline = time.monotonic() + 10
        while idle() > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert idle() == 1
        assert set(scatter_gather_all_cells(_count_instances).values()) == {0}
        assert registry.cell_connection_ceiling()["total"] == settings.CELLSV2_DATABASE_LIMITS["pool_size"] + 1

    def test_a_scatter_gather_leaves_no_connection_wrapper_of_the_cells_in_the_calling_thread(self, cells):
        """Django visits every wrapper a thread holds at each request's start and end: a request
        thread that got one per cell from a list paid for every cell on each later request."""
        seen = {}

        def request_thread():
            scatter_gather_all_cells(_count_instances)
            seen["aliases"] = {c.alias for c in connections.all(initialized_only=True)}

        thread = threading.Thread(target=request_thread)
        thread.start()
        thread.join(30)
        assert not seen["aliases"] & set(cells)

    def test_skip_cell0(self, cells):
        results = scatter_gather_all_cells(_count_instances, skip_cell0=True)
        assert set(results) == {cells["cell1"].uuid, cells["cell2"].uuid}

    def test_a_raising_cell_and_a_hanging_cell_are_reported_without_waiting(self, cells):
        release = threading.Event()

        def fn(cell):
            if cell.name == "cell1":
                raise RuntimeError("cell1 is broken")
            if cell.name == "cell2":
                release.wait(30)
                return "late"
            return Instance.objects.count()

        started = time.monotonic()
        try:
            results = scatter_gather_all_cells(fn, timeout=0.5)
        finally:
            release.set()
        elapsed = time.monotonic() - started
        assert elapsed < 5
        assert results[cells["cell0"].uuid] == 0
        assert isinstance(results[cells["cell1"].uuid], CellRaised)
        assert "cell1 is broken" in str(results[cells["cell1"].uuid])
        assert results[cells["cell2"].uuid] is DID_NOT_RESPOND
        assert is_cell_failure(results[cells["cell1"].uuid]) and is_cell_failure(DID_NOT_RESPOND)
        assert not is_cell_failure(0)

    def test_cells_answering_keeps_cell_order_and_names_the_cells_that_failed(self, cells, settings):
        settings.CELLSV2_SCATTER_GATHER_TIMEOUT = 0.5
        release = threading.Event()

        def fn(cell):
            if cell.name == "cell1":
                raise RuntimeError("cell1 is broken")
            return current_cell_alias()

        answered, failed = cells_answering(fn, what="test rows")
        assert [(cell.name, alias) for cell, alias in answered] == [("cell0", "cell0"), ("cell2", "cell2")]
        assert failed == [cells["cell1"].uuid]

        def hang_in_cell2(cell):
            if cell.name == "cell2":
                release.wait(30)
            return cell.name

        try:
            answered, failed = cells_answering(hang_in_cell2, what="test rows", cells=[cells["cell2"], cells["cell1"]])
        finally:
            release.set()
        assert [result for _, result in answered] == ["cell1"]
        assert failed == [cells["cell2"].uuid]

    def test_an_unreachable_cell_database_is_a_raised_result(self, cells, tmp_path):
        down = CellMapping.objects.create(
            uuid="99999999-9999-9999-9999-999999999999",
            name="down",
            database_connection=f"sqlite:///{tmp_path}/missing-dir/cell.sqlite3",
        )
        results = scatter_gather_cells([cells["cell1"], down], _count_instances)
        assert results[cells["cell1"].uuid] == 0
        assert isinstance(results[down.uuid], CellRaised)
