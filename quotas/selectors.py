"""Reads of limits and usage (API database, through the quota engine in cellsv2.quotas)."""

from dataclasses import dataclass

from django.apps import apps
from django.conf import settings

from cellsv2.quotas import (
    quota_class_limits,
    quota_project_limits,
    quota_project_usages,
)
from quotas.exceptions import InvalidProject


@dataclass(frozen=True)
class QuotaSet:
    """A project's (or user's) limits and, when asked, what it uses of each counted resource."""

    project_id: str | None
    limits: dict[str, int]
    usages: dict[str, int] | None = None


def project_verify(*, project_id: str) -> None:
    """Raise InvalidProject for a project this cloud's identity does not know (token auth only:
    behind Keystone headers or noauth there is nothing to ask, as Nova without a Keystone endpoint)."""
    if settings.CELLSV2_AUTH != "token" or not apps.is_installed("identity"):
        return
    # By name, as AUTH_USER_MODEL: the token mode is the identity app's, which may be left out.
    project = apps.get_model("identity", "Project")
    if not project.objects.filter(project_id=project_id).exists():
        raise InvalidProject(project_id)


def quota_set_get(*, project_id: str, user_id: str | None = None, usages: bool = False) -> QuotaSet:
    """The limits of a project or of one of its users, with usage counted when ``usages``."""
    limits = quota_project_limits(project_id=project_id, user_id=user_id)
    used = quota_project_usages(project_id=project_id, user_id=user_id) if usages else None
    return QuotaSet(project_id=project_id, limits=limits, usages=used)


def quota_defaults_get(*, project_id: str) -> QuotaSet:
    """The defaults (the ``default`` quota class over the settings)."""
    return QuotaSet(project_id=project_id, limits=quota_class_limits())


def quota_class_get(*, class_name: str) -> QuotaSet:
    """A quota class's limits (only ``default`` is applied to projects, as in Nova)."""
    return QuotaSet(project_id=class_name, limits=quota_class_limits(class_name))
