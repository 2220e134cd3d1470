"""The operators' workflows across mappings and cells: the work behind ``cell_v2`` and the admin.

What needs both tiers at once lives here: mapping compute hosts and instances (which read the
cells' ``compute_nodes`` and ``instances``), deleting a cell or a host mapping after Nova's checks
against the cell database, and verifying where an instance is. Every function names the
databases it touches; writes that span the API database and a cell write the API side in its
own transaction and are safe to re-run after a crash at any point.
"""

import concurrent.futures
import logging
import uuid as uuid_lib
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from cellsv2.bulk import binary_cursor, second_connection
from cellsv2.cells import cells_cache_clear
from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS, sql
from cellsv2.dburls import InvalidDatabaseUrl, url_identity
from cellsv2.locks import runner_lock
from hosts.models import COMPUTE_BINARY, Service
from mappings import services as mapping_services
from mappings.exceptions import (
    CellHasDeletedInstances,
    CellHasHosts,
    CellHasInstances,
    HostHasInstances,
    HostInOtherCell,
    HostMappingExists,
    HostMappingNotFound,
)
from mappings.models import CellMapping, HostMapping, InstanceMapping
from mappings.selectors import (
    INSTANCE_MIGRATION_MARKER,
    cell_mapping_get,
    cell_mapping_list,
    host_mapping_get,
    mapping_cache_forget,
)
from servers.models import ComputeNode, Instance

logger = logging.getLogger(__name__)


def _noop(message: str) -> None:
    return None


# A batch at least this large is written by two connections at once on PostgreSQL (see
# _second_writer); a smaller one in a single statement.
SPLIT_WRITE_MIN = 2000

_MAPPINGS_INSERT = """
    INSERT INTO instance_mappings (instance_uuid, cell_id, project_id, user_id, queued_for_delete, created_at)
    SELECT instance_uuid, cell_id, project_id, user_id, false, %b
    FROM unnest(%b::text[], %b::integer[], %b::text[], %b::text[])
        AS batch(instance_uuid, cell_id, project_id, user_id)
    ON CONFLICT (instance_uuid) DO NOTHING
"""
# The old marker is deleted unless it is the new one (a --reset run may stop where an earlier run
# did; the insert then skips it): the delete and the insert never touch the same row, whatever
# order PostgreSQL runs them in. The statement answers how many instances it mapped (the marker
# row, inserted or skipped, not counted).
_MARKER_REPLACE_AND_INSERT = f"""
    WITH stale_marker AS (
        DELETE FROM instance_mappings WHERE project_id = %b AND instance_uuid IS DISTINCT FROM %b::text
    ), inserted AS (
        {_MAPPINGS_INSERT}
        RETURNING project_id
    )
    SELECT count(*) FROM inserted WHERE project_id IS DISTINCT FROM %b
"""


def cell_mapping_delete(*, uuid: str, force: bool = False) -> None:
    """Delete a cell mapping (API database) after Nova's safety checks against the cell database.

    Raises CellMappingNotFound, CellHasHosts (hosts and no force), CellHasInstances (live
    instances), CellHasDeletedInstances (mappings of deleted instances and no force). With force,
    instance and host mappings go too and the cell's compute nodes are marked unmapped.
    """
    mapping = cell_mapping_get(uuid=uuid)
    has_hosts = HostMapping.objects.filter(cell=mapping).exists()
    if has_hosts and not force:
        raise CellHasHosts(uuid)
    instance_mappings = InstanceMapping.objects.filter(cell=mapping)
    if instance_mappings.exists():
        with target_cell(mapping):
            if Instance.objects.live().exists():
                raise CellHasInstances(uuid)
        if not force:
            raise CellHasDeletedInstances(uuid)
    if force and has_hosts:
        # Cell first, API second: a crash between leaves nodes unmapped whose host mappings a
        # re-run deletes; discover_hosts would re-map them, never the reverse.
        hosts = list(HostMapping.objects.filter(cell=mapping).values_list("host", flat=True))
        with target_cell(mapping):
            ComputeNode.objects.filter(host__in=hosts).update(mapped=0)
    forget = list(InstanceMapping.objects.filter(cell=mapping).values_list("instance_uuid", flat=True))
    with transaction.atomic(using=API_ALIAS):
        InstanceMapping.objects.filter(cell=mapping).delete()
        HostMapping.objects.filter(cell=mapping).delete()
        mapping.delete()
    cells_cache_clear()
    _forget_cached_mappings(forget)


