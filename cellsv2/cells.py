"""The cell registry and scatter-gather.

The registry turns a ``CellMapping`` (a row of the API database) into the connection alias of
its database. A mapping whose ``database_connection`` names a database declared in settings
gets that alias (``cell0``, ``cell1``, ...); any other URL is registered at run time under
``cell-<uuid>``, so a cell made with ``cell_v2 create_cell --database_connection URL`` is usable
by a running process without editing settings. The list of mappings is cached per process for
``CELLSV2_CELL_CACHE_SECONDS`` and cleared at once whenever a mapping is saved or deleted in
this process; other processes learn of the change through the shared cache within
``CELLSV2_CELL_CHANGE_CHECK_SECONDS`` (``cell_mappings_changed``).

``scatter_gather_cells`` runs a function in many cells at once over a bounded thread pool and
never waits longer than its timeout (Nova's ``scatter_gather_cells``).
"""

import concurrent.futures
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.db import connections

from cellsv2.context import target_cell
from cellsv2.dburls import (
    URL_KEY,
    InvalidDatabaseUrl,
    apply_connection_limits,
    database_identity,
    parse_database_url,
    url_identity,
)
from cellsv2.router import is_cell_alias

logger = logging.getLogger(__name__)

CELL0_UUID = "00000000-0000-0000-0000-000000000000"
RUNTIME_ALIAS_PREFIX = "cell-"


class CellNotFound(LookupError):
    """No cell mapping or database alias by that name or uuid."""


class CellDatabaseUnusable(RuntimeError):
    """A cell mapping whose database_connection cannot be used."""


_lock = threading.RLock()
_alias_by_uuid: dict[str, str] = {}
_cells: list | None = None
_cells_loaded_at = 0.0
# The shared cache's count of cell mapping changes (any process), as last seen here.
GENERATION_KEY = "cell-mappings:generation"
_generation_seen = None
_generation_checked_at = 0.0


_clear_hooks: list = []


def on_cells_cache_clear(fn):
    """Register ``fn()`` to run whenever the cell cache is cleared (other per-process cell caches)."""
    _clear_hooks.append(fn)
    return fn


def cell_mapping_model():
    """The model whose rows are the cells (``CELLSV2_CELL_MAPPING_MODEL``, as AUTH_USER_MODEL names users).

    The registry reads cell mappings by this name so the framework never imports the app that
    defines them.
    """
    return django_apps.get_model(settings.CELLSV2_CELL_MAPPING_MODEL, require_ready=False)


def cells_cache_clear() -> None:
    """Forget the cached cell list and uuid -> alias resolutions (mappings changed)."""
    global _cells
    with _lock:
        _alias_by_uuid.clear()
        _cells = None
    for hook in _clear_hooks:
        hook()


def cell_mappings_changed() -> None:
    """A cell mapping was saved or deleted: clear this process's cache and tell every other one.

    The shared cache (CELLSV2_CACHE_URL) keeps a generation number; each process compares it with
    the one it last saw at most every CELLSV2_CELL_CHANGE_CHECK_SECONDS (``_changed_elsewhere``), so
    a change reaches every process within that time. With the per-process locmem cache only this
    process learns of it (the others after CELLSV2_CELL_CACHE_SECONDS).
    """
    global _generation_seen
    from django.core.cache import cache

    try:
        try:
            generation = cache.incr(GENERATION_KEY)
        except ValueError:  # not there yet (or evicted): any new value differs from what others saw
            generation = int(time.time() * 1000)
            cache.set(GENERATION_KEY, generation, None)
        # This process clears its own cache below: its next check must not clear it again.
        with _lock:
            _generation_seen = generation
    except Exception:  # an unreachable cache must not fail the write; others fall back to the TTL
        logger.warning("Could not record a cell mapping change in the shared cache", exc_info=True)
    cells_cache_clear()


def _changed_elsewhere(now: float) -> bool:
    """True when the shared generation moved since this process last looked (checked at most every
    CELLSV2_CELL_CHANGE_CHECK_SECONDS; call with _lock held)."""
    global _generation_seen, _generation_checked_at
    if now - _generation_checked_at < settings.CELLSV2_CELL_CHANGE_CHECK_SECONDS:
        return False
    from django.core.cache import cache

    _generation_checked_at = now
    try:
        generation = cache.get(GENERATION_KEY)
    except Exception:
        logger.warning("Could not read the cell mapping generation from the shared cache", exc_info=True)
        return False
    changed = generation != _generation_seen
    _generation_seen = generation
    return changed


