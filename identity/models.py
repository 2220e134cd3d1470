"""Projects, role assignments and API tokens of the compute API (API database).

With ``CELLSV2_AUTH=token`` (the default) the API authenticates its own users: Django users with
role assignments on projects, and API tokens stored only as SHA-256 hashes. The tables keep the
names they had when these models were cellsv2's (``cellsv2_projects``, ...).
"""

from django.conf import settings
from django.db import models

from cellsv2.db import ApiModel

ROLE_READER = "reader"
ROLE_MEMBER = "member"
ROLE_ADMIN = "admin"
ROLE_CHOICES = [(ROLE_READER, "reader"), (ROLE_MEMBER, "member"), (ROLE_ADMIN, "admin")]


class Project(ApiModel):
    """A project (tenant): what owns servers, server groups and quotas."""

    project_id = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=255, unique=True)
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)

    class Meta:
        db_table = "cellsv2_projects"
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class RoleAssignment(ApiModel):
    """A user's role on a project; admin implies member, which implies reader."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments")
    project = models.ForeignKey("identity.Project", on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)

    class Meta:
        db_table = "cellsv2_role_assignments"
        constraints = [
            models.UniqueConstraint(fields=["user", "project", "role"], name="uniq_role_assignments0user0project0role")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} on {self.project}"


class ApiToken(ApiModel):
    """An API token scoped to one project; only the SHA-256 of the token is stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="The first characters, to recognise a token in lists")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    project = models.ForeignKey("identity.Project", on_delete=models.CASCADE, related_name="api_tokens")
    description = models.CharField(max_length=255, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "cellsv2_api_tokens"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user} on {self.project})"
