"""Reads of server groups: the API database first, then the live legacy rows of every cell.

While the move to the API database is under way a group can be in either place, or, after a
crash between the copy and the soft delete, in both: the API copy wins and the group is listed
once (Nova concatenated the two lists; DESIGN.md asks for de-duplication). A cell that cannot be
reached is skipped with a warning: a down cell must not break server groups. Once no cell holds
live legacy groups (``legacy_groups_present``, checked once per cell-cache period) the cells are
not asked at all: a group is then one query of the API database, a list of groups too.

Every function takes ``project_id``: a uuid or name lookup and a list are limited to that
project when it is given (Nova scopes non-admin queries so that another project's group is "not
found"), and see every project when it is None (admins).

Members are instance uuids. Which of them still exist is answered through the instance mappings
(API database) and then ONE query per cell that holds some of them; a member whose mapping has no
cell yet is still a build request and counts as live.
"""

import logging
import uuid as uuid_lib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch, QuerySet

from cellsv2.cells import CellRowsPresence, cells_answering, is_cell_failure, scatter_gather_cells
from cellsv2.db import API_ALIAS, RawColumns, sql
from cellsv2.quotas import quota_counter
from mappings.models import InstanceMapping
from servergroups.exceptions import ServerGroupNotFound
from servergroups.models import (
    InstanceGroup,
    InstanceGroupDeletion,
    InstanceGroupMember,
    InstanceGroupPolicy,
    LegacyInstanceGroup,
    LegacyInstanceGroupMember,
    LegacyInstanceGroupPolicy,
    rules_from_json,
)
from servers.models import Instance

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerGroup:
    """A server group as callers see it, whichever database holds it.

    ``cell_uuid`` is None for a group of the API database and the cell's uuid for a legacy group
    still in a cell. ``policies`` lists every policy row (one since Nova 2.64's single ``policy``;
    legacy groups could have several), ``members`` every member uuid, deleted instances included.
    """

    id: int
    uuid: str
    name: str | None
    project_id: str | None
    user_id: str | None
    policies: tuple[str, ...]
    rules: dict = field(hash=False)
    members: tuple[str, ...]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    cell_uuid: str | None = None

    @property
    def policy(self) -> str | None:
        """The group's policy (Nova's model property: the first policy row)."""
        return self.policies[0] if self.policies else None

    @property
    def is_legacy(self) -> bool:
        return self.cell_uuid is not None


@dataclass(frozen=True)
class LiveMember:
    """A member whose instance is not deleted: its host (None while a build request, or when its
    cell did not answer) and its owner."""

    host: str | None
    user_id: str | None


# --- building ServerGroup values -----------------------------------------------------------------


_GROUPS = InstanceGroup._meta.db_table
_POLICIES = InstanceGroupPolicy._meta.db_table
_MEMBERS = InstanceGroupMember._meta.db_table

# The groups' columns of _API_GROUPS_SQL, in its order.
_GROUP_COLUMNS = RawColumns(
    InstanceGroup._meta.get_field(name)
    for name in ("id", "uuid", "name", "project_id", "user_id", "created_at", "updated_at")
)
# A group's columns, then its policy rows and member rows (LEFT JOINs: a group may have none),
# in Nova's order: groups by id, each group's children by id. ``{condition}`` selects groups (g).
_API_GROUPS_SQL = (
    "SELECT g.id, g.uuid, g.name, g.project_id, g.user_id, g.created_at, g.updated_at,"
    " p.id, p.policy, p.rules, m.id, m.instance_uuid"
    f" FROM {_GROUPS} g"
    f" LEFT JOIN {_POLICIES} p ON p.group_id = g.id"
    f" LEFT JOIN {_MEMBERS} m ON m.group_id = g.id"
    " WHERE {condition} ORDER BY g.id, p.id, m.id"
)


def _in_project(condition: str, params: list, project_id: str | None, table: str = "g") -> tuple[str, list]:
    """``condition`` limited to one project's groups (``table``: the groups' alias) unless None."""
    if project_id is None:
        return condition, params
    return f"{condition} AND {table}.project_id = %s", [*params, project_id]


