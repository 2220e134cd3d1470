"""Reads of servers across the API database and the cells.

A server is found through its instance mapping: no cell yet means it is still a build request
(read from the API database), otherwise it is read from its cell. Listing reads the build
requests first, then every cell (cell0 included) in parallel, each asked for at most ``limit``
rows in the requested order, and merges them; pages continue after a marker uuid with a keyset
condition, so no server is skipped or repeated across cells and pages.
"""

import json
import logging
import re
import uuid as uuid_lib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cmp_to_key

from django.db import connections
from django.db.models import F, Q

from cellsv2.cells import cell_mappings, is_cell_failure, scatter_gather_cells
from cellsv2.context import NoCellTargeted, current_cell_alias, target_cell
from cellsv2.db import CodePointOrder, RawColumns, UUIDCharField
from mappings.models import InstanceMapping
from mappings.selectors import (  # noqa: F401 (mapping_cache_forget: the name other modules import)
    API,
    instance_mapping_lookup,
    instance_mapping_read,
    mapping_cache_forget,
)
from servers.models import BuildRequest, Instance, InstanceExtra, InstanceFault, RequestSpec
from servers.serialization import UnsupportedFormat, instance_load, request_spec_load

logger = logging.getLogger(__name__)


class ServerNotFound(Exception):
    def __init__(self, uuid):
        super().__init__(f"Instance {uuid} could not be found.")
        self.uuid = uuid


class CellDown(Exception):
    """The server's cell did not answer."""

    def __init__(self, mapping, reason):
        super().__init__(f"The cell {mapping.cell.identity} holding server {mapping.instance_uuid} is unreachable")
        self.mapping = mapping
        self.reason = reason


class MarkerNotFound(Exception):
    def __init__(self, marker):
        super().__init__(f"marker [{marker}] not found")


@dataclass
class ServerView:
    """Everything the API shows of one server, whether it is a build request or in a cell."""

    uuid: str
    instance: dict
    source: str  # "build_request" | "cell" | "down"
    cell: object = None
    mapping: object = None
    metadata: dict = field(default_factory=dict)
    system_metadata: dict = field(default_factory=dict)
    tags: list = field(default_factory=list)
    flavor: dict = field(default_factory=dict)
    fault: dict | None = None
    spec: dict | None = None
    # The live block device mappings that have a volume: [{"id", "delete_on_termination"}], by id.
    volumes: list = field(default_factory=list)

    def get(self, key, default=None):
        return self.instance.get(key, default)


# --- show -------------------------------------------------------------------------------------


def _is_uuid(value: str) -> bool:
    try:
        uuid_lib.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


_BUILD_REQUEST_COLUMNS = RawColumns(BuildRequest._meta.concrete_fields)
_BUILD_REQUEST_SQL = f'SELECT {_BUILD_REQUEST_COLUMNS.sql} FROM "build_requests" WHERE "instance_uuid" = %s'


def build_request_read(uuid: str) -> BuildRequest | None:
    """The build request of a server, or None. One query on the API database."""
    connection = connections[API]
    with connection.cursor() as cursor:
        cursor.execute(_BUILD_REQUEST_SQL, (uuid,))
        row = cursor.fetchone()
    return BuildRequest.from_db(API, None, _BUILD_REQUEST_COLUMNS.convert(connection, row)) if row else None


def server_from_build_request(build: BuildRequest, mapping=None) -> ServerView:
    instance = instance_load(build.instance)
    instance.setdefault("created_at", build.created_at)
    instance["created_at"] = instance.get("created_at") or build.created_at
    instance["updated_at"] = build.updated_at
    return ServerView(
        uuid=build.instance_uuid,
        instance=instance,
        source="build_request",
        mapping=mapping,
        metadata=instance.get("metadata") or {},
        tags=instance.get("tags") or [],
        flavor=(instance.get("flavor") or {}),
        system_metadata={"locked_reason": instance.get("locked_reason")} if instance.get("locked_reason") else {},
    )


