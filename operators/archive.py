"""Archive and purge of deleted servers (Nova's ``db archive_deleted_rows`` and ``db purge``).

Archiving moves soft-deleted rows of a cell into its shadow tables (``shadow_<table>``, same
columns) and then removes what the API database still holds about the archived instances. A batch
in one cell is:

1. **cell transaction** (all or nothing): pick up to ``max_rows`` soft-deleted instances (oldest
   id first; with ``before``, only those deleted before it), copy them and every row of
   ``block_device_mapping``, ``instance_extra``, ``instance_faults``, ``instance_metadata`` and
   ``instance_system_metadata`` that belongs to them into the shadow tables (``INSERT ...
   SELECT``), delete the originals, and hard-delete their ``tags`` and ``console_auth_tokens``
   (Nova has no shadow table for those).
   With budget left, soft-deleted rows of the dependent tables whose instance is still live (a
   removed metadata key, say) are moved the same way, as Nova's table-by-table walk does (Nova
   would also take those of a deleted instance left for a later batch; here they always wait for
   their instance, so an instance's rows are never split between live and shadow tables);
2. **API transaction**: delete the archived instances' ``instance_mappings``, ``request_specs``
   and ``instance_group_member`` rows.

Before the cells, the API rows of servers deleted before any cell held them (a mapping with no
cell, queued for delete, no build request left) are deleted the same way: no instance of theirs
will ever be archived.

A crash or Ctrl-C between 1 and 2 leaves mappings whose instance is archived. Nova leaves those for
good (``cell_v2 verify_instance`` reports them with exit code 4); here every run starts each cell
by finishing that cleanup: mappings of the cell queued for delete whose instance is in the cell's
``shadow_instances`` and not in ``instances`` lose their API rows
(``archived_instance_api_records_delete``). Running the command again after any interruption
therefore ends in the same state as an uninterrupted run.

Purging deletes shadow rows, all of them or those deleted before a date, table by table (the
actions and their events, never deleted, by when they were created, as Nova does).
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError, transaction

from cellsv2.cells import CellDatabaseUnusable
from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS, sql
from consoles.models import ConsoleAuthToken
from instance_actions.models import (
    InstanceAction,
    InstanceActionEvent,
    ShadowInstanceAction,
    ShadowInstanceActionEvent,
)
from mappings.models import InstanceMapping
from mappings.selectors import mapping_cache_forget
from servergroups.models import InstanceGroupMember
from servers.models import (
    BlockDeviceMapping,
    BuildRequest,
    Instance,
    InstanceExtra,
    InstanceFault,
    InstanceMetadata,
    InstanceSystemMetadata,
    RequestSpec,
    ShadowBlockDeviceMapping,
    ShadowInstance,
    ShadowInstanceExtra,
    ShadowInstanceFault,
    ShadowInstanceMetadata,
    ShadowInstanceSystemMetadata,
    Tag,
)

logger = logging.getLogger(__name__)

API_DB = "API_DB"
# Nova's prefix for API-database rows in the archive report.
API_TABLES = ("instance_mappings", "request_specs", "instance_group_member")
# Rows of an instance that are archived with it, in Nova's table order (foreign-key order, then name).
DEPENDENTS = (
    (BlockDeviceMapping, ShadowBlockDeviceMapping),
    (InstanceExtra, ShadowInstanceExtra),
    (InstanceFault, ShadowInstanceFault),
    (InstanceMetadata, ShadowInstanceMetadata),
    (InstanceSystemMetadata, ShadowInstanceSystemMetadata),
)
# Purge order: Nova walks the shadow tables sorted by name (they have no foreign keys).
SHADOW_MODELS = tuple(
    sorted(
        (ShadowInstance, *(s for _, s in DEPENDENTS), ShadowInstanceAction, ShadowInstanceActionEvent),
        key=lambda m: m._meta.db_table,
    )
)
# Shadow tables whose rows were never soft-deleted (no deleted_at): `db purge --before` goes by
# their creation time instead, as Nova's purge_shadow_tables does.
PURGE_COLUMNS = {ShadowInstanceAction: "created_at", ShadowInstanceActionEvent: "created_at"}
# Bound on the values in one IN (...) list (SQLite's limit on bound parameters is 32766).
CHUNK = 500


def _chunks(values: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _deleted(queryset, before: datetime | None):
    """Soft-deleted rows (Nova's ``deleted != 0``), deleted before ``before`` when given."""
    queryset = queryset.filter(deleted__isnull=False).exclude(deleted=0)
    return queryset.filter(deleted_at__lt=before) if before is not None else queryset


def _move(live, shadow, ids: list[int], alias: str) -> int:
    """Copy rows ``ids`` of ``live`` into ``shadow`` (INSERT ... SELECT) and delete them; returns how many.

    Runs on ``alias`` inside the caller's transaction, so the copy and the delete commit together.
    """
    if not ids:
        return 0
    quote = sql.connection(alias).ops.quote_name
    columns = ", ".join(quote(f.column) for f in live._meta.concrete_fields)
    source, target, pk = quote(live._meta.db_table), quote(shadow._meta.db_table), quote(live._meta.pk.column)
    moved = 0
    with sql.cursor(alias) as cursor:
        for chunk in _chunks(ids):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {source} WHERE {pk} IN ({marks})", chunk
            )
            cursor.execute(f"DELETE FROM {source} WHERE {pk} IN ({marks})", chunk)
            moved += cursor.rowcount
    return moved