def cell_mappings(*, include_cell0: bool = True, include_disabled: bool = True) -> list:
    """All CellMappings ordered by id (cached; reads the API database on a miss)."""
    global _cells, _cells_loaded_at
    CellMapping = cell_mapping_model()
    with _lock:
        changed = _changed_elsewhere(time.monotonic())
    if changed:
        cells_cache_clear()
    with _lock:
        stale = time.monotonic() - _cells_loaded_at > settings.CELLSV2_CELL_CACHE_SECONDS
        if _cells is None or stale:
            _cells = list(CellMapping.objects.order_by("id"))
            _cells_loaded_at = time.monotonic()
        cells = list(_cells)
    return [c for c in cells if (include_cell0 or not c.is_cell0) and (include_disabled or not c.disabled)]


def configured_cell_aliases() -> list[str]:
    """Cell aliases declared in settings (not registered at run time), in settings order."""
    return [a for a in settings.DATABASES if is_cell_alias(a) and not a.startswith(RUNTIME_ALIAS_PREFIX)]


def _configured_identity(alias: str) -> tuple:
    conf = connections.settings[alias]
    return url_identity(conf[URL_KEY]) if conf.get(URL_KEY) else database_identity(conf)


def configured_alias_for_url(url: str) -> str | None:
    """The settings alias whose database is the one ``url`` names, if any."""
    identity = url_identity(url)
    for alias in configured_cell_aliases():
        if _configured_identity(alias) == identity:
            return alias
    return None


def configured_alias_url(alias: str) -> str:
    """The URL a settings-declared alias was configured from."""
    conf = connections.settings[alias]
    return conf.get(URL_KEY) or f"sqlite:///{conf['NAME']}"


def _register_runtime_alias(uuid: str, url: str) -> str:
    alias = f"{RUNTIME_ALIAS_PREFIX}{uuid}"
    conf = parse_database_url(url, conn_max_age=settings.CONN_MAX_AGE)
    limits = settings.CELLSV2_DATABASE_LIMITS
    apply_connection_limits(conf, limits, statement_timeout=settings.CELLSV2_CELL_QUERY_TIMEOUT)
    conf["TEST"] = {"DEPENDENCIES": []}
    existing = connections.settings.get(alias)
    if existing is not None and existing.get(URL_KEY) == url:
        return alias
    if existing is not None:
        # The mapping's URL changed (update_cell): drop this thread's connection (and the
        # process's pool) to the old one.
        _close_alias(alias)
    connections.settings[alias] = connections.configure_settings(
        {"default": connections.settings["default"], alias: conf}
    )[alias]
    logger.info("Registered database alias %s for cell %s", alias, uuid)
    return alias


def _close_alias(alias: str) -> None:
    connection = connections[alias]
    connection.close()
    if getattr(connection, "pool", None) is not None:
        connection.close_pool()
    del connections[alias]


def unregister_runtime_aliases() -> None:
    """Close and forget every alias registered at run time (tests and reloads)."""
    with _lock:
        for alias in [a for a in connections.settings if a.startswith(RUNTIME_ALIAS_PREFIX)]:
            try:
                _close_alias(alias)
            except Exception:  # a half-registered alias must not block the rest
                logger.exception("Closing %s failed", alias)
            connections.settings.pop(alias, None)
        _alias_by_uuid.clear()


def alias_for_mapping(mapping) -> str:
    """The connection alias of a CellMapping's database, registering it if settings lack it."""
    with _lock:
        alias = _alias_by_uuid.get(mapping.uuid)
        if alias is not None:
            return alias
        url = mapping.database_connection
        if not url:
            raise CellDatabaseUnusable(f"Cell {mapping.identity} has no database_connection")
        try:
            alias = configured_alias_for_url(url) or _register_runtime_alias(mapping.uuid, url)
        except InvalidDatabaseUrl as exc:
            raise CellDatabaseUnusable(f"Cell {mapping.identity}: {exc}") from None
        _alias_by_uuid[mapping.uuid] = alias
        return alias