# A show spent most of its time building and compiling the querysets of these reads, not in the
# database: their SQL is written once from the models, and the rows go through the converters the
# ORM would apply (cellsv2.db.RawColumns), so every value is the one the querysets gave.
_INSTANCE_ATTNAMES = tuple(f.attname for f in Instance._meta.concrete_fields)
_SERVER_COLUMNS = RawColumns(
    (
        *Instance._meta.concrete_fields,
        InstanceExtra._meta.get_field("flavor"),
        InstanceExtra._meta.get_field("keypairs"),
    )
)
_SERVERS_SQL = (
    f"SELECT {_SERVER_COLUMNS.sql} "
    'FROM "instance_extra" INNER JOIN "instances" ON ("instance_extra"."instance_uuid" = "instances"."uuid") '
    'WHERE {live}"instance_extra"."instance_uuid" IN ({uuids})'
)
# Metadata, system metadata, tags and volumes of the servers in one statement: (kind, owner, key,
# value, position). A volume is a live block device mapping with a volume id (what Nova shows in
# volumes_attached): key = the volume id, value = delete_on_termination as '1'/'0', position = the
# mapping's id (Nova lists them in the order the database gives: by id here).
_ITEMS_SQL = (
    'SELECT \'m\', "instance_uuid", "key", "value", 0 FROM "instance_metadata" '
    'WHERE "deleted" = 0 AND "instance_uuid" IN ({uuids}) '
    'UNION ALL SELECT \'s\', "instance_uuid", "key", "value", 0 FROM "instance_system_metadata" '
    'WHERE "deleted" = 0 AND "instance_uuid" IN ({uuids}) '
    'UNION ALL SELECT \'t\', "resource_id", "tag", NULL, 0 FROM "tags" WHERE "resource_id" IN ({uuids}) '
    'UNION ALL SELECT \'v\', "instance_uuid", "volume_id", '
    'CASE WHEN "delete_on_termination" THEN \'1\' ELSE \'0\' END, "id" FROM "block_device_mapping" '
    'WHERE "deleted" = 0 AND "volume_id" IS NOT NULL AND "volume_id" <> \'\' AND "instance_uuid" IN ({uuids})'
)
_FAULT_COLUMNS = RawColumns(
    InstanceFault._meta.get_field(name) for name in ("instance", "code", "message", "details", "created_at")
)
_FAULTS_SQL = (
    f'SELECT {_FAULT_COLUMNS.sql} FROM "instance_faults" '
    'WHERE "instance_faults"."deleted" = 0 AND "instance_faults"."instance_uuid" IN ({uuids}) '
    'ORDER BY "instance_faults"."instance_uuid" ASC, "instance_faults"."created_at" DESC'
)


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _load_from_cell(uuids: list[str], *, include_deleted: bool = False) -> dict[str, ServerView]:
    """Servers by uuid from the targeted cell: instance+extra in one query, the rest in one UNION.

    Deleted instances only with ``include_deleted`` (a list that asked for them). A third query
    reads the newest fault of the servers in ERROR, if any.
    """
    if not uuids:
        return {}
    alias = current_cell_alias()
    if alias is None:
        raise NoCellTargeted("servers are read from a cell: wrap the call in target_cell(cell)")
    connection = connections[alias]
    uuids = list(uuids)
    with connection.cursor() as cursor:
        cursor.execute(
            _SERVERS_SQL.format(
                live="" if include_deleted else '"instances"."deleted" = 0 AND ', uuids=_placeholders(len(uuids))
            ),
            uuids,
        )
        rows = cursor.fetchall()
        servers = {}
        for raw in rows:
            row = _SERVER_COLUMNS.convert(connection, raw)
            instance = dict(zip(_INSTANCE_ATTNAMES, row[: len(_INSTANCE_ATTNAMES)], strict=True))
            flavor_text, keypairs = row[len(_INSTANCE_ATTNAMES) :]
            flavor = json.loads(flavor_text or "{}").get("cur") or {}
            servers[instance["uuid"]] = ServerView(
                uuid=instance["uuid"], instance=instance, source="cell", flavor=flavor
            )
            instance["keypairs"] = keypairs
        if not servers:
            return servers
        found = list(servers)
        cursor.execute(_ITEMS_SQL.format(uuids=_placeholders(len(found))), found * 4)
        volumes: dict[str, list] = {}
        for kind_value, owner, key, value, position in cursor.fetchall():
            server = servers[owner]
            if kind_value == "m":
                server.metadata[key] = value
            elif kind_value == "s":
                server.system_metadata[key] = value
            elif kind_value == "t":
                server.tags.append(key)
            else:
                volumes.setdefault(owner, []).append((position, {"id": key, "delete_on_termination": value == "1"}))
        for owner, attached in volumes.items():
            servers[owner].volumes = [volume for _, volume in sorted(attached, key=lambda item: item[0])]
        errored = [u for u, s in servers.items() if s.instance["vm_state"] == "error"]
        if errored:
            cursor.execute(_FAULTS_SQL.format(uuids=_placeholders(len(errored))), errored)
            for raw in cursor.fetchall():
                owner, code, message, details, created_at = _FAULT_COLUMNS.convert(connection, raw)
                servers[owner].fault = servers[owner].fault or {
                    "code": code,
                    "message": message,
                    "details": details,
                    "created": created_at,
                }
    for server in servers.values():
        server.tags.sort()
        groups = server.system_metadata.get("security_groups")
        server.instance["security_groups"] = json.loads(groups) if groups else []
    return servers


