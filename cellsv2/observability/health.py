"""What ``/healthcheck`` and ``manage.py healthcheck`` check, and oslo.middleware's bodies for it.

Checks (each one a result, as oslo.middleware's backends each give one):

- the API database answers ``SELECT 1`` (its latency in the details);
- every mapped cell's database answers ``SELECT 1``, all cells at once through scatter-gather,
  each within ``CELLSV2_HEALTHCHECK_TIMEOUT`` seconds;
- the cache (``CELLSV2_CACHE_URL``) stores and returns a value;
- ``CELLSV2_HEALTHCHECK_DISABLE_FILE`` is absent (oslo's ``disable_by_file``: create the file to
  take a node out of its load balancer before maintenance).

What makes the answer 503 (a load balancer takes the node out of rotation) and what only shows a
reason on a 200 (``degraded``; alert on it through the metrics):

- 503: the API database is down, cell0 is down, or the disable file exists. Without the API
  database no request works, and cell0 sits with it (it is where every failed build goes).
- 200, degraded: another cell is down, or the cache. Every API node sees the same cell (or cache)
  down: taking them all out of rotation would turn one cell's outage into the whole cloud's,
  while the API keeps serving the other cells (lists skip a cell that does not answer, as
  Nova's down-cell handling does). ``CELLSV2_HEALTHCHECK_CELL_DOWN=unhealthy`` makes any cell
  down a 503, for deployments that prefer that.

A cell whose previous check is still waiting on its database (a connection that hangs) is not
asked again until that check ends: probes every few seconds must not fill the scatter-gather pool.
Nor is a cell whose breaker is open (cellsv2.cells): it is reported down until its own probe
gets an answer.
"""

import gc
import io
import json
import os
import platform
import socket
import sys
import threading
import time
import traceback
import uuid as uuid_lib
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from django.conf import settings

from cellsv2.cells import (
    CELL0_UUID,
    DID_NOT_RESPOND,
    cell_breaker_open,
    cell_mappings,
    is_cell_failure,
    scatter_gather_cells,
)
from cellsv2.context import current_cell_alias
from cellsv2.db import API_ALIAS
from cellsv2.db.sql import connection as db_connection
from cellsv2.db.sql import fetch_one

OK = "OK"
CACHE_KEY = "healthcheck:probe"


@dataclass
class CheckResult:
    """One check's outcome: ``available`` False makes the answer 503, ``degraded`` shows its reason."""

    kind: str  # oslo's "class" field
    available: bool
    reason: str
    details: str
    degraded: bool = False
    seconds: float | None = None
    cell_uuid: str | None = None
    cell_name: str | None = None

    @property
    def ok(self) -> bool:
        return self.available and not self.degraded


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _ping(alias: str) -> float:
    started = time.perf_counter()
    fetch_one(alias, "SELECT 1")
    return time.perf_counter() - started


def api_database_check() -> CheckResult:
    """``SELECT 1`` on the API database."""
    try:
        seconds = _ping(API_ALIAS)
    except Exception as exc:
        connection = db_connection(API_ALIAS)
        if not connection.in_atomic_block:
            connection.close()  # the next request reconnects rather than reuse a broken connection
        return CheckResult("ApiDatabaseCheck", False, "API database unreachable", f"api: {_error(exc)}")
    return CheckResult("ApiDatabaseCheck", True, OK, f"api: SELECT 1 in {_ms(seconds)}", seconds=seconds)


# Cells whose ping is running now (started and not ended), asked again only once it ends.
_busy: set[str] = set()
_busy_lock = threading.Lock()


def _cell_ping(mapping) -> float:
    with _busy_lock:
        _busy.add(mapping.uuid)
    try:
        return _ping(current_cell_alias())
    finally:
        with _busy_lock:
            _busy.discard(mapping.uuid)


def _cell_name(mapping) -> str:
    return mapping.name or mapping.uuid


