"""The quota engine's tables (API database).

Quota overrides use Nova's ``quotas`` table; ``cellsv2_quota_locks`` holds the rows a quota check
locks. Projects, users' roles and API tokens are the ``identity`` app's.
"""

from django.db import models

from cellsv2.db import ApiModel


class Quota(ApiModel):
    """A per-project quota limit overriding the default (Nova's API-database quotas table)."""

    project_id = models.CharField(max_length=255)
    resource = models.CharField(max_length=255)
    hard_limit = models.IntegerField(null=True)

    class Meta:
        db_table = "quotas"
        constraints = [
            models.UniqueConstraint(fields=["project_id", "resource"], name="uniq_quotas0project_id0resource")
        ]
        indexes = [models.Index(fields=["project_id"], name="quotas_project_id_idx")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.resource}={self.hard_limit}"


class QuotaLock(ApiModel):
    """A row to lock while a quota is checked and the new rows are written (no over-quota races)."""

    scope = models.CharField(max_length=255, unique=True)

    class Meta:
        db_table = "cellsv2_quota_locks"

    def __str__(self) -> str:
        return self.scope
