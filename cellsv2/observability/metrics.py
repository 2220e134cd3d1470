"""The ``cellsv2_*`` Prometheus metrics: the catalogue, the hooks that move them, the exposition.

Every metric name is defined here, so ``deploy/prometheus/alerts.yml`` and dashboards have one
list to match (tests/cellsv2/test_deploy.py checks the alert rules against ``/metrics``).

Moved as things happen (counters and histograms, in the process where they happen):

- ``cellsv2_http_requests_total`` and ``cellsv2_http_request_duration_seconds``: every request
  Django answers, by ``route`` (the URL pattern Django's resolver matched, ``unmatched`` for
  none: never the raw path), ``method`` and ``status`` (the request middleware);
- ``cellsv2_cell_query_duration_seconds`` and ``cellsv2_cell_query_failures_total`` (``reason``
  ``error``, ``timeout`` or ``cut_off``): each cell's part of every scatter-gather (cellsv2.cells calls
  ``cell_query_observed``);
- ``cellsv2_conductor_placements_total`` (``outcome``), ``cellsv2_conductor_placement_failures_total``
  and ``cellsv2_conductor_placement_duration_seconds``: build requests placed, in the API process
  (inline mode) or a ``manage.py conductor`` (``placement_observed`` wraps the placement);
- ``cellsv2_console_sessions_total`` (``flavour``, ``outcome`` opened, refused or unavailable) and
  ``cellsv2_console_sessions_open``: the console proxies (``console_session_*``).

Read when scraped (``register_scrape_source``; a source that fails is logged and left out):
``cellsv2_api_database_up``, ``cellsv2_cell_up`` and ``cellsv2_cell_ping_seconds`` (one ``SELECT
1`` per database, cells in parallel, ``CELLSV2_HEALTHCHECK_TIMEOUT``), and what other apps
register (operators: build requests waiting and the oldest one's age, rows left per online data
migration, cached for ``CELLSV2_METRICS_CACHE_SECONDS``).

Under gunicorn each worker is a process: with ``PROMETHEUS_MULTIPROC_DIR`` set (deploy/gunicorn.conf.py
sets it) prometheus-client keeps the values in files there and ``exposition()`` adds up every
worker's; the config's ``child_exit`` hook retires a dead worker's gauges.
"""

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager

from django.conf import settings
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from cellsv2.observability import health
from cellsv2.observability.context import log_fields_bound

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# prometheus-client picks file-backed values when this is set as it is imported: so is this.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
# The *_created series double the output and no alert or dashboard here reads them.
disable_created_metrics()

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))