def cell_alias(cell) -> str:
    """Resolve a CellMapping, a cell uuid or a database alias to a connection alias."""
    CellMapping = cell_mapping_model()
    if isinstance(cell, CellMapping):
        return alias_for_mapping(cell)
    if isinstance(cell, str):
        if is_cell_alias(cell) and cell in connections.settings:
            return cell
        for mapping in cell_mappings():
            if mapping.uuid == cell:
                return alias_for_mapping(mapping)
        mapping = CellMapping.objects.filter(uuid=cell).first()
        if mapping is not None:
            return alias_for_mapping(mapping)
    raise CellNotFound(f"Cell {cell!r} is neither a cell mapping nor a cell database alias")


# --- scatter-gather ---------------------------------------------------------------------------


class CellDidNotRespond(RuntimeError):
    """A cell that timed out or is cut off by its breaker, met outside a scatter-gather's results
    (``in_cell``, a query on its connection while its breaker is open). The API answers 503."""

    def __init__(self, cell_uuid: str):
        super().__init__(f"Cell {cell_uuid} did not respond in time; retry later.")
        self.cell_uuid = cell_uuid


@dataclass(frozen=True)
class CellRaised:
    """The result for a cell whose function raised."""

    exception: BaseException

    def __str__(self) -> str:
        return f"{type(self.exception).__name__}: {self.exception}"


