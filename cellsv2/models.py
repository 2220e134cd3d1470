"""The quota engine's tables (API database).

Limits use Nova's three tables: ``quota_classes`` (the ``default`` class overrides the settings'
defaults), ``quotas`` (per project) and ``project_user_quotas`` (per user of a project);
``cellsv2_quota_locks`` holds the rows a quota check locks. Projects, users' roles and API tokens
are the ``identity`` app's.
"""

from django.db import models

from cellsv2.db import ApiModel, NovaIndex


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


class ProjectUserQuota(ApiModel):
    """A limit for one user of a project (Nova's API-database project_user_quotas table)."""

    user_id = models.CharField(max_length=255)
    project_id = models.CharField(max_length=255)
    resource = models.CharField(max_length=255)
    hard_limit = models.IntegerField(null=True)

    class Meta:
        db_table = "project_user_quotas"
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "project_id", "resource"],
                name="uniq_project_user_quotas0user_id0project_id0resource",
            )
        ]
        indexes = [
            NovaIndex(fields=["project_id"], name="project_user_quotas_project_id_idx"),
            NovaIndex(fields=["user_id"], name="project_user_quotas_user_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.user_id} {self.resource}={self.hard_limit}"


class QuotaClass(ApiModel):
    """A limit of a quota class (Nova's API-database quota_classes); only ``default`` is applied."""

    class_name = models.CharField(max_length=255, null=True)
    resource = models.CharField(max_length=255, null=True)
    hard_limit = models.IntegerField(null=True)

    class Meta:
        db_table = "quota_classes"
        indexes = [models.Index(fields=["class_name"], name="quota_classes_class_name_idx")]
        verbose_name_plural = "quota classes"

    def __str__(self) -> str:
        return f"{self.class_name} {self.resource}={self.hard_limit}"


class QuotaLock(ApiModel):
    """A row to lock while a quota is checked and the new rows are written (no over-quota races)."""

    scope = models.CharField(max_length=255, unique=True)

    class Meta:
        db_table = "cellsv2_quota_locks"

    def __str__(self) -> str:
        return self.scope
