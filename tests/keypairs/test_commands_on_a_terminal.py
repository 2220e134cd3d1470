"""``keypair_conflicts list|resolve`` as operators run them: a real process on a pseudo-terminal."""

import pytest

from keypairs.models import KeyPair, KeyPairConflict
from tests.keypairs.helpers import api_key, legacy_key
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


def test_a_conflict_is_listed_then_resolved(manage_py, cells):
    api = api_key("alice", "k")
    legacy_key("cell2", "alice", "k")
    assert run_command("online_data_migrations").code == 4
    conflict = KeyPairConflict.objects.get()

    listed = manage_py.terminal("keypair_conflicts", "list")
    resolved = manage_py.terminal("keypair_conflicts", "resolve", str(conflict.id), "--keep", "api")

    assert listed.code == 0, listed.raw
    header = [column.strip() for column in listed.lines[1].split("|")[1:-1]]
    assert header == ["Id", "User", "Name", "Cell", "Cell fingerprint", "API fingerprint", "Resolution"]
    row = [column.strip() for column in listed.lines[3].split("|")[1:-1]]
    assert row == [
        str(conflict.id),
        "alice",
        "k",
        cells["cell2"].uuid,
        conflict.fingerprint,
        api.fingerprint,
        "unresolved",
    ]
    assert (resolved.code, resolved.lines) == (0, [f"Conflict {conflict.id} resolved: kept the api copy."])
    assert KeyPair.objects.get(name="k").public_key == api.public_key