class _DidNotRespond:
    """The result for a cell that did not answer within the timeout."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DID_NOT_RESPOND"

    __str__ = __repr__


DID_NOT_RESPOND = _DidNotRespond()


def is_cell_failure(result) -> bool:
    """True for the CellRaised and DID_NOT_RESPOND markers."""
    return result is DID_NOT_RESPOND or isinstance(result, CellRaised)


# Results of a cell that is cut off: its breaker is open, or every one of its threads is held by a
# query older than the deadline. Callers see DID_NOT_RESPOND (down); the hooks see "cut_off".
CUT_OFF = "cut_off"


class _CellLane:
    """One cell database's threads, its queries in flight and its breaker, per process.

    Each cell has threads of its own (CELLSV2_CELL_WORKERS), so a cell whose queries hang holds
    at most those, never another cell's. Its breaker opens when a query of the cell misses its
    deadline: the cell is then answered as down without being asked until a background probe
    (``SELECT 1``, every CELLSV2_CELL_BREAKER_SECONDS) gets an answer within the deadline.
    """

    def __init__(self, alias: str, workers: int):
        self.alias = alias
        self.workers = workers
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"cellsv2-{alias}"
        )
        self.lock = threading.Lock()
        self.running: dict[int, float] = {}  # task id -> when it started running (monotonic)
        self.tripped = False
        self.timer: threading.Timer | None = None
        self.cell_uuid = ""

    def cut_off(self, deadline: float) -> bool:
        """True when the breaker is open or every thread runs a query older than ``deadline``."""
        with self.lock:
            if self.tripped:
                return True
            now = time.monotonic()
            hung = sum(1 for began in self.running.values() if now - began > deadline)
            return hung >= self.workers

    def submit(self, fn: Callable, *args) -> concurrent.futures.Future:
        return self.executor.submit(self._track, fn, *args)

    def _track(self, fn: Callable, *args):
        key = threading.get_ident()
        with self.lock:
            self.running[key] = time.monotonic()
        try:
            return fn(*args)
        finally:
            with self.lock:
                self.running.pop(key, None)

    def trip(self, cell_uuid: str) -> None:
        """A query missed its deadline: answer the cell as down until a probe finds it back."""
        seconds = settings.CELLSV2_CELL_BREAKER_SECONDS
        if seconds <= 0:
            return
        with self.lock:
            self.cell_uuid = cell_uuid
            if self.tripped:
                return
            self.tripped = True
            self._schedule_probe(seconds)
        logger.warning(
            "Cell %s did not answer in time: answered as down for %s s, until a probe gets an answer",
            cell_uuid,
            seconds,
        )

    def _schedule_probe(self, seconds: float) -> None:
        # Called with self.lock held.
        self.timer = threading.Timer(seconds, self._probe)
        self.timer.daemon = True
        self.timer.start()

    def _probe(self) -> None:
        deadline = settings.CELLSV2_SCATTER_GATHER_TIMEOUT
        answered = False
        if not self._hung(deadline):
            future = self.submit(_probe_cell, self.alias)
            try:
                future.result(timeout=deadline)
                answered = True
            except concurrent.futures.TimeoutError:
                future.cancel()
            except Exception as exc:
                logger.info("Probe of cell %s failed: %s", self.cell_uuid, exc)
        with self.lock:
            if self.executor is None:
                return  # shut down meanwhile
            if answered:
                self.tripped = False
                self.timer = None
            else:
                self._schedule_probe(settings.CELLSV2_CELL_BREAKER_SECONDS or 1)
        if answered:
            logger.warning("Cell %s answers again: its breaker is closed", self.cell_uuid)

    def _hung(self, deadline: float) -> bool:
        with self.lock:
            now = time.monotonic()
            return sum(1 for began in self.running.values() if now - began > deadline) >= self.workers

    def shutdown(self, timeout: float) -> None:
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
            executor, self.executor = self.executor, None
        workers = len(executor._threads)
        if workers:
            # One task per thread: the barrier keeps a thread from taking two of them.
            barrier = threading.Barrier(workers)

            def close_connections():
                try:
                    barrier.wait(timeout)
                except threading.BrokenBarrierError:
                    pass
                finally:
                    connections.close_all()

            tasks = [executor.submit(close_connections) for _ in range(workers)]
            concurrent.futures.wait(tasks, timeout=timeout * 2)
        executor.shutdown(wait=False, cancel_futures=True)


# Set in the thread of a breaker's probe: its query is the one a cut-off cell still gets.
_probing = threading.local()


def _probe_cell(alias: str) -> None:
    _probing.active = True
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        connections[alias].close()
        raise
    finally:
        _probing.active = False
        _release_pooled_connections()


def breaker_guard(execute, sql, params, many, context):
    """A connection execute wrapper (installed on every cell connection, cellsv2.apps): a query
    for a cell whose breaker is open fails at once with CellDidNotRespond instead of waiting on
    it, whichever thread runs it (a show, a create, a delete, a conductor), the probe excepted."""
    lane = _lanes.get(context["connection"].alias)
    if lane is not None and lane.tripped and not getattr(_probing, "active", False):
        raise CellDidNotRespond(lane.cell_uuid or lane.alias)
    return execute(sql, params, many, context)


def install_breaker_guard(sender, connection, **kwargs) -> None:
    """connection_created receiver: put breaker_guard on a cell connection (once per wrapper)."""
    if is_cell_alias(connection.alias) and breaker_guard not in connection.execute_wrappers:
        connection.execute_wrappers.append(breaker_guard)


_lanes: dict[str, _CellLane] = {}
_lanes_lock = threading.Lock()


def _lane(alias: str) -> _CellLane:
    with _lanes_lock:
        lane = _lanes.get(alias)
        if lane is None:
            lane = _lanes[alias] = _CellLane(alias, max(1, settings.CELLSV2_CELL_WORKERS))
        return lane


def cell_breaker_open(cell) -> bool:
    """True while ``cell`` (a mapping, uuid or alias) is answered as down by its breaker."""
    with _lanes_lock:
        lane = _lanes.get(cell_alias(cell))
    return lane is not None and lane.tripped


def cell_breakers_reset() -> None:
    """Close every cell's breaker at once (an operator's cell fixed; tests)."""
    with _lanes_lock:
        lanes = list(_lanes.values())
    for lane in lanes:
        with lane.lock:
            if lane.timer is not None:
                lane.timer.cancel()
            lane.tripped, lane.timer = False, None


def scatter_gather_shutdown(timeout: float = 5.0) -> None:
    """Close every cell thread's database connections, stop the threads and forget the breakers
    (shutdown, tests)."""
    with _lanes_lock:
        lanes = list(_lanes.values())
        _lanes.clear()
    for lane in lanes:
        lane.shutdown(timeout)


def _reset_pool_after_fork() -> None:
    # Threads do not survive fork (gunicorn --preload): a child starts with fresh lanes.
    global _lanes, _lanes_lock, _idle_lock, _idle_timer
    _lanes = {}
    _lanes_lock = threading.Lock()
    _idle_lock, _idle_timer = threading.Lock(), None
    _idle_used.clear()


os.register_at_fork(after_in_child=_reset_pool_after_fork)


_query_hooks: list = []


def on_cell_query(fn):
    """Register ``fn(mapping, seconds, failure)``, called as each cell's part of a scatter-gather ends:
    ``failure`` is None (it answered), ``"error"`` (it raised), ``"timeout"`` (not answered in
    time: ``seconds`` is None then, and the call comes again with its time once it ends) or
    ``"cut_off"`` (not asked: its breaker is open or its threads hang; ``seconds`` is None) (metrics)."""
    _query_hooks.append(fn)
    return fn


def _cell_query_done(mapping, seconds: float | None, failure: str | None) -> None:
    for hook in _query_hooks:
        try:
            hook(mapping, seconds, failure)
        except Exception:  # observing a query must never fail it
            logger.warning("Cell query hook %r failed", hook, exc_info=True)


# The aliases each thread connected since it last gave its pooled connections back. Django's
# connections.all(initialized_only=True) would ask the thread for each configured alias (two
# exceptions raised and caught per alias) at every cell task: with 75 cells, 77 of them.
_connected_here = threading.local()


def note_connection_made(sender, connection, **kwargs) -> None:
    """connection_created receiver: remember the alias in the connecting thread (the thread that
    owns the wrapper) for _release_pooled_connections."""
    aliases = getattr(_connected_here, "aliases", None)
    if aliases is None:
        aliases = _connected_here.aliases = set()
    aliases.add(connection.alias)


def _release_pooled_connections() -> None:
    """Give this thread's pooled connections back to their pools (a cell thread keeps none between
    tasks, so a process's connections to a database are bounded by its pool, not its threads)."""
    aliases = getattr(_connected_here, "aliases", None)
    if not aliases:
        return
    for alias in list(aliases):
        if alias not in connections.settings:  # a runtime alias dropped since
            aliases.discard(alias)
            continue
        connection = connections[alias]
        if not connection.settings_dict.get("OPTIONS", {}).get("pool"):
            aliases.discard(alias)  # kept open between tasks: nothing to give back
            continue
        if connection.in_atomic_block:
            continue  # given back by a later call, once its transaction is over
        aliases.discard(alias)
        had = connection.connection is not None
        connection.close()
        if had and is_cell_alias(alias):
            _cell_connection_returned(alias)