def server_get(*, context, uuid: str) -> ServerView:
    """A server the caller may see, from its build request or its cell.

    Reads the instance mapping (API database), then the build request or the cell. Another
    project's server is ServerNotFound for a non-admin (never revealed); a cell that does not
    answer raises CellDown. A placed server costs three queries (two with the mapping cache).
    """
    if not _is_uuid(uuid):
        raise ServerNotFound(uuid)
    mapping = instance_mapping_lookup(uuid)
    if mapping is None or (not context.is_admin and mapping.project_id != context.project_id):
        raise ServerNotFound(uuid)
    if mapping.cell_id is None:
        build = build_request_read(uuid)
        if build is not None:
            try:
                return server_from_build_request(build, mapping)
            except UnsupportedFormat:
                logger.exception("Build request %s cannot be read", uuid)
                raise ServerNotFound(uuid) from None
        # Placed meanwhile: the conductor sets the cell before it deletes the build request.
        mapping = instance_mapping_read(uuid)
        if mapping is None or mapping.cell_id is None:
            raise ServerNotFound(uuid)
    try:
        with target_cell(mapping.cell):
            found = _load_from_cell([uuid])
    except Exception as exc:
        if isinstance(exc, ServerNotFound):
            raise
        raise CellDown(mapping, exc) from exc
    server = found.get(uuid)
    if server is None or (not context.is_admin and server.get("project_id") != context.project_id):
        raise ServerNotFound(uuid)
    server.cell, server.mapping = mapping.cell, mapping
    return server


_SPEC_SQL = 'SELECT "spec" FROM "request_specs" WHERE "instance_uuid" = %s'
# The spec and the server group membership (API tables of the servergroups app) in one statement.
_SPEC_AND_GROUP_SQL = (
    'SELECT "request_specs"."spec", (SELECT U1."uuid" FROM "instance_group_member" U0 '
    'INNER JOIN "instance_groups" U1 ON (U0."group_id" = U1."id") '
    'WHERE U0."instance_uuid" = "request_specs"."instance_uuid" LIMIT 1) '
    'FROM "request_specs" WHERE "request_specs"."instance_uuid" = %s'
)


def request_spec_read(*, instance_uuid: str) -> str | None:
    """The serialized request spec of a server, or None. One query on the API database."""
    with connections[API].cursor() as cursor:
        cursor.execute(_SPEC_SQL, (instance_uuid,))
        row = cursor.fetchone()
    return row[0] if row is not None else None


def request_spec_and_group_read(*, instance_uuid: str) -> tuple[str, str | None] | None:
    """``(serialized request spec, uuid of its server group in the API database or None)``, or None
    without a spec. One query on the API database (legacy groups in the cells are not looked at).
    """
    with connections[API].cursor() as cursor:
        cursor.execute(_SPEC_AND_GROUP_SQL, (instance_uuid,))
        row = cursor.fetchone()
    return (row[0], row[1]) if row is not None else None


def server_partial(*, mapping) -> ServerView:
    """The 2.69 record of a server whose cell is down: from its mapping and request spec (API database)."""
    if mapping.queued_for_delete:
        raise ServerNotFound(mapping.instance_uuid)
    spec_row = RequestSpec.objects.filter(instance_uuid=mapping.instance_uuid).first()
    if spec_row is None:
        raise ServerNotFound(mapping.instance_uuid)
    spec = request_spec_load(spec_row.spec)
    return ServerView(
        uuid=mapping.instance_uuid,
        instance={
            "uuid": mapping.instance_uuid,
            "project_id": mapping.project_id,
            "user_id": mapping.user_id or spec.get("user_id"),
            "created_at": mapping.created_at,
            "image_ref": (spec.get("image") or {}).get("id"),
            "availability_zone": spec.get("availability_zone"),
        },
        source="down",
        mapping=mapping,
        flavor=spec.get("flavor") or {},
        spec=spec,
    )


