"""Online data migrations of key pairs: populate_instance_keypairs, migrate_keypairs_to_api_db, the command."""

import json
import logging
import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from cellsv2.cells import cell_mappings
from cellsv2.context import target_cell
from cellsv2.locks import runner_lock
from keypairs import crypto, online_migrations, selectors
from keypairs.models import KeyPair, KeyPairConflict, LegacyKeyPair
from keypairs.online_migrations import migrate_keypairs_to_api_db, populate_instance_keypairs
from keypairs.serialization import keypair_list_load
from servers.models import Instance, InstanceExtra
from tests.keypairs import keys
from tests.keypairs.helpers import api_key, legacy_key, legacy_rows
from tests.support import ALL_DATABASES, CELL_ALIASES, on_postgres, requires_postgres, run_command

USER = "alice"
PROJECT = "proj1"
LONG_AGO = datetime(2016, 4, 7, 12, 30, 15, 123456, tzinfo=UTC)

db = pytest.mark.django_db(databases=ALL_DATABASES)


def instance(cell: str, *, key_name: str | None = None, user_id: str = USER, keypairs=None, deleted=False):
    """An instance and its instance_extra row in a cell (``keypairs`` NULL unless given)."""
    with target_cell(cell):
        row = Instance.objects.create(uuid=str(uuid.uuid4()), user_id=user_id, project_id=PROJECT, key_name=key_name)
        extra = InstanceExtra.objects.create(instance=row, keypairs=keypairs)
        if deleted:
            row.soft_delete()
            extra.soft_delete()
    return extra


def extra_keypairs(cell: str, extra) -> str | None:
    with target_cell(cell):
        return InstanceExtra.objects.get(pk=extra.pk).keypairs


def embedded(cell: str, extra) -> list[dict]:
    return keypair_list_load(extra_keypairs(cell, extra))


def migrate_until_done(max_count: int = 1000) -> list[tuple[int, int, int]]:
    results = []
    for _ in range(100):
        results.append(migrate_keypairs_to_api_db(max_count=max_count))
        if results[-1][0] == 0:
            return results
    raise AssertionError(f"migrate_keypairs_to_api_db never finished: {results[-5:]}")


def live_legacy(cell: str) -> list[LegacyKeyPair]:
    return legacy_rows(cell, deleted=0)


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL sent, but the savepoints of the test's own transaction (the runner has none)."""
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def summary(out: str) -> dict[str, dict[str, str]]:
    """The migration summary table as {migration: {column: value}}."""
    rows = [[c.strip() for c in line.strip()[1:-1].split("|")] for line in out.splitlines() if line.startswith("|")]
    header, body = rows[0], rows[1:]
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in body}


@contextmanager
def soft_delete_of_legacy_keys_fails(monkeypatch, *, on_call: int):
    """Make the ``on_call``-th soft delete of cell key pairs raise (a crash after the API insert)."""
    real = online_migrations._legacy_soft_delete
    calls = {"n": 0}

    def soft_delete(alias, ids):
        calls["n"] += 1
        if calls["n"] == on_call:
            raise RuntimeError("crash between the API insert and the cell soft delete")
        return real(alias, ids)

    monkeypatch.setattr(online_migrations, "_legacy_soft_delete", soft_delete)
    yield calls


# --- populate_instance_keypairs ------------------------------------------------------------------