# --- idle cell connections, process-wide ------------------------------------------------------------
# Each cell database has its pool (CELLSV2_DB_POOL_SIZE), which keeps what it opened for up to
# CELLSV2_DB_POOL_MAX_IDLE seconds and then closes one connection per such period: after a list over
# 75 cells a process would hold one idle connection per cell for minutes. Above
# CELLSV2_CELL_IDLE_CONNECTIONS idle cell connections in all, those of the cells no task used for
# CELLSV2_CELL_IDLE_SECONDS are closed (by a timer, off the requests' path): a process that lists
# every few seconds keeps its connections, one at rest falls back to the ceiling.

_idle_lock = threading.Lock()
_idle_used: dict[str, float] = {}  # cell alias -> when a task of its threads last returned a connection
_idle_timer: threading.Timer | None = None


def _schedule_idle_trim(delay: float) -> None:
    # Called with _idle_lock held.
    global _idle_timer
    _idle_timer = threading.Timer(delay, idle_cell_connections_trim)
    _idle_timer.daemon = True
    _idle_timer.start()


def _cell_connection_returned(alias: str) -> None:
    if settings.CELLSV2_CELL_IDLE_CONNECTIONS < 0:
        return
    with _idle_lock:
        _idle_used[alias] = time.monotonic()
        if _idle_timer is None:
            _schedule_idle_trim(max(0.05, settings.CELLSV2_CELL_IDLE_SECONDS))


def _open_pool(alias: str):
    """The alias's pool if this process has one open (never opens one: ``DatabaseWrapper.pool``
    would make it again after it was closed, e.g. for a cell whose URL changed)."""
    if alias not in connections.settings:
        return None
    return getattr(type(connections[alias]), "_connection_pools", {}).get(alias)


def _pool_close_one_idle(pool) -> bool:
    """Close the pool's longest idle connection, as its own shrinking does (psycopg_pool 3.3's
    ``_shrink_pool``: its deque of idle connections and its count); False when it has none."""
    with pool._lock:
        if not pool._pool:
            return False
        conn = pool._pool.popleft()
        pool._nconns -= 1
        pool._nconns_min = min(pool._nconns_min, len(pool._pool))
    pool._close_connection(conn)
    return True


