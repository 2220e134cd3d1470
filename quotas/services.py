"""Writes of limits (API database, through the quota engine in cellsv2.quotas)."""

from django.db import transaction

from cellsv2.db import API_ALIAS
from cellsv2.quotas import quota_class_update, quota_delete, quota_set, quota_settable
from quotas.exceptions import InvalidQuotaClassName, QuotaLimitOutOfRange


def _unbounded(value: int) -> float:
    return float("inf") if value == -1 else value


def quota_set_update(*, project_id: str, limits: dict[str, int], user_id: str | None = None, force: bool = False):
    """Set a project's (or user's) limits, all or none (Nova's two passes: validate, then write).

    Without ``force`` a limit must be at least what is used and, for a user, at most what the
    project leaves (QuotaLimitOutOfRange). One transaction in the API database.
    """
    if not force:
        settable = quota_settable(project_id=project_id, user_id=user_id)
        for resource, limit in limits.items():
            minimum, maximum = settable[resource]
            if _unbounded(limit) < _unbounded(minimum):
                raise QuotaLimitOutOfRange(resource=resource, limit=limit, minimum=minimum)
            if _unbounded(limit) > _unbounded(maximum):
                raise QuotaLimitOutOfRange(resource=resource, limit=limit, maximum=maximum)
    with transaction.atomic(using=API_ALIAS):
        for resource, limit in limits.items():
            quota_set(project_id=project_id, user_id=user_id, resource=resource, hard_limit=limit)


def quota_set_delete(*, project_id: str, user_id: str | None = None) -> int:
    """Revert a project (and its users) or one user to the defaults; API database."""
    return quota_delete(project_id=project_id, user_id=user_id)


def quota_class_set_update(*, class_name: str, limits: dict[str, int]) -> dict[str, int]:
    """Write a quota class's limits; ``default`` changes every project's defaults. API database."""
    if not 1 <= len(class_name) <= 255:
        raise InvalidQuotaClassName()
    return quota_class_update(class_name=class_name, limits=limits)
