"""``manage.py conductor``: the worker that places build requests, --once, and stopping on signals."""

import os
import re
import signal
import threading
import time

import pytest
from django.db import OperationalError

from mappings.models import InstanceMapping
from servers import conductor
from servers.management.commands.conductor import counts_line
from servers.models import BuildRequest
from tests.fixtures.compute import add_node, api_rows, discover, mapping_of
from tests.support import ALL_DATABASES, run_command

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]

BATCH_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d batch (\d+): (\d+) build requests: (.*)$")
SUMMARY_LINE = re.compile(r"^Done in \d+ batch")


def batches(out: str) -> list[tuple[int, int, str]]:
    """The batch lines (--once's final summary line left out)."""
    lines = [line for line in out.splitlines() if line and not SUMMARY_LINE.match(line)]
    parsed = [BATCH_LINE.match(line) for line in lines]
    assert all(parsed), lines
    return [(int(m[1]), int(m[2]), m[3]) for m in parsed]


def signal_later(signum, delay: float) -> threading.Timer:
    """Send ``signum`` to this process after ``delay`` seconds (the command runs in the main thread)."""
    timer = threading.Timer(delay, os.kill, args=(os.getpid(), signum))
    timer.start()
    return timer


class TestOnce:
    def test_places_what_is_waiting_and_exits_0(self, api, topology):
        uuids = [api.create_uuid(name=f"vm{i}") for i in range(3)]
        assert BuildRequest.objects.count() == 3  # the API left them to the worker
        result = run_command("conductor", "--once")
        assert result.code == 0, result.err
        assert batches(result.out) == [(1, 3, "placed=3")]
        assert BuildRequest.objects.count() == 0
        assert {mapping_of(u).cell.name for u in uuids} == {"cell1", "cell2"}
        assert all(api.show(u).json()["server"]["status"] == "ACTIVE" for u in uuids)

    def test_nothing_waiting_says_so(self, topology):
        result = run_command("conductor", "--once")
        assert (result.code, result.out, result.err) == (0, "No build requests were waiting.\n", "")

    def test_one_line_per_batch(self, api, topology):
        for i in range(5):
            api.create_uuid(name=f"vm{i}")
        result = run_command("conductor", "--once", "--batch", "2")
        assert result.code == 0
        assert batches(result.out) == [(1, 2, "placed=2"), (2, 2, "placed=2"), (3, 1, "placed=1")]
        assert result.out.splitlines()[-1] == "Done in 3 batches: placed=5"

    def test_no_valid_host_is_counted_as_buried(self, api, cells):
        add_node(cells, "cell1", "small", memory_mb=512)
        discover()
        uuids = [api.create_uuid(name=f"vm{i}") for i in range(2)]
        result = run_command("conductor", "--once")
        assert batches(result.out) == [(1, 2, "placed=1 buried=1")]
        assert sorted(mapping_of(u).cell.name for u in uuids) == ["cell0", "cell1"]

    def test_a_failing_build_request_stays_queued_and_the_exit_code_is_1(self, api, topology, monkeypatch):
        bad, good = api.create_uuid(name="bad"), api.create_uuid(name="good")
        real = conductor.build_request_place

        def place(uuid):
            if uuid == bad:
                raise OperationalError("deadlock detected")
            return real(uuid)

        monkeypatch.setattr(conductor, "build_request_place", place)
        result = run_command("conductor", "--once")
        assert result.code == 1
        # The second batch only failed: --once stops instead of retrying it forever.
        assert batches(result.out) == [(1, 2, "placed=1 failed=1"), (2, 1, "failed=1")]
        assert result.out.splitlines()[-1] == "Done in 2 batches: placed=1; left queued: failed=1"
        assert api_rows(bad)["build_requests"] == 1 and mapping_of(bad).cell is None
        assert api_rows(good)["build_requests"] == 0 and mapping_of(good).cell is not None

        monkeypatch.setattr(conductor, "build_request_place", real)
        again = run_command("conductor", "--once")
        assert (again.code, batches(again.out)) == (0, [(1, 1, "placed=1")])

    @pytest.mark.parametrize("args", [("--batch", "0"), ("--batch", "x"), ("--interval", "-1"), ("--interval", "0")])
    def test_bad_arguments(self, topology, args):
        result = run_command("conductor", "--once", *args)
        assert result.code != 0
        assert "must be greater than 0" in result.err or "is not a number" in result.err


# conductor_loop recycles connections between batches, which would end a test's transaction: these
# tests commit for real.
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
class TestWorker:
    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
    def test_a_signal_stops_the_worker_without_waiting_out_the_interval(self, api, topology, signum):
        uuids = [api.create_uuid(name=f"vm{i}") for i in range(2)]
        previous = signal.getsignal(signum)
        timer = signal_later(signum, 0.5)
        started = time.monotonic()
        try:
            result = run_command("conductor", "--interval", "30")
        finally:
            timer.cancel()
        assert time.monotonic() - started < 10
        assert result.code == 0, result.err
        assert batches(result.out) == [(1, 2, "placed=2")]
        assert f"Received {signal.Signals(signum).name}; stopping after the current batch." in result.err
        assert all(mapping_of(u).cell is not None for u in uuids)
        # The command puts the previous handler back.
        assert signal.getsignal(signum) is previous

    def test_it_waits_the_interval_when_idle_and_picks_up_new_work(self, api, topology, monkeypatch):
        """Build requests arriving while the worker runs are placed by a later batch."""
        runs = []
        real = conductor.conductor_run_once

        def run_once(*, limit):
            runs.append(time.monotonic())
            if len(runs) == 3:
                api.create_uuid(name="late")  # arrives while the worker is idle
            if len(runs) == 6:
                os.kill(os.getpid(), signal.SIGTERM)
            return real(limit=limit)

        monkeypatch.setattr(conductor, "conductor_run_once", run_once)
        result = run_command("conductor", "--interval", "0.05")
        assert result.code == 0
        assert batches(result.out) == [(1, 1, "placed=1")]
        # Idle batches are spaced by the interval.
        gaps = [later - earlier for earlier, later in zip(runs, runs[1:], strict=False)]
        assert min(gaps[:2]) >= 0.04
        assert InstanceMapping.objects.filter(cell=None).count() == 0

    def test_a_database_outage_does_not_end_the_worker(self, api, topology, monkeypatch):
        uuid = api.create_uuid()
        calls = []
        real = conductor.conductor_run_once

        def flaky(*, limit):
            calls.append(1)
            if len(calls) == 1:
                raise OperationalError("server closed the connection unexpectedly")
            counts = real(limit=limit)
            if not counts:
                os.kill(os.getpid(), signal.SIGTERM)
            return counts

        monkeypatch.setattr(conductor, "conductor_run_once", flaky)
        result = run_command("conductor", "--interval", "0.05")
        assert result.code == 0
        assert "batch failed: OperationalError: server closed the connection unexpectedly" in result.err
        assert batches(result.out) == [(1, 1, "placed=1")]
        assert mapping_of(uuid).cell is not None


def test_counts_line_order():
    assert counts_line({"failed": 1, "placed": 2, "weird": 1, "buried": 3}) == "placed=2 buried=3 failed=1 weird=1"