@db
@pytest.mark.usefixtures("cells")
class TestPopulateInstanceKeypairs:
    def test_embeds_the_api_key_as_a_keypair_list_primitive(self):
        key = api_key(USER, "k", created_at=LONG_AGO)
        extra = instance("cell1", key_name="k")
        assert populate_instance_keypairs(max_count=50) == (1, 1)
        data = json.loads(extra_keypairs("cell1", extra))
        assert (data["nova_object.name"], data["nova_object.version"]) == ("KeyPairList", "1.3")
        (item,) = data["nova_object.data"]["objects"]
        assert (item["nova_object.name"], item["nova_object.version"]) == ("KeyPair", "1.4")
        assert item["nova_object.data"] == {
            "id": key.id,
            "name": "k",
            "user_id": USER,
            "fingerprint": key.fingerprint,
            "public_key": key.public_key,
            "type": "ssh",
            "created_at": "2016-04-07T12:30:15Z",
            "updated_at": None,
            "deleted_at": None,
            "deleted": False,
        }

    def test_embeds_a_legacy_key_of_the_same_cell(self):
        legacy = legacy_key("cell2", USER, "old")
        extra = instance("cell2", key_name="old")
        assert populate_instance_keypairs(max_count=50) == (1, 1)
        assert [(k["name"], k["public_key"]) for k in embedded("cell2", extra)] == [("old", legacy.public_key)]

    def test_embeds_a_legacy_key_that_lives_in_another_cell(self):
        # The key is the user's, whichever cell database still holds it: the API shows it, so the
        # instance's metadata must not lose it.
        legacy = legacy_key("cell1", USER, "old")
        extra = instance("cell2", key_name="old")
        populate_instance_keypairs(max_count=50)
        assert [(k["name"], k["public_key"]) for k in embedded("cell2", extra)] == [("old", legacy.public_key)]

    def test_a_down_cell_holds_back_only_the_instances_whose_key_could_be_there(self, down_cell):
        key = api_key(USER, "k")
        legacy = legacy_key("cell2", USER, "old")
        with_api_key = instance("cell1", key_name="k")
        with_cell_key = instance("cell1", key_name="old")
        unknown = instance("cell1", key_name="nowhere")
        assert populate_instance_keypairs(max_count=50) == (3, 2)
        assert [k["public_key"] for k in embedded("cell1", with_api_key)] == [key.public_key]
        assert [k["public_key"] for k in embedded("cell1", with_cell_key)] == [legacy.public_key]
        assert extra_keypairs("cell1", unknown) is None

    def test_the_api_key_wins_over_a_legacy_copy(self):
        key = api_key(USER, "k")
        legacy_key("cell1", USER, "k")
        extra = instance("cell1", key_name="k")
        populate_instance_keypairs(max_count=50)
        assert [k["public_key"] for k in embedded("cell1", extra)] == [key.public_key]

    def test_the_key_of_the_instances_user_not_anothers(self):
        api_key("bob", "k")
        legacy_key("cell1", "bob", "k")
        extra = instance("cell1", key_name="k")
        populate_instance_keypairs(max_count=50)
        assert embedded("cell1", extra) == []

    def test_a_missing_key_or_no_key_gives_an_empty_list_not_null(self, caplog):
        legacy_key("cell1", USER, "gone", deleted=True)
        missing = instance("cell1", key_name="gone")
        keyless = instance("cell1", key_name=None)
        with caplog.at_level(logging.WARNING, logger="keypairs.online_migrations"):
            assert populate_instance_keypairs(max_count=50) == (2, 2)
        for extra in (missing, keyless):
            raw = extra_keypairs("cell1", extra)
            assert raw is not None and json.loads(raw)["nova_object.data"]["objects"] == []
        assert "gone" in caplog.text and "no longer exists" in caplog.text

    def test_only_null_rows_are_touched(self):
        api_key(USER, "k")
        done = instance("cell1", key_name="k", keypairs='{"kept": "as is"}')
        empty = instance("cell1", key_name="k", keypairs="")
        assert populate_instance_keypairs(max_count=50) == (0, 0)
        assert extra_keypairs("cell1", done) == '{"kept": "as is"}'
        assert extra_keypairs("cell1", empty) == ""

    def test_deleted_instances_are_skipped(self):
        api_key(USER, "k")
        deleted = instance("cell1", key_name="k", deleted=True)
        assert populate_instance_keypairs(max_count=50) == (0, 0)
        assert extra_keypairs("cell1", deleted) is None

    def test_the_budget_is_shared_across_cells(self):
        api_key(USER, "k")
        extras = [("cell0", instance("cell0", key_name="k"))]
        extras += [("cell1", instance("cell1", key_name="k")) for _ in range(5)]
        extras += [("cell2", instance("cell2", key_name="k")) for _ in range(3)]
        assert populate_instance_keypairs(max_count=4) == (4, 4)
        assert populate_instance_keypairs(max_count=4) == (4, 4)
        assert populate_instance_keypairs(max_count=4) == (1, 1)
        assert populate_instance_keypairs(max_count=4) == (0, 0)
        assert all(len(embedded(cell, extra)) == 1 for cell, extra in extras)

    def test_a_batch_costs_the_same_number_of_queries_whatever_its_size(self):
        api_key(USER, "k")
        cell_mappings()  # the cell list is cached: load it before counting

        def queries(count: int) -> int:
            for _ in range(count):
                instance("cell1", key_name="k")
            with CaptureQueriesContext(connections["cell1"]) as captured:
                assert populate_instance_keypairs(max_count=1000) == (count, count)
            return len(captured)

        assert queries(2) == queries(25)


@db
@requires_postgres
@pytest.mark.usefixtures("cells")
def test_the_cells_are_asked_for_unpopulated_rows_through_a_partial_index():
    # Every runner batch asks every cell; on a large cell that must not be a scan of instance_extra.
    instance("cell1", key_name=None)
    instance("cell1", key_name=None, keypairs="[]")
    with target_cell("cell1") as alias:
        batch = (
            InstanceExtra.objects.live()
            .filter(keypairs__isnull=True)
            .select_related("instance")
            .only("id", "keypairs", "instance__uuid", "instance__user_id", "instance__key_name")
            .order_by("id")[:50]
        )
        batch_sql, params = batch.query.get_compiler(using=alias).as_sql()
        for sql, args in [
            ("SELECT 1 FROM instance_extra WHERE deleted = 0 AND keypairs IS NULL LIMIT 1", []),
            (batch_sql, params),
        ]:
            with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(f"EXPLAIN {sql}", args)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "instance_extra_no_keypairs_idx" in plan, plan


