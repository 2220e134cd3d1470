"""Reads of one server across the API database and its cell.

A server is found through its instance mapping: no cell yet means it is still a build request
(read from the API database), otherwise it is read from its cell. ``server_extras_read`` adds
what a response shows beyond the server's own rows (its request spec and server groups), so the
serializers never query.
"""

import json
import logging
import uuid as uuid_lib
from dataclasses import dataclass, field

from cellsv2.cells import in_cell
from cellsv2.context import NoCellTargeted, current_cell_alias
from cellsv2.db import API_ALIAS, RawColumns, sql
from mappings.selectors import (
    MappingJoin,
    instance_mapping_lookup,
    instance_mapping_lookup_joined,
    instance_mapping_read,
)
from servergroups.selectors import legacy_groups_present, servergroup_uuids_of_instance
from servers.exceptions import CellDown, ServerNotFound
from servers.models import BuildRequest, Instance, InstanceExtra, InstanceFault, RequestSpec
from servers.serialization import UnsupportedFormat, instance_load, request_spec_load

logger = logging.getLogger(__name__)


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
    # The uuids of its server groups, when server_extras_read was asked for them.
    server_groups: list | None = None

    def get(self, key, default=None):
        return self.instance.get(key, default)


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
    row = sql.fetch_one(API_ALIAS, _BUILD_REQUEST_SQL, (uuid,), columns=_BUILD_REQUEST_COLUMNS, prepare=True)
    return BuildRequest.from_db(API_ALIAS, None, row) if row else None


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
        system_metadata={
            **(instance.get("image_system_metadata") or {}),
            **({"locked_reason": instance["locked_reason"]} if instance.get("locked_reason") else {}),
        },
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
# In the templates below, {uuids} is the test of a uuid column against the uuids read:
# _in_uuids(n) (IN with a parameter per uuid) or, on PostgreSQL, "= ANY(%s)" (one array parameter).
_SERVERS_SQL = (
    f"SELECT {_SERVER_COLUMNS.sql} "
    'FROM "instance_extra" INNER JOIN "instances" ON ("instance_extra"."instance_uuid" = "instances"."uuid") '
    'WHERE {live}"instance_extra"."instance_uuid" {uuids}'
)
# Metadata, system metadata, tags and volumes of the servers in one statement: (kind, owner, key,
# value, position). A volume is a live block device mapping with a volume id (what Nova shows in
# volumes_attached): key = the volume id, value = delete_on_termination as '1'/'0', position = the
# mapping's id (Nova lists them in the order the database gives: by id here).
_ITEMS_SQL = (
    'SELECT \'m\', "instance_uuid", "key", "value", 0 FROM "instance_metadata" '
    'WHERE "deleted" = 0 AND "instance_uuid" {uuids} '
    'UNION ALL SELECT \'s\', "instance_uuid", "key", "value", 0 FROM "instance_system_metadata" '
    'WHERE "deleted" = 0 AND "instance_uuid" {uuids} '
    'UNION ALL SELECT \'t\', "resource_id", "tag", NULL, 0 FROM "tags" WHERE "resource_id" {uuids} '
    'UNION ALL SELECT \'v\', "instance_uuid", "volume_id", '
    'CASE WHEN "delete_on_termination" THEN \'1\' ELSE \'0\' END, "id" FROM "block_device_mapping" '
    'WHERE "deleted" = 0 AND "volume_id" IS NOT NULL AND "volume_id" <> \'\' AND "instance_uuid" {uuids}'
)
_FAULT_COLUMNS = RawColumns(
    InstanceFault._meta.get_field(name) for name in ("instance", "code", "message", "details", "created_at")
)
_FAULTS_SQL = (
    f'SELECT {_FAULT_COLUMNS.sql} FROM "instance_faults" '
    'WHERE "instance_faults"."deleted" = 0 AND "instance_faults"."instance_uuid" {uuids} '
    'ORDER BY "instance_faults"."instance_uuid" ASC, "instance_faults"."created_at" DESC'
)
# The faults of those of the servers that are in ERROR, for the one-round-trip read below (which
# cannot wait to learn which are).
_ERROR_FAULTS_SQL = (
    f'SELECT {_FAULT_COLUMNS.sql} FROM "instance_faults" INNER JOIN "instances" '
    'ON ("instance_faults"."instance_uuid" = "instances"."uuid") '
    'WHERE "instance_faults"."deleted" = 0 AND "instances"."vm_state" = \'error\' '
    'AND "instance_faults"."instance_uuid" {uuids} '
    'ORDER BY "instance_faults"."instance_uuid" ASC, "instance_faults"."created_at" DESC'
)


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _in_uuids(count: int) -> str:
    """The {uuids} test of the templates above for ``count`` uuids: ``IN (%s, ...)``."""
    return f"IN ({_placeholders(count)})"