def cell_checks(*, timeout: float | None = None) -> list[CheckResult]:
    """``SELECT 1`` in every mapped cell (disabled ones too: they still serve reads), in parallel."""
    timeout = settings.CELLSV2_HEALTHCHECK_TIMEOUT if timeout is None else timeout
    mappings = cell_mappings()
    with _busy_lock:
        stuck = {m.uuid for m in mappings if m.uuid in _busy}
    results = scatter_gather_cells([m for m in mappings if m.uuid not in stuck], _cell_ping, timeout=timeout)
    checks = []
    for mapping in mappings:
        name, label = _cell_name(mapping), f"{_cell_name(mapping)} ({mapping.uuid})"
        fatal = mapping.uuid == CELL0_UUID or settings.CELLSV2_HEALTHCHECK_CELL_DOWN == "unhealthy"
        result = results.get(mapping.uuid, DID_NOT_RESPOND)
        common = {"cell_uuid": mapping.uuid, "cell_name": name}
        if mapping.uuid in stuck:
            detail = f"{label}: the previous check has not answered yet"
            checks.append(CheckResult("CellCheck", not fatal, f"Cell {label} not answering", detail, True, **common))
        elif result is DID_NOT_RESPOND and cell_breaker_open(mapping):
            detail = f"{label}: did not answer in time recently; not asked until its probe gets an answer"
            checks.append(CheckResult("CellCheck", not fatal, f"Cell {label} not answering", detail, True, **common))
        elif result is DID_NOT_RESPOND:
            detail = f"{label}: no answer within {timeout:g} s"
            checks.append(CheckResult("CellCheck", not fatal, f"Cell {label} not answering", detail, True, **common))
        elif is_cell_failure(result):
            detail = f"{label}: {_error(result.exception)}"
            checks.append(CheckResult("CellCheck", not fatal, f"Cell {label} unreachable", detail, True, **common))
        else:
            detail = f"{label}: SELECT 1 in {_ms(result)}{' (disabled)' if mapping.disabled else ''}"
            checks.append(CheckResult("CellCheck", True, OK, detail, seconds=result, **common))
    return checks


def cache_check() -> CheckResult:
    """The cache stores a value and gives it back."""
    from django.core.cache import cache

    token = uuid_lib.uuid4().hex
    key = f"{CACHE_KEY}:{token}"  # a key of its own: concurrent checks (any process) never mix
    started = time.perf_counter()
    try:
        cache.set(key, token, 30)
        answered = cache.get(key) == token
        cache.delete(key)
    except Exception as exc:
        return CheckResult("CacheCheck", True, "Cache unreachable", f"cache: {_error(exc)}", True)
    seconds = time.perf_counter() - started
    if not answered:
        return CheckResult("CacheCheck", True, "Cache unreachable", "cache: a value set was not read back", True)
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return CheckResult("CacheCheck", True, OK, f"cache ({backend}): set and get in {_ms(seconds)}", seconds=seconds)


def disable_file_check() -> CheckResult | None:
    path = settings.CELLSV2_HEALTHCHECK_DISABLE_FILE
    if not path:
        return None
    if os.path.exists(path):
        return CheckResult("DisableByFileCheck", False, "DISABLED BY FILE", f"{path} exists")
    return CheckResult("DisableByFileCheck", True, OK, f"{path} does not exist")


@dataclass
class HealthReport:
    results: list[CheckResult]

    @property
    def healthy(self) -> bool:
        return all(r.available for r in self.results)

    @property
    def reasons(self) -> list[str]:
        """oslo's non-detailed reasons: what is wrong, or OK."""
        return [r.reason for r in self.results if not r.ok] or [OK]

    def detailed_reasons(self) -> list[dict]:
        return [{"reason": r.reason, "details": r.details, "class": r.kind} for r in self.results]


def health_report() -> HealthReport:
    """Every check (cells only once the API database answered: their list lives there)."""
    results = []
    disabled = disable_file_check()
    if disabled is not None:
        results.append(disabled)
    api = api_database_check()
    results.append(api)
    if api.available:
        try:
            results.extend(cell_checks())
        except Exception as exc:  # the cell mappings cannot be read (a table missing, a query failing)
            results.append(CheckResult("CellCheck", False, "Cell mappings unreadable", f"cells: {_error(exc)}"))
    results.append(cache_check())
    return HealthReport(results)


# --- oslo.middleware's bodies ------------------------------------------------------------------

TEXT, HTML, JSON = "text/plain", "text/html", "application/json"
OFFERS = (TEXT, HTML, JSON)  # oslo's order: it breaks ties