# --- migrate_keypairs_to_api_db -------------------------------------------------------------------


@db
@pytest.mark.usefixtures("cells")
class TestMigrateKeypairs:
    def test_waits_while_an_instance_lacks_its_embedded_keys(self, caplog):
        legacy_key("cell1", USER, "old")
        extra = instance("cell2", key_name="old")
        with caplog.at_level(logging.INFO, logger="keypairs.online_migrations"):
            assert migrate_keypairs_to_api_db(max_count=50) == (0, 0, 0)
        assert "still missing key pair information" in caplog.text
        assert not KeyPair.objects.exists()
        assert len(live_legacy("cell1")) == 1

        assert populate_instance_keypairs(max_count=50) == (1, 1)
        assert [k["name"] for k in embedded("cell2", extra)] == ["old"]
        assert migrate_keypairs_to_api_db(max_count=50) == (1, 1, 0)

    def test_a_deleted_instance_without_embedded_keys_does_not_block(self):
        legacy_key("cell1", USER, "old")
        instance("cell1", key_name="old", deleted=True)
        instance("cell1", key_name="old", keypairs="{}")
        assert migrate_keypairs_to_api_db(max_count=50) == (1, 1, 0)

    def test_moves_in_batches_across_cells_keeping_every_field(self):
        moved = []
        for i in range(5):
            moved.append(legacy_key("cell1", f"user{i % 2}", f"k{i}", created_at=LONG_AGO + timedelta(days=i)))
        for i in range(5, 8):
            moved.append(legacy_key("cell2", f"user{i % 2}", f"k{i}", created_at=LONG_AGO + timedelta(days=i)))
        pem, cert = keys.certificate_pem()
        with target_cell("cell0"):
            moved.append(
                LegacyKeyPair.objects.create(
                    user_id="user0", name="cert", type="x509", public_key=pem, fingerprint=crypto.x509_fingerprint(pem)
                )
            )

        assert migrate_until_done(max_count=3) == [(3, 3, 0), (3, 3, 0), (3, 3, 0), (0, 0, 0)]

        for legacy in moved:
            key = KeyPair.objects.get(user_id=legacy.user_id, name=legacy.name)
            assert (key.public_key, key.fingerprint, key.type) == (legacy.public_key, legacy.fingerprint, legacy.type)
            assert key.created_at == legacy.created_at
        assert KeyPair.objects.get(name="cert").fingerprint == keys.sha1_colon_hex(cert)
        assert KeyPair.objects.count() == 9
        for cell in CELL_ALIASES:
            assert live_legacy(cell) == []
            assert all(row.deleted == row.id and row.deleted_at for row in legacy_rows(cell))
        assert not KeyPairConflict.objects.exists()

    def test_soft_deleted_legacy_rows_are_neither_copied_nor_touched(self):
        gone = legacy_key("cell1", USER, "gone", deleted=True)
        old = legacy_key("cell1", USER, "live", deleted=True)
        live = legacy_key("cell1", USER, "live")
        assert migrate_until_done() == [(1, 1, 0), (0, 0, 0)]
        assert list(KeyPair.objects.values_list("name", "public_key")) == [("live", live.public_key)]
        for before in (gone, old):
            (after,) = legacy_rows("cell1", pk=before.pk)
            assert (after.deleted, after.deleted_at) == (before.deleted, before.deleted_at)

    @pytest.mark.parametrize("suffix", ["", "\n", "  \n"])
    def test_the_same_material_already_in_the_api_counts_as_moved(self, suffix):
        api = api_key(USER, "k", created_at=LONG_AGO)
        legacy = legacy_key("cell2", USER, "k", public_key=api.public_key + suffix)
        assert migrate_keypairs_to_api_db(max_count=50) == (1, 1, 0)
        (key,) = KeyPair.objects.all()
        assert (key.pk, key.public_key, key.created_at) == (api.pk, api.public_key, LONG_AGO)
        assert legacy_rows("cell2", pk=legacy.pk)[0].deleted == legacy.pk
        assert not KeyPairConflict.objects.exists()

    def test_different_material_is_quarantined_and_the_api_key_kept(self, cells):
        api = api_key(USER, "k")
        legacy = legacy_key("cell1", USER, "k", created_at=LONG_AGO)
        legacy_key("cell1", USER, "other")

        assert migrate_keypairs_to_api_db(max_count=50) == (2, 2, 1)

        (key,) = KeyPair.objects.filter(name="k")
        assert (key.pk, key.public_key, key.fingerprint) == (api.pk, api.public_key, api.fingerprint)
        (conflict,) = KeyPairConflict.objects.all()
        assert (conflict.cell_uuid, conflict.legacy_id) == (cells["cell1"].uuid, legacy.pk)
        assert (conflict.user_id, conflict.name, conflict.type) == (USER, "k", "ssh")
        assert (conflict.public_key, conflict.fingerprint) == (legacy.public_key, legacy.fingerprint)
        assert conflict.legacy_created_at == LONG_AGO
        assert (conflict.resolved_at, conflict.resolution) == (None, "")
        assert live_legacy("cell1") == []
        assert KeyPair.objects.filter(name="other").exists()
        # The conflict stays reported until an operator resolves it.
        assert migrate_keypairs_to_api_db(max_count=50) == (0, 0, 1)
        assert selectors.keypair_get(user_id=USER, name="k").public_key == api.public_key

    def test_the_same_name_live_in_two_cells_with_different_keys(self, cells):
        first = legacy_key("cell1", USER, "k")
        second = legacy_key("cell2", USER, "k")
        assert migrate_keypairs_to_api_db(max_count=50) == (2, 2, 1)
        assert KeyPair.objects.get(name="k").public_key == first.public_key
        conflict = KeyPairConflict.objects.get()
        assert (conflict.cell_uuid, conflict.legacy_id, conflict.public_key) == (
            cells["cell2"].uuid,
            second.pk,
            second.public_key,
        )

    def test_a_legacy_row_without_user_is_quarantined(self):
        legacy = legacy_key("cell1", None, "orphan")
        assert migrate_keypairs_to_api_db(max_count=50) == (1, 1, 1)
        assert not KeyPair.objects.exists()
        conflict = KeyPairConflict.objects.get()
        assert (conflict.user_id, conflict.name, conflict.legacy_id) == (None, "orphan", legacy.pk)

    def test_a_crash_between_insert_and_soft_delete_is_repaired_by_a_rerun(self, monkeypatch):
        rows = [legacy_key("cell1", USER, f"k{i}") for i in range(4)]
        with soft_delete_of_legacy_keys_fails(monkeypatch, on_call=1):
            with pytest.raises(RuntimeError, match="crash"):
                migrate_keypairs_to_api_db(max_count=50)
            # The key is in both databases now; readers see it once, as the API copy.
            assert KeyPair.objects.count() == 4 and len(live_legacy("cell1")) == 4
            assert [k.name for k in selectors.keypair_list(user_id=USER)] == ["k0", "k1", "k2", "k3"]
            assert all(isinstance(k, KeyPair) for k in selectors.keypair_list(user_id=USER))
            assert selectors.keypair_count(PROJECT, USER) == 4

            assert migrate_until_done() == [(4, 4, 0), (0, 0, 0)]
        assert sorted(KeyPair.objects.values_list("name", "public_key")) == [(r.name, r.public_key) for r in rows]
        assert live_legacy("cell1") == []
        assert not KeyPairConflict.objects.exists()

    def test_a_batch_is_a_fixed_number_of_statements_whatever_its_size(self):
        cell_mappings()  # the cell list is cached: load it before counting

        def queries(count: int) -> tuple[int, int]:
            for i in range(count):
                legacy_key("cell1", USER, f"k{count}-{i}")
            with CaptureQueriesContext(connections["cell1"]) as cell, CaptureQueriesContext(connections["api"]) as api:
                assert migrate_keypairs_to_api_db(max_count=1000) == (count, count, 0)
            assert migrate_keypairs_to_api_db(max_count=1000) == (0, 0, 0)
            return len(statements(cell)), len(statements(api))

        # Cell: the instance_extra check, one read, one soft delete. API: the recorded deletions,
        # one insert, the conflict count.
        assert queries(2) == queries(30) == (3, 3)

    def test_new_same_and_different_keys_and_a_userless_row_in_one_batch(self, cells):
        same = api_key(USER, "same", created_at=LONG_AGO)
        different = api_key(USER, "different")
        rows = [
            legacy_key("cell1", USER, "new", created_at=LONG_AGO),
            legacy_key("cell1", USER, "same", public_key=same.public_key + "\n"),
            legacy_key("cell1", USER, "different"),
            legacy_key("cell1", None, "orphan"),
            legacy_key("cell1", "bob", "different"),
        ]
        cell_mappings()
        with CaptureQueriesContext(connections["api"]) as api:
            assert migrate_keypairs_to_api_db(max_count=50) == (5, 5, 2)
        # recorded deletions, insert, lookup of the keys already there, conflicts, conflict count;
        # on PostgreSQL a COPY first, which some of the keys already there make fail
        assert len(statements(api)) == 5 + on_postgres()
        assert sorted(KeyPair.objects.values_list("user_id", "name")) == [
            ("alice", "different"),
            ("alice", "new"),
            ("alice", "same"),
            ("bob", "different"),
        ]
        assert KeyPair.objects.get(name="same").public_key == same.public_key
        assert KeyPair.objects.get(user_id=USER, name="different").public_key == different.public_key
        assert KeyPair.objects.get(name="new").created_at == LONG_AGO
        quarantined = sorted(KeyPairConflict.objects.values_list("cell_uuid", "legacy_id", "user_id", "name"))
        assert quarantined == [
            (cells["cell1"].uuid, rows[2].pk, USER, "different"),
            (cells["cell1"].uuid, rows[3].pk, None, "orphan"),
        ]
        assert live_legacy("cell1") == []

    def test_a_rerun_after_a_crash_reads_the_batch_that_crashed_again(self, monkeypatch):
        rows = [legacy_key("cell1", USER, f"k{i}") for i in range(9)]
        with soft_delete_of_legacy_keys_fails(monkeypatch, on_call=2):
            assert migrate_keypairs_to_api_db(max_count=3) == (3, 3, 0)
            with pytest.raises(RuntimeError, match="crash"):
                migrate_keypairs_to_api_db(max_count=3)
            assert KeyPair.objects.count() == 6 and len(live_legacy("cell1")) == 6
            # The batch that crashed comes first again: its keys are in the API database with
            # the same material, so they count as moved, once.
            assert migrate_keypairs_to_api_db(max_count=3) == (3, 3, 0)
            assert [r.name for r in live_legacy("cell1")] == ["k6", "k7", "k8"]
            assert migrate_until_done(max_count=3) == [(3, 3, 0), (0, 0, 0)]
        assert sorted(KeyPair.objects.values_list("name", flat=True)) == [r.name for r in rows]
        assert not KeyPairConflict.objects.exists()

    def test_a_row_left_live_below_where_reading_resumes_is_moved_at_the_end(self):
        for i in range(6):
            legacy_key("cell1", USER, f"k{i}")
        assert migrate_keypairs_to_api_db(max_count=3) == (3, 3, 0)
        # k1 is live again below where the next batch starts (as a crash or a concurrent runner
        # may leave a row), and no longer in the API database.
        KeyPair.objects.filter(name="k1").delete()
        with target_cell("cell1"):
            LegacyKeyPair.objects.filter(name="k1").update(deleted=0, deleted_at=None)
        # Full batches read on from where the last one ended ...
        assert migrate_keypairs_to_api_db(max_count=3) == (3, 3, 0)
        assert [r.name for r in live_legacy("cell1")] == ["k1"]
        # ... and the first batch that finds less than its budget looks below once.
        assert migrate_keypairs_to_api_db(max_count=3) == (1, 1, 0)
        assert migrate_keypairs_to_api_db(max_count=3) == (0, 0, 0)
        assert live_legacy("cell1") == []
        assert sorted(KeyPair.objects.values_list("name", flat=True)) == [f"k{i}" for i in range(6)]

    def test_a_key_deleted_from_the_api_meanwhile_stays_live_for_a_later_batch(self, monkeypatch):
        api_key(USER, "k")
        legacy = legacy_key("cell1", USER, "k")
        legacy_key("cell1", USER, "other")
        real = online_migrations._api_public_keys

        def deleted_meanwhile(pairs):
            found = real(pairs)
            KeyPair.objects.filter(name="k").delete()
            return {pair: key for pair, key in found.items() if pair[1] != "k"}

        monkeypatch.setattr(online_migrations, "_api_public_keys", deleted_meanwhile)
        assert migrate_keypairs_to_api_db(max_count=50) == (2, 1, 0)
        assert [r.pk for r in live_legacy("cell1")] == [legacy.pk]
        monkeypatch.undo()
        assert migrate_until_done() == [(1, 1, 0), (0, 0, 0)]
        assert KeyPair.objects.get(name="k").public_key == legacy.public_key
        assert not KeyPairConflict.objects.exists()

    def test_a_large_batch_moves_in_chunks(self, monkeypatch):
        monkeypatch.setattr(online_migrations, "MOVE_CHUNK", 4)
        for i in range(10):
            legacy_key("cell1", USER, f"k{i}")
        for i in range(3):
            legacy_key("cell2", USER, f"c{i}")
        assert migrate_keypairs_to_api_db(max_count=11) == (11, 11, 0)
        assert migrate_keypairs_to_api_db(max_count=11) == (2, 2, 0)
        assert KeyPair.objects.count() == 13

    def test_a_key_added_to_the_api_during_the_insert_is_skipped_not_an_error(self):
        # What the insert cannot see beforehand (another runner's or a user's key committed while
        # it runs) is a unique violation; the same pair twice in one statement is the same case.
        api_key(USER, "old")
        rows = [
            (1, "k", USER, "fp1", "ssh-ed25519 AAAA", "ssh", LONG_AGO),
            (2, "k", USER, "fp2", "ssh-ed25519 BBBB", "ssh", LONG_AGO),
            (3, "old", USER, "fp3", "ssh-ed25519 CCCC", "ssh", LONG_AGO),
            (4, "new", USER, "fp4", "ssh-ed25519 DDDD", "ssh", None),
        ]
        assert online_migrations._api_keypairs_insert(rows) == 2
        assert sorted(KeyPair.objects.values_list("name", "created_at")) == [
            ("k", LONG_AGO),
            ("new", None),
            ("old", KeyPair.objects.get(name="old").created_at),
        ]
        assert KeyPair.objects.get(name="k").public_key in ("ssh-ed25519 AAAA", "ssh-ed25519 BBBB")

    def test_thousands_already_in_the_api_count_as_moved(self):
        # A re-run after a crash that lost a large batch's soft delete: every key is a candidate
        # (SQLite looks them up in several statements).
        rows = []
        for i in range(1200):
            public_key = f"ssh-ed25519 AAAA{i:06d} {USER}@k{i}"
            KeyPair.objects.create(user_id=USER, name=f"k{i}", public_key=public_key)
            rows.append(LegacyKeyPair(user_id=USER, name=f"k{i}", public_key=public_key + "\n"))
        rows.append(LegacyKeyPair(user_id=USER, name="k7", public_key="ssh-ed25519 BBBB", deleted=-1))
        with target_cell("cell2"):
            LegacyKeyPair.objects.bulk_create(rows)
            LegacyKeyPair.objects.filter(deleted=-1).soft_delete()
        assert migrate_keypairs_to_api_db(max_count=5000) == (1200, 1200, 0)
        assert KeyPair.objects.count() == 1200
        assert live_legacy("cell2") == []
        assert not KeyPairConflict.objects.exists()