def _forget_cached_mappings(instance_uuids: list[str]) -> None:
    """Drop deleted instance mappings from the optional mapping cache (servers' show path)."""
    for instance_uuid in instance_uuids:
        mapping_cache_forget(instance_uuid)


@dataclass
class DiscoverResult:
    created: list[HostMapping] = field(default_factory=list)
    failed_cells: dict[str, str] = field(default_factory=dict)


def hosts_discover(
    *,
    cell_uuid: str | None = None,
    status_fn: Callable[[str], None] = _noop,
    on_start: Callable[[int], None] | None = None,
    on_cell: Callable[[CellMapping, int | None], None] | None = None,
    by_service: bool = False,
) -> DiscoverResult:
    """Map every unmapped compute host of one cell or of all cells (cell0 skipped).

    With ``by_service`` the hosts are those of the cells' nova-compute services (disabled ones
    too) rather than of their unmapped compute nodes, as Nova's ``--by-service``.

    Reads compute nodes in each cell database, creates host mappings in the API database, then
    marks the nodes mapped in the cell (of a host's nodes, the one with the lowest id). A cell
    that cannot be reached is reported in ``failed_cells`` and the others are still discovered.
    Raises HostMappingExists when another run created the same mapping concurrently,
    CellMappingNotFound for an unknown cell.
    ``on_start`` receives how many cells will be searched, ``on_cell`` each searched cell with
    the number of hosts mapped in it (None when the cell failed).
    """
    cells = [cell_mapping_get(uuid=cell_uuid)] if cell_uuid else list(cell_mapping_list())
    status_fn(f"Found {len(cells)} cell mappings.")
    if on_start is not None:
        on_start(sum(1 for cell in cells if not cell.is_cell0))
    result = DiscoverResult()
    for cell in cells:
        if cell.is_cell0:
            status_fn("Skipping cell0 since it does not contain hosts.")
            continue
        if cell.name:
            status_fn(f"Getting computes from cell '{cell.name}': {cell.uuid}")
        else:
            status_fn(f"Getting computes from cell: {cell.uuid}")
        created_before = len(result.created)
        try:
            if by_service:
                _discover_services(cell, result, status_fn)
            else:
                with target_cell(cell):
                    # By id: of a host's several nodes, the oldest is the one marked mapped,
                    # whatever order the database reads rows in.
                    unmapped = ComputeNode.objects.live().filter(Q(mapped__lt=1) | Q(mapped__isnull=True))
                    nodes = list(unmapped.order_by("id"))
                    status_fn(f"Found {len(nodes)} unmapped computes in cell: {cell.uuid}")
                    for node in nodes:
                        status_fn(f"Checking host mapping for compute host '{node.host}': {node.uuid}")
                        if HostMapping.objects.filter(host=node.host).exists():
                            continue
                        status_fn(f"Creating host mapping for compute host '{node.host}': {node.uuid}")
                        try:
                            with transaction.atomic(using=API_ALIAS):
                                result.created.append(HostMapping.objects.create(cell=cell, host=node.host))
                        except IntegrityError:
                            raise HostMappingExists(node.host) from None
                        ComputeNode.objects.filter(pk=node.pk).update(mapped=1)
        except DatabaseError as exc:
            result.failed_cells[cell.uuid] = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        except Exception as exc:
            if isinstance(exc, HostMappingExists):
                raise
            result.failed_cells[cell.uuid] = f"{type(exc).__name__}: {exc}"
        if on_cell is not None:
            on_cell(cell, None if cell.uuid in result.failed_cells else len(result.created) - created_before)
    return result


def _discover_services(cell, result: "DiscoverResult", status_fn) -> None:
    """Map the hosts of a cell's nova-compute services that have no host mapping (by_service)."""
    with target_cell(cell):
        hosts = list(
            Service.objects.live().filter(binary=COMPUTE_BINARY).order_by("id").values_list("host", flat=True)
        )
    for host in hosts:
        if HostMapping.objects.filter(host=host).exists():
            continue
        status_fn(f"Creating host mapping for service {host}")
        try:
            with transaction.atomic(using=API_ALIAS):
                result.created.append(HostMapping.objects.create(cell=cell, host=host))
        except IntegrityError:
            raise HostMappingExists(host) from None


