"""Online data migrations that move key pairs out of the cells (see cellsv2/online_migrations.py).

1. ``populate_instance_keypairs`` embeds each instance's key pair in ``instance_extra.keypairs``,
   so that nothing in a cell needs the key pair tables any more.
2. ``migrate_keypairs_to_api_db`` then moves the live legacy key pairs to the API database.

Both work in set-based batches, are idempotent, and are safe to interrupt at any point and to run
concurrently: the move copies first (an insert that skips the keys already there), compares what
the API database holds, quarantines real conflicts, and only then soft-deletes the copied cell
rows. On PostgreSQL the rows travel as arrays bound in binary (``cellsv2.bulk``): one read, one
insert and one soft delete per chunk, whatever its size.
"""

import concurrent.futures
import logging
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import DatabaseError, transaction
from django.db.models import Case, F, TextField, Value, When
from django.utils import timezone

from cellsv2.bulk import binary_cursor, insert_missing, second_connection
from cellsv2.cells import cell_mappings, cells_answering, on_cells_cache_clear
from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS, sql
from keypairs.models import KeyPair, KeyPairConflict, KeyPairDeletion, LegacyKeyPair
from keypairs.serialization import keypair_list_json
from servers.models import InstanceExtra

logger = logging.getLogger(__name__)

# Rows per UPDATE of instance_extra (a CASE per row; keeps the statement and its parameters bounded).
UPDATE_CHUNK = 500


class CellsUnreachable(RuntimeError):
    """Some cells could not be migrated this time (the others were)."""


def _pairs_lookup(model_queryset, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], object]:
    """Rows of (user_id, name) pairs, fetched with two IN filters and matched in Python."""
    if not pairs:
        return {}
    users = {u for u, _ in pairs}
    names = {n for _, n in pairs}
    found = {}
    for row in model_queryset.filter(user_id__in=users, name__in=names):
        if (row.user_id, row.name) in pairs:
            found.setdefault((row.user_id, row.name), row)
    return found


def populate_instance_keypairs(*, max_count: int) -> tuple[int, int]:
    """Fill ``instance_extra.keypairs`` where it is NULL, from the key the instance was booted with.

    Reads instance_extra and instances in each cell, the key by (user, name) from the API
    database first, then from the cell's legacy key_pairs, then from the other cells' legacy
    key_pairs; writes instance_extra in that cell (an empty list when the key is gone; nothing
    while a cell that might hold the key cannot be read). Returns (found, done).
    """
    found = done = 0
    failed = []
    for cell in cell_mappings():
        budget = max_count - found
        if budget <= 0:
            break
        try:
            with target_cell(cell) as alias:
                if not _has_instances_without_keypairs(alias):
                    continue
                extras = list(
                    InstanceExtra.objects.live()
                    .filter(keypairs__isnull=True)
                    .select_related("instance")
                    .only("id", "keypairs", "instance__uuid", "instance__user_id", "instance__key_name")
                    .order_by("id")[:budget]
                )
                if not extras:
                    continue
                found += len(extras)
                wanted = {(e.instance.user_id, e.instance.key_name) for e in extras if e.instance.key_name}
                keys = _pairs_lookup(KeyPair.objects.all(), wanted)
                keys.update({k: v for k, v in _pairs_lookup(LegacyKeyPair.objects.live(), wanted - set(keys)).items()})
                # A user's legacy key may live in another cell's database: it is not gone. While
                # such a cell cannot be read, an instance whose key was found nowhere else waits.
                unsure = False
                for other in cell_mappings():
                    missing = wanted - set(keys)
                    if not missing:
                        break
                    if other.uuid == cell.uuid:
                        continue
                    try:
                        with target_cell(other):
                            keys.update(_pairs_lookup(LegacyKeyPair.objects.live(), missing))
                    except DatabaseError as exc:
                        logger.warning(
                            "populate_instance_keypairs: cannot look for keys in cell %s: %s", other.identity, exc
                        )
                        unsure = True
                ready = []
                for extra in extras:
                    key = keys.get((extra.instance.user_id, extra.instance.key_name))
                    if extra.instance.key_name and key is None:
                        if unsure:
                            continue
                        logger.warning(
                            "Key pair %s of instance %s no longer exists; storing an empty key list",
                            extra.instance.key_name,
                            extra.instance.uuid,
                        )
                    extra.keypairs = keypair_list_json([key] if key is not None else [])
                    ready.append(extra)
                with transaction.atomic(using=alias):
                    # Set-based, and only rows still NULL: a concurrent runner's result is never overwritten.
                    for start in range(0, len(ready), UPDATE_CHUNK):
                        chunk = ready[start : start + UPDATE_CHUNK]
                        InstanceExtra.objects.filter(pk__in=[e.pk for e in chunk], keypairs__isnull=True).update(
                            keypairs=Case(
                                *(When(pk=e.pk, then=Value(e.keypairs)) for e in chunk), output_field=TextField()
                            )
                        )
                done += len(ready)
        except DatabaseError as exc:
            logger.error("populate_instance_keypairs: cell %s failed: %s", cell.identity, exc)
            failed.append(cell.identity)
    if failed and not done:
        raise CellsUnreachable(f"Cells not migrated: {', '.join(failed)}")
    return found, done