# --- the commands -----------------------------------------------------------------------------------


@db
@pytest.mark.usefixtures("cells")
class TestCommands:
    def test_conflicts_make_the_command_exit_4_until_resolved(self, cells):
        api = api_key(USER, "k")
        legacy_key("cell2", USER, "k")
        legacy_key("cell1", USER, "fine")

        result = run_command("online_data_migrations")
        assert result.code == 4, result.err
        assert "1 rows were set aside as conflicts" in result.err
        table = summary(result.out)
        assert table["migrate_keypairs_to_api_db"] == {"Total Needed": "2", "Completed": "2", "Conflicts": "1"}
        assert table["populate_instance_keypairs"]["Conflicts"] == "0"
        assert run_command("online_data_migrations", "--max-count", "10").code == 4

        listed = run_command("keypair_conflicts", "list")
        assert listed.code == 0
        conflict = KeyPairConflict.objects.get()
        assert str(conflict.id) in listed.out and cells["cell2"].uuid in listed.out
        assert conflict.fingerprint in listed.out and api.fingerprint in listed.out and "unresolved" in listed.out

        resolved = run_command("keypair_conflicts", "resolve", str(conflict.id), "--keep", "api")
        assert resolved.code == 0, resolved.err
        assert f"Conflict {conflict.id} resolved: kept the api copy." in resolved.out
        assert "unresolved" not in run_command("keypair_conflicts", "list").out
        assert "kept-api" in run_command("keypair_conflicts", "list", "--all").out
        assert KeyPair.objects.get(name="k").public_key == api.public_key

        result = run_command("online_data_migrations")
        assert result.code == 0, result.err
        assert "Conflicts" not in result.out
        assert run_command("keypair_conflicts", "resolve", str(conflict.id), "--keep", "cell").code == 1

    def test_resolving_with_the_cell_copy(self):
        api_key(USER, "k")
        legacy = legacy_key("cell1", USER, "k")
        assert run_command("online_data_migrations").code == 4
        conflict = KeyPairConflict.objects.get()
        assert run_command("keypair_conflicts", "resolve", str(conflict.id), "--keep", "cell").code == 0
        assert KeyPair.objects.get(name="k").public_key == legacy.public_key
        assert selectors.keypair_get(user_id=USER, name="k").fingerprint == legacy.fingerprint
        assert run_command("online_data_migrations").code == 0

    def test_a_conflict_without_user_cannot_become_a_key(self):
        legacy_key("cell1", None, "orphan")
        assert run_command("online_data_migrations").code == 4
        conflict = KeyPairConflict.objects.get()
        result = run_command("keypair_conflicts", "resolve", str(conflict.id), "--keep", "cell")
        assert result.code == 1, result.err
        assert "user" in result.err
        assert KeyPairConflict.objects.get().resolved_at is None
        assert not KeyPair.objects.exists()
        assert run_command("keypair_conflicts", "resolve", str(conflict.id), "--keep", "api").code == 0
        assert run_command("online_data_migrations").code == 0

    def test_max_count_batches_exit_1_then_0(self):
        api_key(USER, "k")
        extra = instance("cell1", key_name="k")
        for i in range(3):
            legacy_key("cell2", USER, f"old{i}")
        codes = []
        for _ in range(10):
            codes.append(run_command("online_data_migrations", "--max-count", "2").code)
            if codes[-1] != 1:
                break
        # Batch 1: populate fills the instance (1) and the key move uses the budget left (1).
        assert codes == [1, 1, 0]
        assert len(embedded("cell1", extra)) == 1
        assert sorted(KeyPair.objects.values_list("name", flat=True)) == ["k", "old0", "old1", "old2"]

    def test_a_second_runner_exits_3_while_another_holds_the_lock(self):
        legacy_key("cell1", USER, "old")
        held, release, errors = threading.Event(), threading.Event(), []

        def hold():
            try:
                with runner_lock("online_data_migrations"):
                    held.set()
                    release.wait(30)
            except Exception as exc:
                errors.append(exc)
                held.set()
            finally:
                connections.close_all()

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert held.wait(30) and errors == [], errors
            result = run_command("online_data_migrations")
        finally:
            release.set()
            holder.join(30)
        assert result.code == 3
        assert "already running" in result.err
        assert not KeyPair.objects.exists() and len(live_legacy("cell1")) == 1
        assert run_command("online_data_migrations").code == 0
        assert KeyPair.objects.filter(name="old").exists()


