"""The online data migration that moves server groups out of the cells (see cellsv2/online_migrations.py).

``migrate_instance_groups_to_api_db`` copies each live legacy group, with its live policies and
members, to the API database under the same uuid, then soft-deletes it in its cell. Per cell and
batch it is set-based (a fixed number of queries, whatever the batch size):

1. in a transaction on the cell, claim up to ``max_count`` live groups: ``SELECT ... FOR UPDATE
   SKIP LOCKED`` on PostgreSQL (a concurrent runner takes other rows); on SQLite the IMMEDIATE
   transaction makes runners take turns on the cell. Read their live policies and members;
2. in one API transaction, insert the groups whose uuid the API database lacks
   (``bulk_create(ignore_conflicts=True)``), their policies, and the members of every claimed
   group (ignore_conflicts again, on the unique (group, instance) constraint); commit;
3. soft-delete the claimed groups, their policies and members with one UPDATE per table; commit.

A crash after step 2 leaves the group in both databases: readers show it once (the API copy
wins) and the next run finds the uuid in the API database, counts the group as done and only
soft-deletes it. A crash before step 2 commits changes nothing. So the migration is idempotent,
safe to interrupt anywhere and safe to run twice at once. Members added to a legacy group take
the same row lock first (services.servergroup_add_members), so none is added to a group while
it is being copied.

Differences from Nova's migration (Newton): every live policy row is copied (Nova's model has
kept only the first since Rocky; the API reads the first), with ``rules`` NULL since the legacy
tables had none; ``created_at``/``updated_at`` are kept (Nova reset them).
"""

import logging
from collections import defaultdict

from django.db import DatabaseError, transaction

from cellsv2.cells import CellDatabaseUnusable, CellNotFound, cell_mappings, is_cell_failure, scatter_gather_cells
from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS
from servergroups.exceptions import CellsUnavailable
from servergroups.models import (
    InstanceGroup,
    InstanceGroupDeletion,
    InstanceGroupMember,
    InstanceGroupPolicy,
    LegacyInstanceGroup,
    LegacyInstanceGroupMember,
    LegacyInstanceGroupPolicy,
)
from servergroups.services import legacy_servergroups_soft_delete

logger = logging.getLogger(__name__)


def _copy_to_api(groups: list[LegacyInstanceGroup], policies: dict, members: dict) -> int:
    """Insert the claimed groups into the API database (one transaction); how many were new.

    A uuid already in the API database was copied by an earlier, interrupted run: its policies
    are not copied again, its members are (idempotently), so nothing added meanwhile is lost.
    """
    uuids = [group.uuid for group in groups]
    with transaction.atomic(using=API_ALIAS):
        existing = set(InstanceGroup.objects.filter(uuid__in=uuids).values_list("uuid", flat=True))
        new = [group for group in groups if group.uuid not in existing]
        InstanceGroup.objects.bulk_create(
            [
                InstanceGroup(
                    uuid=group.uuid,
                    name=group.name,
                    project_id=group.project_id,
                    user_id=group.user_id,
                    created_at=group.created_at,
                    updated_at=group.updated_at,
                )
                for group in new
            ],
            ignore_conflicts=True,
        )
        api_ids = dict(InstanceGroup.objects.filter(uuid__in=uuids).values_list("uuid", "id"))
        InstanceGroupPolicy.objects.bulk_create(
            [
                InstanceGroupPolicy(group_id=api_ids[group.uuid], policy=policy, rules=None)
                for group in new
                for policy in policies[group.id]
            ]
        )
        InstanceGroupMember.objects.bulk_create(
            [
                InstanceGroupMember(group_id=api_ids[group.uuid], instance_uuid=instance_uuid)
                for group in groups
                for instance_uuid in dict.fromkeys(members[group.id])
            ],
            ignore_conflicts=True,
        )
    return len(new)


def _soft_delete_copied(group_ids: list[int]) -> None:
    """Step 3 in the targeted cell (a seam the crash tests interrupt)."""
    legacy_servergroups_soft_delete(group_ids=group_ids)


def _migrate_cell(cell, budget: int, deleted: set[str]) -> int:
    """Move up to ``budget`` live groups of one cell; how many were moved (or dropped: a group of
    ``deleted``, deleted by its user while this cell did not answer, is only soft-deleted)."""
    with target_cell(cell) as alias, transaction.atomic(using=alias):
        claimed = list(LegacyInstanceGroup.objects.live().select_for_update(skip_locked=True).order_by("id")[:budget])
        if not claimed:
            return 0
        ids = [group.id for group in claimed]
        groups = [group for group in claimed if group.uuid not in deleted]
        policies, members = defaultdict(list), defaultdict(list)
        rows = LegacyInstanceGroupPolicy.objects.live().filter(group_id__in=ids).order_by("id")
        for group_id, policy in rows.values_list("group_id", "policy"):
            policies[group_id].append(policy)
        rows = LegacyInstanceGroupMember.objects.live().filter(group_id__in=ids).order_by("id")
        for group_id, instance_uuid in rows.values_list("group_id", "instance_id"):
            members[group_id].append(instance_uuid)
        new = _copy_to_api(groups, policies, members) if groups else 0
        _soft_delete_copied(ids)
    if new < len(groups):
        logger.info("%d server groups of cell %s were already in the API database", len(groups) - new, cell.identity)
    if len(groups) < len(claimed):
        logger.info("%d deleted server groups of cell %s dropped", len(claimed) - len(groups), cell.identity)
    return len(claimed)


def migrate_instance_groups_to_api_db(*, max_count: int) -> tuple[int, int]:
    """Move live legacy server groups from every cell (cell0 included) to the API database.

    Reads and soft-deletes the cells' instance_groups, instance_group_policy and
    instance_group_member; writes the same tables of the API database (same uuids). Touches at
    most ``max_count`` groups; a group deleted while its cell was down (instance_group_deletions)
    is dropped, not copied, and the records are cleared once no cell holds a legacy group. Returns
    (found, done): found = groups claimed, done = groups moved
    (all of them: a uuid already in the API database counts as moved). A cell that fails is
    logged and skipped; if no cell moved anything and one failed, raises CellsUnavailable so the
    runner reports the error.
    """
    found = 0
    failed = []
    deleted = set(InstanceGroupDeletion.objects.values_list("uuid", flat=True))
    for cell in cell_mappings():
        budget = max_count - found
        if budget <= 0:
            break
        try:
            found += _migrate_cell(cell, budget, deleted)
        except (DatabaseError, CellDatabaseUnusable, CellNotFound) as exc:
            logger.error("migrate_instance_groups_to_api_db: cell %s failed: %s", cell.identity, exc)
            failed.append(cell.identity)
    if failed and not found:
        raise CellsUnavailable(failed)
    if not found and not failed and deleted:
        # Every cell answered and holds no live legacy group: nothing is left for a record to hide.
        InstanceGroupDeletion.objects.filter(uuid__in=deleted).delete()
    return found, found


def _count_live_legacy_groups(cell) -> int:
    return LegacyInstanceGroup.objects.live().count()


def pending_instance_groups() -> int:
    """Live legacy server groups still in the cells, cell0 included (reads only; for the dashboard).

    Raises CellsUnavailable when a cell does not answer (a partial total would say too little).
    """
    results = scatter_gather_cells(cell_mappings(), _count_live_legacy_groups)
    failed = [uuid for uuid, result in results.items() if is_cell_failure(result)]
    if failed:
        raise CellsUnavailable(failed)
    return sum(results.values())


migrate_instance_groups_to_api_db.pending = pending_instance_groups
