"""Identity services of the compute API: projects, users, roles and API tokens (API database)."""

import secrets
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from cellsv2.db import API_ALIAS
from identity.exceptions import IdentityError
from identity.models import ROLE_CHOICES, ApiToken, Project, RoleAssignment
from identity.selectors import token_hash

ROLES = [value for value, _ in ROLE_CHOICES]


def project_create(*, name: str, project_id: str | None = None, description: str = "") -> Project:
    """Create a project; its id is a 32-hex-digit uuid like Keystone's unless given."""
    if not name or not name.strip():
        raise IdentityError("A project needs a name.")
    try:
        with transaction.atomic(using=API_ALIAS):
            return Project.objects.create(
                name=name.strip(), project_id=project_id or uuid.uuid4().hex, description=description
            )
    except IntegrityError:
        raise IdentityError(f"A project named {name!r} or with id {project_id!r} already exists.") from None


def user_create(*, username: str, password: str | None = None, email: str = ""):
    """Create a Django user that can hold API tokens (no password: token-only)."""
    User = get_user_model()
    try:
        with transaction.atomic(using=API_ALIAS):
            user = User(username=username, email=email)
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.full_clean()
            user.save()
            return user
    except IntegrityError:
        raise IdentityError(f"User {username!r} already exists.") from None
    except Exception as exc:
        if exc.__class__.__name__ == "ValidationError":
            raise IdentityError(f"Invalid user: {exc}") from None
        raise


def role_assign(*, user, project: Project, role: str) -> RoleAssignment:
    """Give a user a role on a project (idempotent)."""
    if role not in ROLES:
        raise IdentityError(f"Unknown role {role!r}; roles are {', '.join(ROLES)}.")
    with transaction.atomic(using=API_ALIAS):
        assignment, _ = RoleAssignment.objects.get_or_create(user=user, project=project, role=role)
    return assignment


def token_create(
    *, user, project: Project, expires_in: timedelta | None = None, description: str = ""
) -> tuple[ApiToken, str]:
    """Issue an API token for a user on a project; returns (row, plain token). Only its hash is stored."""
    if not RoleAssignment.objects.filter(user=user, project=project).exists():
        raise IdentityError(f"User {user.username!r} has no role on project {project.name!r}.")
    token = secrets.token_urlsafe(32)
    with transaction.atomic(using=API_ALIAS):
        row = ApiToken.objects.create(
            token_hash=token_hash(token),
            prefix=token[:8],
            user=user,
            project=project,
            description=description,
            expires_at=timezone.now() + expires_in if expires_in else None,
        )
    return row, token


def token_revoke(*, prefix: str) -> int:
    """Delete the tokens whose first characters are ``prefix``; returns how many."""
    if len(prefix) < 4:
        raise IdentityError("Give at least the first 4 characters of the token.")
    with transaction.atomic(using=API_ALIAS):
        deleted, _ = ApiToken.objects.filter(prefix__startswith=prefix[:8]).delete()
    return deleted


def role_revoke(*, assignment_id: int) -> int:
    """Take back one role assignment; returns how many rows went (0 when already gone)."""
    with transaction.atomic(using=API_ALIAS):
        deleted, _ = RoleAssignment.objects.filter(pk=assignment_id).delete()
    return deleted


def token_delete(*, token_id: int) -> int:
    """Revoke exactly one token (by its row); returns how many rows went (0 when already gone)."""
    with transaction.atomic(using=API_ALIAS):
        deleted, _ = ApiToken.objects.filter(pk=token_id).delete()
    return deleted