def negotiate(accept: str | None) -> str:
    """The body type oslo (webob's acceptable_offers) picks: the highest q, ties in OFFERS order;
    nothing acceptable (or no header): text/plain."""
    if not accept or not accept.strip():
        return TEXT
    ranges = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if "/" not in media:
            continue
        q = 1.0
        for param in fields[1:]:
            if param.lower().startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        ranges.append((media, q))
    best, best_q = TEXT, 0.0
    for offer in OFFERS:
        kind = offer.split("/")[0]
        matches = [
            (3 if media == offer else 2 if media == f"{kind}/*" else 1, q)
            for media, q in ranges
            if media in (offer, f"{kind}/*", "*/*")
        ]
        if matches:
            q = max(matches)[1]  # the most specific range decides
            if q > best_q:
                best, best_q = offer, q
    return best


def _thread_stacks() -> list[str]:
    stacks = []
    for frame in sys._current_frames().values():
        buffer = io.StringIO()
        traceback.print_stack(frame, file=buffer)
        stacks.append(buffer.getvalue())
    return stacks


def detailed_body(report: HealthReport) -> dict:
    """oslo's detailed JSON body (no greenthreads here: the list is always empty)."""
    return {
        "detailed": True,
        "python_version": sys.version,
        "now": str(datetime.now(UTC).replace(tzinfo=None)),
        "platform": platform.platform(),
        "gc": {"counts": list(gc.get_count()), "threshold": list(gc.get_threshold())},
        "reasons": report.detailed_reasons(),
        "greenthreads": [],
        "threads": _thread_stacks(),
    }


def render(report: HealthReport, content_type: str, *, detailed: bool) -> str:
    """The body oslo.middleware's healthcheck answers with for ``content_type``."""
    if content_type == JSON:
        body = detailed_body(report) if detailed else {"reasons": report.reasons, "detailed": False}
        return json.dumps(body, indent=4, sort_keys=True)
    if content_type == HTML:
        return _html(report, detailed=detailed)
    return "\n".join(r.reason for r in report.results) if detailed else "\n".join(report.reasons)


def _html(report: HealthReport, *, detailed: bool) -> str:
    rows = report.detailed_reasons() if detailed else [{"reason": r} for r in report.reasons]
    out = ["<HTML>", "<HEAD><TITLE>Healthcheck Status</TITLE></HEAD>", "<BODY>"]
    if detailed:
        body = detailed_body(report)
        out.append("<H1>Server status</H1>")
        try:
            out.append(f"<B>Server hostname:</B><PRE>{escape(socket.gethostname())}</PRE>")
        except OSError:
            pass
        out += [
            f"<B>Current time:</B><PRE>{escape(body['now'])}</PRE>",
            f"<B>Python version:</B><PRE>{escape(body['python_version'])}</PRE>",
            f"<B>Platform:</B><PRE>{escape(body['platform'])}</PRE>",
            "<HR></HR>",
            "<H2>Garbage collector:</H2>",
            f"<B>Counts:</B><PRE>{escape(str(tuple(body['gc']['counts'])))}</PRE>",
            f"<B>Thresholds:</B><PRE>{escape(str(tuple(body['gc']['threshold'])))}</PRE>",
            "<HR></HR>",
        ]
    out += [f"<H2>Result of {len(rows)} checks:</H2>", '<TABLE bgcolor="#ffffff" border="1">', "<TBODY>", "<TR>"]
    out += (
        ["<TH>\nKind\n</TH>", "<TH>\nReason\n</TH>", "<TH>\nDetails\n</TH>"] if detailed else ["<TH>\nReason\n</TH>"]
    )
    out.append("</TR>")
    for row in rows:
        out.append("<TR>")
        if detailed:
            out.append(f"    <TD>{escape(row['class'])}</TD>")
        out.append(f"    <TD>{escape(row['reason'])}</TD>")
        if detailed:
            out.append(f"    <TD>{escape(row['details'])}</TD>")
        out.append("</TR>")
    out += ["</TBODY>", "</TABLE>", "<HR></HR>"]
    if detailed:
        stacks = _thread_stacks()
        out += [f"<H2>{len(stacks)} thread(s) active:</H2>", '<TABLE bgcolor="#ffffff" border="1">', "<TBODY>"]
        out += [f"<TR>\n    <TD><PRE>{escape(stack)}</PRE></TD>\n</TR>" for stack in stacks]
        out += ["</TBODY>", "</TABLE>"]
    out += ["</BODY>", "</HTML>"]
    return "\n".join(out)