# --- functional: thousands of keys in three cells, small batches, a crash halfway ---------------------

LIVE_PER_CELL = 1500
DELETED_PER_CELL = 200
DUPLICATES_PER_CELL = 5
USERS = [f"user{u:02d}" for u in range(40)]


def seed_cell(cell: str, offset: int) -> dict[tuple[str, str], str]:
    """Live and soft-deleted legacy key pairs in one cell; returns {(user, name): public_key} of the live ones."""
    material = [keys.openssh_public_key(comment=f"{cell}-{i}") for i in range(LIVE_PER_CELL + DUPLICATES_PER_CELL)]
    live, rows = {}, []
    for i in range(LIVE_PER_CELL):
        user, name = USERS[i % len(USERS)], f"{cell}-key-{i}"
        live[(user, name)] = material[i]
        rows.append(
            LegacyKeyPair(
                user_id=user,
                name=name,
                public_key=material[i],
                fingerprint=crypto.ssh_fingerprint(material[i]),
                created_at=LONG_AGO + timedelta(minutes=offset + i),
            )
        )
    # Keys an earlier attempt already copied to the API database (same material).
    for d in range(DUPLICATES_PER_CELL):
        user, name, public_key = USERS[d], f"{cell}-dup-{d}", material[LIVE_PER_CELL + d]
        api_key(user, name, public_key=public_key, created_at=LONG_AGO)
        live[(user, name)] = public_key
        rows.append(LegacyKeyPair(user_id=user, name=name, public_key=public_key, fingerprint="x"))
    # Soft-deleted rows: old versions of live keys and keys deleted for good.
    for i in range(DELETED_PER_CELL):
        name = f"{cell}-key-{i}" if i % 2 else f"{cell}-gone-{i}"
        rows.append(LegacyKeyPair(user_id=USERS[i % len(USERS)], name=name, public_key=f"deleted {i}", deleted=-1))
    with target_cell(cell):
        LegacyKeyPair.objects.bulk_create(rows, batch_size=500)
        LegacyKeyPair.objects.filter(deleted=-1).soft_delete()
    return live


