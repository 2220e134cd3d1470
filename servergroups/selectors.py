"""Reads of server groups: the API database first, then the live legacy rows of every cell.

While the move to the API database is under way a group can be in either place, or, after a
crash between the copy and the soft delete, in both: the API copy wins and the group is listed
once (Nova concatenated the two lists; DESIGN.md asks for de-duplication). A cell that cannot be
reached is skipped with a warning: a down cell must not break server groups.

Every function takes ``project_id``: a uuid or name lookup and a list are limited to that
project when it is given (Nova scopes non-admin queries so that another project's group is "not
found"), and see every project when it is None (admins).

Members are instance uuids. Which of them still exist is answered through the instance mappings
(API database) and then ONE query per cell that holds some of them; a member whose mapping has no
cell yet is still a build request and counts as live.
"""

import logging
import time
import uuid as uuid_lib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from cellsv2.cells import cell_mappings, is_cell_failure, on_cells_cache_clear, scatter_gather_cells
from cellsv2.quotas import quota_counter
from mappings.models import InstanceMapping
from servergroups.exceptions import ServerGroupNotFound
from servergroups.models import (
    InstanceGroup,
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


def _api_queryset(project_id: str | None) -> QuerySet[InstanceGroup]:
    groups = InstanceGroup.objects.prefetch_related(
        Prefetch("policies", queryset=InstanceGroupPolicy.objects.order_by("id")),
        Prefetch("members", queryset=InstanceGroupMember.objects.order_by("id")),
    ).order_by("id")
    return groups if project_id is None else groups.filter(project_id=project_id)


def _legacy_queryset(project_id: str | None) -> QuerySet[LegacyInstanceGroup]:
    """Live legacy groups with their live policies and members (call inside target_cell)."""
    groups = (
        LegacyInstanceGroup.objects.live()
        .prefetch_related(
            Prefetch("policies", queryset=LegacyInstanceGroupPolicy.objects.live().order_by("id")),
            Prefetch("members", queryset=LegacyInstanceGroupMember.objects.live().order_by("id")),
        )
        .order_by("id")
    )
    return groups if project_id is None else groups.filter(project_id=project_id)


def _from_api(group: InstanceGroup) -> ServerGroup:
    policies = list(group.policies.all())
    if len(policies) > 1:
        # Nova's model property logs the same: only the first policy is used.
        logger.warning("Server group %s has %d policy rows; using the first", group.uuid, len(policies))
    return ServerGroup(
        id=group.id,
        uuid=group.uuid,
        name=group.name,
        project_id=group.project_id,
        user_id=group.user_id,
        policies=tuple(p.policy for p in policies),
        rules=rules_from_json(policies[0].rules) if policies else {},
        members=tuple(m.instance_uuid for m in group.members.all()),
        created_at=group.created_at,
        updated_at=group.updated_at,
    )


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


def in_every_cell(fn: Callable, *, what: str) -> tuple[list[tuple[object, object]], list[str]]:
    """Run ``fn(cell)`` in every cell (cell0 included, in parallel, each targeted).

    Returns ``([(cell, result)] in cell order for the cells that answered, [uuids that did not])``;
    the failures are logged, never raised.
    """
    cells = cell_mappings()
    results = scatter_gather_cells(cells, fn)
    answered, failed = [], []
    for cell in cells:
        result = results.get(cell.uuid)
        if is_cell_failure(result):
            logger.warning("Server groups: cell %s skipped while reading %s: %s", cell.identity, what, result)
            failed.append(cell.uuid)
            continue
        answered.append((cell, result))
    return answered, failed


def _first_legacy(build: Callable[[], QuerySet[LegacyInstanceGroup]], *, what: str) -> ServerGroup | None:
    """The first legacy group ``build()`` finds, asking every cell at once; cells in order."""

    def in_cell(cell):
        group = build().first()
        return _from_legacy(group, cell.uuid) if group is not None else None

    for _, found in in_every_cell(in_cell, what=what)[0]:
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
    group = _api_queryset(project_id).filter(uuid=uuid).first()
    if group is not None:
        return _from_api(group)
    legacy = _first_legacy(lambda: _legacy_queryset(project_id).filter(uuid=uuid), what=f"group {uuid}")
    if legacy is None:
        raise ServerGroupNotFound(uuid)
    return legacy


def servergroup_get_by_name(*, name: str, project_id: str | None = None) -> ServerGroup:
    """The first group with this name (names are not unique): the API database, else the cells.

    Raises ServerGroupNotFound (naming the name, as Nova does).
    """
    group = _api_queryset(project_id).filter(name=name).first()
    if group is not None:
        return _from_api(group)
    legacy = _first_legacy(lambda: _legacy_queryset(project_id).filter(name=name), what=f"group named {name}")
    if legacy is None:
        raise ServerGroupNotFound(name)
    return legacy


def servergroup_get_by_instance(*, instance_uuid: str, project_id: str | None = None) -> ServerGroup:
    """The group an instance is a member of: API database, else the live legacy rows of the cells.

    Raises ServerGroupNotFound (with an empty uuid, as Nova's get_by_instance_uuid).
    """
    group = _api_queryset(project_id).filter(members__instance_uuid=instance_uuid).first()
    if group is not None:
        return _from_api(group)
    legacy = _first_legacy(
        lambda: _legacy_queryset(project_id).filter(members__instance_id=instance_uuid, members__deleted=0),
        what=f"the group of instance {instance_uuid}",
    )
    if legacy is None:
        raise ServerGroupNotFound("")
    return legacy


_legacy_presence = {"checked_at": None, "present": True}


@on_cells_cache_clear
def _forget_legacy_presence() -> None:
    _legacy_presence["checked_at"] = None


def legacy_groups_present() -> bool:
    """Whether any cell still holds live legacy groups; cached per process like the cell list.

    A cell that does not answer counts as holding some (never hide a membership).
    """
    checked_at = _legacy_presence["checked_at"]
    if checked_at is not None and time.monotonic() - checked_at < settings.CELLSV2_CELL_CACHE_SECONDS:
        return _legacy_presence["present"]
    answered, failed = in_every_cell(
        lambda cell: LegacyInstanceGroup.objects.live().exists(), what="whether legacy groups remain"
    )
    present = bool(failed) or any(found for _, found in answered)
    _legacy_presence.update(checked_at=time.monotonic(), present=present)
    return present


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

    def in_cell(cell):
        return [_from_legacy(group, cell.uuid) for group in _legacy_queryset(project_id)]

    legacy = [group for _, groups in in_every_cell(in_cell, what="group lists")[0] for group in groups]
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
    Reads the API database, and the cells only when the API rows do not fill the page.
    """
    api_queryset = _api_queryset(project_id)
    window = api_queryset[offset : offset + limit] if limit is not None else api_queryset[offset:]
    page = [_from_api(group) for group in window]
    if limit is not None and len(page) >= limit:
        return page
    # The API rows ran out inside this page: how many of them were there in all?
    api_total = offset + len(page) if page or not offset else api_queryset.count()
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
    """Quota usage of server_groups: the project's (or one user's) groups, each uuid once, API + cells."""
    api = InstanceGroup.objects.filter(project_id=project_id)
    if user_id is not None:
        api = api.filter(user_id=user_id)
    uuids = set(api.values_list("uuid", flat=True))

    def in_cell(cell):
        legacy = LegacyInstanceGroup.objects.live().filter(project_id=project_id)
        if user_id is not None:
            legacy = legacy.filter(user_id=user_id)
        return set(legacy.values_list("uuid", flat=True))

    for _, cell_uuids in in_every_cell(in_cell, what="the server_groups quota")[0]:
        uuids |= cell_uuids
    return len(uuids)


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