HTTP_REQUESTS = Counter(
    "cellsv2_http_requests",
    "HTTP requests answered, by route pattern, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "cellsv2_http_request_duration_seconds",
    "Time to answer an HTTP request (Django's middleware chain included), by route pattern, method and status.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
CELL_QUERY_DURATION = Histogram(
    "cellsv2_cell_query_duration_seconds",
    "Time one cell took to answer its part of a scatter-gather (failures included).",
    ["cell_uuid", "cell_name"],
    buckets=LATENCY_BUCKETS,
)
CELL_QUERY_FAILURES = Counter(
    "cellsv2_cell_query_failures",
    "Cells' parts of scatter-gathers that raised (error), did not answer in time (timeout) "
    "or were not asked (cut_off: breaker open).",
    ["cell_uuid", "cell_name", "reason"],
)
CONDUCTOR_PLACEMENTS = Counter(
    "cellsv2_conductor_placements",
    "Build requests the conductor finished with, by outcome (placed, buried, adopted, cancelled, skipped, deferred).",
    ["outcome"],
)
CONDUCTOR_FAILURES = Counter(
    "cellsv2_conductor_placement_failures",
    "Placements that raised: the build request stays queued for the next attempt.",
)
CONDUCTOR_DURATION = Histogram(
    "cellsv2_conductor_placement_duration_seconds",
    "Time to place one build request (whatever the outcome).",
    buckets=LATENCY_BUCKETS,
)
CONSOLE_SESSIONS = Counter(
    "cellsv2_console_sessions",
    "Console WebSocket connections, by proxy flavour and outcome (opened, refused, unavailable).",
    ["flavour", "outcome"],
)
CONSOLE_SESSIONS_OPEN = Gauge(
    "cellsv2_console_sessions_open",
    "Console sessions open now, by proxy flavour.",
    ["flavour"],
    multiprocess_mode="livesum",
)


# --- hooks called where things happen -----------------------------------------------------------


def request_observed(route: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request answered (the request middleware)."""
    method = method if method in METHODS else "other"
    status = str(status)
    HTTP_REQUESTS.labels(route, method, status).inc()
    HTTP_DURATION.labels(route, method, status).observe(seconds)


def _cell_labels(mapping) -> tuple[str, str]:
    return mapping.uuid, getattr(mapping, "name", None) or mapping.uuid


def cell_query_observed(mapping, seconds: float | None, failure: str | None) -> None:
    """A cell's part of a scatter-gather ended (``failure``: None, ``error``, ``timeout`` or
    ``cut_off``; a timeout has no time yet: it is observed when the thread ends; a cell cut off
    by its breaker was not asked)."""
    labels = _cell_labels(mapping)
    if seconds is not None:
        CELL_QUERY_DURATION.labels(*labels).observe(seconds)
    if failure is not None:
        CELL_QUERY_FAILURES.labels(*labels, failure).inc()


def placement_observed(place: Callable[..., str]) -> Callable[..., str]:
    """Wrap the conductor's ``place(instance_uuid, ...) -> outcome``: count the outcome (or the
    failure, re-raised), time it, and tag every log line inside with the ``instance_uuid``."""

    @functools.wraps(place)
    def observed(instance_uuid, *args, **kwargs):
        started = time.perf_counter()
        with log_fields_bound(instance_uuid=str(instance_uuid)):
            try:
                outcome = place(instance_uuid, *args, **kwargs)
            except BaseException:
                CONDUCTOR_FAILURES.inc()
                raise
            finally:
                CONDUCTOR_DURATION.observe(time.perf_counter() - started)
        CONDUCTOR_PLACEMENTS.labels(outcome).inc()
        return outcome

    return observed


@contextmanager
def console_session(flavour: str):
    """A console session between its upgrade and its end (the console proxy)."""
    CONSOLE_SESSIONS.labels(flavour, "opened").inc()
    gauge = CONSOLE_SESSIONS_OPEN.labels(flavour)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def console_session_refused(flavour: str, status: int) -> None:
    """A console connection refused before the upgrade (503: the proxy could not check it)."""
    CONSOLE_SESSIONS.labels(flavour, "unavailable" if status >= 500 else "refused").inc()


# --- read when scraped --------------------------------------------------------------------------

ScrapeSource = Callable[[], Iterable]
_sources: list[ScrapeSource] = []


def register_scrape_source(source: ScrapeSource) -> ScrapeSource:
    """Add ``source() -> metric families`` (prometheus_client.core.*MetricFamily) to every scrape.

    Apps call it from ``AppConfig.ready()``; a source runs in the scraping process, reads only,
    and keeps itself cheap (``cached_source``).
    """
    if source not in _sources:
        _sources.append(source)
    return source


def cached_source(source: ScrapeSource) -> ScrapeSource:
    """``source`` answered from a per-process copy for CELLSV2_METRICS_CACHE_SECONDS."""
    lock = threading.Lock()
    state: dict = {"at": None, "families": []}

    @functools.wraps(source)
    def cached():
        with lock:
            at = state["at"]
            if at is None or time.monotonic() - at >= settings.CELLSV2_METRICS_CACHE_SECONDS:
                state["families"] = list(source())
                state["at"] = time.monotonic()
            return list(state["families"])

    cached.forget = lambda: state.update(at=None)
    return cached


def databases_source():
    """``cellsv2_api_database_up``, ``cellsv2_cell_up`` and ``cellsv2_cell_ping_seconds`` (every mapped cell)."""
    api = health.api_database_check()
    up_api = GaugeMetricFamily("cellsv2_api_database_up", "1 when the API database answers a SELECT 1.")
    up_api.add_metric([], 1.0 if api.available else 0.0)
    yield up_api
    up = GaugeMetricFamily(
        "cellsv2_cell_up", "1 when the cell's database answered a SELECT 1 in time.", labels=["cell_uuid", "cell_name"]
    )
    ping = GaugeMetricFamily(
        "cellsv2_cell_ping_seconds",
        "Time the cell's database took to answer a SELECT 1.",
        labels=["cell_uuid", "cell_name"],
    )
    if api.available:
        for check in health.cell_checks():
            labels = [check.cell_uuid, check.cell_name]
            up.add_metric(labels, 1.0 if check.ok else 0.0)
            if check.seconds is not None:
                ping.add_metric(labels, check.seconds)
    yield up
    yield ping


class _ScrapeSources:
    def collect(self):
        for source in [databases_source, *_sources]:
            try:
                yield from list(source())
            except Exception:
                logger.warning("Metrics source %s failed", getattr(source, "__name__", source), exc_info=True)


class _ThisProcess:
    def collect(self):
        return REGISTRY.collect()


def exposition(*, scrape_sources: bool = True) -> bytes:
    """The text exposition of every metric: every worker's (multiprocess) or this process's, then
    the scrape-time sources (the API's /metrics only: the conductor's and the console proxies'
    servers leave them out, so each such series comes from one place)."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    if scrape_sources:
        registry.register(_ScrapeSources())
    return generate_latest(registry)