@db
@pytest.mark.slow
@pytest.mark.usefixtures("cells")
def test_thousands_of_keys_move_exactly_once_through_a_crash(monkeypatch):
    expected = {}
    for n, cell in enumerate(["cell0", "cell1", "cell2"]):
        expected.update(seed_cell(cell, n * 10_000))
    deleted_before = {
        cell: {(r.id, r.deleted, r.deleted_at) for r in legacy_rows(cell, deleted__gt=0)} for cell in CELL_ALIASES
    }
    assert len(expected) == 3 * (LIVE_PER_CELL + DUPLICATES_PER_CELL)

    codes, completed = [], 0
    with soft_delete_of_legacy_keys_fails(monkeypatch, on_call=4) as calls:
        for _ in range(30):
            result = run_command("online_data_migrations", "--max-count", "500")
            codes.append(result.code)
            if result.code in (1, 0):
                completed += int(summary(result.out)["migrate_keypairs_to_api_db"]["Completed"])
            if result.code == 2:
                # Crashed after the API insert of cell0's last rows, before their soft delete: the
                # keys are in both databases and readers still see each of them once.
                assert "Error attempting to run migrate_keypairs_to_api_db" in result.out
                in_both = [
                    r for r in live_legacy("cell0") if KeyPair.objects.filter(user_id=r.user_id, name=r.name).exists()
                ]
                assert len(in_both) == 5
                user = in_both[0].user_id
                listed = [k.name for k in selectors.keypair_list(user_id=user)]
                assert len(listed) == len(set(listed))
                assert selectors.keypair_count(PROJECT, user) == len(listed)
            if result.code == 0:
                break
    assert calls["n"] >= 4
    batches = -(-len(expected) // 500)
    assert codes == [1, 1, 1, 2] + [1] * (batches - 3) + [0], codes
    assert completed == len(expected)

    # Every live key arrived exactly once, with its material; nothing else did.
    moved = {(k.user_id, k.name): k.public_key for k in KeyPair.objects.all()}
    assert moved == expected
    assert KeyPair.objects.count() == len(expected)
    assert not KeyPairConflict.objects.exists()
    for cell in CELL_ALIASES:
        assert live_legacy(cell) == []
        still_deleted = {(r.id, r.deleted, r.deleted_at) for r in legacy_rows(cell, deleted__gt=0)}
        assert deleted_before[cell] <= still_deleted
    created = dict(KeyPair.objects.filter(name="cell1-key-7").values_list("name", "created_at"))
    assert created == {"cell1-key-7": LONG_AGO + timedelta(minutes=10_007)}


# --- two runners at once (PostgreSQL) ------------------------------------------------------------------


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
@pytest.mark.usefixtures("cells")
def test_two_runners_in_parallel_move_every_key_exactly_once():
    expected = {}
    for n, cell in enumerate(["cell0", "cell1", "cell2"]):
        rows = []
        for i in range(300):
            user, name = USERS[i % len(USERS)], f"{cell}-key-{i}"
            public_key = keys.openssh_public_key(comment=name)
            expected[(user, name)] = public_key
            rows.append(LegacyKeyPair(user_id=user, name=name, public_key=public_key, fingerprint=str(n)))
        with target_cell(cell):
            LegacyKeyPair.objects.bulk_create(rows)
    barrier = threading.Barrier(2)
    results, errors = {0: [], 1: []}, []

    def runner(n: int):
        try:
            barrier.wait(30)
            for _ in range(200):
                results[n].append(migrate_keypairs_to_api_db(max_count=50))
                if results[n][-1][0] == 0:
                    break
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert all(r[-1] == (0, 0, 0) for r in results.values()), results
    assert {(k.user_id, k.name): k.public_key for k in KeyPair.objects.all()} == expected
    assert KeyPair.objects.count() == len(expected)
    assert not KeyPairConflict.objects.exists()
    for cell in CELL_ALIASES:
        assert live_legacy(cell) == []


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
@pytest.mark.usefixtures("cells")
def test_pipelined_soft_deletes_survive_a_crash_and_move_every_key_once(monkeypatch):
    # Outside a transaction on PostgreSQL each chunk's soft delete runs on another connection
    # while the next chunk is copied. A failing soft delete stops the batch with the chunks
    # after it copied but still live in the cell: the next batch counts them as moved.
    monkeypatch.setattr(online_migrations, "MOVE_CHUNK", 40)
    expected = {}
    for n, cell in enumerate(["cell1", "cell2"]):
        rows = []
        for i in range(200):
            user, name = USERS[i % len(USERS)], f"{cell}-key-{i}"
            expected[(user, name)] = f"ssh-ed25519 AAAA{n}{i} {name}"
            rows.append(LegacyKeyPair(user_id=user, name=name, public_key=expected[(user, name)], fingerprint="x"))
        with target_cell(cell):
            LegacyKeyPair.objects.bulk_create(rows)
    threads = set()
    real = online_migrations._legacy_soft_delete

    def recording(alias, ids):
        threads.add(threading.current_thread().name.split("_")[0])
        return real(alias, ids)

    monkeypatch.setattr(online_migrations, "_legacy_soft_delete", recording)
    with soft_delete_of_legacy_keys_fails(monkeypatch, on_call=3):
        with pytest.raises(RuntimeError, match="crash between"):
            migrate_keypairs_to_api_db(max_count=1000)
    # Chunks 1 and 2 soft-deleted, 3 failed, 4 copied while 3 ran: 160 keys in the API database.
    assert KeyPair.objects.count() == 160
    assert len(live_legacy("cell1")) == 120
    assert threads == {"keypairs-soft-delete"}
    assert migrate_until_done(max_count=1000)[-1] == (0, 0, 0)
    assert {(k.user_id, k.name): k.public_key for k in KeyPair.objects.all()} == expected
    assert not KeyPairConflict.objects.exists()
    for cell in CELL_ALIASES:
        assert live_legacy(cell) == []