def _api_groups(condition: str, params: list) -> list[ServerGroup]:
    """The API-database groups ``condition`` selects, by id, with policies and members: ONE query.

    ``condition`` is SQL on the groups' alias ``g`` (a subquery for anything that goes through
    members or pages). Each group comes back as (policies x members) rows, one policy in
    practice, so as many rows as members, and is put together here. Raw SQL and plain rows: for
    a show or a page of groups, building the ORM query and prefetch_related's bookkeeping cost
    several times the queries themselves.
    """
    connection = sql.connection(API_ALIAS)
    rows = sql.fetch_all(API_ALIAS, _API_GROUPS_SQL.format(condition=condition), params)
    found: dict[int, tuple[tuple, dict, dict]] = {}
    for row in rows:
        entry = found.get(row[0])
        if entry is None:
            entry = found[row[0]] = (row[:7], {}, {})
        if row[7] is not None:
            entry[1][row[7]] = (row[8], row[9])
        if row[10] is not None:
            entry[2][row[10]] = row[11]
    # The ORM's conversions of the group's columns (SQLite hands timestamps back as naive text).
    return [
        _from_api_row(_GROUP_COLUMNS.convert(connection, columns), policies, members)
        for columns, policies, members in found.values()
    ]


def _api_count(*, project_id: str | None, user_id: str | None = None) -> int:
    """How many groups the API database holds (of a project, of one user of it): one COUNT."""
    conditions, params = [], []
    for column, value in (("project_id", project_id), ("user_id", user_id)):
        if value is not None:
            conditions.append(f"{column} = %s")
            params.append(value)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return sql.fetch_value(API_ALIAS, f"SELECT COUNT(*) FROM {_GROUPS}{where}", params)


def _from_api_row(columns: list, policies: dict, members: dict) -> ServerGroup:
    group_id, uuid, name, project_id, user_id, created_at, updated_at = columns
    policies = list(policies.values())
    if len(policies) > 1:
        # Nova's model property logs the same: only the first policy is used.
        logger.warning("Server group %s has %d policy rows; using the first", uuid, len(policies))
    rules = policies[0][1] if policies else None
    return ServerGroup(
        id=group_id,
        uuid=uuid,
        name=name,
        project_id=project_id,
        user_id=user_id,
        policies=tuple(policy for policy, _ in policies),
        # "{}" is what every group created without rules holds: no JSON parsing for it.
        rules=rules_from_json(rules) if rules and rules != "{}" else {},
        members=tuple(members.values()),
        created_at=created_at,
        updated_at=updated_at,
    )


def _deleted_uuids() -> set[str]:
    """Uuids of the groups deleted while a cell did not answer (API database; a handful at most)."""
    return set(InstanceGroupDeletion.objects.values_list("uuid", flat=True))


def _legacy_queryset(project_id: str | None, deleted: set[str]) -> QuerySet[LegacyInstanceGroup]:
    """Live legacy groups with their live policies and members, but those of ``deleted`` uuids
    (call inside target_cell)."""
    live = LegacyInstanceGroup.objects.live()
    groups = (
        (live.exclude(uuid__in=deleted) if deleted else live)
        .prefetch_related(
            Prefetch("policies", queryset=LegacyInstanceGroupPolicy.objects.live().order_by("id")),
            Prefetch("members", queryset=LegacyInstanceGroupMember.objects.live().order_by("id")),
        )
        .order_by("id")
    )
    return groups if project_id is None else groups.filter(project_id=project_id)


def _from_legacy(group: LegacyInstanceGroup, cell_uuid: str) -> ServerGroup:
    return ServerGroup(
        id=group.id,
        uuid=group.uuid,
        name=group.name,
        project_id=group.project_id,
        user_id=group.user_id,
        policies=tuple(p.policy for p in group.policies.all()),
        rules={},
        members=tuple(m.instance_id for m in group.members.all()),
        created_at=group.created_at,
        updated_at=group.updated_at,
        cell_uuid=cell_uuid,
    )


