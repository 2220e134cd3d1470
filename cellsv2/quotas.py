"""Counting quotas (Nova's): usage is counted from the rows that exist, never kept in a counter.

Resources register a counter ``fn(project_id, user_id) -> int``. ``quota_reserve`` checks a
request against the limit and holds a lock row in the API database while the caller writes its
new rows, so concurrent creates at the limit never end above it (Nova re-checks only servers).
A caller that needs more than the number from the rows it counts (key pairs: the names, to
refuse a taken one) passes its own ``usage`` to ``quota_reserve``, so it counts once, under the
lock.
Limits (Nova's DbQuotaDriver), most specific first: a user's row in ``project_user_quotas``, the
project's row in ``quotas``, the ``default`` class's row in ``quota_classes``, the setting
``CELLSV2_QUOTAS``; -1 means unlimited. As Nova's ``limit_check_project_and_user``: a resource
counted per user (key pairs: ``user_id``) is held to the user's limit (the user's row, else the
project's); a resource counted per project is held to the project's limit and, with
``check_user``, that user's own count to the user's row when there is one.
"""

from collections.abc import Callable
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cellsv2.db import API_ALIAS, sql
from cellsv2.models import ProjectUserQuota, Quota, QuotaClass, QuotaLock

DEFAULT_CLASS = "default"
Counter = Callable[[str, str | None], int]
_counters: dict[str, Counter] = {}

# nova-network's quotas, gone with it: Nova still shows them (unlimited) below microversion 2.36.
LEGACY_DEFAULTS = {"fixed_ips": -1, "floating_ips": -1, "security_groups": -1, "security_group_rules": -1}

# The three levels in one statement (1: the user's, 2: the project's, 3: the default class's);
# read by every create, so one plain statement without the ORM's query building.
_LIMIT_SQL = (
    f"SELECT 1, hard_limit FROM {ProjectUserQuota._meta.db_table} WHERE project_id = %s AND user_id = %s "
    "AND resource = %s "
    f"UNION ALL SELECT 2, hard_limit FROM {Quota._meta.db_table} WHERE project_id = %s AND resource = %s "
    f"UNION ALL SELECT 3, hard_limit FROM {QuotaClass._meta.db_table} WHERE class_name = %s AND resource = %s"
)
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


def quota_resources() -> dict[str, int]:
    """Every quota resource with its default from the settings (legacy nova-network ones: -1)."""
    return {**settings.CELLSV2_QUOTAS, **LEGACY_DEFAULTS}


def _limit_or_unlimited(value: int | None) -> int:
    return -1 if value is None or value < 0 else value


def quota_limits_by_level(*, project_id: str, resource: str, user_id: str | None = None) -> tuple[int, int | None]:
    """(project's limit, user's own limit or None) of a resource; one query in the API database."""
    params = [project_id, user_id or "", resource, project_id, resource, DEFAULT_CLASS, resource]
    levels = dict(sql.fetch_all(API_ALIAS, _LIMIT_SQL, params))
    if 2 in levels:
        project = _limit_or_unlimited(levels[2])
    elif 3 in levels:
        project = _limit_or_unlimited(levels[3])
    else:
        project = quota_resources()[resource]
    user = _limit_or_unlimited(levels[1]) if user_id and 1 in levels else None
    return project, user


def quota_limit(*, project_id: str, resource: str, user_id: str | None = None) -> int:
    """The limit (-1: unlimited) of a project, or with ``user_id`` of that user (the user's row,
    else the project's limit). Reads the API database (one query)."""
    project, user = quota_limits_by_level(project_id=project_id, resource=resource, user_id=user_id)
    return user if user is not None else project


def _check_resource(resource: str) -> None:
    if resource not in quota_resources():
        known = ", ".join(sorted(quota_resources()))
        raise ValueError(f"Unknown quota resource {resource!r}; known: {known}")


