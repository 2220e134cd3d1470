"""The online data migration registry and runner (Nova's ``db online_data_migrations``).

Contract for every registered function (the same as Nova's):

- it is called as ``fn(max_count=N)`` and returns ``(found, done)``: ``found`` is how many rows
  still needed migrating that it saw (at most N), ``done`` how many it migrated; found > 0 with
  done == 0 means "nothing more can be migrated right now";
- it touches at most ``max_count`` rows, is idempotent, and is safe to interrupt at any point and
  to re-run; its docstring names the databases it reads and writes;
- names (``fn.__name__``) are unique.

A function may also return ``(found, done, conflicts)`` where conflicts counts rows it could not
move and set aside for an operator; any conflict makes the run exit non-zero until resolved.

A function may carry ``fn.pending``: a callable taking no argument that returns how many rows are
still to migrate, reading only (never migrating or locking anything). The operators' dashboard
shows it; it raises if it cannot count (a cell that does not answer), and the dashboard says so.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

MigrationFn = Callable[..., tuple]

# Rows per batch when no --max-count is given (the command's loop and the admin's "run one batch").
# Each batch asks every cell a few fixed questions (instances still without key pairs, what is
# left); 5000 rows keep those under a tenth of the work (key pairs moved 17k/s with 1000-row
# batches, 20k/s with 5000, same host) and a batch's memory small (peak RSS ~80 MB, flat).
BATCH_SIZE = 5000

# Filled by the apps in their AppConfig.ready(), so in INSTALLED_APPS order and, within an app, in
# the order it registers them: a migration that depends on another is registered after it (key
# pairs move only once every instance embeds its key). Each registration names the milestone that
# added it.
ONLINE_MIGRATIONS: list[MigrationFn] = []


def register_online_migration(fn: MigrationFn, *, added_in: str) -> MigrationFn:
    """Add an online data migration to the registry (once; apps call it from ``ready()``)."""
    fn.added_in = added_in
    if fn not in ONLINE_MIGRATIONS:
        ONLINE_MIGRATIONS.append(fn)
    return fn


def registered_migrations() -> tuple[MigrationFn, ...]:
    """The registry, checked for duplicate names."""
    names = [fn.__name__ for fn in ONLINE_MIGRATIONS]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"Online data migration names must be unique: {sorted(duplicates)}")
    return tuple(ONLINE_MIGRATIONS)


@dataclass
class MigrationTotals:
    found: int = 0
    done: int = 0
    conflicts: int = 0


@dataclass
class BatchResult:
    totals: dict[str, MigrationTotals] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(t.done for t in self.totals.values())


def online_migrations_run_batch(migrations, max_count: int) -> BatchResult:
    """Run one batch (Nova's ``_run_migration``): each function in order with the budget left.

    A function that raises counts as (0, 0) and is recorded in ``failed``; the batch stops once
    the functions together migrated ``max_count`` rows. Touches whatever the functions touch.
    """
    batch = BatchResult()
    ran = 0
    for fn in migrations:
        name = fn.__name__
        count = max_count - ran
        conflicts = 0
        try:
            outcome = fn(max_count=count)
            found, done = outcome[0], outcome[1]
            conflicts = outcome[2] if len(outcome) > 2 else 0
        except Exception as exc:
            # One line for the operator (a cell down is routine); the traceback at DEBUG.
            logger.debug("Error attempting to run %s", name, exc_info=True)
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            batch.messages.append(f"Error attempting to run {name}: {type(exc).__name__}{': ' + text if text else ''}")
            batch.failed.append(name)
            found = done = 0
        if found:
            batch.messages.append(f"{found} rows matched query {name}, {done} migrated")
        batch.totals[name] = MigrationTotals(found, done, conflicts)
        ran += done
        if ran >= max_count:
            break
    return batch