def _instance_actions_move(instance_uuids: list[str], alias: str) -> dict[str, int]:
    """Move the actions of ``instance_uuids`` and their events into the shadow tables, events first.

    Runs on ``alias`` inside the caller's transaction. Returns rows moved per live table.
    """
    action_ids, event_ids = [], []
    for chunk in _chunks(instance_uuids):
        action_ids += InstanceAction.objects.filter(instance_uuid__in=chunk).values_list("id", flat=True)
    for chunk in _chunks(action_ids):
        event_ids += InstanceActionEvent.objects.filter(action_id__in=chunk).values_list("id", flat=True)
    # The live events refer to their action by foreign key: they leave first.
    return {
        InstanceActionEvent._meta.db_table: _move(InstanceActionEvent, ShadowInstanceActionEvent, event_ids, alias),
        InstanceAction._meta.db_table: _move(InstanceAction, ShadowInstanceAction, action_ids, alias),
    }


def _hard_delete_untracked(instance_uuids: list[str]) -> None:
    """Tags and console tokens of archived instances: deleted, as Nova's instance_destroy does."""
    for chunk in _chunks(instance_uuids):
        Tag.objects.filter(resource_id__in=chunk).delete()
        ConsoleAuthToken.objects.filter(instance_uuid__in=chunk).delete()


@dataclass
class CellArchiveBatch:
    """What one batch moved in one cell."""

    rows: dict[str, int] = field(default_factory=dict)  # table name -> rows archived (tables with rows only)
    instance_uuids: list[str] = field(default_factory=list)
    total: int = 0


def cell_deleted_rows_archive(*, cell, max_rows: int, before: datetime | None = None) -> CellArchiveBatch:
    """Move one batch of soft-deleted rows of ``cell`` into its shadow tables (one cell transaction).

    Instances first, each with all of its dependent rows (so an archived instance is never split
    across a batch boundary, and the batch may exceed ``max_rows`` by those rows, as in Nova), then
    soft-deleted dependent rows of live instances while fewer than ``max_rows`` rows have moved.
    Writes only the cell database; the caller removes the API rows of ``instance_uuids``.
    """
    batch = CellArchiveBatch()

    def count(table: str, rows: int) -> None:
        if rows:
            batch.rows[table] = batch.rows.get(table, 0) + rows
            batch.total += rows

    with target_cell(cell) as alias, transaction.atomic(using=alias):
        # FOR UPDATE: a second archiver waits for this batch and then skips its rows.
        picked = list(
            _deleted(Instance.objects.all(), before)
            .select_for_update()
            .order_by("id")
            .values_list("id", "uuid")[:max_rows]
        )
        if picked:
            ids, uuids = [row[0] for row in picked], [row[1] for row in picked]
            extras = {}
            for live, shadow in DEPENDENTS:
                owned = []
                for chunk in _chunks(uuids):
                    owned += live.objects.filter(instance_id__in=chunk).values_list("id", flat=True)
                extras[live._meta.db_table] = _move(live, shadow, owned, alias)
            extras.update(_instance_actions_move(uuids, alias))
            _hard_delete_untracked(uuids)
            count(Instance._meta.db_table, _move(Instance, ShadowInstance, ids, alias))
            for table, rows in extras.items():
                count(table, rows)
            batch.instance_uuids = uuids
        for live, shadow in DEPENDENTS:
            if batch.total >= max_rows:
                break
            # Dependent rows of a deleted instance wait for their instance: it takes them along.
            ids = list(
                _deleted(live.objects.filter(instance__deleted=0), before)
                .select_for_update(of=("self",))
                .order_by("id")
                .values_list("id", flat=True)[: max_rows - batch.total]
            )
            count(live._meta.db_table, _move(live, shadow, ids, alias))
    return batch