# --- list -------------------------------------------------------------------------------------

# Nova's VALID_SORT_KEYS that map to instance columns, and the ones it silently ignores before 2.75.
SORT_KEYS = {
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "availability_zone",
    "config_drive",
    "created_at",
    "display_description",
    "display_name",
    "host",
    "hostname",
    "image_ref",
    "instance_type_id",
    "kernel_id",
    "key_name",
    "launch_index",
    "launched_at",
    "locked_by",
    "node",
    "power_state",
    "progress",
    "project_id",
    "ramdisk_id",
    "root_device_name",
    "task_state",
    "terminated_at",
    "updated_at",
    "user_id",
    "uuid",
    "vm_state",
}
IGNORED_SORT_KEYS = {
    "architecture",
    "cell_name",
    "cleaned",
    "default_ephemeral_device",
    "default_swap_device",
    "deleted",
    "deleted_at",
    "disable_terminate",
    "ephemeral_gb",
    "ephemeral_key_uuid",
    "id",
    "key_data",
    "launched_on",
    "locked",
    "memory_mb",
    "os_type",
    "reservation_id",
    "root_gb",
    "shutdown_terminate",
    "user_data",
    "vcpus",
    "vm_mode",
}


def sort_spec(keys: list[str], dirs: list[str]) -> list[tuple[str, str]]:
    """[(key, dir)] with created_at and uuid appended: a total order that is the same in every cell."""
    pairs = []
    for index, key in enumerate(keys):
        direction = dirs[index] if index < len(dirs) else (dirs[0] if dirs else "desc")
        if key not in (k for k, _ in pairs):
            pairs.append((key, direction))
    default_dir = pairs[0][1] if pairs else "desc"
    if "created_at" not in (k for k, _ in pairs):
        pairs.append(("created_at", default_dir))
    if "uuid" not in (k for k, _ in pairs):
        pairs.append(("uuid", "asc"))
    return pairs


def _normal(value):
    if isinstance(value, datetime):
        return value.replace(microsecond=value.microsecond).timestamp()
    if isinstance(value, bool):
        return int(value)
    return value


def _compare(a: dict, b: dict, order: list[tuple[str, str]]) -> int:
    # NULLs sort first in ascending order and last in descending order, as the SQL below does.
    for key, direction in order:
        x, y = _normal(a.get(key)), _normal(b.get(key))
        if x == y:
            continue
        if x is None:
            result = -1
        elif y is None:
            result = 1
        else:
            result = -1 if x < y else 1
        return result if direction == "asc" else -result
    return 0


def _is_text(key: str) -> bool:
    field = Instance._meta.get_field(key)
    # Lowercase hex uuids in one fixed format sort the same under every collation: indexes stay usable.
    return field.get_internal_type() in ("CharField", "TextField") and not isinstance(field, UUIDCharField)


def _sort_name(key: str) -> str:
    """The name a sort key is compared under in the page queries (see _sort_aliases)."""
    return f"sort_{key}" if _is_text(key) else key


def _sort_aliases(order) -> dict:
    """Text sort keys compared by code point in every cell, as _compare merges them in Python
    (a linguistic database collation would order a cell's page differently)."""
    return {_sort_name(key): CodePointOrder(key) for key, _ in order if _is_text(key)}


def _order_by(order):
    return [
        F(_sort_name(key)).asc(nulls_first=True) if direction == "asc" else F(_sort_name(key)).desc(nulls_last=True)
        for key, direction in order
    ]


def _after(order, values: dict) -> Q:
    """Rows strictly after ``values`` in ``order`` (a keyset condition that understands NULLs).

    Refers to the text keys by their ``_sort_aliases`` names: use on a queryset that has them.
    """
    condition = Q(pk__in=[])
    equal = Q()
    for column, direction in order:
        value = values.get(column)
        key = _sort_name(column)
        if direction == "asc":
            beyond = Q(**{f"{key}__isnull": False}) if value is None else Q(**{f"{key}__gt": value})
            same = Q(**{f"{key}__isnull": True}) if value is None else Q(**{key: value})
        else:
            beyond = Q(pk__in=[]) if value is None else (Q(**{f"{key}__lt": value}) | Q(**{f"{key}__isnull": True}))
            same = Q(**{f"{key}__isnull": True}) if value is None else Q(**{key: value})
        condition |= equal & beyond
        equal &= same
    return condition


