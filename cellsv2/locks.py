"""Deployment-wide runner locks held through the API database.

Operator commands that move data in batches (``online_data_migrations``, ``cell_v2
map_instances``) take one of these so that a second copy started by mistake exits at once with
"already running" instead of racing the first. Both kinds are released by the operating system
when the holder dies, so a crash never leaves a stale lock behind:

- PostgreSQL: a transaction-level advisory lock (``pg_try_advisory_xact_lock``) taken in a
  transaction kept open for the whole block on a connection of its own. A transaction, not a
  session, is what a pooler in transaction mode (PgBouncer) keeps on one server connection: a
  session-level lock would land on whichever server connection ran the statement, be "held" by
  every other client that happens to get that connection next, and its unlock could run on
  another one. The command's own work commits on its usual connection meanwhile. When the holder
  dies, its connection (and PgBouncer's server connection, which is mid-transaction) is closed
  and the lock goes with it;
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
    # A stable signed 64-bit key for pg_try_advisory_xact_lock.
    return int.from_bytes(hashlib.sha256(f"cellsv2:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def runner_lock(name: str, *, using: str = API_ALIAS):
    """Hold the deployment-wide lock ``name`` inside the block; raise LockHeld if it is taken."""
    connection = sql.connection(using)
    if connection.vendor == "postgresql":
        with sql.dedicated_connection(using) as holder:
            holder.autocommit = False
            with holder.cursor() as cursor:
                # The transaction starts here and ends when the connection closes (rolled back).
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_lock_key(name)])
                if not cursor.fetchone()[0]:
                    raise LockHeld(name)
            yield
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
