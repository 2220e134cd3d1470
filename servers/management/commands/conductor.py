"""``manage.py conductor [--once] [--interval S] [--batch N]``: the worker that places build requests.

Runs servers.conductor.conductor_loop: takes up to ``--batch`` waiting build requests, places
each into a cell (or buries it in cell0), prints one line per batch that did something with the
outcome counts, and waits ``--interval`` seconds when nothing was waiting. Several workers may
run at once: each build request is claimed with a row lock, so none is placed twice. Use it with
``CELLSV2_CONDUCTOR_MODE=worker`` (the API then leaves every build request to the workers); in
the default inline mode it picks up only what inline placement left behind.

Each worker reports as a ``nova-conductor`` service of its host in cell0 (``os-services``,
``openstack compute service list``): at start and then every REPORT_INTERVAL seconds, so a worker
that stopped shows as down after CELLSV2_SERVICE_DOWN_TIME.

SIGTERM and SIGINT stop it after the batch in progress (placing one build request is a
transaction that either completes or rolls back), without waiting out the interval; the exit
code is then 0. ``--once`` places what is waiting now (batch after batch while they make
progress), prints one summary line (what the run got done and what its last batch left queued,
or that nothing was waiting) and exits: 0 when every build request was dealt with, 1 when some failed, or wait for
a cell that does not answer (``deferred``), and stay queued for the next run.
"""

import logging
import signal
import threading
import time

from django.db import DatabaseError, connections
from django.utils import timezone

from cellsv2.management.base import OperatorCommand, quantity
from cellsv2.observability.server import metrics_server_start
from hosts.services import conductor_report
from servers import conductor

logger = logging.getLogger(__name__)

OK, SOME_FAILED = 0, 1
# conductor.PROGRESS: outcomes that got something done; "skipped", "deferred" (waits for a cell)
# and "failed" leave the build request where it is.
PROGRESS = frozenset(conductor.PROGRESS)
# Build requests that stay queued because of a problem (--once then exits 1).
STUCK = ("deferred", "failed")
# Nova's report_interval: how often a worker stamps its nova-conductor service (os-services).
REPORT_INTERVAL = 10.0
ORDER = ("placed", "buried", "adopted", "cancelled", "reaped", "skipped", "deferred", "failed")


def positive_number(kind):
    import argparse

    def parse(value):
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"{value!r} must be greater than 0")
        return number

    return parse


def counts_line(counts: dict[str, int]) -> str:
    """``placed=2 buried=1`` in a fixed order (unknown outcomes last, by name)."""
    keys = [k for k in ORDER if k in counts] + sorted(k for k in counts if k not in ORDER)
    return " ".join(f"{key}={counts[key]}" for key in keys)


class Command(OperatorCommand):
    help = "Place waiting build requests into cells (the conductor worker)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Place what is waiting now, then exit.")
        parser.add_argument(
            "--interval",
            type=positive_number(float),
            default=1.0,
            help="Seconds to wait when no build request is waiting (default 1).",
        )
        parser.add_argument(
            "--batch",
            type=positive_number(int),
            default=50,
            help="Build requests taken per batch (default 50).",
        )

    def run(self, *args, once, interval, batch, **options):
        self.batches = 0
        self.failed = 0
        stop = threading.Event()
        previous = {}

        def on_signal(signum, frame):
            self.fail(f"Received {signal.Signals(signum).name}; stopping after the current batch.")
            stop.set()

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, on_signal)
        self.reported_at = None
        try:
            self._report_alive()
            if once:
                self._run_once(batch, stop)
            else:
                metrics_server_start()  # CELLSV2_METRICS_LISTEN: /metrics and /healthcheck of this worker
                self._run_forever(interval, batch, stop)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return SOME_FAILED if once and self.failed else OK

    def _report_alive(self) -> None:
        """The worker's heartbeat, at most every REPORT_INTERVAL seconds."""
        now = time.monotonic()
        if self.reported_at is None or now - self.reported_at >= REPORT_INTERVAL:
            self.reported_at = now
            conductor_report()

    def _report(self, counts: dict[str, int]) -> None:
        self.batches += 1
        self.failed += sum(counts.get(outcome, 0) for outcome in STUCK)
        total = sum(counts.values())
        now = f"{timezone.now():%Y-%m-%d %H:%M:%S}"
        self.say(f"{now} batch {self.batches}: {total} build requests: {counts_line(counts)}")

    def _run_once(self, batch: int, stop: threading.Event) -> None:
        done: dict[str, int] = {}
        counts: dict[str, int] = {}
        while not stop.is_set():
            counts = conductor.conductor_run_once(limit=batch)
            if not counts:
                break
            self._report(counts)
            for outcome, count in counts.items():
                if outcome in PROGRESS:
                    done[outcome] = done.get(outcome, 0) + count
            # Stop when a batch only skipped or failed: those build requests stay where they are.
            if not PROGRESS.intersection(counts):
                break
        if not self.batches:
            self.say("No build requests were waiting.")
            return
        # A build request that failed is tried again by the next batch: only the last batch says
        # which ones are left where they were.
        left = {outcome: count for outcome, count in counts.items() if outcome not in PROGRESS}
        summary = f"Done in {quantity(self.batches, 'batch', 'batches')}: {counts_line(done) or 'nothing placed'}"
        self.say(f"{summary}; left queued: {counts_line(left)}" if left else summary)

    def _run_forever(self, interval: float, batch: int, stop: threading.Event) -> None:
        state = {"started": False, "progressed": False}

        def on_batch(counts):
            state["progressed"] = bool(PROGRESS.intersection(counts))
            self._report(counts)

        def should_stop() -> bool:
            # conductor_loop asks before every batch. The idle wait happens here rather than in the
            # loop's own time.sleep (given interval 0) so that a signal ends it at once. A batch that
            # only skipped or failed counts as idle: retrying it at once would spin.
            if state["started"] and not state["progressed"]:
                stop.wait(interval)
            state["started"], state["progressed"] = True, False
            self._report_alive()
            return stop.is_set()

        while not stop.is_set():
            try:
                conductor.conductor_loop(interval=0, batch=batch, stop=should_stop, on_batch=on_batch)
            except DatabaseError as exc:
                # The API database went away (restart, failover): keep the worker, try again later.
                logger.exception("Conductor batch failed")
                self.fail(f"{timezone.now():%Y-%m-%d %H:%M:%S} batch failed: {type(exc).__name__}: {exc}")
                connections.close_all()
                stop.wait(interval)
