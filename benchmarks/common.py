"""Shared helpers: statistics, the host-speed probe, query counting and latency injection.

Every database query of every connection (scatter-gather pool threads included) goes through
``_wrapper``, installed on each new connection via ``connection_created``: it counts queries per
database alias and, when asked, sleeps before each query of the chosen aliases (simulated network
latency to the cell databases).
"""

import json
import os
import resource
import statistics
import threading
import time
from collections import Counter
from contextlib import contextmanager

# --- statistics (the anchor's definitions, so figures compare) ---------------------------------


def stats(samples: list[float]) -> dict:
    """n, median, p95 (nearest rank), mean, min in ms and ops/s = n / sum, as nova_bench.py."""
    s = sorted(samples)
    n = len(s)
    if not n:
        return {"n": 0, "median_ms": None, "p95_ms": None, "mean_ms": None, "min_ms": None, "ops_per_s": None}
    p95 = s[min(n - 1, max(0, int(round(0.95 * n + 0.5)) - 1))]
    total = sum(s)
    return {
        "n": n,
        "median_ms": round(statistics.median(s) * 1e3, 3),
        "p95_ms": round(p95 * 1e3, 3),
        "mean_ms": round(total / n * 1e3, 3),
        "min_ms": round(s[0] * 1e3, 3),
        "ops_per_s": round(n / total, 1) if total else None,
    }


def calibrate() -> float:
    """The anchor's fixed pure-Python probe (min of 5, ms): lower means a faster (quieter) host."""
    doc = {f"k{i}": [i, str(i), {"x": i * 1.5}] for i in range(200)}
    best = None
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(200):
            json.loads(json.dumps(doc))
        dt = (time.perf_counter() - t0) * 1e3
        best = dt if best is None else min(best, dt)
    return round(best, 2)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (getrusage; Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def timed(fn, items) -> list[float]:
    """Seconds per call of fn(item), one sequential client (the anchor's loop)."""
    samples = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - t0)
    return samples


# --- query counting and injected latency --------------------------------------------------------

_lock = threading.Lock()
_counts: Counter = Counter()
_latency = {"seconds": 0.0, "aliases": None}  # aliases: None = none; a set = those aliases
_installed = False


def _make_wrapper(alias: str):
    def wrapper(execute, sql, params, many, context):
        with _lock:
            _counts[alias] += 1
        delay = _latency["seconds"]
        if delay and _latency["aliases"] is not None and alias in _latency["aliases"]:
            time.sleep(delay)
        return execute(sql, params, many, context)

    wrapper.cellsv2_bench = True
    return wrapper


def _on_connection_created(sender, connection, **kwargs):
    if not any(getattr(w, "cellsv2_bench", False) for w in connection.execute_wrappers):
        connection.execute_wrappers.append(_make_wrapper(connection.alias))


def install_query_hooks() -> None:
    """Count (and optionally delay) every query of every connection made from now on, any thread."""
    global _installed
    from django.db import connections
    from django.db.backends.signals import connection_created

    if _installed:
        return
    connection_created.connect(_on_connection_created, dispatch_uid="cellsv2-bench-hooks")
    # Connections this thread already opened.
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            _on_connection_created(None, connection)
    _installed = True


def uninstall_query_hooks() -> None:
    global _installed
    from django.db import connections
    from django.db.backends.signals import connection_created

    connection_created.disconnect(dispatch_uid="cellsv2-bench-hooks")
    for connection in connections.all(initialized_only=True):
        connection.execute_wrappers[:] = [
            w for w in connection.execute_wrappers if not getattr(w, "cellsv2_bench", False)
        ]
    _installed = False


@contextmanager
def count_queries():
    """Yields a dict filled on exit with {alias: queries} run inside the block (every thread)."""
    with _lock:
        before = Counter(_counts)
    result: dict[str, int] = {}
    try:
        yield result
    finally:
        with _lock:
            after = Counter(_counts)
        result.update({alias: after[alias] - before[alias] for alias in after if after[alias] - before[alias]})


@contextmanager
def injected_latency(seconds: float, aliases):
    """Sleep ``seconds`` before every query on the given aliases (any thread) inside the block."""
    _latency["seconds"], _latency["aliases"] = seconds, set(aliases)
    try:
        yield
    finally:
        _latency["seconds"], _latency["aliases"] = 0.0, None


# --- what every API call carries -----------------------------------------------------------------

PROJECT = "bench-project"
USER = "bench-user"
MICROVERSION = "latest"  # our advertised maximum, as Nova's harness asks for its own (2.104)
IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"


def api_headers(version: str = MICROVERSION, *, user: str = USER, project: str = PROJECT) -> dict[str, str]:
    """Plain HTTP header names: CELLSV2_AUTH=headers (identity proxy), reader+member roles."""
    return {
        "X-User-Id": user,
        "X-Project-Id": project,
        "X-Roles": "reader,member",
        "OpenStack-API-Version": f"compute {version}",
    }


def ssh_public_key() -> str:
    """A real RSA-2048 OpenSSH key, as the anchor imports."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode() + " bench@cellsv2"


# --- the anchor's operations ---------------------------------------------------------------------

OPS = (
    "keypair_import",
    "keypair_delete",
    "keypair_list_100",
    "keypair_show",
    "server_group_create",
    "server_group_delete",
    "server_group_list_100",
    "server_group_show",
    "server_create",
    "server_show_build_req",
    "server_delete_build_req",
)
FLOOR_OPS = ("floor_insert", "floor_delete", "floor_get_pk", "floor_list_100")


def floor_op(op: str) -> str:
    """The floor op of the same shape (the anchor's summarize.py rule)."""
    if "list" in op:
        return "floor_list_100"
    if "show" in op:
        return "floor_get_pk"
    if "delete" in op:
        return "floor_delete"
    return "floor_insert"
