"""Writes of server groups: create, update (add-only members), add members, delete.

New groups go to the API database only. A legacy group still in a cell is changed where it is
(Nova's transition fallback), until the online data migration moves it. Every write that needs a
quota happens inside ``quota_reserve`` (a lock in the API database), so concurrent requests at
the limit never end above it.
"""

import json
import logging
import uuid as uuid_lib
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cellsv2.cells import cells_answering, scatter_gather_all_cells
from cellsv2.context import current_cell_alias, target_cell
from cellsv2.db import API_ALIAS, sql
from cellsv2.quotas import quota_reserve
from servergroups import selectors
from servergroups.exceptions import CellsUnavailable, InvalidServerGroup, ServerGroupExists, ServerGroupNotFound
from servergroups.models import (
    POLICIES,
    POLICY_ANTI_AFFINITY,
    RULE_MAX_SERVER_PER_HOST,
    InstanceGroup,
    InstanceGroupDeletion,
    InstanceGroupMember,
    InstanceGroupPolicy,
    LegacyInstanceGroup,
    LegacyInstanceGroupMember,
    LegacyInstanceGroupPolicy,
)
from servergroups.selectors import ServerGroup

logger = logging.getLogger(__name__)

QUOTA_GROUPS_MESSAGE = "Quota exceeded, too many server groups."
QUOTA_MEMBERS_MESSAGE = "Quota exceeded, too many servers in group"
RULES_NEED_ANTI_AFFINITY = "Only anti-affinity policy supports rules."


def _checked_rules(policy: str, rules: dict | None) -> dict:
    """Nova's checks on a policy and its rules (the API schema already ran for API callers)."""
    if policy not in POLICIES:
        raise InvalidServerGroup(f"Invalid policy {policy!r}; expected one of {', '.join(POLICIES)}.")
    rules = dict(rules or {})
    if rules and policy != POLICY_ANTI_AFFINITY:
        raise InvalidServerGroup(RULES_NEED_ANTI_AFFINITY)
    unknown = set(rules) - {RULE_MAX_SERVER_PER_HOST}
    if unknown:
        raise InvalidServerGroup(f"Unknown server group rules: {', '.join(sorted(unknown))}.")
    if RULE_MAX_SERVER_PER_HOST in rules:
        value = rules[RULE_MAX_SERVER_PER_HOST]
        try:
            number = int(str(value))
        except ValueError:
            number = 0
        if isinstance(value, bool) or number < 1:
            raise InvalidServerGroup(f"{RULE_MAX_SERVER_PER_HOST} must be a positive integer.")
        rules[RULE_MAX_SERVER_PER_HOST] = number
    return rules


def _uuid_live_in_cells(group_uuid: str) -> bool:
    """True when a live legacy group has this uuid; raises CellsUnavailable if a cell cannot say."""
    if not selectors.legacy_groups_present():
        return False

    def in_cell(cell):
        return LegacyInstanceGroup.objects.live().filter(uuid=group_uuid).exists()

    answered, failed = cells_answering(in_cell, what=f"server group uuid {group_uuid}")
    if any(found for _, found in answered):
        return True
    if failed:
        raise CellsUnavailable(failed)
    return False


def _api_group_insert(*, group: InstanceGroup, policy: str, rules: dict) -> int:
    """Insert a new group and its policy row into the API database; returns the group's id.

    Call inside a transaction on the API database. Two INSERTs, the first RETURNING the id
    (SQLite 3.35+ and PostgreSQL): Model.save()'s machinery cost more than the statements on
    this path, which runs under the quota lock. Raises IntegrityError for a uuid already there.
    """
    adapt = sql.connection(API_ALIAS).ops.adapt_datetimefield_value
    with sql.cursor(API_ALIAS) as cursor:
        cursor.execute(
            f"INSERT INTO {InstanceGroup._meta.db_table} (created_at, updated_at, user_id, project_id, uuid, name)"
            " VALUES (%s, NULL, %s, %s, %s, %s) RETURNING id",
            [adapt(group.created_at), group.user_id, group.project_id, group.uuid, group.name],
        )
        group_id = cursor.fetchone()[0]
        cursor.execute(
            f"INSERT INTO {InstanceGroupPolicy._meta.db_table} (created_at, updated_at, policy, rules, group_id)"
            " VALUES (%s, NULL, %s, %s, %s)",
            [adapt(timezone.now()), policy, json.dumps(rules), group_id],
        )
    return group_id