# PostgreSQL's read of servers: the statements of _load_from_cell, sent together (one round trip),
# with the number of times each names the uuids. Several uuids go as one array parameter per
# statement (= ANY(%s)): the text is the same whatever the count, and the driver sends one list
# per statement instead of one parameter per uuid (a page of 1000 servers had 6,000). One uuid (a
# show) is compared with = %s, which costs less than a one-element array on both sides (per read
# of one server: 785 us, against 856 with IN and 1045 with ANY; of 13: 1500 us with ANY, 1708
# with IN). By (include_deleted, with the faults statement, one uuid).
_PG_LOAD_SQL = {
    (include_deleted, faults, one): (
        (
            _SERVERS_SQL.format(
                live="" if include_deleted else '"instances"."deleted" = 0 AND ', uuids="= %s" if one else "= ANY(%s)"
            ),
            1,
        ),
        (_ITEMS_SQL.format(uuids="= %s" if one else "= ANY(%s)"), 4),
        *(((_ERROR_FAULTS_SQL.format(uuids="= %s" if one else "= ANY(%s)"), 1),) if faults else ()),
    )
    for include_deleted in (False, True)
    for faults in (False, True)
    for one in (False, True)
}


def _pg_load(alias: str, cursor, statements, uuids: list[str]) -> list[list]:
    """The rows of each of ``statements`` (from _PG_LOAD_SQL) for ``uuids``, in one round trip:
    for one uuid, prepared statements where the connection keeps them (cellsv2.db.sql.fetch_sets),
    else one text of several statements with client-side binding (Django's
    default with psycopg 3; behind PgBouncer), each result set read in turn."""
    value = uuids[0] if len(uuids) == 1 else uuids
    # Prepared for one server (a show) only: the listing's loads of many (one per cell of a page)
    # ran slower prepared (75 cells: 469 ms against 259-317 for the page), and stay as they were.
    if len(uuids) == 1 and sql.prepares(alias):
        return sql.fetch_sets(alias, [(text, [value] * count) for text, count in statements])
    cursor.execute("; ".join(text for text, _ in statements), [value] * sum(count for _, count in statements))
    sets = [cursor.fetchall()]
    while cursor.nextset():
        sets.append(cursor.fetchall())
    return sets


def _servers_from_rows(connection, rows) -> dict[str, ServerView]:
    """ServerViews (no items yet) from rows of _SERVERS_SQL, by uuid."""
    servers = {}
    for raw in rows:
        row = _SERVER_COLUMNS.convert(connection, raw)
        instance = dict(zip(_INSTANCE_ATTNAMES, row[: len(_INSTANCE_ATTNAMES)], strict=True))
        flavor_text, keypairs = row[len(_INSTANCE_ATTNAMES) :]
        flavor = json.loads(flavor_text or "{}").get("cur") or {}
        servers[instance["uuid"]] = ServerView(uuid=instance["uuid"], instance=instance, source="cell", flavor=flavor)
        instance["keypairs"] = keypairs
    return servers


def targeted_cell_alias() -> str:
    """The alias of the targeted cell, for raw reads of servers; NoCellTargeted without one."""
    alias = current_cell_alias()
    if alias is None:
        raise NoCellTargeted("servers are read from a cell: wrap the call in target_cell(cell)")
    return alias


