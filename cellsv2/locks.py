"""Deployment-wide runner locks held through the API database.

Operator commands that move data in batches (``online_data_migrations``, ``cell_v2
map_instances``) take one of these so that a second copy started by mistake exits at once with
"already running" instead of racing the first. Both kinds are released by the operating system
when the holder dies, so a crash never leaves a stale lock behind:

- PostgreSQL: a session-level advisory lock on the API database connection;
- SQLite (one machine by nature): an ``flock`` on a file beside the API database file.
"""

import fcntl
import hashlib
from contextlib import contextmanager
from pathlib import Path

from cellsv2.db import API_ALIAS, sql


class LockHeld(RuntimeError):
    """Another process holds the runner lock."""


def _lock_key(name: str) -> int:
    # A stable signed 64-bit key for pg_try_advisory_lock.
    return int.from_bytes(hashlib.sha256(f"cellsv2:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def runner_lock(name: str, *, using: str = API_ALIAS):
    """Hold the deployment-wide lock ``name`` inside the block; raise LockHeld if it is taken."""
    connection = sql.connection(using)
    if connection.vendor == "postgresql":
        key = _lock_key(name)
        if not sql.fetch_value(using, "SELECT pg_try_advisory_lock(%s)", [key]):
            raise LockHeld(name)
        try:
            yield
        finally:
            sql.execute(using, "SELECT pg_advisory_unlock(%s)", [key])
        return
    db_name = str(connection.settings_dict["NAME"])
    path = Path(f"{db_name}.{name}.lock") if Path(db_name).parent.exists() else Path(f"/tmp/cellsv2.{name}.lock")
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(name) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