def host_mapping_delete(*, cell_uuid: str, host: str) -> None:
    """Delete a host's mapping (API database) after marking its nodes unmapped in the cell.

    Raises CellMappingNotFound, HostMappingNotFound, HostInOtherCell or HostHasInstances.
    """
    cell = cell_mapping_get(uuid=cell_uuid)
    host_mapping = host_mapping_get(host=host)
    if host_mapping.cell.uuid != cell.uuid:
        raise HostInOtherCell(host, cell_uuid)
    with target_cell(cell):
        if Instance.objects.live().filter(host=host).exists():
            raise HostHasInstances(host)
        ComputeNode.objects.filter(host=host).update(mapped=0)
    with transaction.atomic(using=API_ALIAS):
        if HostMapping.objects.filter(pk=host_mapping.pk).delete()[0] == 0:
            raise HostMappingNotFound(host)


@dataclass
class MapInstancesResult:
    processed: int = 0  # instances looked at
    mapped: int = 0  # of those, instances that had no mapping and got one
    batches: int = 0
    complete: bool = True


# Nova maps 50 per batch; with no --max-count we page in larger batches, which changes nothing
# but the number of round trips (a larger --max-count is mapped in batches of this size too).
MAP_INSTANCES_BATCH = 10000


def _instances_after(alias: str, after_id: int, limit: int) -> list[tuple]:
    """(id, uuid, project_id, user_id) of a cell's instances (deleted ones too) with id > after_id, by id."""
    if sql.is_postgresql(alias):
        # Binary results: no per-value text parsing on the way out of a 10,000-row batch.
        with binary_cursor(alias) as cursor:
            cursor.execute(
                "SELECT id, uuid, project_id, user_id FROM instances WHERE id > %s ORDER BY id LIMIT %s",
                [after_id, limit],
            )
            return cursor.fetchall()
    return list(
        Instance.objects.using(alias)
        .filter(id__gt=after_id)
        .order_by("id")
        .values_list("id", "uuid", "project_id", "user_id")[:limit]
    )


def _mappings_insert(rows: list[tuple], now, *, marker_uuid: str | None = None, replace_marker: bool = False) -> int:
    """One statement on the PostgreSQL API database: insert the rows unless their instance is mapped.

    ``rows`` are (instance_uuid, cell_id, project_id, user_id). With ``replace_marker`` every
    marker row but ``marker_uuid`` (None: all of them) is deleted in the same statement. Returns
    how many instances were mapped (rows inserted, a marker row not counted).
    """
    columns = [list(column) for column in zip(*rows, strict=True)] or [[], [], [], []]
    with binary_cursor(API_ALIAS) as cursor:
        if not replace_marker:
            cursor.execute(_MAPPINGS_INSERT, [now, *columns])
            return cursor.rowcount
        marker = INSTANCE_MIGRATION_MARKER
        cursor.execute(_MARKER_REPLACE_AND_INSERT, [marker, marker_uuid, now, *columns, marker])
        return cursor.fetchone()[0]


def _mappings_insert_in_thread(rows: list[tuple], now) -> int:
    """_mappings_insert on the calling thread's own API connection (the second writer's)."""
    sql.connection(API_ALIAS).close_if_unusable_or_obsolete()
    return _mappings_insert(rows, now)


def _second_writer():
    """A thread with its own API connection for the first half of large batches, or None.

    The insert is bound by the upkeep of instance_mappings' indexes, on one core per statement:
    two statements at once map half as fast again on two cores (PostgreSQL, autocommit only).
    """
    return second_connection(API_ALIAS, name="instances-map")