def servergroup_create(
    *,
    project_id: str,
    user_id: str,
    name: str,
    policy: str,
    rules: dict | None = None,
    uuid: str | None = None,
    check_quota: bool = True,
) -> ServerGroup:
    """Create a group with one policy row in the API database (Nova's InstanceGroup.create).

    ``rules`` are stored as JSON text (``{}`` when none). Without ``uuid`` a new uuid4 is used
    (it cannot exist anywhere, so no cell is asked); a given ``uuid`` is refused with
    ServerGroupExists when the API database has it or a cell has it live (CellsUnavailable when a
    cell cannot tell). Raises InvalidServerGroup and OverQuota (server_groups per project, held
    under the quota lock while the rows are written).
    """
    rules = _checked_rules(policy, rules)
    group = InstanceGroup(
        project_id=project_id, user_id=user_id, uuid=str(uuid) if uuid else str(uuid_lib.uuid4()), name=name
    )
    try:
        group.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise InvalidServerGroup(
            "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
        ) from None
    group_uuid = group.uuid
    if check_quota:
        guard = quota_reserve(
            project_id=project_id, resource="server_groups", message=QUOTA_GROUPS_MESSAGE, check_user=user_id
        )
    else:
        guard = transaction.atomic(using=API_ALIAS)
    with guard:
        if uuid and _uuid_live_in_cells(group_uuid):
            raise ServerGroupExists(group_uuid)
        # No savepoint of its own: the IntegrityError leaves the guard's transaction as
        # ServerGroupExists, which rolls the whole of it back.
        try:
            group.id = _api_group_insert(group=group, policy=policy, rules=rules)
        except IntegrityError:
            raise ServerGroupExists(group_uuid) from None
    return ServerGroup(
        id=group.id,
        uuid=group.uuid,
        name=group.name,
        project_id=group.project_id,
        user_id=group.user_id,
        policies=(policy,),
        rules=dict(rules),
        members=(),
        created_at=group.created_at,
        updated_at=group.updated_at,
    )


def _missing(group: ServerGroup, instance_uuids: list[str]) -> list[str]:
    present = set(group.members)
    return [u for u in instance_uuids if u not in present]


def _add_members_api(group_uuid: str, instance_uuids: list[str]) -> bool:
    """Add the missing members of an API group (API database); False if the group is gone."""
    row = InstanceGroup.objects.select_for_update().filter(uuid=group_uuid).first()
    if row is None:
        return False
    InstanceGroupMember.objects.bulk_create(
        [InstanceGroupMember(group=row, instance_uuid=u) for u in instance_uuids], ignore_conflicts=True
    )
    return True


def _add_members_legacy(group: ServerGroup, instance_uuids: list[str]) -> bool:
    """Add the missing members of a legacy group in its cell; False if it is no longer live there.

    The group row is locked first: the online data migration claims groups with the same lock,
    so a member is never added to a group that is being copied (it would be left behind).
    """
    with target_cell(group.cell_uuid) as alias, transaction.atomic(using=alias):
        row = LegacyInstanceGroup.objects.live().select_for_update().filter(uuid=group.uuid).first()
        if row is None:
            return False
        present = set(
            LegacyInstanceGroupMember.objects.live()
            .filter(group=row, instance_id__in=instance_uuids)
            .values_list("instance_id", flat=True)
        )
        LegacyInstanceGroupMember.objects.bulk_create(
            [LegacyInstanceGroupMember(group=row, instance_id=u) for u in instance_uuids if u not in present]
        )
    return True


