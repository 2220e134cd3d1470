"""Cells that fail slowly: a cell's own threads, its breaker, deadlines on its connections, and the
pooled connections of a process (PostgreSQL)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cellsv2.cells import (
    DID_NOT_RESPOND,
    RUNTIME_ALIAS_PREFIX,
    CellDidNotRespond,
    CellRaised,
    cell_alias,
    cell_breaker_open,
    cells_cache_clear,
    scatter_gather_all_cells,
    scatter_gather_cells,
    scatter_gather_shutdown,
)
from cellsv2.context import current_cell_alias, target_cell
from servers.models import Instance
from tests import pgcluster
from tests.faultproxy import HangingProxy
from tests.support import ALL_DATABASES, requires_postgres

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
                results = scatter_gather_all_cells(fn, timeout=0.5)
                assert results[cells["cell2"].uuid] is DID_NOT_RESPOND
            time.sleep(0.55)  # older than the deadline: hung, not busy
            for _ in range(20):
                started = time.monotonic()
                results = scatter_gather_all_cells(fn, timeout=0.5)
                assert time.monotonic() - started < 0.4  # not the deadline: at once
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
                time.sleep(1.5)
            return current_cell_alias()

        results = scatter_gather_all_cells(fn, timeout=0.5)
        assert results[cells["cell2"].uuid] is DID_NOT_RESPOND
        assert cell_breaker_open(cells["cell2"])
        asked.clear()
        started = time.monotonic()
        results = scatter_gather_all_cells(fn, timeout=0.5)
        assert time.monotonic() - started < 0.4  # not the deadline: at once
        assert results[cells["cell2"].uuid] is DID_NOT_RESPOND
        assert "cell2" not in asked
        # Outside scatter-gathers too (a show, a write, a conductor): its queries fail at once.
        with target_cell(cells["cell2"]):
            with pytest.raises(CellDidNotRespond):
                Instance.objects.count()
        hang.clear()
        deadline = time.monotonic() + 10
        while cell_breaker_open(cells["cell2"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not cell_breaker_open(cells["cell2"])
        assert scatter_gather_all_cells(fn, timeout=0.5)[cells["cell2"].uuid] == "cell2"
        with target_cell(cells["cell2"]):
            assert Instance.objects.count() == 0


@contextmanager
def every_connection_held(pool):
    """Every connection ``pool`` may open taken out of it (its threads would wait 0.5 s for one)."""
    from psycopg_pool import PoolTimeout

    pool.open()
    held = []
    timeout, pool.timeout = pool.timeout, 0.5
    try:
        while True:
            try:
                held.append(pool.getconn(timeout=0.2))
            except PoolTimeout:
                break
        yield
    finally:
        pool.timeout = timeout
        for conn in held:
            pool.putconn(conn)


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

    def test_a_show_in_a_hung_cell_waits_for_the_deadline_once_then_answers_at_once(
        self, cells, partitioned_cell2, settings, client, own_lanes
    ):
        from servers.models import RequestSpec
        from servers.serialization import request_spec_dump
        from tests.factories import IMAGE, TINY, InstanceFactory

        settings.CELLSV2_AUTH = "noauth"
        settings.CELLSV2_SCATTER_GATHER_TIMEOUT = 1
        settings.CELLSV2_CELL_BREAKER_SECONDS = 30
        hung = InstanceFactory(cell=cells["cell2"], mapped=True, extra=True).uuid
        healthy = InstanceFactory(cell=cells["cell1"], mapped=True, extra=True).uuid
        # What a partial (UNKNOWN) record is built from while its cell does not answer.
        spec = {
            "instance_uuid": hung,
            "project_id": "proj1",
            "user_id": "alice",
            "flavor": TINY,
            "image": {"id": IMAGE},
        }
        RequestSpec.objects.create(instance_uuid=hung, spec=request_spec_dump(spec))

        def show(uuid, version):
            started = time.monotonic()
            response = client.get(
                f"/v2.1/servers/{uuid}", HTTP_X_AUTH_TOKEN="alice:proj1", HTTP_X_OPENSTACK_NOVA_API_VERSION=version
            )
            return response, time.monotonic() - started

        assert scatter_gather_all_cells(_count, timeout=2)[cells["cell2"].uuid] == 1
        assert show(hung, "2.1")[0].status_code == 200, show(hung, "2.1")[0].content
        partitioned_cell2.hang()
        response, seconds = show(hung, "2.1")
        assert response.status_code == 503 and 0.9 < seconds < 3, (response.content, seconds)
        for _ in range(5):
            response, seconds = show(hung, "2.69")
            assert response.status_code == 200 and seconds < 0.5, (response.content, seconds)
            assert response.json()["server"]["status"] == "UNKNOWN"
            response, seconds = show(healthy, "2.69")
            assert response.status_code == 200 and seconds < 0.5
            assert response.json()["server"]["status"] == "ACTIVE"

    def test_a_cell_whose_database_refuses_connections_answers_at_once_with_why_and_at_once_when_back(
        self, cells, partitioned_cell2, settings, client, own_lanes, caplog
    ):
        # Waiting out this pool timeout would be the fault: psycopg_pool retries a refused
        # connection with a growing backoff while the caller waits, the reason only in its log.
        settings.CELLSV2_DATABASE_LIMITS = {**settings.CELLSV2_DATABASE_LIMITS, "pool_timeout": 30}
        settings.CELLSV2_AUTH = "noauth"
        from tests.factories import InstanceFactory

        down = InstanceFactory(cell=cells["cell2"], mapped=True, extra=True).uuid
        connections[cell_alias(cells["cell2"])].close()  # back to the pool, as at a request's end
        assert scatter_gather_all_cells(_count, timeout=5)[cells["cell2"].uuid] == 1  # a pooled connection
        partitioned_cell2.refuse()
        for _ in range(3):
            started = time.monotonic()
            results = scatter_gather_all_cells(_count, timeout=60)
            assert time.monotonic() - started < 10
            assert results[cells["cell1"].uuid] == 0
            failure = results[cells["cell2"].uuid]
            assert isinstance(failure, CellRaised), failure
            assert "refused" in str(failure.exception).lower(), failure
        # Refused at once is no reason to cut the cell off: it is asked again at each request.
        assert not cell_breaker_open(cells["cell2"])
        assert any("refused" in r.getMessage().lower() for r in caplog.records if r.name == "cellsv2.cells")
        started = time.monotonic()
        response = client.get(f"/v2.1/servers/{down}", HTTP_X_AUTH_TOKEN="alice:proj1")
        assert time.monotonic() - started < 10
        assert response.status_code == 503, response.content
        assert "unreachable" in response.json()["serviceUnavailable"]["message"]
        partitioned_cell2.listen()
        started = time.monotonic()
        assert scatter_gather_all_cells(_count, timeout=60)[cells["cell2"].uuid] == 1
        assert time.monotonic() - started < 2  # no attempt scheduled minutes ahead to wait for
        response = client.get(f"/v2.1/servers/{down}", HTTP_X_AUTH_TOKEN="alice:proj1")
        assert response.status_code == 200 and response.json()["server"]["status"] == "ACTIVE"

    def test_a_cell_whose_database_takes_no_connection_in_time_is_cut_off_by_its_breaker(
        self, cells, partitioned_cell2, settings, own_lanes
    ):
        settings.CELLSV2_DATABASE_LIMITS = {**settings.CELLSV2_DATABASE_LIMITS, "pool_timeout": 1}
        settings.CELLSV2_CELL_BREAKER_SECONDS = 1
        partitioned_cell2.hang()  # before any connection: the connect itself gets no answer
        started = time.monotonic()
        failure = scatter_gather_all_cells(_count, timeout=20)[cells["cell2"].uuid]
        assert 0.9 < time.monotonic() - started < 5
        assert isinstance(failure, CellRaised) and "couldn't get a connection" in str(failure.exception), failure
        assert cell_breaker_open(cells["cell2"])
        for _ in range(5):  # not asked again: no request waits for the pool as the first did
            started = time.monotonic()
            results = scatter_gather_all_cells(_count, timeout=20)
            assert time.monotonic() - started < 0.5
            assert results[cells["cell2"].uuid] is DID_NOT_RESPOND and results[cells["cell1"].uuid] == 0
        partitioned_cell2.resume()
        deadline = time.monotonic() + 15
        while cell_breaker_open(cells["cell2"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scatter_gather_all_cells(_count, timeout=5)[cells["cell2"].uuid] == 0

    def test_a_cell_whose_pool_is_busy_is_not_cut_off(self, cells, settings, own_lanes):
        # Every connection of this process's pool in use is this process's load, not the cell's fault.
        with every_connection_held(connections["cell1"].pool):
            failure = scatter_gather_cells([cells["cell1"]], _count, timeout=10)[cells["cell1"].uuid]
        assert isinstance(failure, CellRaised) and "couldn't get a connection" in str(failure.exception), failure
        assert not cell_breaker_open(cells["cell1"])
        assert scatter_gather_cells([cells["cell1"]], _count, timeout=10)[cells["cell1"].uuid] == 0

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


@pytest.fixture(scope="module")
def small_postgres():
    """A PostgreSQL cluster of its own with max_connections = 6."""
    if not pgcluster.available():
        pytest.skip("needs PostgreSQL's initdb")
    cluster = pgcluster.PostgresCluster(max_connections=6).start()
    cluster.psql("CREATE DATABASE cellsmall")
    yield cluster
    cluster.stop()


@requires_postgres
class TestConnectionsAreBounded:
    def test_a_process_holds_at_most_its_pool_size_of_connections_to_a_cell(
        self, cells, small_postgres, settings, monkeypatch, django_db_blocker, own_lanes
    ):
        from cellsv2.db.sql import fetch_one
        from mappings.models import CellMapping

        monkeypatch.setattr(
            BaseDatabaseWrapper, "ensure_connection", django_db_blocker._real_ensure_connection, raising=True
        )
        settings.CELLSV2_DATABASE_LIMITS = {**settings.CELLSV2_DATABASE_LIMITS, "pool_size": 3, "pool_timeout": 10}
        settings.CELLSV2_CELL_WORKERS = 8  # more threads than the cluster takes connections
        small = CellMapping.objects.create(
            uuid="6d6b1a8e-3a38-4a53-9d4f-2b1f2f0c5a11",
            name="small",
            transport_url="none:///",
            database_connection=small_postgres.url("cellsmall"),
        )
        cells_cache_clear()

        def busy(cell):
            return fetch_one(
                current_cell_alias(),
                "SELECT count(*) FROM pg_stat_activity, pg_sleep(0.05) WHERE datname = 'cellsmall'",
            )[0]

        with ThreadPoolExecutor(12) as callers:
            answers = list(
                callers.map(lambda _: scatter_gather_cells([small], busy, timeout=20)[small.uuid], range(48))
            )
        assert not [a for a in answers if not isinstance(a, int)], answers
        assert max(answers) <= 3
        assert small_postgres.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'cellsmall'") in "0123"

    def test_the_pool_hands_out_an_idle_connection_without_a_round_trip_and_never_a_closed_one(self):
        # Its check (cellsv2.dburls.pooled_connection_check) reads the socket instead of sending
        # an empty query: a connection the server closed while idle has something to read.
        from cellsv2.dburls import pooled_connection_check

        connections["api"].ensure_connection()
        connections["api"].close()  # back to the pool
        pool = connections["api"].pool
        assert pool._check is pooled_connection_check
        conn = pool.getconn()
        pid = conn.info.backend_pid
        sent = []
        original = conn.execute
        conn.execute = lambda *args, **kwargs: sent.append(args) or original(*args, **kwargs)
        try:
            pooled_connection_check(conn)
            assert sent == []
            with connections["cell0"].cursor() as cursor:  # another connection ends this one
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            time.sleep(0.3)
            with pytest.raises(Exception):  # noqa: B017 (psycopg's OperationalError or a subclass)
                pooled_connection_check(conn)
            assert sent == [("",)]
        finally:
            del conn.execute
            pool.putconn(conn)
        fresh = pool.getconn()
        try:
            assert fresh.info.backend_pid != pid
            assert fresh.execute("SELECT 1").fetchone() == (1,)
        finally:
            pool.putconn(fresh)
        connections["api"].ensure_connection()  # a request after the restart gets a live one
        with connections["api"].cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)

    def test_a_request_finding_no_free_connection_gets_a_503_fault(self, client, settings, caplog):
        settings.CELLSV2_AUTH = "noauth"
        pool = connections["api"].pool
        assert pool is not None and pool.max_size == settings.CELLSV2_DATABASE_LIMITS["pool_size"]
        with every_connection_held(pool), ThreadPoolExecutor(1) as other:
            response = other.submit(lambda: client.get("/v2.1/flavors", HTTP_X_AUTH_TOKEN="alice:proj1")).result()
        assert response.status_code == 503, response.content
        assert response.json()["serviceUnavailable"]["code"] == 503
        assert "no connection free" in response.json()["serviceUnavailable"]["message"]
        assert any("Database unavailable" in r.getMessage() for r in caplog.records)