def quota_set(*, project_id: str, resource: str, hard_limit: int | None, user_id: str | None = None):
    """Set a project's (or one user's) limit (None or -1: unlimited); writes the API database."""
    _check_resource(resource)
    with transaction.atomic(using=API_ALIAS):
        if user_id:
            quota, _ = ProjectUserQuota.objects.update_or_create(
                project_id=project_id, user_id=user_id, resource=resource, defaults={"hard_limit": hard_limit}
            )
        else:
            quota, _ = Quota.objects.update_or_create(
                project_id=project_id, resource=resource, defaults={"hard_limit": hard_limit}
            )
    return quota


def quota_delete(*, project_id: str, user_id: str | None = None) -> int:
    """Back to the defaults: remove a user's limits, or a project's and all its users' (Nova's
    destroy_all_by_project[_and_user]). Writes the API database; returns the rows removed."""
    with transaction.atomic(using=API_ALIAS):
        users = ProjectUserQuota.objects.filter(project_id=project_id)
        if user_id:
            return users.filter(user_id=user_id).delete()[0]
        return users.delete()[0] + Quota.objects.filter(project_id=project_id).delete()[0]


def quota_class_limits(class_name: str = DEFAULT_CLASS) -> dict[str, int]:
    """A quota class's limits: its rows over the settings' defaults (one query, API database).

    The ``default`` class is the defaults every project starts from (Nova's get_defaults).
    """
    limits = quota_resources()
    for resource, hard_limit in QuotaClass.objects.filter(class_name=class_name).values_list("resource", "hard_limit"):
        if resource in limits:
            limits[resource] = _limit_or_unlimited(hard_limit)
    return limits


def quota_class_update(*, class_name: str, limits: dict[str, int]) -> dict[str, int]:
    """Write a quota class's limits (Nova's update_class/create_class); API database."""
    for resource in limits:
        _check_resource(resource)
    with transaction.atomic(using=API_ALIAS):
        for resource, hard_limit in limits.items():
            updated = QuotaClass.objects.filter(class_name=class_name, resource=resource).update(
                hard_limit=hard_limit, updated_at=timezone.now()
            )
            if not updated:
                QuotaClass.objects.create(class_name=class_name, resource=resource, hard_limit=hard_limit)
    return quota_class_limits(class_name)


