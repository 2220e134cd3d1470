"""Key pairs with real key material (tests/factories.py underneath), and rows read back."""

from cellsv2.context import target_cell
from keypairs import crypto
from keypairs.models import KeyPair, LegacyKeyPair
from tests.factories import KeyPairFactory, LegacyKeyPairFactory
from tests.keypairs import keys


def api_key(user_id: str, name: str, public_key: str | None = None, **fields) -> KeyPair:
    """A key pair in the API database (a new ed25519 key unless one is given)."""
    public_key = public_key or keys.openssh_public_key(comment=f"{user_id}@{name}")
    return KeyPairFactory(
        user_id=user_id, name=name, public_key=public_key, fingerprint=crypto.ssh_fingerprint(public_key), **fields
    )


def legacy_key(
    cell: str, user_id: str | None, name: str, public_key: str | None = None, *, deleted: bool = False, **fields
) -> LegacyKeyPair:
    """A key pair in a cell's legacy key_pairs table (soft-deleted when ``deleted``)."""
    public_key = public_key or keys.openssh_public_key(comment=f"{user_id}@{name}")
    return LegacyKeyPairFactory(
        cell=cell,
        user_id=user_id,
        name=name,
        public_key=public_key,
        fingerprint=crypto.ssh_fingerprint(public_key),
        deleted=deleted,
        **fields,
    )


def legacy_rows(cell: str, **filters) -> list[LegacyKeyPair]:
    with target_cell(cell):
        return list(LegacyKeyPair.objects.filter(**filters).order_by("id"))


def api_names(user_id: str) -> list[str]:
    return list(KeyPair.objects.filter(user_id=user_id).order_by("name").values_list("name", flat=True))
