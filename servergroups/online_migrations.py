"""The online data migration that moves server groups out of the cells (see cellsv2/online_migrations.py).

``migrate_instance_groups_to_api_db`` copies each live legacy group, with its live policies and
members, to the API database under the same uuid, then soft-deletes it in its cell. A cell is
moved chunk by chunk (``MOVE_CHUNK`` groups; memory stays flat whatever the batch size), each
chunk set-based, a fixed number of statements whatever its size:

1. in a transaction on the cell, claim up to a chunk of live groups: ``SELECT ... FOR UPDATE
   SKIP LOCKED`` on PostgreSQL (a concurrent runner takes other rows); on SQLite the IMMEDIATE
   transaction makes runners take turns on the cell. Read their live policies and members;
2. write the groups whose uuid the API database lacks, their policies, and the members of every
   claimed group; commit. On PostgreSQL one statement writes the three tables (rows bound as
   binary arrays, no model objects); when one of the uuids is there already it fails as a whole
   and the chunk takes the general path: one API transaction that inserts the missing groups
   (``ON CONFLICT DO NOTHING``), their policies, and the members (ON CONFLICT again, on the
   unique (group, instance) constraint);
3. soft-delete the claimed groups, their policies and members with one UPDATE per table; commit.

On PostgreSQL (outside a caller's transaction) a cell is moved by two lanes at once, each with
its own connections, each claiming its own chunks (SKIP LOCKED keeps them apart, as it keeps
concurrent runners apart): while one lane writes to the API database, the other soft-deletes in
the cell, so both databases work at the same time on two cores.

A crash after step 2 leaves the group in both databases: readers show it once (the API copy
wins) and the next run finds the uuid in the API database, counts the group as done and only
soft-deletes it. A crash before step 2 commits changes nothing. So the migration is idempotent,
safe to interrupt anywhere and safe to run twice at once. Members added to a legacy group take
the same row lock first (services.servergroup_add_members), so none is added to a group while
it is being copied.

A legacy group with several live policies (the pre-2.64 model allowed a list) arrives with its
first one only (by row id), ``rules`` NULL, as Nova's migration stores it (``InstanceGroup.create``
with legacy ``policies`` keeps ``policies[0]``): the API model has one policy per group. The
others are named in a warning per group. Difference from Nova's migration (Newton):
``created_at``/``updated_at`` are kept (Nova reset them).
"""

import logging
import threading
from collections import defaultdict
from contextlib import nullcontext
from typing import NamedTuple

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from cellsv2.bulk import binary_cursor, second_connection
from cellsv2.cells import CellDatabaseUnusable, CellNotFound, cell_mappings, is_cell_failure, scatter_gather_cells
from cellsv2.context import current_cell_alias, target_cell
from cellsv2.db import API_ALIAS, sql
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

# Groups claimed, copied and soft-deleted per chunk (about five rows each with a policy and three
# members). Bounds a chunk's memory and statements; large enough that the fixed statements and
# the two commits of a chunk cost little next to its rows (500 and 1000 moved 50k groups at the
# same rate, same host; 500 peaked 7 MB lower).
MOVE_CHUNK = 500


class _Group(NamedTuple):
    """A claimed legacy group, as read from its cell."""

    id: int
    uuid: str
    name: str | None
    project_id: str | None
    user_id: str | None
    created_at: object
    updated_at: object


_GROUP_COLUMNS = ", ".join(_Group._fields)


def _warn_several_policies(groups: list[_Group], policies: dict) -> None:
    for group in groups:
        if len(policies[group.id]) > 1:
            logger.warning(
                "Server group %s has policies %s: the API database keeps the first, %r, as Nova does",
                group.uuid,
                ", ".join(policies[group.id]),
                policies[group.id][0],
            )