def _instance_mappings_write(
    cell: CellMapping, instances: list[tuple], *, marker: str | None, second_writer=None
) -> int:
    """Map the instances to ``cell`` unless already mapped, and make ``marker`` the only resume marker.

    Writes the API database; ``marker`` is an instance uuid, or None when the run is complete.
    The marker is committed with the batch, never before it: on PostgreSQL in the same statement
    (with ``second_writer``, once both halves of the batch are committed); on SQLite in the
    same transaction. Returns how many instances it mapped (those already mapped are skipped).
    """
    now = timezone.now()
    marker_uuid = marker.replace("-", " ") if marker else None
    # In uuid order: each statement walks instance_mappings' unique index from one end to the other
    # instead of jumping to a random leaf per row, and the two writers' halves of a batch are two
    # disjoint ranges of it, never the same leaf.
    rows = sorted((uuid, cell.id, project_id or "", user_id) for _, uuid, project_id, user_id in instances)
    marker_rows = [(marker_uuid, None, INSTANCE_MIGRATION_MARKER, INSTANCE_MIGRATION_MARKER)] if marker_uuid else []
    api = sql.connection(API_ALIAS)
    if api.vendor == "postgresql":
        if second_writer is None or len(rows) < SPLIT_WRITE_MIN:
            return _mappings_insert(rows + marker_rows, now, marker_uuid=marker_uuid, replace_marker=True)
        half = len(rows) // 2
        first_half = second_writer.submit(_mappings_insert_in_thread, rows[:half], now)
        try:
            mapped = _mappings_insert(rows[half:], now)
        finally:
            # Never return (or raise) while the other half may still be running.
            concurrent.futures.wait([first_half])
        mapped += first_half.result()
        _mappings_insert(marker_rows, now, marker_uuid=marker_uuid, replace_marker=True)
        return mapped
    with transaction.atomic(using=API_ALIAS), sql.cursor(API_ALIAS) as cursor:
        cursor.execute("DELETE FROM instance_mappings WHERE project_id = %s", [INSTANCE_MIGRATION_MARKER])
        created_at = api.ops.adapt_datetimefield_value(now)
        if not rows and not marker_rows:
            return 0
        cursor.executemany(
            "INSERT INTO instance_mappings "
            "(instance_uuid, cell_id, project_id, user_id, queued_for_delete, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (instance_uuid) DO NOTHING",
            [(*row, False, created_at) for row in rows + marker_rows],
        )
        # The marker rows were all deleted above, so the new one is always inserted.
        return cursor.rowcount - len(marker_rows)