@dataclass
class ListResult:
    servers: list
    down_cells: list = field(default_factory=list)


STATUS_TO_VM_STATES = {
    "ACTIVE": ["active"],
    "BUILD": ["building"],
    "ERROR": ["error"],
    "SHUTOFF": ["stopped"],
    "PAUSED": ["paused"],
    "SUSPENDED": ["suspended"],
    "DELETED": ["deleted"],
    "SOFT_DELETED": ["soft-delete"],
    "RESCUE": ["rescued"],
    "SHELVED": ["shelved"],
    "SHELVED_OFFLOADED": ["shelved_offloaded"],
    "RESIZE": ["resized"],
    "VERIFY_RESIZE": ["resized"],
    "MIGRATING": ["active"],
    "REBUILD": ["active"],
    "UNKNOWN": [],
}


def _cell_filters(filters: dict) -> Q:
    # Nova: deleted servers are listed when asked for (deleted=true: only them, soft-deleted
    # included) or when changes-since / changes-before asks what changed; hidden otherwise.
    deleted = filters.get("deleted")
    if deleted:
        q = Q(deleted=F("id")) | Q(vm_state="soft-delete")
    elif deleted is None and ("changes-since" in filters or "changes-before" in filters):
        q = Q()
    else:
        q = Q(deleted=0)
    exact = {
        "project_id": "project_id",
        "user_id": "user_id",
        "image_ref": "image_ref",
        "vm_state": "vm_state__in",
        "task_state": "task_state",
        "power_state": "power_state",
        "host": "host",
        "node": "node",
        "uuid": "uuid__in",
        "key_name": "key_name",
        "availability_zone": "availability_zone",
        "reservation_id": "reservation_id",
        "locked": "locked",
        "instance_type_id": "instance_type_id",
    }
    for key, lookup in exact.items():
        if key in filters:
            q &= Q(**{lookup: filters[key]})
    if "name" in filters:
        q &= Q(display_name__regex=filters["name"])
    if "changes-since" in filters:
        q &= Q(updated_at__gte=filters["changes-since"]) | Q(updated_at=None, created_at__gte=filters["changes-since"])
    if "changes-before" in filters:
        q &= Q(updated_at__lte=filters["changes-before"])
    return q


def _build_request_matches(instance: dict, filters: dict) -> bool:
    if filters.get("deleted"):
        return False
    for key in (
        "project_id",
        "user_id",
        "image_ref",
        "task_state",
        "host",
        "key_name",
        "availability_zone",
        "reservation_id",
        "instance_type_id",
    ):
        if key in filters and instance.get(key) != filters[key]:
            return False
    if "vm_state" in filters and instance.get("vm_state") not in filters["vm_state"]:
        return False
    if "uuid" in filters and instance.get("uuid") not in filters["uuid"]:
        return False
    if "name" in filters and instance.get("display_name") and not re.search(filters["name"], instance["display_name"]):
        return False
    if "locked" in filters and bool(instance.get("locked")) != filters["locked"]:
        return False
    if "power_state" in filters and instance.get("power_state") != filters["power_state"]:
        return False
    return True


def _marker_in_cells(marker: str, order) -> dict:
    """The sort values of the marker instance, read in its cell through its mapping."""
    mapping = InstanceMapping.objects.select_related("cell").filter(instance_uuid=marker).first()
    if mapping is None or mapping.cell is None:
        raise MarkerNotFound(marker)
    with target_cell(mapping.cell):
        row = Instance.objects.filter(uuid=marker).values(*{k for k, _ in order}).first()
    if row is None:
        raise MarkerNotFound(marker)
    return row


