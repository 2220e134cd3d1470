"""Writes of key pairs: create/import and delete (API database, legacy cell rows during the move)."""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from cellsv2.cells import is_cell_failure, scatter_gather_all_cells
from cellsv2.quotas import quota_check, quota_reserve
from keypairs import crypto
from keypairs.exceptions import ConflictNotFound, ConflictUnresolvable, KeyPairExists, KeypairNotFound
from keypairs.models import KEY_TYPE_SSH, KEY_TYPE_X509, KeyPair, KeyPairConflict, LegacyKeyPair
from keypairs.selectors import keypair_exists_in_cells

logger = logging.getLogger(__name__)

API = "api"
QUOTA_MESSAGE = "Quota exceeded, too many key pairs."


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
    the quota lock, so concurrent creates never end above the quota. The private key of a
    generated pair is returned once and never stored.
    """
    quota_check(project_id=project_id, resource="key_pairs", user_id=user_id, message=QUOTA_MESSAGE)
    private_key = None
    if public_key is None:
        if key_type == KEY_TYPE_X509:
            public_key, private_key = crypto.generate_x509_keypair(user_id)
        else:
            public_key, private_key = crypto.generate_ssh_keypair()
    fingerprint = crypto.fingerprint(public_key, key_type)
    with quota_reserve(project_id=project_id, resource="key_pairs", user_id=user_id, message=QUOTA_MESSAGE):
        # The unique constraint cannot span databases: a live cell copy must block the name too.
        if keypair_exists_in_cells(user_id=user_id, name=name):
            raise KeyPairExists(name)
        try:
            with transaction.atomic(using=API):
                keypair = KeyPair.objects.create(
                    user_id=user_id, name=name, type=key_type, public_key=public_key, fingerprint=fingerprint
                )
        except IntegrityError:
            raise KeyPairExists(name) from None
    return CreatedKeyPair(keypair=keypair, private_key=private_key)


def keypair_delete(*, user_id: str, name: str) -> None:
    """Delete a key pair wherever it lives: hard delete in the API database, soft delete in a cell.

    A key left in both places by an interrupted move is removed from both. Raises KeypairNotFound.
    """
    with transaction.atomic(using=API):
        deleted, _ = KeyPair.objects.filter(user_id=user_id, name=name).delete()

    def in_cell(cell):
        return LegacyKeyPair.objects.live().filter(user_id=user_id, name=name).soft_delete()

    for uuid, result in scatter_gather_all_cells(in_cell).items():
        if is_cell_failure(result):
            logger.warning("Could not delete key pair %s of %s in cell %s: %s", name, user_id, uuid, result)
            continue
        deleted += result
    if not deleted:
        raise KeypairNotFound(name, user_id)


def keypair_conflict_resolve(*, conflict_id: int, keep: str) -> KeyPairConflict:
    """Resolve a quarantined key conflict (API database).

    ``keep="api"`` keeps the key the API database has and drops the cell copy; ``keep="cell"``
    replaces the API key's material with the cell copy. Raises ConflictNotFound, or
    ConflictUnresolvable for ``keep="cell"`` of a cell row without user_id (it cannot become a key).
    """
    if keep not in ("api", "cell"):
        raise ValueError("keep must be 'api' or 'cell'")
    with transaction.atomic(using=API):
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