def servergroup_add_members(
    *,
    group_uuid: str,
    instance_uuids: Iterable[str],
    context=None,
    user_id: str | None = None,
    check_quota: bool = True,
) -> ServerGroup:
    """Add instances to a group, add-only (Nova's InstanceGroup.add_members); returns the group.

    Members already present are left as they are; none is ever removed. The lookup is not
    project-scoped (as Nova's). With ``check_quota``, server_group_members of the group (owned by
    ``user_id``, or ``context``'s user) is checked for the new members and held while they are
    written: OverQuota with Nova's "Quota exceeded, too many servers in group". Writes the API
    database, or the group's cell for a legacy group (retrying in the API database if the
    migration moved it meanwhile). Raises ServerGroupNotFound.
    """
    if user_id is None and context is not None:
        user_id = context.user_id
    wanted = list(dict.fromkeys(str(u) for u in instance_uuids))
    for _ in range(3):
        group = selectors.servergroup_get(uuid=group_uuid)
        missing = _missing(group, wanted)
        if not missing:
            return group
        guard = (
            quota_reserve(
                project_id=group.project_id,
                scope=group.uuid,
                resource="server_group_members",
                delta=len(missing),
                user_id=user_id,
                message=QUOTA_MEMBERS_MESSAGE,
            )
            if check_quota
            else transaction.atomic(using=API_ALIAS)
        )
        with guard:
            added = _add_members_legacy(group, missing) if group.is_legacy else _add_members_api(group.uuid, missing)
        if added:
            return selectors.servergroup_get(uuid=group_uuid)
    raise ServerGroupNotFound(group_uuid)


def servergroup_members_remove(*, instance_uuids: Iterable[str]) -> int:
    """Take instances out of whatever group holds them; returns how many member rows went.

    For servers that never existed after all (a cancelled build request; Nova's
    _remove_members_in_db / destroy_members_bulk). API member rows are hard-deleted; instances
    not found there are looked for in the legacy tables of every cell, whose live rows are
    soft-deleted. The group itself stays.
    """
    uuids = list(dict.fromkeys(str(u) for u in instance_uuids))
    if not uuids:
        return 0
    if not selectors.legacy_groups_present():
        # Nothing to look for in the cells: one DELETE is the whole job.
        return InstanceGroupMember.objects.filter(instance_uuid__in=uuids)._raw_delete(API_ALIAS)
    with transaction.atomic(using=API_ALIAS):
        rows = InstanceGroupMember.objects.filter(instance_uuid__in=uuids)
        found = set(rows.values_list("instance_uuid", flat=True))
        removed = rows.delete()[0]
    rest = [u for u in uuids if u not in found]
    if not rest:
        return removed

    def in_cell(cell):
        with transaction.atomic(using=current_cell_alias()):
            return LegacyInstanceGroupMember.objects.live().filter(instance_id__in=rest).soft_delete()

    for cell_uuid, result in scatter_gather_all_cells(in_cell).items():
        if isinstance(result, int):
            removed += result
        else:
            logger.warning("Could not remove members %s from legacy groups of cell %s: %s", rest, cell_uuid, result)
    return removed


def servergroup_update(*, uuid: str, name: str | None = None, members: Iterable[str] = ()) -> ServerGroup:
    """Nova's InstanceGroup.save(): rename (when ``name`` is given) and add members (add-only).

    Policies cannot be changed (Nova refuses it too). No quota is checked, as in Nova's save();
    use servergroup_add_members for members that count against the quota. Writes where the
    group lives (API database or its cell). Raises ServerGroupNotFound.
    """
    group = selectors.servergroup_get(uuid=uuid)
    if name is not None and name != group.name:
        if group.is_legacy:
            with target_cell(group.cell_uuid) as alias, transaction.atomic(using=alias):
                changed = (
                    LegacyInstanceGroup.objects.live().filter(uuid=uuid).update(name=name, updated_at=timezone.now())
                )
        else:
            with transaction.atomic(using=API_ALIAS):
                changed = InstanceGroup.objects.filter(uuid=uuid).update(name=name, updated_at=timezone.now())
        if not changed:
            # Moved by the migration (or deleted) in between: start again where it is now.
            return servergroup_update(uuid=uuid, name=name, members=members)
    members = list(members)
    if members:
        return servergroup_add_members(group_uuid=uuid, instance_uuids=members, check_quota=False)
    return selectors.servergroup_get(uuid=uuid)


