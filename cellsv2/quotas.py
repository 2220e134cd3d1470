"""Counting quotas (Nova's): usage is counted from the rows that exist, never kept in a counter.

Resources register a counter ``fn(project_id, user_id) -> int``. ``quota_reserve`` checks a
request against the limit and holds a lock row in the API database while the caller writes its
new rows, so concurrent creates at the limit never end above it (Nova re-checks only servers).
A caller that needs more than the number from the rows it counts (key pairs: the names, to
refuse a taken one) passes its own ``usage`` to ``quota_reserve``, so it counts once, under the
lock.
Limits: ``CELLSV2_QUOTAS`` defaults, overridden per project in the ``quotas`` table; -1 means
unlimited.
"""

from collections.abc import Callable
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cellsv2.db import API_ALIAS, sql
from cellsv2.models import Quota, QuotaLock

Counter = Callable[[str, str | None], int]
_counters: dict[str, Counter] = {}

_LIMIT_SQL = f"SELECT hard_limit FROM {Quota._meta.db_table} WHERE project_id = %s AND resource = %s"
# ON CONFLICT DO UPDATE is the one single-statement form that also locks a row that exists
# (DO NOTHING leaves it unlocked); PostgreSQL and SQLite both read it.
_LOCK_SQL = (
    f"INSERT INTO {QuotaLock._meta.db_table} (scope, created_at) VALUES (%s, %s) "
    "ON CONFLICT (scope) DO UPDATE SET scope = excluded.scope"
)


class OverQuota(Exception):
    """A request that would take a resource above its limit; str() is the client message."""

    def __init__(self, message: str, *, resource: str, requested: int, used: int, limit: int):
        super().__init__(message)
        self.resource, self.requested, self.used, self.limit = resource, requested, used, limit


def quota_counter(resource: str):
    """Register the function that counts a resource's usage (decorator)."""

    def register(fn: Counter) -> Counter:
        _counters[resource] = fn
        return fn

    return register


def quota_limit(*, project_id: str, resource: str) -> int:
    """The limit of a resource for a project (-1: unlimited). Reads the API database (one query)."""
    # Read by every create: one plain statement, without the ORM's query building.
    row = sql.fetch_one(API_ALIAS, _LIMIT_SQL, [project_id, resource])
    if row is None:
        return settings.CELLSV2_QUOTAS[resource]
    return -1 if row[0] is None else row[0]


def quota_set(*, project_id: str, resource: str, hard_limit: int | None) -> Quota:
    """Override a project's limit (None or -1: unlimited); writes the API database."""
    if resource not in settings.CELLSV2_QUOTAS:
        raise ValueError(f"Unknown quota resource {resource!r}; known: {', '.join(sorted(settings.CELLSV2_QUOTAS))}")
    with transaction.atomic(using=API_ALIAS):
        quota, _ = Quota.objects.update_or_create(
            project_id=project_id, resource=resource, defaults={"hard_limit": hard_limit}
        )
    return quota


def quota_usage(*, project_id: str, resource: str, user_id: str | None = None) -> int:
    """What a project (or one user of it) uses of a resource now."""
    return _counters[resource](project_id, user_id)


def quota_check(
    *,
    project_id: str,
    resource: str,
    delta: int = 1,
    user_id: str | None = None,
    message=None,
    scope: str | None = None,
) -> None:
    """Raise OverQuota if ``delta`` more would exceed the limit now (no lock: an early, cheap answer).

    The limit is the project's; usage is counted for ``scope`` when the resource is counted per
    something else than the project (server_group_members: per group). Callers still write inside
    ``quota_reserve``, which checks again under the lock.
    """
    limit = quota_limit(project_id=project_id, resource=resource)
    if limit < 0:
        return
    used = quota_usage(project_id=scope or project_id, resource=resource, user_id=user_id)
    _refuse_over_limit(resource=resource, delta=delta, used=used, limit=limit, message=message)


def _refuse_over_limit(*, resource: str, delta: int, used: int, limit: int, message: str | None) -> None:
    if used + delta > limit:
        default = f"Quota exceeded for {resource}: Requested {delta}, but already used {used} of {limit} {resource}"
        raise OverQuota(message or default, resource=resource, requested=delta, used=used, limit=limit)


def _lock(scope: str) -> None:
    """Hold the lock row of ``scope`` until the API database transaction ends (one statement).

    Call inside ``transaction.atomic(using=API_ALIAS)``.
    """
    connection = sql.connection(API_ALIAS)
    if connection.vendor == "sqlite" and getattr(connection, "transaction_mode", None) in ("IMMEDIATE", "EXCLUSIVE"):
        # The transaction began with BEGIN IMMEDIATE: it already holds SQLite's only write lock.
        return
    # The upsert creates the row the first time and takes its row lock every time: a concurrent
    # reserve of the same scope waits here until this transaction ends, and then counts what it
    # wrote.
    sql.execute(API_ALIAS, _LOCK_SQL, [scope, connection.ops.adapt_datetimefield_value(timezone.now())])


@contextmanager
def quota_reserve(
    *,
    project_id: str,
    resource: str,
    delta: int = 1,
    user_id: str | None = None,
    message: str | None = None,
    scope: str | None = None,
    usage: Callable[[], int] | None = None,
):
    """Check ``delta`` more of ``resource`` against the limit and keep the check true inside the block.

    Opens a transaction on the API database and locks the (resource, project[, user]) row; the
    caller's API-database writes inside the block commit with it. Raises OverQuota. ``usage``,
    when given, is called under the lock instead of the resource's counter (and not at all when
    the limit is unlimited). The usage is counted once, under the lock: no need to call
    ``quota_check`` first.
    """
    with transaction.atomic(using=API_ALIAS):
        _lock(f"{resource}:{scope or project_id}:{user_id or ''}")
        limit = quota_limit(project_id=project_id, resource=resource)
        if limit >= 0:
            used = (
                usage()
                if usage is not None
                else quota_usage(project_id=scope or project_id, resource=resource, user_id=user_id)
            )
            _refuse_over_limit(resource=resource, delta=delta, used=used, limit=limit, message=message)
        yield