def _first_legacy(build: Callable[[set], QuerySet[LegacyInstanceGroup]], *, what: str) -> ServerGroup | None:
    """The first legacy group ``build(deleted uuids)`` finds, asking every cell at once; cells in order.

    No cell is asked once none holds live legacy groups (``legacy_groups_present``).
    """
    if not legacy_groups_present():
        return None
    deleted = _deleted_uuids()

    def in_cell(cell):
        group = build(deleted).first()
        return _from_legacy(group, cell.uuid) if group is not None else None

    for _, found in cells_answering(in_cell, what=what)[0]:
        if found is not None:
            return found
    return None


# --- lookups -------------------------------------------------------------------------------------


def lookup_scope(context) -> str | None:
    """The project a caller's lookups are limited to: their own, or none for an admin (Nova's rule)."""
    return None if context.is_admin else context.project_id


def servergroup_get(*, uuid: str, project_id: str | None = None, context=None) -> ServerGroup:
    """The group with this uuid: the API database, else a live legacy group in a cell.

    ``context`` (a ComputeContext), when given, sets the scope instead of ``project_id``: its
    project for a non-admin, every project for an admin (Nova's get_by_uuid(context, uuid)).
    Any string is accepted (a non-uuid simply matches nothing). Raises ServerGroupNotFound.
    """
    if context is not None:
        project_id = lookup_scope(context)
    uuid = str(uuid)
    found = _api_groups(*_in_project("g.uuid = %s", [uuid], project_id))
    if found:
        return found[0]
    legacy = _first_legacy(
        lambda deleted: _legacy_queryset(project_id, deleted).filter(uuid=uuid), what=f"group {uuid}"
    )
    if legacy is None:
        raise ServerGroupNotFound(uuid)
    return legacy


def servergroup_get_by_name(*, name: str, project_id: str | None = None) -> ServerGroup:
    """The first group with this name (names are not unique): the API database, else the cells.

    Raises ServerGroupNotFound (naming the name, as Nova does).
    """
    first, params = _in_project("name = %s", [name], project_id, table=_GROUPS)
    found = _api_groups(f"g.id IN (SELECT id FROM {_GROUPS} WHERE {first} ORDER BY id LIMIT 1)", params)
    if found:
        return found[0]
    legacy = _first_legacy(
        lambda deleted: _legacy_queryset(project_id, deleted).filter(name=name), what=f"group named {name}"
    )
    if legacy is None:
        raise ServerGroupNotFound(name)
    return legacy


def servergroup_get_by_instance(*, instance_uuid: str, project_id: str | None = None) -> ServerGroup:
    """The group an instance is a member of: API database, else the live legacy rows of the cells.

    Raises ServerGroupNotFound (with an empty uuid, as Nova's get_by_instance_uuid).
    """
    first, params = _in_project("m2.instance_uuid = %s", [instance_uuid], project_id, table="g2")
    found = _api_groups(
        f"g.id IN (SELECT g2.id FROM {_GROUPS} g2 JOIN {_MEMBERS} m2 ON m2.group_id = g2.id"
        f" WHERE {first} ORDER BY g2.id LIMIT 1)",
        params,
    )
    if found:
        return found[0]
    legacy = _first_legacy(
        lambda deleted: _legacy_queryset(project_id, deleted).filter(
            members__instance_id=instance_uuid, members__deleted=0
        ),
        what=f"the group of instance {instance_uuid}",
    )
    if legacy is None:
        raise ServerGroupNotFound("")
    return legacy


# Whether any cell still holds live legacy groups. A cell that does not answer counts as holding
# some (never hide a membership).
legacy_groups_present = CellRowsPresence(
    lambda: LegacyInstanceGroup.objects.live().exists(), what="whether legacy server groups remain"
)


def servergroup_uuids_of_instance(*, instance_uuid: str) -> list[str]:
    """The uuids of the groups an instance is a member of (``[]`` or one: a server has one group).

    For a server's ``server_groups`` (2.71). Not project-scoped: the caller already holds the
    server. One API query; the cells are asked only while legacy groups remain in them (checked
    once per cache period), so a show stays within its fixed query budget after the move.
    """
    group_uuid = (
        InstanceGroupMember.objects.filter(instance_uuid=instance_uuid).values_list("group__uuid", flat=True).first()
    )
    if group_uuid is not None:
        return [group_uuid]
    if not legacy_groups_present():
        return []
    try:
        return [servergroup_get_by_instance(instance_uuid=instance_uuid).uuid]
    except ServerGroupNotFound:
        return []