def server_list(
    *,
    context,
    filters: dict,
    sort_keys: list[str],
    sort_dirs: list[str],
    limit: int,
    marker: str | None,
    timeout: float | None = None,
    detail: bool = True,
) -> ListResult:
    """A page of servers: build requests first, then every cell's servers merged in sort order.

    As Nova: a marker found among the build requests continues there and then starts the cells
    from the beginning; a marker in a cell continues after it in the merged cell order. Each cell
    is asked (in parallel) for at most the rows still needed; cells that fail or time out are
    reported in ``down_cells`` and skipped. ``filters`` are already policy-checked (project_id is
    set for non-admins). Without ``detail`` (``GET /servers``: id and name only) that page query
    is the only query per cell; with it, the chosen rows are then loaded in full. Raises
    MarkerNotFound.
    """
    order = sort_spec(sort_keys, sort_dirs)
    key = cmp_to_key(lambda a, b: _compare(a.instance, b.instance, order))

    builds: list[ServerView] = []
    marker_in_builds = False
    if limit > 0:
        rows = BuildRequest.objects.all()
        if "project_id" in filters:
            rows = rows.filter(project_id=filters["project_id"])
        for build in rows:
            try:
                server = server_from_build_request(build)
            except UnsupportedFormat:
                logger.warning("Skipping unreadable build request %s", build.instance_uuid)
                continue
            if server.uuid == marker:
                marker_in_builds = True
            if _build_request_matches(server.instance, filters):
                builds.append(server)
        builds.sort(key=key)
    if marker is not None:
        if marker_in_builds:
            index = next((i for i, s in enumerate(builds) if s.uuid == marker), None)
            builds = builds[index + 1 :] if index is not None else []
            marker_values = None
        else:
            builds = []
            marker_values = _marker_in_cells(marker, order)
    else:
        marker_values = None
    builds = builds[:limit]
    remaining = limit - len(builds)

    condition = _cell_filters(filters)
    if marker_values is not None:
        condition &= _after(order, marker_values)
    columns = list(dict.fromkeys(["uuid", *(k for k, _ in order), *(() if detail else ("display_name",))]))

    def page(cell):
        rows = Instance.objects.alias(**_sort_aliases(order)).filter(condition).order_by(*_order_by(order))
        return list(rows.values(*columns)[:remaining])

    cells = cell_mappings()
    by_cell = {c.uuid: c for c in cells}
    down: list[str] = []
    candidates = []
    if remaining > 0:
        for cell_uuid, rows in scatter_gather_cells(cells, page, timeout=timeout).items():
            if is_cell_failure(rows):
                down.append(cell_uuid)
                continue
            candidates.extend((cell_uuid, row) for row in rows)
    candidates.sort(key=cmp_to_key(lambda a, b: _compare(a[1], b[1], order)))

    seen = {s.uuid for s in builds}
    picked: dict[str, list[str]] = {}
    chosen: list[str] = []
    rows_by_uuid: dict[str, tuple[str, dict]] = {}
    for cell_uuid, row in candidates:
        if len(chosen) >= remaining:
            break
        if row["uuid"] in seen:
            continue  # still a build request too: the build request's copy is shown
        seen.add(row["uuid"])
        chosen.append(row["uuid"])
        rows_by_uuid[row["uuid"]] = (cell_uuid, row)
        picked.setdefault(cell_uuid, []).append(row["uuid"])
    if not detail:
        index = [
            ServerView(uuid=u, instance=rows_by_uuid[u][1], source="cell", cell=by_cell[rows_by_uuid[u][0]])
            for u in chosen
        ]
        return ListResult(servers=builds + index, down_cells=sorted(set(down)))

    # The full records of the chosen rows: one set of queries per cell, in parallel.
    def load(cell):
        # The page query already applied the filters, deleted servers included when asked for.
        return _load_from_cell(picked.get(cell.uuid, []), include_deleted=True)

    loaded: dict[str, ServerView] = {}
    if picked:
        for cell_uuid, result in scatter_gather_cells([by_cell[u] for u in picked], load, timeout=timeout).items():
            if is_cell_failure(result):
                down.append(cell_uuid)
                continue
            for uuid, server in result.items():
                server.cell = by_cell[cell_uuid]
                loaded[uuid] = server
    servers = builds + [loaded[u] for u in chosen if u in loaded]
    return ListResult(servers=servers, down_cells=sorted(set(down)))


def down_cell_records(*, cell_uuids: list[str], project_id: str | None) -> list[ServerView]:
    """2.69 partial records of the servers in unreachable cells, from instance mappings (API database)."""
    mappings = (
        InstanceMapping.objects.select_related("cell")
        .filter(cell__uuid__in=cell_uuids)
        .exclude(queued_for_delete=True)
    )
    if project_id is not None:
        mappings = mappings.filter(project_id=project_id)
    return [
        ServerView(
            uuid=m.instance_uuid,
            instance={"uuid": m.instance_uuid, "project_id": m.project_id, "created_at": m.created_at},
            source="down",
            mapping=m,
        )
        for m in mappings.order_by("id")
    ]
