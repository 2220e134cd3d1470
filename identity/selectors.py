"""Reads of projects, users, role assignments and API tokens (API database)."""

import hashlib

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from identity.exceptions import IdentityError
from identity.models import ApiToken, Project


def token_hash(token: str) -> str:
    """What ``ApiToken.token_hash`` stores for a plain token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def project_get(*, ref: str) -> Project:
    """A project by id or name; raises IdentityError."""
    project = Project.objects.filter(project_id=ref).first() or Project.objects.filter(name=ref).first()
    if project is None:
        raise IdentityError(f"Project {ref!r} not found.")
    return project


def user_get(*, username: str):
    """A Django user by name; raises IdentityError."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise IdentityError(f"User {username!r} not found.")
    return user


def project_list() -> QuerySet:
    """Every project by name, with its role assignments and their users loaded."""
    return Project.objects.prefetch_related("role_assignments__user")


def token_list() -> QuerySet:
    """Every API token, oldest first, with its user and project loaded."""
    return ApiToken.objects.select_related("user", "project").order_by("created_at")


def token_find(*, token: str) -> ApiToken | None:
    """The row of a plain token, with its user and project loaded; None for a token nobody issued."""
    return ApiToken.objects.select_related("user", "project").filter(token_hash=token_hash(token)).first()


def role_names(*, user, project: Project) -> list[str]:
    """The roles a user holds on a project, as assigned (not expanded)."""
    return list(user.role_assignments.filter(project=project).values_list("role", flat=True))
