"""Online data migrations that move key pairs out of the cells (see cellsv2/online_migrations.py).

1. ``populate_instance_keypairs`` embeds each instance's key pair in ``instance_extra.keypairs``,
   so that nothing in a cell needs the key pair tables any more.
2. ``migrate_keypairs_to_api_db`` then moves the live legacy key pairs to the API database.

Both work in set-based batches, are idempotent, and are safe to interrupt at any point and to run
concurrently: the move copies first (``INSERT ... ON CONFLICT DO NOTHING``), compares what the
API database holds, quarantines real conflicts, and only then soft-deletes the copied cell rows.
"""

import logging

from django.db import DatabaseError, transaction
from django.db.models import Case, TextField, Value, When

from cellsv2.cells import cell_mappings
from cellsv2.context import target_cell
from keypairs.models import KeyPair, KeyPairConflict, LegacyKeyPair
from keypairs.serialization import keypair_list_json
from servers.models import InstanceExtra

logger = logging.getLogger(__name__)

API = "api"
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


def _instances_without_keypairs() -> bool:
    for cell in cell_mappings():
        with target_cell(cell):
            if InstanceExtra.objects.live().filter(keypairs__isnull=True).exists():
                return True
    return False


def unresolved_conflicts() -> int:
    """How many quarantined key pairs wait for an operator (API database)."""
    return KeyPairConflict.objects.filter(resolved_at=None).count()


def migrate_keypairs_to_api_db(*, max_count: int) -> tuple[int, int, int]:
    """Move live legacy key pairs from every cell to the API database.

    Reads the cells' key_pairs and instance_extra, writes the API key_pairs (created_at kept)
    and key_pair_conflicts, then soft-deletes the moved cell rows. Does nothing while any
    instance still lacks ``instance_extra.keypairs`` (their metadata would lose the key). A key
    already in the API database with the same material counts as moved; one with different
    material stays, and the cell copy is quarantined for an operator (never silently dropped).
    Returns (found, done, unresolved conflicts).
    """
    if _instances_without_keypairs():
        logger.error(
            "Some instances are still missing key pair information in instance_extra.keypairs; "
            "migrate_keypairs_to_api_db waits until populate_instance_keypairs has filled them."
        )
        return 0, 0, unresolved_conflicts()
    found = done = 0
    for cell in cell_mappings():
        budget = max_count - found
        if budget <= 0:
            break
        with target_cell(cell) as alias:
            rows = list(LegacyKeyPair.objects.live().order_by("id")[:budget])
            if not rows:
                continue
            found += len(rows)
            movable = [r for r in rows if r.user_id]
            with transaction.atomic(using=API):
                KeyPair.objects.bulk_create(
                    [
                        KeyPair(
                            user_id=r.user_id,
                            name=r.name,
                            type=r.type,
                            public_key=r.public_key,
                            fingerprint=r.fingerprint,
                            created_at=r.created_at,
                        )
                        for r in movable
                    ],
                    ignore_conflicts=True,
                )
                # Whatever the API database holds now is the truth: ours, a concurrent runner's,
                # or a key the user created meanwhile.
                in_api = _pairs_lookup(KeyPair.objects.all(), {(r.user_id, r.name) for r in movable})
                conflicting = [
                    r
                    for r in rows
                    if not r.user_id
                    or (in_api[(r.user_id, r.name)].public_key or "").strip() != (r.public_key or "").strip()
                ]
                KeyPairConflict.objects.bulk_create(
                    [
                        KeyPairConflict(
                            cell_uuid=cell.uuid,
                            legacy_id=r.id,
                            name=r.name,
                            user_id=r.user_id,
                            fingerprint=r.fingerprint,
                            public_key=r.public_key,
                            type=r.type,
                            legacy_created_at=r.created_at,
                        )
                        for r in conflicting
                    ],
                    ignore_conflicts=True,
                )
            if conflicting:
                logger.warning(
                    "%d key pairs of cell %s differ from the API database's key of the same name and were "
                    "quarantined; see `manage.py keypair_conflicts list`",
                    len(conflicting),
                    cell.identity,
                )
            with transaction.atomic(using=alias):
                LegacyKeyPair.objects.filter(id__in=[r.id for r in rows], deleted=0).soft_delete()
            done += len(rows)
    return found, done, unresolved_conflicts()


def _count_in_cells(count) -> int:
    """Sum ``count(cell)`` over every cell; raises if a cell cannot answer (the total would lie)."""
    from cellsv2.cells import is_cell_failure, scatter_gather_cells

    total = 0
    for uuid, result in scatter_gather_cells(cell_mappings(), count).items():
        if is_cell_failure(result):
            raise CellsUnreachable(f"Cell {uuid} did not answer: {result}")
        total += result
    return total


def pending_instance_keypairs() -> int:
    """Instances whose instance_extra.keypairs is still NULL, in every cell (reads only)."""
    return _count_in_cells(lambda cell: InstanceExtra.objects.live().filter(keypairs__isnull=True).count())


def pending_legacy_keypairs() -> int:
    """Live legacy key pairs still in the cells (reads only)."""
    return _count_in_cells(lambda cell: LegacyKeyPair.objects.live().count())


# The dashboard shows what is left without running anything.
populate_instance_keypairs.pending = pending_instance_keypairs
migrate_keypairs_to_api_db.pending = pending_legacy_keypairs