def _has_instances_without_keypairs(alias: str) -> bool:
    """Whether the cell ``alias`` has a live instance whose instance_extra.keypairs is NULL."""
    # Asked of every cell in every batch of the runner, mostly to hear "no": a plain statement
    # costs a tenth of the CPU of the ORM's.
    row = sql.fetch_one(alias, "SELECT 1 FROM instance_extra WHERE deleted = 0 AND keypairs IS NULL LIMIT 1")
    return row is not None


def _instances_without_keypairs() -> bool:
    """Whether any cell has an instance still to fill (reads instance_extra in every cell)."""
    for cell in cell_mappings():
        with target_cell(cell) as alias:
            if _has_instances_without_keypairs(alias):
                return True
    return False


def unresolved_conflicts() -> int:
    """How many quarantined key pairs wait for an operator (API database)."""
    return KeyPairConflict.objects.filter(resolved_at=None).count()


# Legacy rows read, copied and soft-deleted per statement; a batch is moved chunk by chunk, which
# bounds memory and statement size. On PostgreSQL the soft delete of one chunk in its cell runs
# while the next chunk is read and copied (_soft_deleter), so a runner batch (5000 rows) is
# several chunks.
MOVE_CHUNK = 1250
# The columns of a legacy row as the move reads them, in this order.
LEGACY_COLUMNS = ("id", "name", "user_id", "fingerprint", "public_key", "type", "created_at")


@dataclass
class _CellScan:
    """How far this process has read a cell's legacy key_pairs."""

    after: int = 0  # the next read starts after this id (the last of a chunk whose soft delete committed)
    at_end: bool = False  # the last read found fewer rows than it asked for


# Per (cell uuid, alias). Reading ``deleted = 0 ORDER BY id`` from the start would walk every row
# already soft-deleted, in every batch (the cost grows with the table); reads resume after the
# last row moved instead, and a cell read to its end is not read again until a call runs short.
# A call that finds fewer rows than it may move reads below where it started, once, so a row
# left live there (a crash before its soft delete, a key deleted from the API meanwhile, a
# concurrent runner) is never skipped. Forgotten whenever the cell list changes.
_scans: dict[tuple[str, str], _CellScan] = {}
on_cells_cache_clear(_scans.clear)


def _legacy_rows(alias: str, *, after: int, upto: int | None, limit: int) -> list[tuple]:
    """Live legacy key pairs of a cell with ``after < id <= upto``, by id, as LEGACY_COLUMNS tuples."""
    if sql.is_postgresql(alias):
        with binary_cursor(alias) as cursor:
            cursor.execute(
                f"SELECT {', '.join(LEGACY_COLUMNS)} FROM key_pairs WHERE deleted = 0 AND id > %s"
                + (" AND id <= %s" if upto is not None else "")
                + " ORDER BY id LIMIT %s",
                [after, *([upto] if upto is not None else []), limit],
            )
            return cursor.fetchall()
    rows = LegacyKeyPair.objects.using(alias).live().filter(id__gt=after)
    if upto is not None:
        rows = rows.filter(id__lte=upto)
    return list(rows.order_by("id").values_list(*LEGACY_COLUMNS)[:limit])