def idle_cell_connections_trim() -> int:
    """Close idle pooled cell connections beyond CELLSV2_CELL_IDLE_CONNECTIONS, those of the cells
    unused for CELLSV2_CELL_IDLE_SECONDS, least recently used first; returns how many were closed.
    Runs on a timer after cell tasks, again later while a surplus remains in cells used since."""
    global _idle_timer
    ceiling, grace = settings.CELLSV2_CELL_IDLE_CONNECTIONS, settings.CELLSV2_CELL_IDLE_SECONDS
    now = time.monotonic()
    with _idle_lock:
        _idle_timer = None
        order = sorted(_idle_used.items(), key=lambda item: item[1])
    if ceiling < 0:
        return 0
    pools = []
    for alias, used in order:
        pool = _open_pool(alias)
        if pool is not None:
            pools.append((alias, used, pool))
    idle = sum(len(pool._pool) for _, _, pool in pools)
    closed = 0
    for alias, used, pool in pools:
        if idle <= ceiling:
            break
        if now - used < grace:
            with _idle_lock:  # used recently: looked at again once its grace is over
                if _idle_timer is None:
                    _schedule_idle_trim(max(0.05, grace - (now - used)))
            break
        while idle > ceiling and _pool_close_one_idle(pool):
            idle -= 1
            closed += 1
        if not pool._pool:
            with _idle_lock:
                if _idle_used.get(alias) == used:
                    del _idle_used[alias]
    return closed


def _run_in_cell(alias: str, mapping, fn: Callable, args, kwargs):
    """Run fn in a cell thread with the cell targeted; drop the connection if it failed."""
    started = time.perf_counter()
    connection = connections[alias]
    connection.close_if_unusable_or_obsolete()
    try:
        with target_cell(alias):
            result = fn(mapping, *args, **kwargs)
    except Exception as exc:
        if _no_connection_in_time(connection, exc):
            _lane(alias).trip(mapping.uuid)
        # A failed cell may have left a broken connection; the next task reconnects.
        if not connection.in_atomic_block:
            connection.close()
        _cell_query_done(mapping, time.perf_counter() - started, "error")
        raise
    finally:
        _release_pooled_connections()
    _cell_query_done(mapping, time.perf_counter() - started, None)
    return result


def _no_connection_in_time(connection, exc: BaseException) -> bool:
    """True when ``exc`` is the cell's pool timing out while it had room for more connections:
    the cell's database did not let one be made within the pool's timeout (it accepts but does not
    answer, or the network drops its packets). Every request would wait as long again, so the
    cell is cut off by its breaker as when a query misses its deadline. A pool at its size (every
    connection busy) is not a cell fault, and a refused connection fails at once
    (dburls.pool_connect_failed) without opening the breaker."""
    from psycopg_pool import PoolTimeout

    pool = getattr(connection, "pool", None)
    if pool is None or not isinstance(exc.__cause__ or exc, PoolTimeout):
        return False
    stats = pool.get_stats()
    return stats["pool_size"] < stats["pool_max"]


def _run_here(alias: str, mapping, fn: Callable, args, kwargs):
    """fn in the calling thread with the cell targeted, its time observed; raises what fn raised."""
    began = time.perf_counter()
    try:
        with target_cell(alias):
            result = fn(mapping, *args, **kwargs)
    except Exception:
        _cell_query_done(mapping, time.perf_counter() - began, "error")
        raise
    _cell_query_done(mapping, time.perf_counter() - began, "error" if is_cell_failure(result) else None)
    return result


def _in_transaction_here(alias: str) -> bool:
    """True when the calling thread has a transaction open on ``alias``, without making a
    connection wrapper for it in this thread: Django visits each one a thread holds at every
    request's start and end (close_old_connections, reset_queries), so a request thread that
    held one per cell after a list paid for 75 cells on each later request."""
    here = connections._connections
    return hasattr(here, alias) and getattr(here, alias).in_atomic_block


