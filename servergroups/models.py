"""Server groups: the API-database tables and the legacy cell copies being moved out of the cells.

The API tables (Nova's API migration 018, ``rules`` from 060) have no soft delete. The legacy
tables keep Nova's main-database shape: soft delete, the member column called ``instance_id``
(it holds the instance *uuid*) and no ``rules``. Both tiers use the same table names; the router
keeps them apart (API models in ``api``, legacy models in the cells).

Nova's index names are part of the contract, but Django wants index names unique across all
models. The API models declare them; the legacy tables get theirs from ``RunSQL`` in the initial
migration, so each database ends up with exactly Nova's names.
"""

import json
import logging

from django.db import models

from cellsv2.db import ApiModel, CellModel, NovaIndex, SoftDeleteMixin, UUIDCharField

logger = logging.getLogger(__name__)

POLICY_AFFINITY = "affinity"
POLICY_ANTI_AFFINITY = "anti-affinity"
POLICY_SOFT_AFFINITY = "soft-affinity"
POLICY_SOFT_ANTI_AFFINITY = "soft-anti-affinity"
POLICIES = (POLICY_ANTI_AFFINITY, POLICY_AFFINITY, POLICY_SOFT_ANTI_AFFINITY, POLICY_SOFT_AFFINITY)
RULE_MAX_SERVER_PER_HOST = "max_server_per_host"


def rules_from_json(text: str | None) -> dict:
    """The rules dict of a policy row: ``{}`` for NULL or empty, ``max_server_per_host`` as an int.

    Nova keeps rules as a dict of strings and coerces ``max_server_per_host`` on read.
    """
    if not text:
        return {}
    try:
        rules = json.loads(text)
    except ValueError:
        logger.warning("Ignoring unreadable server group rules %r", text)
        return {}
    if not isinstance(rules, dict):
        return {}
    if RULE_MAX_SERVER_PER_HOST in rules:
        try:
            rules[RULE_MAX_SERVER_PER_HOST] = int(rules[RULE_MAX_SERVER_PER_HOST])
        except (TypeError, ValueError):
            logger.warning("Ignoring a non-integer max_server_per_host %r", rules[RULE_MAX_SERVER_PER_HOST])
            del rules[RULE_MAX_SERVER_PER_HOST]
    return rules


class InstanceGroup(ApiModel):
    """A server group (Nova's API-database instance_groups; names are not unique)."""

    user_id = models.CharField(max_length=255, null=True, blank=True)
    project_id = models.CharField(max_length=255, null=True, blank=True)
    uuid = UUIDCharField()
    name = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "instance_groups"
        constraints = [models.UniqueConstraint(fields=["uuid"], name="uniq_instance_groups0uuid")]

    def __str__(self) -> str:
        return f"{self.name} ({self.uuid})"


class InstanceGroupPolicy(ApiModel):
    """The policy of a server group, with its rules as JSON text (Nova's instance_group_policy)."""

    policy = models.CharField(max_length=255, null=True, blank=True)
    group = models.ForeignKey(
        "servergroups.InstanceGroup", on_delete=models.CASCADE, db_column="group_id", related_name="policies"
    )
    rules = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "instance_group_policy"
        indexes = [NovaIndex(fields=["policy"], name="instance_group_policy_policy_idx")]

    def __str__(self) -> str:
        return self.policy or ""

    @property
    def rules_dict(self) -> dict:
        return rules_from_json(self.rules)


class InstanceGroupMember(ApiModel):
    """One instance of a server group (Nova's instance_group_member; the uuid column is VARCHAR(255))."""

    instance_uuid = models.CharField(max_length=255, null=True, blank=True)
    # The unique constraint below starts with group_id, so it serves as the foreign key's index.
    group = models.ForeignKey(
        "servergroups.InstanceGroup",
        on_delete=models.CASCADE,
        db_column="group_id",
        db_index=False,
        related_name="members",
    )

    class Meta:
        db_table = "instance_group_member"
        indexes = [NovaIndex(fields=["instance_uuid"], name="instance_group_member_instance_idx")]
        # Not in Nova (which de-duplicates in code and can race); see migration 0001.
        constraints = [
            models.UniqueConstraint(
                fields=["group", "instance_uuid"], name="uniq_instance_group_member0group_id0instance_uuid"
            )
        ]

    def __str__(self) -> str:
        return self.instance_uuid or ""


class InstanceGroupDeletion(ApiModel):
    """A server group deleted while a cell that may hold a legacy copy did not answer.

    The copy must not come back with the cell: reads skip legacy groups of a recorded uuid and
    the move drops them instead of copying them. The move clears the records once no cell holds
    a legacy group.
    """

    uuid = UUIDCharField()

    class Meta:
        db_table = "instance_group_deletions"
        constraints = [models.UniqueConstraint(fields=["uuid"], name="uniq_instance_group_deletions0uuid")]

    def __str__(self) -> str:
        return f"server group {self.uuid} deleted"


class LegacyInstanceGroup(SoftDeleteMixin, CellModel):
    """A server group still in a cell database, from before server groups moved to the API database."""

    user_id = models.CharField(max_length=255, null=True, blank=True)
    project_id = models.CharField(max_length=255, null=True, blank=True)
    uuid = UUIDCharField()
    name = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "instance_groups"
        constraints = [models.UniqueConstraint(fields=["uuid", "deleted"], name="uniq_instance_groups0uuid0deleted")]

    def __str__(self) -> str:
        return f"{self.name} ({self.uuid})"


class LegacyInstanceGroupPolicy(SoftDeleteMixin, CellModel):
    """A policy of a legacy server group (no rules column; several rows were possible)."""

    policy = models.CharField(max_length=255, null=True, blank=True)
    group = models.ForeignKey(
        "servergroups.LegacyInstanceGroup", on_delete=models.CASCADE, db_column="group_id", related_name="policies"
    )

    class Meta:
        db_table = "instance_group_policy"
        # instance_group_policy_policy_idx is created by RunSQL in migration 0001 (see the module docstring).

    def __str__(self) -> str:
        return self.policy or ""


class LegacyInstanceGroupMember(SoftDeleteMixin, CellModel):
    """A member of a legacy server group; ``instance_id`` holds the instance uuid (Nova's column name)."""

    instance_id = models.CharField(max_length=255, null=True, blank=True)
    group = models.ForeignKey(
        "servergroups.LegacyInstanceGroup", on_delete=models.CASCADE, db_column="group_id", related_name="members"
    )

    class Meta:
        db_table = "instance_group_member"
        # instance_group_member_instance_idx is created by RunSQL in migration 0001 (see the module docstring).

    def __str__(self) -> str:
        return self.instance_id or ""