_KEYPAIRS_COPY = "COPY key_pairs (name, user_id, fingerprint, public_key, type, created_at) FROM STDIN"


def _api_keypairs_copy(rows: list[tuple]) -> int | None:
    """COPY the rows into the API key_pairs (PostgreSQL); None, and nothing written, when one of
    them is there already.

    COPY writes each row once, with one probe of the unique index; an INSERT of the same rows
    costs twice as much. The common case: none of them is there yet.
    """
    import psycopg

    api = sql.connection(API_ALIAS)
    api.ensure_connection()
    try:
        # One statement: in autocommit it is all or nothing; inside a transaction, a savepoint.
        with transaction.atomic(using=API_ALIAS) if api.in_atomic_block else nullcontext(), api.cursor() as cursor:
            # Django's cursor has no copy(): the driver's, logged as Django logs a query (DEBUG, tests).
            logged = cursor.debug_sql(_KEYPAIRS_COPY) if hasattr(cursor, "debug_sql") else nullcontext()
            with logged, cursor.cursor.copy(_KEYPAIRS_COPY) as copy:
                for row in rows:
                    copy.write_row(row[1:7])
    except psycopg.errors.UniqueViolation:
        return None
    return len(rows)


def _api_keypairs_insert(rows: list[tuple]) -> int:
    """Insert the rows into the API key_pairs, skipping (user_id, name) already there; how many went in."""
    api = sql.connection(API_ALIAS)
    if api.vendor == "postgresql":
        copied = _api_keypairs_copy(rows)
        if copied is not None:
            return copied
    columns = list(zip(*rows, strict=True))[1:]  # name, user_id, fingerprint, public_key, type, created_at
    if api.vendor == "postgresql":
        # Some are there already (an interrupted run, another runner, a key created meanwhile).
        return insert_missing(
            API_ALIAS,
            "INSERT INTO key_pairs (name, user_id, fingerprint, public_key, type, created_at) "
            "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[]) "
            "AS batch(name, user_id, fingerprint, public_key, type, created_at)",
            [list(column) for column in columns],
            where_missing="WHERE (SELECT 1 FROM key_pairs k WHERE k.user_id = batch.user_id AND k.name = batch.name) "
            "IS NULL",
            on_conflict="ON CONFLICT (user_id, name) DO NOTHING",
        )
    with sql.cursor(API_ALIAS) as cursor:
        cursor.executemany(
            "INSERT INTO key_pairs (name, user_id, fingerprint, public_key, type, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, name) DO NOTHING",
            [(*row[1:6], api.ops.adapt_datetimefield_value(row[6])) for row in rows],
        )
        return cursor.rowcount