def _load_from_cell(
    uuids: list[str], *, include_deleted: bool = False, faults_with_rows: bool = True
) -> dict[str, ServerView]:
    """Servers by uuid from the targeted cell: instance+extra in one query, the rest in one UNION.

    Deleted instances only with ``include_deleted`` (a list that asked for them). A third query
    reads the newest fault of the servers in ERROR, if any. On PostgreSQL the statements are sent
    together, in one round trip to the cell, the fault query included unless
    ``faults_with_rows=False`` (a caller that has just read the servers' states and found none in
    ERROR: the faults are then read afterwards, as on SQLite, only for servers found in ERROR).
    """
    if not uuids:
        return {}
    alias = targeted_cell_alias()
    connection = sql.connection(alias)
    uuids = list(uuids)
    fault_rows = None  # not read yet
    with sql.cursor(alias) as cursor:
        if connection.vendor == "postgresql":
            statements = _PG_LOAD_SQL[include_deleted, faults_with_rows, len(uuids) == 1]
            rows, items, *faults = _pg_load(alias, cursor, statements, uuids)
            if faults_with_rows:
                fault_rows = faults[0]
            servers = _servers_from_rows(connection, rows)
        else:
            live = "" if include_deleted else '"instances"."deleted" = 0 AND '
            cursor.execute(_SERVERS_SQL.format(live=live, uuids=_in_uuids(len(uuids))), uuids)
            servers = _servers_from_rows(connection, cursor.fetchall())
            if not servers:
                return servers
            found = list(servers)
            cursor.execute(_ITEMS_SQL.format(uuids=_in_uuids(len(found))), found * 4)
            items = cursor.fetchall()
        if fault_rows is None:
            fault_rows = []
            errored = [u for u, s in servers.items() if s.instance["vm_state"] == "error"]
            if errored:
                cursor.execute(_FAULTS_SQL.format(uuids=_in_uuids(len(errored))), errored)
                fault_rows = cursor.fetchall()
    volumes: dict[str, list] = {}
    for kind_value, owner, key, value, position in items:
        server = servers.get(owner)
        if server is None:  # read for a uuid whose instance was not (deleted, not asked for)
            continue
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
    for raw in fault_rows:
        owner, code, message, details, created_at = _FAULT_COLUMNS.convert(connection, raw)
        server = servers.get(owner)
        if server is not None and server.instance["vm_state"] == "error":
            server.fault = server.fault or {
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


# The group of an instance in the API database (Nova's one group per server), as a subquery on
# the instance uuid the statement names.
_GROUP_OF_INSTANCE_SQL = (
    '(SELECT U1."uuid" FROM "instance_group_member" U0 INNER JOIN "instance_groups" U1 ON (U0."group_id" = U1."id") '
    'WHERE U0."instance_uuid" = {instance_uuid} ORDER BY U0."id" LIMIT 1)'
)
# A show's mapping, its request spec and its group membership in one API statement: the show of a
# recent microversion costs a round trip less than reading them one after the other.
_MAPPING_SPEC_AND_GROUP = MappingJoin(
    select='"request_specs"."spec", '
    + _GROUP_OF_INSTANCE_SQL.format(instance_uuid='"instance_mappings"."instance_uuid"'),
    joins='LEFT OUTER JOIN "request_specs" ON ("request_specs"."instance_uuid" = "instance_mappings"."instance_uuid")',
)


def server_get(*, context, uuid: str, groups: bool = False, spec: bool = False) -> ServerView:
    """A server the caller may see, from its build request or its cell.

    Reads the instance mapping (API database), then the build request or the cell. Another
    project's server is ServerNotFound for a non-admin (never revealed); a cell that does not
    answer within CELLSV2_SCATTER_GATHER_TIMEOUT (or is cut off by its breaker) raises CellDown.
    A placed server costs one API query (none with the mapping cache) and one round trip to its
    cell on PostgreSQL (two statements on SQLite). ``groups`` and ``spec``
    are ``server_extras_read``'s: what they ask for is read with the mapping, in the same query
    (unless the mapping came from the cache; ``server_extras_read`` then reads it).
    """
    if not _is_uuid(uuid):
        raise ServerNotFound(uuid)
    extras: tuple | None = None
    if groups or spec:
        mapping, extras = instance_mapping_lookup_joined(uuid, _MAPPING_SPEC_AND_GROUP)
    else:
        mapping = instance_mapping_lookup(uuid)
    if mapping is None or (not context.is_admin and mapping.project_id != context.project_id):
        raise ServerNotFound(uuid)
    server = None
    if mapping.cell_id is None:
        build = build_request_read(uuid)
        if build is not None:
            try:
                server = server_from_build_request(build, mapping)
            except UnsupportedFormat:
                logger.exception("Build request %s cannot be read", uuid)
                raise ServerNotFound(uuid) from None
        else:
            # Placed meanwhile: the conductor sets the cell before it deletes the build request.
            mapping = instance_mapping_read(uuid)
            if mapping is None or mapping.cell_id is None:
                raise ServerNotFound(uuid)
    if server is None:
        try:
            # In a cell thread, within the scatter-gather deadline and the cell's breaker: a cell that
            # hangs costs a show the deadline once, then nothing (cellsv2.cells).
            found = in_cell(mapping.cell, lambda cell: _load_from_cell([uuid]))
        except Exception as exc:
            if isinstance(exc, ServerNotFound):
                raise
            raise CellDown(mapping, exc) from exc
        server = found.get(uuid)
        if server is None or (not context.is_admin and server.get("project_id") != context.project_id):
            raise ServerNotFound(uuid)
        server.cell, server.mapping = mapping.cell, mapping
    if extras:
        _extras_apply(server, *extras, groups=groups, spec=spec)
    return server


def _extras_apply(server: ServerView, spec_text: str | None, group_uuid: str | None, *, groups: bool, spec: bool):
    """Set what ``server_extras_read`` would read from the spec and group read with the mapping."""
    if spec:
        server.spec = request_spec_load(spec_text) if spec_text is not None else {}
    if groups:
        if group_uuid is not None:
            server.server_groups = [group_uuid]
        elif not legacy_groups_present():
            server.server_groups = []
        else:  # while legacy groups remain in the cells (online_data_migrations moves them)
            server.server_groups = servergroup_uuids_of_instance(instance_uuid=server.uuid)


_SPEC_SQL = 'SELECT "spec" FROM "request_specs" WHERE "instance_uuid" = %s'
# The spec and the server group membership (API tables of the servergroups app) in one statement.
_SPEC_AND_GROUP_SQL = (
    'SELECT "request_specs"."spec", '
    + _GROUP_OF_INSTANCE_SQL.format(instance_uuid='"request_specs"."instance_uuid"')
    + ' FROM "request_specs" WHERE "request_specs"."instance_uuid" = %s'
)


def request_spec_read(*, instance_uuid: str) -> str | None:
    """The serialized request spec of a server, or None. One query on the API database."""
    return sql.fetch_value(API_ALIAS, _SPEC_SQL, (instance_uuid,), prepare=True)


_SPECS_SQL = 'SELECT "instance_uuid", "spec" FROM "request_specs" WHERE "instance_uuid" IN ({uuids})'
# Uuids per statement when reading the specs of a page: a page is at most 1000 servers by default
# (CELLSV2_MAX_LIMIT may allow more); SQLite binds up to 32,766 parameters.
SPECS_PER_QUERY = 1000


def request_specs_read(*, instance_uuids: list[str]) -> dict[str, str]:
    """The serialized request specs of servers that have one, by instance uuid. One query on the
    API database per SPECS_PER_QUERY uuids."""
    texts: dict[str, str] = {}
    for start in range(0, len(instance_uuids), SPECS_PER_QUERY):
        chunk = instance_uuids[start : start + SPECS_PER_QUERY]
        texts.update(sql.fetch_all(API_ALIAS, _SPECS_SQL.format(uuids=_placeholders(len(chunk))), chunk))
    return texts


def request_spec_and_group_read(*, instance_uuid: str) -> tuple[str, str | None] | None:
    """``(serialized request spec, uuid of its server group in the API database or None)``, or None
    without a spec. One query on the API database (legacy groups in the cells are not looked at).
    """
    row = sql.fetch_one(API_ALIAS, _SPEC_AND_GROUP_SQL, (instance_uuid,), prepare=True)
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


def server_extras_read(server: ServerView, *, groups: bool, spec: bool) -> None:
    """Read what a response shows of a server beyond its own rows, into ``server``.

    ``groups``: ``server.server_groups``, the uuids of its server groups (2.71+ show);
    ``spec``: ``server.spec``, its request spec (2.96+; ``{}`` when it has none). With both, the
    spec and the API database's membership come in one query; the cells' legacy groups are read
    only when the API database names none and some exist. API database (and the cells for
    legacy groups). Leaves what is already there (a down cell's spec, what ``server_get`` read
    with the mapping) alone.
    """
    if groups and server.server_groups is None:
        server.server_groups = _server_groups_read(server, with_spec=spec)
    if spec and server.spec is None:
        text = request_spec_read(instance_uuid=server.uuid)
        server.spec = request_spec_load(text) if text is not None else {}


def servers_extras_read(servers: list[ServerView], *, groups: bool, spec: bool) -> None:
    """``server_extras_read`` for a page of servers: the request specs of the page in one query
    (API database), not one per server; groups (a show's only, 2.71+) server by server."""
    if spec:
        missing = [server for server in servers if server.spec is None]
        texts = request_specs_read(instance_uuids=[server.uuid for server in missing]) if missing else {}
        for server in missing:
            text = texts.get(server.uuid)
            server.spec = request_spec_load(text) if text is not None else {}
    if groups:
        for server in servers:
            server_extras_read(server, groups=True, spec=False)


def _server_groups_read(server: ServerView, *, with_spec: bool) -> list[str]:
    if with_spec and server.spec is None:
        row = request_spec_and_group_read(instance_uuid=server.uuid)
        if row is not None:
            server.spec = request_spec_load(row[0])
            if row[1] is not None:
                return [row[1]]
            if not legacy_groups_present():
                return []
    return servergroup_uuids_of_instance(instance_uuid=server.uuid)