def servergroup_get_by_hint(*, hint: str, project_id: str | None = None) -> ServerGroup:
    """Nova's get_by_hint (the ``group`` scheduler hint): a uuid-like hint by uuid, else by name."""
    try:
        uuid_lib.UUID(hint)
    except (TypeError, ValueError):
        return servergroup_get_by_name(name=hint, project_id=project_id)
    return servergroup_get(uuid=hint, project_id=project_id)


# --- lists ---------------------------------------------------------------------------------------


def _legacy_groups_not_in_api(project_id: str | None) -> list[ServerGroup]:
    """Live legacy groups of every cell (cell order, then id) whose uuid the API database lacks."""

    if not legacy_groups_present():
        return []
    deleted = _deleted_uuids()

    def in_cell(cell):
        return [_from_legacy(group, cell.uuid) for group in _legacy_queryset(project_id, deleted)]

    legacy = [group for _, groups in cells_answering(in_cell, what="server group lists")[0] for group in groups]
    if not legacy:
        return []
    in_api = set(InstanceGroup.objects.filter(uuid__in={g.uuid for g in legacy}).values_list("uuid", flat=True))
    unique, seen = [], set(in_api)
    for group in legacy:
        # A uuid live in two cells cannot come from Nova; keep the first cell's copy.
        if group.uuid not in seen:
            seen.add(group.uuid)
            unique.append(group)
    return unique


def servergroup_list(*, project_id: str | None = None, offset: int = 0, limit: int | None = None) -> list[ServerGroup]:
    """One page of groups (of a project, or of every project when None), each uuid once.

    Order: API groups by id (Nova's order), then legacy groups not yet in the API database by
    cell and id. The page is ``[offset:offset + limit]`` of that order (Nova's offset paging).
    Reads the API database (one query for the page, its policies and members), and the cells
    only when the API rows do not fill the page and some cell still holds legacy groups.
    """
    if limit is not None and limit <= 0:
        return []
    scope, params = ("WHERE project_id = %s", [project_id]) if project_id is not None else ("", [])
    window = sql.connection(API_ALIAS).ops.limit_offset_sql(offset, None if limit is None else offset + limit)
    page = _api_groups(f"g.id IN (SELECT id FROM {_GROUPS} {scope} ORDER BY id {window})", params)
    if limit is not None and len(page) >= limit:
        return page
    if not legacy_groups_present():
        return page
    # The API rows ran out inside this page: how many of them were there in all?
    api_total = offset + len(page) if page or not offset else _api_count(project_id=project_id)
    legacy = _legacy_groups_not_in_api(project_id)
    start = max(0, offset - api_total)
    end = None if limit is None else start + (limit - len(page))
    return page + legacy[start:end]


# --- members -------------------------------------------------------------------------------------


def servergroup_live_members(*, instance_uuids: Iterable[str]) -> dict[str, LiveMember]:
    """The members whose instance is not deleted, ``{uuid: LiveMember}`` in the given order.

    One query of instance_mappings (API database), then one query in each cell that holds some
    of them, all cells at once. Counted as live: a member whose mapping has no cell yet (a build
    request) and a member in a cell that does not answer (logged; its state cannot be known, and
    hiding it would let quotas and anti-affinity ignore it). A member without a mapping is gone.
    """
    uuids = list(dict.fromkeys(u for u in instance_uuids if u))
    if not uuids:
        return {}
    by_cell: dict[str, list[str]] = defaultdict(list)
    cells = {}
    found: dict[str, LiveMember] = {}
    for mapping in InstanceMapping.objects.select_related("cell").filter(instance_uuid__in=uuids):
        if mapping.cell is None:
            found[mapping.instance_uuid] = LiveMember(host=None, user_id=mapping.user_id)
            continue
        cells[mapping.cell.uuid] = mapping.cell
        by_cell[mapping.cell.uuid].append(mapping.instance_uuid)

    def in_cell(cell):
        rows = Instance.objects.live().filter(uuid__in=by_cell[cell.uuid]).values_list("uuid", "host", "user_id")
        return {uuid: LiveMember(host=host, user_id=user_id) for uuid, host, user_id in rows}

    if cells:
        results = scatter_gather_cells(list(cells.values()), in_cell)
        for cell_uuid, result in results.items():
            if is_cell_failure(result):
                logger.warning(
                    "Server group members in cell %s presumed live (the cell did not answer: %s)", cell_uuid, result
                )
                found.update({uuid: LiveMember(host=None, user_id=None) for uuid in by_cell[cell_uuid]})
                continue
            found.update(result)
    return {uuid: found[uuid] for uuid in uuids if uuid in found}