def instance_api_records_delete(*, instance_uuids: Iterable[str]) -> dict[str, int]:
    """Delete the instance mappings, request specs and server-group memberships of archived instances.

    One API-database transaction (Nova's InstanceMappingList.destroy_bulk, RequestSpec.destroy_bulk
    and InstanceGroup.destroy_members_bulk). Returns rows deleted per API table, zeros included.
    """
    uuids = list(dict.fromkeys(instance_uuids))
    deleted = dict.fromkeys(API_TABLES, 0)
    with transaction.atomic(using=API_ALIAS):
        for chunk in _chunks(uuids):
            deleted["instance_mappings"] += InstanceMapping.objects.filter(instance_uuid__in=chunk).delete()[0]
            deleted["request_specs"] += RequestSpec.objects.filter(instance_uuid__in=chunk).delete()[0]
            deleted["instance_group_member"] += InstanceGroupMember.objects.filter(instance_uuid__in=chunk).delete()[0]
    for uuid in uuids:
        mapping_cache_forget(uuid)
    return deleted


def unplaced_deleted_instance_uuids() -> list[str]:
    """Servers deleted before any cell held them, whose API rows are still there.

    An instance mapping with no cell, queued for delete, and no build request: its build request
    was deleted (the server deleted while it was one, or a build whose instance never landed)
    and nothing will ever archive an instance for it. Creating a server writes the mapping and
    the build request in one transaction and only a delete sets the flag, so a server being
    created or placed never matches. Reads the API database.
    """
    return list(
        InstanceMapping.objects.filter(cell__isnull=True, queued_for_delete=True)
        .exclude(instance_uuid__in=BuildRequest.objects.values("instance_uuid"))
        .order_by("id")
        .values_list("instance_uuid", flat=True)
    )


def unplaced_deleted_api_records_delete() -> dict[str, int]:
    """Delete the API rows of servers deleted before placement (unplaced_deleted_instance_uuids).

    Writes the API database; returns rows deleted per API table (empty when none were left).
    """
    uuids = unplaced_deleted_instance_uuids()
    if not uuids:
        return {}
    logger.info("Removing the API records of %d servers deleted before they reached a cell", len(uuids))
    return instance_api_records_delete(instance_uuids=uuids)


def archived_instance_uuids(*, cell) -> list[str]:
    """Instances of ``cell`` that are archived but still have an instance mapping (an interrupted archive).

    Candidates are the cell's mappings queued for delete (or with the flag unset, as rows from
    before the flag existed): those whose uuid is in the cell's shadow_instances and no longer in
    its instances. Reads the API database and the cell, a chunk of mappings at a time.
    """
    candidates = InstanceMapping.objects.filter(cell=cell).exclude(queued_for_delete=False).order_by("id")
    found, last = [], 0
    while True:
        chunk = list(candidates.filter(id__gt=last).values_list("id", "instance_uuid")[:CHUNK])
        if not chunk:
            return found
        last = chunk[-1][0]
        uuids = [uuid for _, uuid in chunk]
        with target_cell(cell):
            archived = set(ShadowInstance.objects.filter(uuid__in=uuids).values_list("uuid", flat=True))
            if archived:
                archived -= set(Instance.objects.filter(uuid__in=archived).values_list("uuid", flat=True))
        found += [uuid for uuid in uuids if uuid in archived]