def instances_map(
    *,
    cell_uuid: str,
    max_count: int | None = None,
    reset: bool = False,
    batch_size: int = MAP_INSTANCES_BATCH,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> MapInstancesResult:
    """Create instance mappings for every instance of a cell (deleted ones too), oldest first.

    Reads instances from the cell database and writes mappings to the API database in batches;
    each batch and the resume marker (Nova's INSTANCE_MIGRATION_MARKER row) are committed
    together, so an interrupted run resumes after its last committed batch, and a mapping that
    already exists is skipped. With ``max_count`` at most that many instances are mapped and
    ``complete`` says whether more remain. Holds the ``map_instances`` runner lock (LockHeld).
    ``on_start`` (if given) receives how many instances the run will look at (one more count
    query on the cell), ``on_batch`` the instances looked at and mapped by each committed batch.
    """
    cell = cell_mapping_get(uuid=cell_uuid)
    result = MapInstancesResult()
    with runner_lock("map_instances"):
        marker_uuid = None
        if not reset:
            # The oldest marker row, chosen here: ORDER BY id in SQL makes PostgreSQL walk the
            # primary key through every mapping to find it (the markers are few, one normally).
            markers = InstanceMapping.objects.filter(project_id=INSTANCE_MIGRATION_MARKER)
            marker_row = min(markers.values_list("id", "instance_uuid"), default=None)
            marker_uuid = marker_row[1].replace(" ", "-") if marker_row else None
        with target_cell(cell) as alias, _second_writer() as second_writer:
            after_id = 0
            if marker_uuid:
                marker_instance = Instance.objects.filter(uuid=marker_uuid).values_list("id", flat=True).first()
                # A marker whose instance was archived since: start over (existing mappings are skipped).
                after_id = marker_instance or 0
            if on_start is not None:
                remaining = Instance.objects.using(alias).filter(id__gt=after_id).count()
                on_start(min(remaining, max_count) if max_count else remaining)
            while True:
                limit = batch_size if not max_count else min(batch_size, max_count - result.processed)
                instances = _instances_after(alias, after_id, limit)
                more = len(instances) == limit
                mapped = _instance_mappings_write(
                    cell, instances, marker=instances[-1][1] if more else None, second_writer=second_writer
                )
                result.processed += len(instances)
                result.mapped += mapped
                if instances:
                    result.batches += 1
                    if on_batch is not None:
                        on_batch(len(instances), mapped)
                if not more:
                    result.complete = True
                    break
                after_id = instances[-1][0]
                if max_count and result.processed >= max_count:
                    result.complete = False
                    break
    return result


@dataclass
class VerifyResult:
    code: int
    messages: list[str]


def instance_verify(*, uuid: str) -> VerifyResult:
    """Nova's verify_instance: where an instance is, with its exit code (0-4). Reads API and cell."""
    mapping = InstanceMapping.objects.select_related("cell").filter(instance_uuid=uuid).first()
    if mapping is None:
        return VerifyResult(
            1, [f"Instance {uuid} is not mapped to a cell (upgrade is incomplete) or instance does not exist"]
        )
    if mapping.cell is None:
        return VerifyResult(2, [f"Instance {uuid} is not mapped to a cell"])
    with target_cell(mapping.cell):
        instance = Instance.objects.filter(uuid=uuid).only("id", "deleted").first()
    if instance is None:
        return VerifyResult(
            4, [f"The instance with uuid {uuid} has been archived.", "However its instance_mapping remains."]
        )
    if instance.deleted:
        return VerifyResult(
            3,
            [
                f"The instance with uuid {uuid} has been deleted.",
                "Execute `manage.py db archive_deleted_rows` command to archive this deleted instance and "
                "remove its instance_mapping.",
            ],
        )
    return VerifyResult(0, [f"Instance {uuid} is in cell: {mapping.cell.name} ({mapping.cell.uuid})"])


@dataclass
class CellAndHostsResult:
    cell: CellMapping | None = None
    created_cell: bool = False
    already_mapped: list[tuple[str, str]] = field(default_factory=list)  # (host, cell uuid)
    mapped: list[str] = field(default_factory=list)
    no_hosts: bool = False


def cell_and_hosts_map(
    *, database_connection: str, name: str | None = None, transport_url: str | None = None
) -> CellAndHostsResult:
    """Nova's ``map_cell_and_hosts``: map the compute hosts of one cell database, creating its cell.

    Reads the live compute nodes of the database at ``database_connection``; the hosts without a
    host mapping are mapped to the cell that already maps this database, else to the cell of an
    already mapped host of it (Nova re-uses that one), else to a new cell mapping (``name``,
    ``transport_url``). API database first (cell, then host mappings), then the nodes are marked
    mapped in the cell: a crash in between leaves mappings that a re-run keeps and nodes that
    ``discover_hosts`` marks. Raises InvalidCellDatabase for a URL that is malformed or refuses.
    """
    mapping_services.cell_database_validate(database_connection)
    identity = url_identity(database_connection)
    existing = next(
        (c for c in cell_mapping_list() if c.database_connection and _same_database(c.database_connection, identity)),
        None,
    )
    # A cell object to target the database with, saved only if hosts need a new cell.
    target = existing or CellMapping(uuid=str(uuid_lib.uuid4()), name=name, database_connection=database_connection)
    with target_cell(target):
        hosts = sorted(set(ComputeNode.objects.live().values_list("host", flat=True)))
    result = CellAndHostsResult(cell=existing)
    if not hosts:
        result.no_hosts = True
        return result
    mapped = {m.host: m.cell for m in HostMapping.objects.select_related("cell").filter(host__in=hosts)}
    missing = [host for host in hosts if host not in mapped]
    result.already_mapped = [(host, mapped[host].uuid) for host in hosts if host in mapped]
    if not missing:
        return result
    cell = existing or (mapped[result.already_mapped[-1][0]] if result.already_mapped else None)
    if cell is None:
        cell = mapping_services.cell_mapping_create(
            name=name, database_connection=database_connection, transport_url=transport_url, uuid=target.uuid
        )
        result.created_cell = True
    with transaction.atomic(using=API_ALIAS):
        for host in missing:
            HostMapping.objects.get_or_create(host=host, defaults={"cell": cell})
    with target_cell(cell):
        ComputeNode.objects.live().filter(host__in=missing).update(mapped=1)
    result.cell, result.mapped = cell, missing
    return result


def _same_database(url: str, identity) -> bool:
    try:
        return url_identity(url) == identity
    except InvalidDatabaseUrl:
        return False
