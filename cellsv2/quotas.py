"""Counting quotas (Nova's): usage is counted from the rows that exist, never kept in a counter.

Resources register a counter ``fn(project_id, user_id) -> int``. ``quota_reserve`` checks a
request against the limit and holds a lock row in the API database while the caller writes its
new rows, so concurrent creates at the limit never end above it (Nova re-checks only servers).
Limits: ``CELLSV2_QUOTAS`` defaults, overridden per project in the ``quotas`` table; -1 means
unlimited.
"""

from collections.abc import Callable
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction

from cellsv2.models import Quota, QuotaLock

API = "api"
Counter = Callable[[str, str | None], int]
_counters: dict[str, Counter] = {}


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
    """The limit of a resource for a project (-1: unlimited). Reads the API database."""
    override = Quota.objects.filter(project_id=project_id, resource=resource).values_list("hard_limit", flat=True)
    for hard_limit in override:
        return -1 if hard_limit is None else hard_limit
    return settings.CELLSV2_QUOTAS[resource]


def quota_set(*, project_id: str, resource: str, hard_limit: int | None) -> Quota:
    """Override a project's limit (None or -1: unlimited); writes the API database."""
    if resource not in settings.CELLSV2_QUOTAS:
        raise ValueError(f"Unknown quota resource {resource!r}; known: {', '.join(sorted(settings.CELLSV2_QUOTAS))}")
    with transaction.atomic(using=API):
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
    if used + delta > limit:
        default = f"Quota exceeded for {resource}: Requested {delta}, but already used {used} of {limit} {resource}"
        raise OverQuota(message or default, resource=resource, requested=delta, used=used, limit=limit)


def _lock(scope: str) -> None:
    QuotaLock.objects.get_or_create(scope=scope)
    # Row lock on PostgreSQL; on SQLite the IMMEDIATE transaction already serialises writers.
    QuotaLock.objects.select_for_update().filter(scope=scope).exists()


@contextmanager
def quota_reserve(
    *,
    project_id: str,
    resource: str,
    delta: int = 1,
    user_id: str | None = None,
    message: str | None = None,
    scope: str | None = None,
):
    """Check ``delta`` more of ``resource`` against the limit and keep the check true inside the block.

    Opens a transaction on the API database and locks the (resource, project[, user]) row; the
    caller's API-database writes inside the block commit with it. Raises OverQuota.
    """
    with transaction.atomic(using=API):
        _lock(f"{resource}:{scope or project_id}:{user_id or ''}")
        quota_check(
            project_id=project_id, resource=resource, delta=delta, user_id=user_id, message=message, scope=scope
        )
        yield