def scatter_gather_cells(
    cells: Iterable, fn: Callable, *args, timeout: float | None = None, **kwargs
) -> dict[str, Any]:
    """Call ``fn(cell, *args, **kwargs)`` in every cell at once, each with the cell targeted.

    Returns ``{cell_uuid: result}`` where a result is what fn returned, ``CellRaised(exc)`` if it
    raised, or ``DID_NOT_RESPOND`` if it had not finished after ``timeout`` seconds (default
    CELLSV2_SCATTER_GATHER_TIMEOUT) or was not asked because the cell is cut off (its breaker
    is open, or all its threads hang on queries older than the timeout). Never waits longer than
    the timeout. A cell that misses the deadline opens its breaker (``_CellLane``).

    A cell the calling thread has a transaction open on is queried on the caller's own connection
    (so the caller sees its own uncommitted writes); every other cell runs in a thread of its own
    cell with a connection of that thread (returned to the pool after the task when pooled).
    """
    timeout = settings.CELLSV2_SCATTER_GATHER_TIMEOUT if timeout is None else timeout
    results: dict[str, Any] = {}
    futures: dict[concurrent.futures.Future, str] = {}
    inline: list[tuple[str, Any]] = []
    submitted: dict[str, tuple[Any, _CellLane]] = {}
    for mapping in cells:
        try:
            alias = cell_alias(mapping)
        except Exception as exc:
            results[mapping.uuid] = CellRaised(exc)
            _cell_query_done(mapping, 0.0, "error")
            continue
        if _in_transaction_here(alias):
            inline.append((alias, mapping))
            continue
        lane = _lane(alias)
        if lane.cut_off(timeout):
            results[mapping.uuid] = DID_NOT_RESPOND
            _cell_query_done(mapping, None, CUT_OFF)
            continue
        # In a copy of the caller's context: the request's log fields go along (cellsv2.observability).
        context = contextvars.copy_context()
        futures[lane.submit(context.run, _run_in_cell, alias, mapping, fn, args, kwargs)] = mapping.uuid
        submitted[mapping.uuid] = (mapping, lane)
    for alias, mapping in inline:
        try:
            results[mapping.uuid] = _run_here(alias, mapping, fn, args, kwargs)
        except Exception as exc:
            results[mapping.uuid] = CellRaised(exc)
    done, not_done = concurrent.futures.wait(futures, timeout=timeout)
    for future in done:
        exc = future.exception()
        results[futures[future]] = CellRaised(exc) if exc is not None else future.result()
    for future in not_done:
        future.cancel()
        uuid = futures[future]
        results[uuid] = DID_NOT_RESPOND
        logger.warning("Cell %s did not respond within %s s", uuid, timeout)
        mapping, lane = submitted[uuid]
        lane.trip(uuid)
        # Its thread still runs: its time is observed when it ends, the timeout counted now.
        _cell_query_done(mapping, None, "timeout")
    for uuid, result in results.items():
        if isinstance(result, CellRaised):
            logger.warning("Cell %s raised: %s", uuid, result)
    return results


def in_cell(cell, fn: Callable, *args, timeout: float | None = None, **kwargs):
    """``fn(cell, *args, **kwargs)`` in one cell within the scatter-gather deadline and breaker:
    its result, its exception re-raised, or CellDidNotRespond (for reads of one cell, such as a
    server's show, that must not wait on a hung cell without end).

    A cell in an SQLite file is read in the calling thread instead: the deadline is there for a
    database server that stops answering over the network, and a file on this host answers as
    the API database's file just did (in WAL mode a reader never waits for a writer). Handing the
    read to a cell thread and back cost more than the read: a show under load on SQLite served
    1,342 requests/s with it and 1,527 without.
    """
    alias = cell_alias(cell)
    if connections.settings[alias]["ENGINE"].endswith("sqlite3"):
        return _run_here(alias, cell, fn, args, kwargs)
    result = scatter_gather_cells([cell], fn, *args, timeout=timeout, **kwargs)[cell.uuid]
    if result is DID_NOT_RESPOND:
        raise CellDidNotRespond(cell.uuid)
    if isinstance(result, CellRaised):
        raise result.exception
    return result


def scatter_gather_all_cells(fn: Callable, *args, skip_cell0: bool = False, timeout: float | None = None, **kwargs):
    """scatter_gather_cells over every mapped cell (optionally without cell0)."""
    return scatter_gather_cells(cell_mappings(include_cell0=not skip_cell0), fn, *args, timeout=timeout, **kwargs)