def servergroup_hosts(*, group: ServerGroup, exclude: Iterable[str] = ()) -> list[str]:
    """The distinct hosts of the group's live members, sorted (Nova's InstanceGroup.get_hosts).

    ``exclude``: member uuids to leave out (the instance being scheduled). Queries as
    ``servergroup_live_members``: one in the API database and one per cell holding members.
    """
    excluded = set(exclude)
    live = servergroup_live_members(instance_uuids=[m for m in group.members if m not in excluded])
    return sorted({member.host for member in live.values() if member.host})


def servergroup_member_hosts(*, group_uuid: str, exclude: Iterable[str] = ()) -> dict[str, int]:
    """``{host: live members on it}`` of a group, for the scheduler's group policies.

    ``exclude``: member uuids to leave out (the servers being scheduled). Members without a host
    yet (build requests) are not on any host. A group that no longer exists has none. Queries as
    ``servergroup_live_members``.
    """
    try:
        group = servergroup_get(uuid=group_uuid)
    except ServerGroupNotFound:
        return {}
    excluded = set(exclude)
    live = servergroup_live_members(instance_uuids=[m for m in group.members if m not in excluded])
    hosts: dict[str, int] = defaultdict(int)
    for member in live.values():
        if member.host:
            hosts[member.host] += 1
    return dict(hosts)


# --- quota counters ------------------------------------------------------------------------------


@quota_counter("server_groups")
def servergroup_count(project_id: str, user_id: str | None = None) -> int:
    """Quota usage of server_groups: the project's (or one user's) groups, each uuid once, API + cells.

    One COUNT in the API database once no cell holds live legacy groups (it runs under the quota
    lock of every create: raw, as the ORM's query building cost more than the count); until then
    the uuids of the API database and of every cell, so that a group in both is counted once.
    """
    if not legacy_groups_present():
        return _api_count(project_id=project_id, user_id=user_id)
    api = InstanceGroup.objects.filter(project_id=project_id)
    if user_id is not None:
        api = api.filter(user_id=user_id)
    uuids = set(api.values_list("uuid", flat=True))

    def in_cell(cell):
        legacy = LegacyInstanceGroup.objects.live().filter(project_id=project_id)
        if user_id is not None:
            legacy = legacy.filter(user_id=user_id)
        return set(legacy.values_list("uuid", flat=True))

    for _, cell_uuids in cells_answering(in_cell, what="the server_groups quota")[0]:
        uuids |= cell_uuids
    return len(uuids - _deleted_uuids())


@quota_counter("server_group_members")
def servergroup_member_count(group_uuid: str, user_id: str | None = None) -> int:
    """Quota usage of server_group_members: live members of one group (owned by ``user_id`` if given).

    Registered with the quota framework, which passes the quota's ``scope`` first: for this
    resource the group's uuid (the limit is still the project's), as Nova's ``check_deltas(context,
    deltas, group, user_id)`` counts members per group. A group that does not exist has no members.
    """
    try:
        group = servergroup_get(uuid=group_uuid)
    except ServerGroupNotFound:
        return 0
    live = servergroup_live_members(instance_uuids=group.members)
    if user_id is None:
        return len(live)
    # An unknown owner (a cell that did not answer, an old mapping) counts: never under-count.
    return sum(1 for member in live.values() if member.user_id in (user_id, None))