def quota_project_limits(*, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """Every resource's limit for a project, or for one user of it (the user's rows over the
    project's, as Nova's get_user_quotas). Three queries in the API database."""
    limits = quota_class_limits(DEFAULT_CLASS)
    rows = list(Quota.objects.filter(project_id=project_id).values_list("resource", "hard_limit"))
    if user_id:
        rows += ProjectUserQuota.objects.filter(project_id=project_id, user_id=user_id).values_list(
            "resource", "hard_limit"
        )
    for resource, hard_limit in rows:
        if resource in limits:
            limits[resource] = _limit_or_unlimited(hard_limit)
    return limits


# Nova's _get_usages reports these as 0: key pairs are counted per user and members per group.
_NOT_REPORTED = ("key_pairs", "server_group_members")


def quota_project_usages(*, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """What a project (or one of its users) uses of each counted resource, as Nova reports it."""
    return {
        resource: 0 if resource in _NOT_REPORTED else counter(project_id, user_id)
        for resource, counter in _counters.items()
        if resource in quota_resources()
    }


def quota_settable(*, project_id: str, user_id: str | None = None) -> dict[str, tuple[int, int]]:
    """(minimum, maximum) a limit may be set to without force (Nova's get_settable_quotas).

    For a project: at least what is in use, at most unlimited. For a user: at least what the user
    uses, at most what the project's limit leaves after its other users' limits, plus the user's own.
    """
    usages = quota_project_usages(project_id=project_id, user_id=user_id)
    if not user_id:
        return {resource: (usages.get(resource, 0), -1) for resource in quota_resources()}
    project_limits = quota_project_limits(project_id=project_id)
    remains = dict(project_limits)
    user_rows = ProjectUserQuota.objects.filter(project_id=project_id).values_list("user_id", "resource", "hard_limit")
    own = {}
    for other, resource, hard_limit in user_rows:
        if resource not in remains:
            continue
        if other == user_id:
            own[resource] = _limit_or_unlimited(hard_limit)
        if remains[resource] >= 0:
            remains[resource] = -1 if hard_limit is None or hard_limit < 0 else remains[resource] - hard_limit
    settable = {}
    for resource, remaining in remains.items():
        mine = own.get(resource, 0)
        maximum = -1 if remaining < 0 or mine < 0 else remaining + mine
        settable[resource] = (usages.get(resource, 0), maximum)
    return settable


def quota_limit_check(*, project_id: str, user_id: str | None = None, messages: dict | None = None, **values) -> None:
    """Nova's limit_check for what is not counted but bounded per request (``metadata_items=3``):
    raise OverQuota when a value is above the user's limit (the user's row, else the project's).
    ``messages`` gives the client message per resource, formatted with ``allowed``."""
    for resource, value in values.items():
        limit = quota_limit(project_id=project_id, resource=resource, user_id=user_id)
        if 0 <= limit < value:
            template = (messages or {}).get(resource, "Quota exceeded for {resource}: {value} is above {allowed}")
            raise OverQuota(
                template.format(resource=resource, value=value, allowed=limit),
                resource=resource,
                requested=value,
                used=0,
                limit=limit,
            )


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
    check_user: str | None = None,
) -> None:
    """Raise OverQuota if ``delta`` more would exceed the limit now (no lock: an early, cheap answer).

    The limit is the project's (the user's for ``user_id``); usage is counted for ``scope`` when
    the resource is counted per something else than the project (server_group_members: per
    group). Callers still write inside ``quota_reserve``, which checks again under the lock.
    """
    _check_now(
        project_id=project_id,
        resource=resource,
        delta=delta,
        user_id=user_id,
        message=message,
        scope=scope,
        check_user=check_user,
    )


def _check_now(*, project_id, resource, delta, user_id, message, scope, check_user, usage=None) -> None:
    """The checks of quota_check and quota_reserve (one query for the limits, one count per level)."""
    project_limit, user_limit = quota_limits_by_level(
        project_id=project_id, resource=resource, user_id=user_id or check_user
    )
    limit = user_limit if user_id and user_limit is not None else project_limit
    if limit >= 0:
        used = (
            usage()
            if usage is not None
            else quota_usage(project_id=scope or project_id, resource=resource, user_id=user_id)
        )
        _refuse_over_limit(resource=resource, delta=delta, used=used, limit=limit, message=message)
    if check_user and not user_id and user_limit is not None and user_limit >= 0:
        # The project's count fits; the user's own limit holds the user's own count.
        used = quota_usage(project_id=scope or project_id, resource=resource, user_id=check_user)
        _refuse_over_limit(resource=resource, delta=delta, used=used, limit=user_limit, message=message)


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
    check_user: str | None = None,
):
    """Check ``delta`` more of ``resource`` against the limit and keep the check true inside the block.

    Opens a transaction on the API database and locks the (resource, project[, user]) row; the
    caller's API-database writes inside the block commit with it. Raises OverQuota. ``usage``,
    when given, is called under the lock instead of the resource's counter (and not at all when
    the limit is unlimited). The usage is counted once, under the lock: no need to call
    ``quota_check`` first. ``check_user``: also hold that user's count to the user's own limit.
    """
    with transaction.atomic(using=API_ALIAS):
        _lock(f"{resource}:{scope or project_id}:{user_id or ''}")
        _check_now(
            project_id=project_id,
            resource=resource,
            delta=delta,
            user_id=user_id,
            message=message,
            scope=scope,
            check_user=check_user,
            usage=usage,
        )
        yield