def cells_answering(fn: Callable, *, what: str, cells: Iterable | None = None) -> tuple[list[tuple], list[str]]:
    """Run ``fn(cell)`` in every cell (cell0 included unless ``cells`` says otherwise), in parallel.

    Returns ``([(cell mapping, result)] in cell order for the cells that answered, [uuids of the
    cells that did not])``. A cell that raises or times out is logged with ``what`` (what was
    being read) and skipped, never raised: for reads that show what the reachable cells hold.
    Callers for which a missing cell would make the answer wrong check the second list.
    """
    cells = list(cell_mappings() if cells is None else cells)
    results = scatter_gather_cells(cells, fn)
    answered, failed = [], []
    for cell in cells:
        result = results.get(cell.uuid)
        if is_cell_failure(result):
            logger.warning("Cell %s skipped while reading %s: %s", cell.uuid, what, result)
            failed.append(cell.uuid)
            continue
        answered.append((cell, result))
    return answered, failed


class CellRowsPresence:
    """Whether some cell may still hold rows of a kind (e.g. legacy rows an online migration
    moves out of the cells), cached per process.

    Calling it asks every cell ``exists()`` (one query each, in parallel) on a miss. The answer
    is kept for CELLSV2_CELL_CACHE_SECONDS, as the cell list, and only for the cell databases it
    was checked in (a cell mapped, or a mapping pointed at another database, is checked again);
    it is forgotten when the cell cache is cleared. A cell that does not answer counts as
    holding some: callers then keep asking the cells, never hiding rows.
    """

    def __init__(self, exists: Callable[[], bool], *, what: str):
        self.exists = exists
        self.what = what
        self._answer: tuple[tuple, float, bool] | None = None  # (cell databases, when, present)
        on_cells_cache_clear(self.forget)

    def forget(self) -> None:
        self._answer = None

    def __call__(self) -> bool:
        cells = cell_mappings()
        databases = tuple((cell.uuid, cell.database_connection) for cell in cells)
        cached = self._answer
        if (
            cached is not None
            and cached[0] == databases
            and time.monotonic() - cached[1] < settings.CELLSV2_CELL_CACHE_SECONDS
        ):
            return cached[2]
        answered, failed = cells_answering(lambda cell: self.exists(), what=self.what, cells=cells)
        present = bool(failed) or any(found for _, found in answered)
        self._answer = (databases, time.monotonic(), present)
        return present


def database_url_check(url: str) -> None:
    """Connect once to the database ``url`` names; raise InvalidDatabaseUrl or the driver's error."""
    from django.db.utils import load_backend

    conf = connections.configure_settings({"default": {}, "__check__": parse_database_url(url)})["__check__"]
    wrapper = load_backend(conf["ENGINE"]).DatabaseWrapper(conf, alias="__check__")
    try:
        wrapper.ensure_connection()
    finally:
        wrapper.close()


def cell_connection_ceiling() -> dict:
    """The most PostgreSQL connections one process holds at rest (no cell task running) under its
    configuration, with the cells mapped now: ``{"total": n, "formula": "...", ...}``
    (docs/operators-guide.md, "Sizing the connections"). While cell tasks run, each adds the one
    connection it uses (at most CELLSV2_DB_POOL_SIZE per cell)."""
    limits = settings.CELLSV2_DATABASE_LIMITS
    cells = len(cell_mappings())
    pool = limits["pool_size"]
    workers = max(1, settings.CELLSV2_CELL_WORKERS)
    idle = settings.CELLSV2_CELL_IDLE_CONNECTIONS
    if pool and idle >= 0:
        return {
            "total": pool + min(idle, pool * cells),
            "formula": f"CELLSV2_DB_POOL_SIZE {pool} (api) + CELLSV2_CELL_IDLE_CONNECTIONS {idle}",
            "cells": cells,
        }
    if pool:
        return {
            "total": pool * (cells + 1),
            "formula": f"CELLSV2_DB_POOL_SIZE {pool} x (api + {cells} cell databases)",
            "cells": cells,
        }
    return {
        "total": None,
        "formula": f"a connection per thread: {workers} cell threads x {cells} cells + the request threads",
        "cells": cells,
    }
