"""Cells that fail slowly: a cell's own threads, its breaker, deadlines on its connections, and the
pooled connections of a process (PostgreSQL)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cellsv2.cells import (
    DID_NOT_RESPOND,
    RUNTIME_ALIAS_PREFIX,
    cell_breaker_open,
    cells_cache_clear,
    scatter_gather_all_cells,
    scatter_gather_shutdown,
)
from cellsv2.context import current_cell_alias
from servers.models import Instance
from tests.conftest import ALL_DATABASES, requires_postgres
from tests.faultproxy import HangingProxy

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


def _count(cell):
    return Instance.objects.count()


@pytest.fixture
def own_lanes():
    """Cell threads made with this test's settings, and none of them left hanging afterwards."""
    scatter_gather_shutdown()
    yield
    scatter_gather_shutdown(timeout=1)


class TestOneCellNeverTakesTheOthersThreads:
    def test_a_cell_whose_threads_all_hang_is_answered_down_at_once(self, cells, settings, own_lanes):
        settings.CELLSV2_CELL_WORKERS = 2
        settings.CELLSV2_CELL_BREAKER_SECONDS = 0  # no breaker: the threads alone must do it
        release = threading.Event()

        def fn(cell):
            if cell.name == "cell2":
                release.wait(30)
            return current_cell_alias()

        try:
            for _ in range(2):  # both of cell2's threads end up held
                results = scatter_gather_all_cells(fn, timeout=0.3)
                assert results[cells["cell2"].uuid] is DID_NOT_RESPOND
            time.sleep(0.35)  # older than the deadline: hung, not busy
            for _ in range(20):
                started = time.monotonic()
                results = scatter_gather_all_cells(fn, timeout=0.3)
                assert time.monotonic() - started < 0.2
                assert results[cells["cell2"].uuid] is DID_NOT_RESPOND
                assert results[cells["cell1"].uuid] == "cell1"
                assert results[cells["cell0"].uuid] == "cell0"
        finally:
            release.set()

    def test_many_lists_at_once_while_a_cell_hangs_leave_the_healthy_cells_answering(self, cells, settings, own_lanes):
        settings.CELLSV2_CELL_WORKERS = 4
        release = threading.Event()

        def fn(cell):
            if cell.name == "cell2":
                release.wait(30)
            return current_cell_alias()

        def one_list(_):
            return scatter_gather_all_cells(fn, timeout=0.5)

        try:
            with ThreadPoolExecutor(16) as callers:
                answers = list(callers.map(one_list, range(64)))
        finally:
            release.set()
        assert all(a[cells["cell1"].uuid] == "cell1" and a[cells["cell0"].uuid] == "cell0" for a in answers)
        assert all(a[cells["cell2"].uuid] is DID_NOT_RESPOND for a in answers)


class TestBreaker:
    def test_a_cell_that_timed_out_is_not_asked_again_until_a_probe_finds_it_back(self, cells, settings, own_lanes):
        settings.CELLSV2_CELL_BREAKER_SECONDS = 1
        asked = []
        hang = threading.Event()
        hang.set()

        def fn(cell):
            asked.append(cell.name)
            if cell.name == "cell2" and hang.is_set():
                time.sleep(0.5)
            return current_cell_alias()

        results = scatter_gather_all_cells(fn, timeout=0.2)
        assert results[cells["cell2"].uuid] is DID_NOT_RESPOND
        assert cell_breaker_open(cells["cell2"])
        asked.clear()
        started = time.monotonic()
        results = scatter_gather_all_cells(fn, timeout=0.2)
        assert time.monotonic() - started < 0.15
        assert results[cells["cell2"].uuid] is DID_NOT_RESPOND
        assert "cell2" not in asked
        hang.clear()
        deadline = time.monotonic() + 10
        while cell_breaker_open(cells["cell2"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not cell_breaker_open(cells["cell2"])
        assert scatter_gather_all_cells(fn, timeout=0.2)[cells["cell2"].uuid] == "cell2"


@pytest.fixture
def partitioned_cell2(cells, monkeypatch, django_db_blocker):
    """cell2's mapping reaches its database through a proxy that a test can make stop answering."""
    guarded = BaseDatabaseWrapper.ensure_connection
    real = django_db_blocker._real_ensure_connection

    def ensure_connection(self, *args, **kwargs):
        if self.alias.startswith(RUNTIME_ALIAS_PREFIX):
            return real(self, *args, **kwargs)
        return guarded(self, *args, **kwargs)

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", ensure_connection)
    conf = connections["cell2"].settings_dict
    proxy = HangingProxy((conf["HOST"] or "127.0.0.1", int(conf["PORT"] or 5432)))
    mapping = cells["cell2"]
    user = conf["USER"] + (f":{conf['PASSWORD']}" if conf["PASSWORD"] else "")
    mapping.database_connection = f"postgresql://{user}@127.0.0.1:{proxy.port}/{conf['NAME']}"
    mapping.save()
    cells_cache_clear()
    yield proxy
    proxy.close()


@requires_postgres
class TestPartitionedCellOnPostgres:
    def test_lists_stay_fast_in_healthy_cells_after_the_first_timeout_and_recover(
        self, cells, partitioned_cell2, settings, own_lanes
    ):
        settings.CELLSV2_CELL_BREAKER_SECONDS = 1
        assert scatter_gather_all_cells(_count, timeout=2)[cells["cell2"].uuid] == 0
        partitioned_cell2.hang()
        started = time.monotonic()
        results = scatter_gather_all_cells(_count, timeout=1)
        assert 0.9 < time.monotonic() - started < 3
        assert results[cells["cell2"].uuid] is DID_NOT_RESPOND
        for _ in range(10):
            started = time.monotonic()
            results = scatter_gather_all_cells(_count, timeout=1)
            assert time.monotonic() - started < 0.5
            assert results[cells["cell1"].uuid] == 0 and results[cells["cell2"].uuid] is DID_NOT_RESPOND
        partitioned_cell2.resume()
        deadline = time.monotonic() + 15
        while cell_breaker_open(cells["cell2"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scatter_gather_all_cells(_count, timeout=2)[cells["cell2"].uuid] == 0

    def test_cell_connections_carry_their_deadlines(self, cells, settings):
        from cellsv2.db.sql import fetch_one

        assert fetch_one("cell1", "SHOW statement_timeout")[0] == f"{settings.CELLSV2_CELL_QUERY_TIMEOUT}s"
        assert fetch_one("api", "SHOW statement_timeout")[0] == "0"
        connections["cell1"].ensure_connection()
        params = connections["cell1"].connection.info.get_parameters()
        limits = settings.CELLSV2_DATABASE_LIMITS
        assert params["keepalives"] == "1"
        assert params["tcp_user_timeout"] == str(limits["tcp_user_timeout"] * 1000)
        assert params["connect_timeout"] == str(limits["connect_timeout"])