def _copy_to_api(groups: list[_Group], policies: dict, members: dict) -> int:
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
        _warn_several_policies(new, policies)
        InstanceGroupPolicy.objects.bulk_create(
            [
                InstanceGroupPolicy(group_id=api_ids[group.uuid], policy=policies[group.id][0], rules=None)
                for group in new
                if policies[group.id]
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


# PostgreSQL: the groups, their first policies and their members in one statement. The groups get
# their API ids in cell id order; policies and members are joined to them by uuid and cell id.
_INSERT_ALL = """
WITH batch AS (
    SELECT * FROM unnest(%b::integer[], %b::text[], %b::text[], %b::text[], %b::text[],
                         %b::timestamptz[], %b::timestamptz[], %b::boolean[], %b::text[])
        AS b(cell_id, uuid, name, project_id, user_id, created_at, updated_at, has_policy, policy)
), inserted AS (
    INSERT INTO instance_groups (uuid, name, project_id, user_id, created_at, updated_at)
    SELECT uuid, name, project_id, user_id, created_at, updated_at FROM batch ORDER BY cell_id
    RETURNING id, uuid
), ids AS (
    SELECT batch.cell_id, inserted.id, batch.has_policy, batch.policy FROM batch JOIN inserted USING (uuid)
), policies AS (
    INSERT INTO instance_group_policy (policy, rules, group_id, created_at)
    SELECT policy, NULL, id, %b FROM ids WHERE has_policy ORDER BY id
)
INSERT INTO instance_group_member (instance_uuid, group_id, created_at)
SELECT m.instance_uuid, ids.id, %b
FROM unnest(%b::integer[], %b::text[]) WITH ORDINALITY AS m(cell_id, instance_uuid, n) JOIN ids USING (cell_id)
ORDER BY m.n
"""


def _api_insert_all(groups: list[_Group], policies: dict, members: dict) -> bool:
    """Insert every group with its first policy and its members in one statement (PostgreSQL);
    False, and nothing written, when one of the uuids (or members) is there already.

    The common case: none of them is there yet. One statement, the rows bound in binary: no
    model object, no client-side quoting.
    """
    member_groups, member_uuids = [], []
    for group in groups:
        for instance_uuid in dict.fromkeys(members[group.id]):
            member_groups.append(group.id)
            member_uuids.append(instance_uuid)
    columns = [list(column) for column in zip(*groups, strict=True)]
    has_policy = [bool(policies[group.id]) for group in groups]
    first = [policies[group.id][0] if policies[group.id] else None for group in groups]
    now = timezone.now()
    api = sql.connection(API_ALIAS)
    api.ensure_connection()
    try:
        # One statement: in autocommit it is all or nothing; inside a transaction, a savepoint.
        with transaction.atomic(using=API_ALIAS) if api.in_atomic_block else nullcontext():
            with binary_cursor(API_ALIAS) as cursor:
                cursor.execute(_INSERT_ALL, [*columns, has_policy, first, now, now, member_groups, member_uuids])
    except IntegrityError:
        return False
    _warn_several_policies(groups, policies)
    return True


def _read_chunk(alias: str, *, after: int, limit: int) -> tuple[list[_Group], dict, dict]:
    """Claim (lock) up to ``limit`` live legacy groups of the cell ``alias`` with ``id > after``, by
    id; (groups, {group id: live policies}, {group id: live member uuids}), children by row id.

    Call inside a transaction on the cell: the lock lasts until its end.
    """
    policies, members = defaultdict(list), defaultdict(list)
    if sql.is_postgresql(alias):
        with binary_cursor(alias) as cursor:
            cursor.execute(
                f"SELECT {_GROUP_COLUMNS} FROM instance_groups WHERE deleted = 0 AND id > %s "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                [after, limit],
            )
            groups = [_Group._make(row) for row in cursor.fetchall()]
            if not groups:
                return groups, policies, members
            ids = [group.id for group in groups]
            cursor.execute(
                "SELECT group_id, policy FROM instance_group_policy "
                "WHERE deleted = 0 AND group_id = ANY(%b::integer[]) ORDER BY id",
                [ids],
            )
            for group_id, policy in cursor.fetchall():
                policies[group_id].append(policy)
            cursor.execute(
                "SELECT group_id, instance_id FROM instance_group_member "
                "WHERE deleted = 0 AND group_id = ANY(%b::integer[]) ORDER BY id",
                [ids],
            )
            for group_id, instance_uuid in cursor.fetchall():
                members[group_id].append(instance_uuid)
        return groups, policies, members
    claimed = (
        LegacyInstanceGroup.objects.live()
        .filter(id__gt=after)
        .select_for_update(skip_locked=True)
        .order_by("id")
        .values_list(*_Group._fields)[:limit]
    )
    groups = [_Group._make(row) for row in claimed]
    if not groups:
        return groups, policies, members
    ids = [group.id for group in groups]
    rows = LegacyInstanceGroupPolicy.objects.live().filter(group_id__in=ids).order_by("id")
    for group_id, policy in rows.values_list("group_id", "policy"):
        policies[group_id].append(policy)
    rows = LegacyInstanceGroupMember.objects.live().filter(group_id__in=ids).order_by("id")
    for group_id, instance_uuid in rows.values_list("group_id", "instance_id"):
        members[group_id].append(instance_uuid)
    return groups, policies, members


def _soft_delete_copied(group_ids: list[int]) -> None:
    """Step 3 in the targeted cell (a seam the crash tests interrupt).

    On PostgreSQL three UPDATEs with the ids bound as one binary array (Nova's soft delete:
    deleted = id, deleted_at = now, updated_at untouched), children first.
    """
    alias = current_cell_alias()
    if not sql.is_postgresql(alias):
        legacy_servergroups_soft_delete(group_ids=group_ids)
        return
    now = timezone.now()
    with binary_cursor(alias) as cursor:
        for table, column in (
            ("instance_group_policy", "group_id"),
            ("instance_group_member", "group_id"),
            ("instance_groups", "id"),
        ):
            cursor.execute(
                f"UPDATE {table} SET deleted = id, deleted_at = %b "
                f"WHERE {column} = ANY(%b::integer[]) AND deleted = 0",
                [now, group_ids],
            )


class _CellMove:
    """One cell's share of a call: the budget and the counts its lanes share (under a lock)."""

    def __init__(self, cell, budget: int, deleted: set[str]):
        self.cell = cell
        self.budget = budget
        self.deleted = deleted
        self.lock = threading.Lock()
        # Claims read above the highest id this call claimed in the cell: every live row below
        # it was claimed by a lane of this call or locked by another runner (SKIP LOCKED) when
        # read. A row such a runner leaves live is found by a later call (it starts at 0).
        self.after = 0
        self.claimed = self.existing = self.dropped = 0

    def take(self) -> tuple[int, int]:
        """(chunk size, after) for a lane's next claim; size 0 when the budget is spent."""
        with self.lock:
            limit = min(MOVE_CHUNK, self.budget)
            self.budget -= limit
            return limit, self.after

    def claimed_chunk(self, limit: int, groups: list[_Group]) -> None:
        with self.lock:
            self.budget += limit - len(groups)
            if groups:
                self.after = max(self.after, groups[-1].id)

    def done(self, claimed: int, existing: int, dropped: int) -> None:
        with self.lock:
            self.claimed += claimed
            self.existing += existing
            self.dropped += dropped

    def move_chunk(self, *, on_full=None) -> bool:
        """Claim, copy and soft-delete one chunk of the cell (one cell transaction); False when
        the cell had fewer live groups left to claim than asked for (or the budget is spent)."""
        limit, after = self.take()
        if not limit:
            return False
        with target_cell(self.cell) as alias, transaction.atomic(using=alias):
            claimed, policies, members = _read_chunk(alias, after=after, limit=limit)
            self.claimed_chunk(limit, claimed)
            if not claimed:
                return False
            if len(claimed) == limit and on_full is not None:
                on_full()
            groups = [group for group in claimed if group.uuid not in self.deleted]
            new = len(groups)
            if groups and not (sql.is_postgresql(API_ALIAS) and _api_insert_all(groups, policies, members)):
                new = _copy_to_api(groups, policies, members)
            _soft_delete_copied([group.id for group in claimed])
        self.done(len(claimed), len(groups) - new, len(claimed) - len(groups))
        return len(claimed) == limit

    def lane(self, *, on_full=None) -> None:
        while self.move_chunk(on_full=on_full):
            pass


def _migrate_cell(move: _CellMove, helper) -> None:
    """Move up to ``move.budget`` live groups of one cell, counted in ``move`` (a group of
    ``move.deleted``, deleted by its user while this cell did not answer, is only soft-deleted).

    With ``helper`` (a thread with its own connections), a second lane starts once the first
    claims a full chunk (the cell has more) and moves chunks alongside it.
    """
    cell = move.cell
    second = None

    def start_second():
        nonlocal second
        if second is None and helper is not None:
            second = helper.submit(move.lane)

    try:
        move.lane(on_full=start_second)
    finally:
        # Never return (or raise) while the other lane may still be moving.
        if second is not None:
            error = second.exception()
            if error is not None:
                raise error
        if move.existing:
            logger.info("%d server groups of cell %s were already in the API database", move.existing, cell.identity)
        if move.dropped:
            logger.info("%d deleted server groups of cell %s dropped", move.dropped, cell.identity)


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
    cells = cell_mappings()
    aliases = [API_ALIAS]
    for cell in cells:
        try:
            with target_cell(cell) as alias:
                aliases.append(alias)
        except (CellDatabaseUnusable, CellNotFound):
            pass
    # The second lane's thread: PostgreSQL only, and never inside a caller's transaction.
    with second_connection(*aliases, name="servergroups-move") as helper:
        for cell in cells:
            budget = max_count - found
            if budget <= 0:
                break
            move = _CellMove(cell, budget, deleted)
            try:
                _migrate_cell(move, helper)
            except (DatabaseError, CellDatabaseUnusable, CellNotFound) as exc:
                logger.error("migrate_instance_groups_to_api_db: cell %s failed: %s", cell.identity, exc)
                failed.append(cell.identity)
            # The chunks a failing cell moved before it failed were moved.
            found += move.claimed
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