def _api_public_keys(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """{(user_id, name): public_key} of the API key pairs with exactly these (user_id, name) pairs."""
    api = sql.connection(API_ALIAS)
    if api.vendor == "postgresql":
        with binary_cursor(API_ALIAS) as cursor:
            cursor.execute(
                "SELECT k.user_id, k.name, k.public_key FROM key_pairs k "
                "JOIN unnest(%b::text[], %b::text[]) AS wanted(user_id, name) USING (user_id, name)",
                [[user for user, _ in pairs], [name for _, name in pairs]],
            )
            return {(user, name): key for user, name, key in cursor.fetchall()}
    found = {}
    step = api.features.max_query_params // 2
    with sql.cursor(API_ALIAS) as cursor:
        for start in range(0, len(pairs), step):
            chunk = pairs[start : start + step]
            cursor.execute(
                "SELECT user_id, name, public_key FROM key_pairs WHERE (user_id, name) IN "
                f"(VALUES {', '.join(['(%s, %s)'] * len(chunk))})",
                [value for pair in chunk for value in pair],
            )
            found.update({(user, name): key for user, name, key in cursor.fetchall()})
    return found


def _legacy_soft_delete(alias: str, ids: list[int]) -> int:
    """Soft-delete the cell's legacy key pairs of these ids that are still live; how many were."""
    now = timezone.now()
    if sql.is_postgresql(alias):
        with binary_cursor(alias) as cursor:
            cursor.execute(
                "UPDATE key_pairs SET deleted = id, deleted_at = %b WHERE id = ANY(%b::integer[]) AND deleted = 0",
                [now, ids],
            )
            return cursor.rowcount
    step = sql.connection(alias).features.max_query_params - 2  # deleted_at and deleted = 0
    return sum(
        LegacyKeyPair.objects.using(alias)
        .filter(id__in=ids[start : start + step], deleted=0)
        .update(deleted=F("id"), deleted_at=now)
        for start in range(0, len(ids), step)
    )


def _quarantine(cell, rows: list[tuple]) -> None:
    """Record the rows as key pair conflicts for an operator (API database; once per cell row)."""
    KeyPairConflict.objects.bulk_create(
        [
            KeyPairConflict(
                cell_uuid=cell.uuid,
                legacy_id=row[0],
                name=row[1],
                user_id=row[2],
                fingerprint=row[3],
                public_key=row[4],
                type=row[5],
                legacy_created_at=row[6],
            )
            for row in rows
        ],
        ignore_conflicts=True,
    )
    logger.warning(
        "%d key pairs of cell %s differ from the API database's key of the same name and were "
        "quarantined; see `manage.py keypair_conflicts list`",
        len(rows),
        cell.identity,
    )


def _move_rows(cell, rows: list[tuple]) -> list[int]:
    """Copy legacy rows to the API database and quarantine conflicts; the ids to soft-delete.

    A row of a key its user deleted while this cell did not answer (key_pair_deletions) is only
    to be soft-deleted. Every row is dealt with but one whose key was neither inserted nor found
    in the API database (deleted meanwhile): that one stays live for a later batch.
    """
    # One query per chunk; the table holds a row only for a deletion a down cell missed.
    deleted = set(KeyPairDeletion.objects.values_list("user_id", "name"))
    movable = [row for row in rows if row[2] and (row[2], row[1]) not in deleted]
    inserted = _api_keypairs_insert(movable) if movable else 0
    conflicting = [row for row in rows if not row[2]]  # no user: it cannot become a key
    retry = set()
    if inserted < len(movable):
        # Some (user_id, name) were in the API database already: ours from an interrupted run, a
        # concurrent runner's, another cell's, or a key the user created meanwhile. The same
        # material counts as moved; different material is a conflict.
        in_api = _api_public_keys([(row[2], row[1]) for row in movable])
        for row in movable:
            pair = (row[2], row[1])
            if pair not in in_api:
                retry.add(row[0])
            elif (in_api[pair] or "").strip() != (row[4] or "").strip():
                conflicting.append(row)
    if conflicting:
        _quarantine(cell, conflicting)
    return [row[0] for row in rows if row[0] not in retry]


def _soft_deleter(alias: str):
    """A thread with its own connection to the cell ``alias`` for the soft deletes, or None.

    The copy of a chunk is bound by the API database and the soft delete of the previous one by
    the cell's: run at once, on two cores, they take the time of the longer one (PostgreSQL,
    autocommit only, on both databases).
    """
    return second_connection(alias, API_ALIAS, name="keypairs-soft-delete")


def _move_cell(cell, alias: str, scan: _CellScan, *, upto: int | None, budget: int) -> tuple[int, int]:
    """Move up to ``budget`` live legacy rows of one cell with ``scan.after < id <= upto``; (found, done).

    Each chunk is copied to the API database (committed) before its soft delete in the cell
    starts; the next chunk is read and copied while it runs. Advances ``scan`` past each chunk
    once its soft delete is committed (after a crash the chunk is read again).
    """
    found = done = 0
    read_after = scan.after
    in_flight = None  # (future of the previous chunk's soft delete, its last id)

    def settle():
        nonlocal in_flight
        if in_flight is not None:
            future, last_id = in_flight
            in_flight = None
            concurrent.futures.wait([future])
            future.result()
            scan.after = last_id

    with _soft_deleter(alias) as deleter:
        try:
            while budget > 0:
                limit = min(budget, MOVE_CHUNK)
                rows = _legacy_rows(alias, after=read_after, upto=upto, limit=limit)
                if rows:
                    ids = _move_rows(cell, rows)
                    settle()
                    if deleter is None:
                        _legacy_soft_delete(alias, ids)
                        scan.after = rows[-1][0]
                    else:
                        in_flight = (deleter.submit(_legacy_soft_delete, alias, ids), rows[-1][0])
                    done += len(ids)
                    found += len(rows)
                    budget -= len(rows)
                    read_after = rows[-1][0]
                scan.at_end = len(rows) < limit
                if scan.at_end:
                    break
        finally:
            # Never return (or raise) while a soft delete may still be running.
            settle()
    return found, done


def migrate_keypairs_to_api_db(*, max_count: int) -> tuple[int, int, int]:
    """Move live legacy key pairs from every cell to the API database.

    Reads the cells' key_pairs and instance_extra, writes the API key_pairs (created_at kept)
    and key_pair_conflicts, then soft-deletes the moved cell rows (a key deleted by its user
    while its cell was down, key_pair_deletions, is only soft-deleted; those records are cleared
    once no cell holds a legacy key). Does nothing while any
    instance still lacks ``instance_extra.keypairs`` (their metadata would lose the key). A key
    already in the API database with the same material counts as moved; one with different
    material stays, and the cell copy is quarantined for an operator (never silently dropped).
    Set-based: per chunk one read and one soft delete in the cell, one insert in the API
    database (plus one lookup when some keys were already there). Returns (found, done,
    unresolved conflicts).
    """
    if _instances_without_keypairs():
        logger.error(
            "Some instances are still missing key pair information in instance_extra.keypairs; "
            "migrate_keypairs_to_api_db waits until populate_instance_keypairs has filled them."
        )
        return 0, 0, unresolved_conflicts()
    found = done = 0
    cells = cell_mappings()
    # Where this call started reading each cell: None when the cell was already read to its end.
    started_after: dict[str, int | None] = {}
    for cell in cells:
        if found >= max_count:
            break
        with target_cell(cell) as alias:
            scan = _scans.setdefault((cell.uuid, alias), _CellScan())
            if scan.at_end:
                started_after[cell.uuid] = None
                continue
            started_after[cell.uuid] = scan.after
            cell_found, cell_done = _move_cell(cell, alias, scan, upto=None, budget=max_count - found)
        found, done = found + cell_found, done + cell_done
    if found < max_count:
        # Every cell is read to its end from where its reading resumed: read what lies below,
        # once (the whole table of a cell this call did not read).
        for cell in cells:
            if found >= max_count:
                break
            if started_after[cell.uuid] == 0:
                continue
            with target_cell(cell) as alias:
                scan = _scans[(cell.uuid, alias)] = _CellScan()
                cell_found, cell_done = _move_cell(
                    cell, alias, scan, upto=started_after[cell.uuid], budget=max_count - found
                )
            found, done = found + cell_found, done + cell_done
    if not found:
        # Every cell was read to its end and holds no live legacy key: no copy is left for a
        # recorded deletion to hide.
        KeyPairDeletion.objects.all().delete()
    return found, done, unresolved_conflicts()


def _count_in_cells(count, *, what: str) -> int:
    """Sum ``count(cell)`` over every cell; raises if a cell cannot answer (the total would lie)."""
    answered, failed = cells_answering(count, what=what)
    if failed:
        raise CellsUnreachable(f"Cells did not answer: {', '.join(failed)}")
    return sum(result for _, result in answered)


def pending_instance_keypairs() -> int:
    """Instances whose instance_extra.keypairs is still NULL, in every cell (reads only)."""
    return _count_in_cells(
        lambda cell: InstanceExtra.objects.live().filter(keypairs__isnull=True).count(),
        what="instances without embedded key pairs",
    )


def pending_legacy_keypairs() -> int:
    """Live legacy key pairs still in the cells (reads only)."""
    return _count_in_cells(lambda cell: LegacyKeyPair.objects.live().count(), what="legacy key pairs")


# The dashboard shows what is left without running anything.
populate_instance_keypairs.pending = pending_instance_keypairs
migrate_keypairs_to_api_db.pending = pending_legacy_keypairs