def archived_instance_api_records_delete(*, cell) -> dict[str, int]:
    """Finish the API cleanup of instances an interrupted archive already moved out of ``cell``.

    Reads the API database and the cell; deletes API rows as instance_api_records_delete does.
    Returns rows deleted per API table (empty when there was nothing to finish).
    """
    uuids = archived_instance_uuids(cell=cell)
    if not uuids:
        return {}
    logger.warning("Removing the API records of %d instances archived from cell %s earlier", len(uuids), cell)
    return instance_api_records_delete(instance_uuids=uuids)


@dataclass
class ArchiveResult:
    """The report of an archive run, keyed as Nova's table: ``<cell>.<table>`` and ``API_DB.<table>``."""

    rows: dict[str, int] = field(default_factory=dict)
    failed_cells: dict[str, BaseException] = field(default_factory=dict)
    interrupted: bool = False

    def add(self, prefix: str, counts: dict[str, int]) -> None:
        for table, rows in counts.items():
            key = f"{prefix}.{table}"
            self.rows[key] = self.rows.get(key, 0) + rows


def cell_label(cell) -> str:
    """The cell's part of a report key: its name (Nova's), or its uuid when it has none."""
    return cell.name or cell.uuid


def deleted_rows_archive(
    *,
    cells: Iterable,
    max_rows: int,
    before: datetime | None = None,
    until_complete: bool = False,
    on_batch: Callable[[str, int], None] | None = None,
) -> ArchiveResult:
    """Archive soft-deleted rows of ``cells``, one after the other (Nova's archive_deleted_rows loop).

    Writes each cell's database and the API database (see the module docstring for the order).

    Without ``until_complete`` at most ``max_rows`` rows move in all (plus the rows that travel
    with their instance), one batch per cell until the budget is spent. With it, every cell is
    archived in batches of ``max_rows`` until a batch moves nothing. ``on_batch`` receives the
    cell's label and the rows moved (cell tables) after each batch that moved some. A cell
    whose database fails is recorded in ``failed_cells`` and the others go on; Ctrl-C stops
    after the current batch is rolled back or committed and sets ``interrupted`` (a re-run
    completes anything left half-done).
    """
    result = ArchiveResult()
    total = 0
    try:
        result.add(API_DB, unplaced_deleted_api_records_delete())
    except DatabaseError:
        logger.warning(
            "Removing the API records of servers deleted before placement failed",
            exc_info=logger.isEnabledFor(logging.DEBUG),
        )
    for cell in cells:
        if until_complete:
            budget = max_rows
        elif max_rows > total:
            budget = max_rows - total
        else:
            break
        label = cell_label(cell)
        try:
            result.add(API_DB, archived_instance_api_records_delete(cell=cell))
            while True:
                batch = cell_deleted_rows_archive(cell=cell, max_rows=budget, before=before)
                result.add(label, batch.rows)
                total += batch.total
                if batch.instance_uuids:
                    result.add(API_DB, instance_api_records_delete(instance_uuids=batch.instance_uuids))
                if batch.rows and on_batch is not None:
                    on_batch(label, sum(batch.rows.values()))
                if not until_complete or not batch.rows:
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            break
        except (DatabaseError, CellDatabaseUnusable) as exc:
            # The command reports the cell on one line; the traceback at DEBUG.
            logger.debug("Archiving cell %s failed", cell, exc_info=True)
            result.failed_cells[label] = exc
    return result


def shadow_tables_purge(*, cell, before: datetime | None = None, status: Callable[[str], None] | None = None) -> int:
    """Delete archived rows from the shadow tables of ``cell``: all, or those deleted before ``before``.

    Nova's purge_shadow_tables: one DELETE per table (autocommit), keyed on ``deleted_at`` (on
    ``created_at`` for instance actions and their events, which are never deleted); rows whose
    column is NULL stay until a purge without a date. Writes only the cell database.
    Returns the number of rows deleted; ``status`` receives one line per table that lost rows.
    """
    total = 0
    with target_cell(cell):
        for model in SHADOW_MODELS:
            rows = model.objects.all()
            column = PURGE_COLUMNS.get(model, "deleted_at") if before is not None else "(n/a)"
            if before is not None:
                rows = rows.filter(**{f"{column}__lt": before})
            deleted = rows.delete()[0]
            if deleted and status is not None:
                status(f"Deleted {deleted} rows from {model._meta.db_table} based on timestamp column {column}")
            total += deleted
    return total