def legacy_servergroups_soft_delete(*, group_ids: list[int]) -> None:
    """Soft-delete legacy groups with their live policies and members, children first.

    Call inside target_cell() (the cell database is written): three UPDATEs whatever the number
    of groups (Nova's soft delete: deleted = id, deleted_at = now, updated_at untouched).
    """
    LegacyInstanceGroupPolicy.objects.live().filter(group_id__in=group_ids).soft_delete()
    LegacyInstanceGroupMember.objects.live().filter(group_id__in=group_ids).soft_delete()
    LegacyInstanceGroup.objects.live().filter(id__in=group_ids).soft_delete()


def _api_group_delete(*, uuid: str, project_id: str | None) -> bool:
    """Delete an API-database group with its policies and members; False when there was none.

    Call inside a transaction on the API database. The group row goes first, which locks it (the
    lock servergroup_add_members takes before adding members), then its children by the ids the
    DELETE returned: three statements, no SELECT, no ORM cascade collection. The foreign keys
    are deferred to the commit on SQLite and PostgreSQL alike, so the order is allowed.
    """
    where, params = "uuid = %s", [uuid]
    if project_id is not None:
        where, params = f"{where} AND project_id = %s", [*params, project_id]
    with sql.cursor(API_ALIAS) as cursor:
        cursor.execute(f"DELETE FROM {InstanceGroup._meta.db_table} WHERE {where} RETURNING id", params)
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return False
        placeholders = ", ".join(["%s"] * len(ids))
        for child in (InstanceGroupPolicy, InstanceGroupMember):
            cursor.execute(f"DELETE FROM {child._meta.db_table} WHERE group_id IN ({placeholders})", ids)
    return True


def servergroup_delete(*, uuid: str, project_id: str | None = None) -> None:
    """Delete a group wherever it lives, children first (Nova's InstanceGroup.destroy).

    Live legacy copies are soft-deleted in every cell FIRST (group, policies, members), then the
    API rows are hard-deleted (group, policies, members, in one transaction). In that order a
    crash half-way leaves the API copy, which is still listed and can be deleted again; the other
    order would leave a legacy copy that the online migration would bring back. A cell that does
    not answer may hold one too: the deletion is then recorded (``instance_group_deletions``), so
    the copy is never shown nor moved when the cell is back. The cells are asked only while some
    still hold legacy groups (``legacy_groups_present``): afterwards a delete is one transaction
    on the API database. Members go with the group even if their
    servers still exist (as in Nova). ``project_id`` limits the delete to that project's group.
    Raises ServerGroupNotFound when nothing was deleted.
    """
    uuid = str(uuid)

    def in_cell(cell):
        with transaction.atomic(using=current_cell_alias()):
            legacy = LegacyInstanceGroup.objects.live().filter(uuid=uuid)
            if project_id is not None:
                legacy = legacy.filter(project_id=project_id)
            ids = list(legacy.values_list("id", flat=True))
            if ids:
                legacy_servergroups_soft_delete(group_ids=ids)
            return len(ids)

    deleted = 0
    silent = False
    if selectors.legacy_groups_present():
        for cell_uuid, result in scatter_gather_all_cells(in_cell).items():
            if isinstance(result, int):
                deleted += result
            else:
                logger.warning(
                    "Server group %s: cell %s did not answer, recording the deletion (%s)", uuid, cell_uuid, result
                )
                silent = True
    with transaction.atomic(using=API_ALIAS):
        deleted_in_api = _api_group_delete(uuid=uuid, project_id=project_id)
        if silent and (deleted or deleted_in_api):
            # A legacy copy the silent cell may hold must not come back with it.
            InstanceGroupDeletion.objects.get_or_create(uuid=uuid)
    if not (deleted or deleted_in_api):
        raise ServerGroupNotFound(uuid)
