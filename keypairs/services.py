"""Writes of key pairs: create/import and delete (API database, legacy cell rows during the move)."""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from cellsv2.cells import is_cell_failure, scatter_gather_all_cells
from cellsv2.db import API_ALIAS, sql
from cellsv2.quotas import quota_check, quota_reserve
from keypairs import crypto
from keypairs.exceptions import ConflictNotFound, ConflictUnresolvable, KeyPairExists, KeypairNotFound
from keypairs.models import KEY_TYPE_SSH, KEY_TYPE_X509, KeyPair, KeyPairConflict, KeyPairDeletion, LegacyKeyPair
from keypairs.selectors import (
    keypair_count_in_api,
    keypair_exists_in_cells,
    keypair_names,
    legacy_keypairs_present,
)

logger = logging.getLogger(__name__)

QUOTA_MESSAGE = "Quota exceeded, too many key pairs."
_DELETE_SQL = f"DELETE FROM {KeyPair._meta.db_table} WHERE user_id = %s AND name = %s"


@dataclass
class CreatedKeyPair:
    keypair: KeyPair
    private_key: str | None = None


def keypair_create(
    *, user_id: str, project_id: str, name: str, key_type: str = KEY_TYPE_SSH, public_key: str | None = None
) -> CreatedKeyPair:
    """Import ``public_key`` (or generate a key when it is None) as a key pair of ``user_id``.

    Order as Nova: quota, key material, insert. Raises OverQuota, InvalidKeypair or KeyPairExists
    (also when a live legacy key of that name is still in a cell). Writes the API database under
    the quota lock, so concurrent creates never end above the quota; the key names are counted
    once, under the lock (the API database, and the cells while legacy key pairs remain). The
    private key of a generated pair is returned once and never stored.
    """
    private_key = None
    if public_key is None:
        # Generating takes long: refuse an over-quota user before, and never under the lock.
        quota_check(project_id=project_id, resource="key_pairs", user_id=user_id, message=QUOTA_MESSAGE)
        if key_type == KEY_TYPE_X509:
            public_key, private_key = crypto.generate_x509_keypair(user_id)
        else:
            public_key, private_key = crypto.generate_ssh_keypair()
    legacy = legacy_keypairs_present()
    names: set[str] | None = None

    def usage() -> int:
        nonlocal names
        if not legacy:
            return keypair_count_in_api(user_id=user_id)
        names = keypair_names(user_id=user_id)
        return len(names)

    with quota_reserve(
        project_id=project_id, resource="key_pairs", user_id=user_id, message=QUOTA_MESSAGE, usage=usage
    ):
        fingerprint = crypto.fingerprint(public_key, key_type)
        if legacy:
            # The unique constraint cannot span databases: a live cell copy must block the name too.
            # The names counted for the quota tell; with no limit nothing was counted, so ask.
            taken = name in names if names is not None else keypair_exists_in_cells(user_id=user_id, name=name)
            if taken:
                raise KeyPairExists(name)
        try:
            keypair = KeyPair.objects.create(
                user_id=user_id, name=name, type=key_type, public_key=public_key, fingerprint=fingerprint
            )
        except IntegrityError:
            # Leaving the block rolls the whole transaction back: no savepoint needed.
            raise KeyPairExists(name) from None
    return CreatedKeyPair(keypair=keypair, private_key=private_key)


def keypair_delete(*, user_id: str, name: str) -> None:
    """Delete a key pair wherever it lives: hard delete in the API database, soft delete in a cell.

    A key left in both places by an interrupted move is removed from both. The cells are asked
    only while some still hold legacy key pairs (``legacy_keypairs_present``); when one does not
    answer, a deletion that found the key elsewhere is recorded (``key_pair_deletions``) so that
    a copy the silent cell may hold is never shown or moved to the API database once it is back.
    Raises KeypairNotFound when no database that answered had the key (nothing is recorded).
    """
    # One plain DELETE, atomic on its own: a key pair has no signals or cascades to collect, so
    # neither the ORM's collector nor a transaction around it.
    deleted = sql.execute(API_ALIAS, _DELETE_SQL, [user_id, name])
    if not legacy_keypairs_present():
        if not deleted:
            raise KeypairNotFound(name, user_id)
        return

    def in_cell(cell):
        return LegacyKeyPair.objects.live().filter(user_id=user_id, name=name).soft_delete()

    silent = False
    for uuid, result in scatter_gather_all_cells(in_cell).items():
        if is_cell_failure(result):
            logger.warning(
                "Cell %s did not answer while key pair %s of %s was deleted: recording the deletion (%s)",
                uuid,
                name,
                user_id,
                result,
            )
            silent = True
            continue
        deleted += result
    if not deleted:
        raise KeypairNotFound(name, user_id)
    if silent:
        # The key was deleted: a copy the silent cell may hold must not come back with it.
        KeyPairDeletion.objects.get_or_create(user_id=user_id, name=name)


def keypair_conflict_resolve(*, conflict_id: int, keep: str) -> KeyPairConflict:
    """Resolve a quarantined key conflict (API database).

    ``keep="api"`` keeps the key the API database has and drops the cell copy; ``keep="cell"``
    replaces the API key's material with the cell copy. Raises ConflictNotFound, or
    ConflictUnresolvable for ``keep="cell"`` of a cell row without user_id (it cannot become a key).
    """
    if keep not in ("api", "cell"):
        raise ValueError("keep must be 'api' or 'cell'")
    with transaction.atomic(using=API_ALIAS):
        conflict = KeyPairConflict.objects.select_for_update().filter(pk=conflict_id, resolved_at=None).first()
        if conflict is None:
            raise ConflictNotFound(conflict_id)
        if keep == "cell" and not conflict.user_id:
            raise ConflictUnresolvable(conflict_id, "the cell copy has no user_id; keep the api copy to drop it")
        if keep == "cell":
            KeyPair.objects.update_or_create(
                user_id=conflict.user_id,
                name=conflict.name,
                defaults={
                    "public_key": conflict.public_key,
                    "fingerprint": conflict.fingerprint,
                    "type": conflict.type,
                    "updated_at": timezone.now(),
                },
            )
        conflict.resolved_at = timezone.now()
        conflict.resolution = f"kept-{keep}"
        conflict.save(update_fields=["resolved_at", "resolution"])
    return conflict
