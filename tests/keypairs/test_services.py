"""Key pair services and selectors: the API database first, then the live legacy rows of every cell."""

import threading
from contextlib import ExitStack, contextmanager

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import cellsv2.cells
from cellsv2.cells import (
    DID_NOT_RESPOND,
    cells_cache_clear,
    is_cell_failure,
    scatter_gather_all_cells,
    scatter_gather_cells,
)
from cellsv2.context import target_cell
from cellsv2.quotas import OverQuota, quota_set, quota_usage
from keypairs import crypto, selectors, services
from keypairs.crypto import InvalidKeypair
from keypairs.exceptions import ConflictNotFound, KeyPairExists, KeypairNotFound, MarkerNotFound
from keypairs.models import KeyPair, KeyPairConflict, KeyPairDeletion, LegacyKeyPair
from keypairs.online_migrations import migrate_keypairs_to_api_db
from tests.keypairs import keys
from tests.keypairs.helpers import api_key, api_names, legacy_key, legacy_rows
from tests.support import ALL_DATABASES, CELL_ALIASES, on_postgres, requires_postgres

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells")]

USER = "alice"
PROJECT = "proj1"


def names(keypairs) -> list[str]:
    return [k.name for k in keypairs]


def create(name: str, public_key: str | None = None, *, user_id: str = USER, key_type: str = "ssh"):
    return services.keypair_create(
        user_id=user_id, project_id=PROJECT, name=name, key_type=key_type, public_key=public_key
    )


@pytest.fixture
def key_pair_quota(settings):
    def set_limit(limit: int):
        settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "key_pairs": limit}

    return set_limit


# --- where a key lives ------------------------------------------------------------------------


class TestApiOnly:
    def test_get_list_count_delete(self):
        key = api_key(USER, "k1")
        found = selectors.keypair_get(user_id=USER, name="k1")
        assert isinstance(found, KeyPair) and found.pk == key.pk
        assert names(selectors.keypair_list(user_id=USER)) == ["k1"]
        assert selectors.keypair_count(PROJECT, USER) == 1
        services.keypair_delete(user_id=USER, name="k1")
        assert not KeyPair.objects.filter(pk=key.pk).exists()
        with pytest.raises(KeypairNotFound, match="^Keypair k1 not found for user alice$"):
            selectors.keypair_get(user_id=USER, name="k1")
        assert selectors.keypair_list(user_id=USER) == []

    def test_another_users_key_is_invisible(self):
        api_key("bob", "k1")
        with pytest.raises(KeypairNotFound):
            selectors.keypair_get(user_id=USER, name="k1")
        assert selectors.keypair_list(user_id=USER) == []
        assert selectors.keypair_count(PROJECT, USER) == 0
        with pytest.raises(KeypairNotFound):
            services.keypair_delete(user_id=USER, name="k1")
        assert api_names("bob") == ["k1"]


class TestCellOnly:
    @pytest.mark.parametrize("cell", ["cell0", "cell1", "cell2"])
    def test_get_list_count(self, cell):
        legacy = legacy_key(cell, USER, "old")
        found = selectors.keypair_get(user_id=USER, name="old")
        assert isinstance(found, LegacyKeyPair)
        assert (found.pk, found.public_key, found.fingerprint) == (legacy.pk, legacy.public_key, legacy.fingerprint)
        assert names(selectors.keypair_list(user_id=USER)) == ["old"]
        assert selectors.keypair_count(PROJECT, USER) == 1

    def test_delete_soft_deletes_the_cell_row(self):
        legacy = legacy_key("cell1", USER, "old")
        services.keypair_delete(user_id=USER, name="old")
        (row,) = legacy_rows("cell1", pk=legacy.pk)
        assert row.deleted == row.id and row.deleted_at is not None
        with pytest.raises(KeypairNotFound):
            selectors.keypair_get(user_id=USER, name="old")
        with pytest.raises(KeypairNotFound):
            services.keypair_delete(user_id=USER, name="old")
        assert not KeyPair.objects.exists()

    def test_soft_deleted_legacy_rows_are_invisible(self):
        legacy_key("cell1", USER, "gone", deleted=True)
        legacy_key("cell2", USER, "gone", deleted=True)
        with pytest.raises(KeypairNotFound):
            selectors.keypair_get(user_id=USER, name="gone")
        assert selectors.keypair_list(user_id=USER) == []
        assert selectors.keypair_count(PROJECT, USER) == 0
        with pytest.raises(KeypairNotFound):
            services.keypair_delete(user_id=USER, name="gone")
        with pytest.raises(MarkerNotFound):
            selectors.keypair_list(user_id=USER, marker="gone")

    def test_a_soft_deleted_legacy_row_does_not_block_the_name(self):
        legacy_key("cell1", USER, "gone", deleted=True)
        created = create("gone", keys.openssh_public_key())
        assert created.keypair.pk and api_names(USER) == ["gone"]


class TestInBoth:
    """A crash between the migration's API insert and its cell soft delete leaves a key in both."""

    @pytest.fixture
    def both(self):
        api = api_key(USER, "dup")
        legacy = legacy_key("cell1", USER, "dup", public_key=api.public_key)
        return api, legacy

    def test_get_returns_the_api_copy(self, both):
        api, _ = both
        found = selectors.keypair_get(user_id=USER, name="dup")
        assert isinstance(found, KeyPair) and found.pk == api.pk

    def test_get_returns_the_api_copy_even_when_the_cell_copy_differs(self):
        api = api_key(USER, "dup")
        legacy_key("cell2", USER, "dup")
        found = selectors.keypair_get(user_id=USER, name="dup")
        assert isinstance(found, KeyPair) and found.public_key == api.public_key

    def test_listed_once_as_the_api_copy_and_counted_once(self, both):
        api, _ = both
        legacy_key("cell2", USER, "dup", public_key=api.public_key)
        listed = selectors.keypair_list(user_id=USER)
        assert names(listed) == ["dup"] and isinstance(listed[0], KeyPair)
        assert selectors.keypair_count(PROJECT, USER) == 1
        assert selectors.keypair_names(user_id=USER) == {"dup"}

    def test_delete_removes_both(self, both):
        api, legacy = both
        services.keypair_delete(user_id=USER, name="dup")
        assert not KeyPair.objects.filter(pk=api.pk).exists()
        (row,) = legacy_rows("cell1", pk=legacy.pk)
        assert row.deleted == row.id
        with pytest.raises(KeypairNotFound):
            selectors.keypair_get(user_id=USER, name="dup")


# --- create -----------------------------------------------------------------------------------


class TestCreate:
    def test_import_stores_the_fingerprint_and_type(self):
        public_key = keys.openssh_public_key("ecdsa-p384", comment="me@host")
        created = create("k1", public_key)
        assert created.private_key is None
        row = KeyPair.objects.get(user_id=USER, name="k1")
        assert (row.public_key, row.fingerprint, row.type) == (public_key, keys.md5_colon_hex(public_key), "ssh")
        assert row.created_at is not None and row.updated_at is None

    def test_import_x509(self):
        pem, cert = keys.certificate_pem()
        create("cert", pem, key_type="x509")
        row = KeyPair.objects.get(name="cert")
        assert (row.type, row.fingerprint) == ("x509", keys.sha1_colon_hex(cert))

    @pytest.mark.parametrize("key_type", ["ssh", "x509"])
    def test_generated_private_key_is_returned_and_never_stored(self, key_type):
        created = create("gen", key_type=key_type)
        assert created.private_key
        row = KeyPair.objects.get(name="gen")
        assert row.type == key_type
        stored = " ".join(str(v) for v in KeyPair.objects.filter(pk=row.pk).values().get().values())
        secret = created.private_key.replace("\n", "")[100:160]
        assert len(secret) == 60 and secret not in stored.replace("\n", "")
        assert row.fingerprint == crypto.fingerprint(row.public_key, key_type)

    @pytest.mark.parametrize("cell", ["cell0", "cell1", "cell2"])
    def test_a_name_live_in_a_cell_is_refused_and_nothing_is_written(self, cell):
        legacy_key(cell, USER, "taken")
        with pytest.raises(KeyPairExists, match=r"^Key pair 'taken' already exists\.$"):
            create("taken", keys.openssh_public_key())
        assert not KeyPair.objects.exists()

    def test_a_name_in_the_api_database_is_refused_and_nothing_is_written(self):
        original = api_key(USER, "taken")
        with pytest.raises(KeyPairExists, match="'taken'"):
            create("taken", keys.openssh_public_key())
        assert list(KeyPair.objects.values_list("pk", "public_key")) == [(original.pk, original.public_key)]

    def test_the_same_name_for_another_user_is_fine(self):
        api_key("bob", "shared")
        legacy_key("cell1", "carol", "shared")
        create("shared", keys.openssh_public_key())
        assert api_names(USER) == ["shared"] and api_names("bob") == ["shared"]

    @pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
    @pytest.mark.parametrize("public_key", ["ssh-rsa JUNK", "", keys.openssh_public_key("dsa")])
    def test_invalid_key_material_writes_nothing(self, public_key):
        with pytest.raises(InvalidKeypair):
            create("bad", public_key)
        assert not KeyPair.objects.exists()

    def test_an_unlimited_quota_still_refuses_a_name_live_in_a_cell(self):
        # Nothing is counted without a limit: the cells are asked for the name itself.
        quota_set(project_id=PROJECT, resource="key_pairs", hard_limit=-1)
        legacy_key("cell2", USER, "taken")
        with pytest.raises(KeyPairExists):
            create("taken", keys.openssh_public_key())
        assert not KeyPair.objects.exists()

    def test_the_quota_is_checked_before_the_key_material(self, key_pair_quota):
        key_pair_quota(1)
        api_key(USER, "a")
        with pytest.raises(OverQuota):
            create("b", "ssh-rsa JUNK")

    @pytest.mark.parametrize("where", ["api", "cell1"])
    def test_the_key_material_is_checked_before_the_name(self, where):
        api_key(USER, "taken") if where == "api" else legacy_key(where, USER, "taken")
        with pytest.raises(InvalidKeypair):
            create("taken", "ssh-rsa JUNK")

    @pytest.mark.parametrize("key_type", ["ssh", "x509"])
    def test_no_key_is_generated_over_quota(self, key_pair_quota, monkeypatch, key_type):
        key_pair_quota(1)
        api_key(USER, "a")

        def refuse(*args):
            raise AssertionError("a key was generated for an over-quota user")

        monkeypatch.setattr(crypto, "generate_ssh_keypair", refuse)
        monkeypatch.setattr(crypto, "generate_x509_keypair", refuse)
        with pytest.raises(OverQuota):
            create("gen", key_type=key_type)


# --- list: marker and limit across the two databases -----------------------------------------


class TestListAcrossDatabases:
    @pytest.fixture(autouse=True)
    def spread(self):
        """a1, a3, a6 in the API; c2 (cell1), c4 (cell2), c5 (cell0) and a6 (cell1, in both)."""
        api_key(USER, "a1")
        api_key(USER, "a3")
        a6 = api_key(USER, "a6")
        legacy_key("cell1", USER, "c2")
        legacy_key("cell2", USER, "c4")
        legacy_key("cell0", USER, "c5")
        legacy_key("cell1", USER, "a6", public_key=a6.public_key)
        legacy_key("cell1", USER, "b0", deleted=True)
        legacy_key("cell2", "bob", "a2")
        api_key("bob", "a4")

    def test_everything_sorted_by_name_without_duplicates(self):
        assert names(selectors.keypair_list(user_id=USER)) == ["a1", "a3", "a6", "c2", "c4", "c5"]

    def test_marker_in_the_api_database(self):
        assert names(selectors.keypair_list(user_id=USER, marker="a3")) == ["a6", "c2", "c4", "c5"]
        assert names(selectors.keypair_list(user_id=USER, marker="a1", limit=2)) == ["a3", "a6"]

    @pytest.mark.parametrize("marker, expected", [("c2", ["c4", "c5"]), ("c4", ["c5"]), ("c5", [])])
    def test_marker_only_in_a_cell(self, marker, expected):
        assert names(selectors.keypair_list(user_id=USER, marker=marker)) == expected

    @pytest.mark.parametrize("marker", ["nope", "b0", "a2", "a4", "A1"])
    def test_marker_in_neither_database_for_this_user(self, marker):
        with pytest.raises(MarkerNotFound, match=rf"^Marker {marker} could not be found\.$"):
            selectors.keypair_list(user_id=USER, marker=marker)

    def test_limit_takes_the_first_names_of_both_databases(self):
        assert names(selectors.keypair_list(user_id=USER, limit=3)) == ["a1", "a3", "a6"]
        assert names(selectors.keypair_list(user_id=USER, limit=4)) == ["a1", "a3", "a6", "c2"]
        assert names(selectors.keypair_list(user_id=USER, limit=100)) == ["a1", "a3", "a6", "c2", "c4", "c5"]
        assert selectors.keypair_list(user_id=USER, limit=0) == []

    @pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 6])
    def test_paging_visits_every_key_exactly_once(self, limit):
        seen, marker = [], None
        for _ in range(10):
            page = names(selectors.keypair_list(user_id=USER, limit=limit, marker=marker))
            assert len(page) <= limit
            seen += page
            if len(page) < limit:
                break
            marker = page[-1]
        assert seen == ["a1", "a3", "a6", "c2", "c4", "c5"]

    def test_the_api_copy_of_a_key_in_both_is_listed(self):
        listed = {k.name: k for k in selectors.keypair_list(user_id=USER)}
        assert isinstance(listed["a6"], KeyPair)
        assert isinstance(listed["c2"], LegacyKeyPair)


# --- quota --------------------------------------------------------------------------------------


class TestQuota:
    def test_usage_counts_distinct_names_across_both_databases(self):
        api_key(USER, "a")
        both = api_key(USER, "b")
        legacy_key("cell1", USER, "b", public_key=both.public_key)
        legacy_key("cell2", USER, "c")
        legacy_key("cell2", USER, "d", deleted=True)
        api_key("bob", "e")
        assert quota_usage(project_id=PROJECT, resource="key_pairs", user_id=USER) == 3

    def test_create_is_refused_at_the_limit_and_writes_nothing(self, key_pair_quota):
        key_pair_quota(3)
        api_key(USER, "a")
        both = api_key(USER, "b")
        legacy_key("cell1", USER, "b", public_key=both.public_key)
        legacy_key("cell1", USER, "c")
        with pytest.raises(OverQuota) as caught:
            create("d", keys.openssh_public_key())
        assert str(caught.value) == "Quota exceeded, too many key pairs."
        assert (caught.value.used, caught.value.limit) == (3, 3)
        assert api_names(USER) == ["a", "b"]

    def test_create_up_to_the_limit_then_refused(self, key_pair_quota):
        key_pair_quota(2)
        legacy_key("cell2", USER, "old")
        create("new", keys.openssh_public_key())
        with pytest.raises(OverQuota):
            create("newer", keys.openssh_public_key())
        with pytest.raises(OverQuota):
            create("generated")
        assert api_names(USER) == ["new"]

    def test_the_quota_is_per_user(self, key_pair_quota):
        key_pair_quota(1)
        api_key("bob", "a")
        legacy_key("cell1", "bob", "b")
        create("mine", keys.openssh_public_key())
        assert api_names(USER) == ["mine"]

    def test_a_project_override_applies(self, key_pair_quota):
        key_pair_quota(100)
        quota_set(project_id=PROJECT, resource="key_pairs", hard_limit=0)
        with pytest.raises(OverQuota):
            create("k", keys.openssh_public_key())
        quota_set(project_id=PROJECT, resource="key_pairs", hard_limit=-1)
        create("k", keys.openssh_public_key())

    def test_deleting_frees_quota(self, key_pair_quota):
        key_pair_quota(1)
        legacy_key("cell1", USER, "old")
        with pytest.raises(OverQuota):
            create("new", keys.openssh_public_key())
        services.keypair_delete(user_id=USER, name="old")
        create("new", keys.openssh_public_key())


# --- a cell that cannot be reached --------------------------------------------------------------


class TestDownCell:
    def test_the_down_cell_really_fails(self, down_cell):
        results = scatter_gather_all_cells(lambda cell: LegacyKeyPair.objects.count())
        assert is_cell_failure(results[down_cell.uuid])
        assert [r for uuid, r in results.items() if uuid != down_cell.uuid] == [0, 0, 0]

    def test_get_list_create_delete_still_work(self, down_cell):
        api_key(USER, "a")
        legacy_key("cell1", USER, "b")
        assert selectors.keypair_get(user_id=USER, name="a").name == "a"
        assert selectors.keypair_get(user_id=USER, name="b").name == "b"
        with pytest.raises(KeypairNotFound):
            selectors.keypair_get(user_id=USER, name="c")
        assert names(selectors.keypair_list(user_id=USER)) == ["a", "b"]
        assert names(selectors.keypair_list(user_id=USER, marker="a", limit=1)) == ["b"]
        assert selectors.keypair_count(PROJECT, USER) == 2
        create("c", keys.openssh_public_key())
        with pytest.raises(KeyPairExists):
            create("b", keys.openssh_public_key())
        services.keypair_delete(user_id=USER, name="b")
        services.keypair_delete(user_id=USER, name="a")
        assert names(selectors.keypair_list(user_id=USER)) == ["c"]

    def silence(self, monkeypatch, cell):
        """keypair_delete hears nothing from ``cell`` (down or too slow at that moment)."""

        def scatter_gather(fn, *args, **kwargs):
            others = [c for c in cellsv2.cells.cell_mappings() if c.uuid != cell.uuid]
            return {**scatter_gather_cells(others, fn, *args, **kwargs), cell.uuid: DID_NOT_RESPOND}

        monkeypatch.setattr(services, "scatter_gather_all_cells", scatter_gather)

    def test_a_key_deleted_while_its_cell_is_down_does_not_come_back(self, cells, monkeypatch):
        # "both": the API copy and a cell copy an interrupted move left; "cell-only": not moved yet.
        api_key(USER, "both")
        legacy_key("cell1", USER, "both")
        legacy_key("cell1", USER, "cell-only")
        legacy_key("cell1", USER, "kept")
        self.silence(monkeypatch, cells["cell1"])
        services.keypair_delete(user_id=USER, name="both")
        # Not found where it could be looked for: nothing was deleted, nothing is recorded (the
        # key is back, as it was, with its cell).
        with pytest.raises(KeypairNotFound):
            services.keypair_delete(user_id=USER, name="cell-only")
        assert list(KeyPairDeletion.objects.values_list("name", flat=True)) == ["both"]

        monkeypatch.undo()  # the cell is back, its copies with it
        with pytest.raises(KeypairNotFound):
            selectors.keypair_get(user_id=USER, name="both")
        assert names(selectors.keypair_list(user_id=USER)) == ["cell-only", "kept"]
        assert selectors.keypair_count(PROJECT, USER) == 2
        new_key = keys.openssh_public_key()
        create("both", new_key)  # the name is free again

        assert migrate_keypairs_to_api_db(max_count=50) == (3, 3, 0)
        assert sorted(KeyPair.objects.values_list("name", flat=True)) == ["both", "cell-only", "kept"]
        assert KeyPair.objects.get(name="both").public_key == new_key
        assert not KeyPairConflict.objects.exists()
        with target_cell("cell1"):
            assert not LegacyKeyPair.objects.live().exists()
        # Once no cell holds a legacy key the records have nothing left to hide.
        assert migrate_keypairs_to_api_db(max_count=50) == (0, 0, 0)
        assert not KeyPairDeletion.objects.exists()

    def test_with_every_cell_answering_nothing_is_recorded(self, cells):
        legacy_key("cell1", USER, "k")
        services.keypair_delete(user_id=USER, name="k")
        assert not KeyPairDeletion.objects.exists()


# --- once no cell holds legacy key pairs ---------------------------------------------------------


@contextmanager
def cell_queries():
    """Yields a list filled on exit with the queries run on every cell database inside the block.

    In these tests the cells are queried on the test's own connections (each cell is inside the
    test's transaction), so every query is seen.
    """
    queries = []
    with ExitStack() as stack:
        captured = [stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in CELL_ALIASES]
        yield queries
    queries.extend(query["sql"] for capture in captured for query in capture.captured_queries)


class TestLegacyPresence:
    def test_none_left_when_every_cell_row_is_soft_deleted_and_the_answer_is_kept(self):
        legacy_key("cell1", USER, "gone", deleted=True)
        assert selectors.legacy_keypairs_present() is False
        with cell_queries() as queries, CaptureQueriesContext(connections["api"]) as api:
            assert selectors.legacy_keypairs_present() is False
        assert queries == [] and api.captured_queries == []

    @pytest.mark.parametrize("cell", ["cell0", "cell1", "cell2"])
    def test_a_live_row_in_any_cell_is_some_left(self, cell):
        legacy_key(cell, None, "no-user")
        assert selectors.legacy_keypairs_present() is True

    def test_the_answer_is_forgotten_with_the_cell_cache(self):
        assert selectors.legacy_keypairs_present() is False
        legacy_key("cell2", USER, "late")
        assert selectors.legacy_keypairs_present() is False
        cells_cache_clear()
        assert selectors.legacy_keypairs_present() is True

    def test_a_cell_database_it_was_not_checked_in_is_checked(self, cells, monkeypatch):
        # Another process maps a cell: this one learns it from the cell list, never from a signal.
        legacy_key("cell2", USER, "in-the-new-cell")
        known = [cells["cell0"], cells["cell1"]]
        monkeypatch.setattr(cellsv2.cells, "cell_mappings", lambda: known)
        assert selectors.legacy_keypairs_present() is False
        known.append(cells["cell2"])
        assert selectors.legacy_keypairs_present() is True

    def test_the_answer_expires_with_the_cell_cache_period(self, settings):
        settings.CELLSV2_CELL_CACHE_SECONDS = 0
        assert selectors.legacy_keypairs_present() is False
        legacy_key("cell0", USER, "late")
        assert selectors.legacy_keypairs_present() is True

    def test_a_cell_that_does_not_answer_counts_as_holding_some(self, down_cell):
        assert selectors.legacy_keypairs_present() is True


class TestNoLegacyLeft:
    @pytest.fixture(autouse=True)
    def migrated(self, cells):
        """A key in the API database, only soft-deleted rows in the cells, the answer cached."""
        api_key(USER, "a")
        legacy_key("cell1", USER, "a", deleted=True)
        assert selectors.legacy_keypairs_present() is False

    def test_reads_and_writes_never_ask_the_cells(self, key_pair_quota):
        key_pair_quota(10)
        with cell_queries() as queries:
            create("b", keys.openssh_public_key())
            with pytest.raises(KeyPairExists):
                create("a", keys.openssh_public_key())
            assert selectors.keypair_get(user_id=USER, name="b").name == "b"
            with pytest.raises(KeypairNotFound):
                selectors.keypair_get(user_id=USER, name="c")
            assert names(selectors.keypair_list(user_id=USER, marker="a", limit=5)) == ["b"]
            with pytest.raises(MarkerNotFound):
                selectors.keypair_list(user_id=USER, marker="c")
            assert quota_usage(project_id=PROJECT, resource="key_pairs", user_id=USER) == 2
            services.keypair_delete(user_id=USER, name="b")
            with pytest.raises(KeypairNotFound):
                services.keypair_delete(user_id=USER, name="b")
        assert queries == []
        assert api_names(USER) == ["a"]

    def test_the_quota_counts_the_api_rows(self, key_pair_quota):
        key_pair_quota(2)
        create("b", keys.openssh_public_key())
        with pytest.raises(OverQuota) as caught:
            create("c", keys.openssh_public_key())
        assert (caught.value.used, caught.value.limit) == (2, 2)


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
class TestRoundTrips:
    """Queries on the API database per call, outside any test transaction (as in production).

    Import: the transaction with the quota lock (BEGIN IMMEDIATE on SQLite; BEGIN and one upsert
    on PostgreSQL), the project's limit, the count, the insert, COMMIT (or ROLLBACK). Delete,
    show, list: one statement each, no transaction.
    """

    @pytest.fixture(autouse=True)
    def warm(self, cells, key_pair_quota):
        key_pair_quota(100)
        api_key(USER, "a")
        selectors.legacy_keypairs_present()  # the cell list and the cells' answer, once per process

    def test_import(self, django_assert_num_queries):
        queries = 6 if on_postgres() else 5
        with django_assert_num_queries(queries, using="api"):
            create("b", keys.openssh_public_key())
        with django_assert_num_queries(queries, using="api"), pytest.raises(KeyPairExists):
            create("b", keys.openssh_public_key())
        assert api_names(USER) == ["a", "b"]

    def test_delete_show_list(self, django_assert_num_queries):
        with django_assert_num_queries(1, using="api"):
            assert selectors.keypair_get(user_id=USER, name="a").name == "a"
        with django_assert_num_queries(1, using="api"):
            assert names(selectors.keypair_list(user_id=USER)) == ["a"]
        with django_assert_num_queries(1, using="api"):
            services.keypair_delete(user_id=USER, name="a")
        with django_assert_num_queries(1, using="api"), pytest.raises(KeypairNotFound):
            services.keypair_delete(user_id=USER, name="a")
        assert api_names(USER) == []


# --- conflicts set aside by the migration -------------------------------------------------------


class TestConflictResolution:
    @pytest.fixture
    def conflict(self, cells):
        api = api_key(USER, "k")
        cell_key = keys.openssh_public_key(comment="cell copy")
        with target_cell("cell1"):
            legacy = LegacyKeyPair.objects.create(
                user_id=USER, name="k", public_key=cell_key, fingerprint=crypto.ssh_fingerprint(cell_key)
            )
            legacy.soft_delete()
        row = KeyPairConflict.objects.create(
            cell_uuid=cells["cell1"].uuid,
            legacy_id=legacy.pk,
            name="k",
            user_id=USER,
            public_key=cell_key,
            fingerprint=crypto.ssh_fingerprint(cell_key),
            type="ssh",
            legacy_created_at=legacy.created_at,
        )
        return api, row

    def test_keep_api_leaves_the_key_alone(self, conflict):
        api, row = conflict
        resolved = services.keypair_conflict_resolve(conflict_id=row.pk, keep="api")
        assert resolved.resolution == "kept-api" and resolved.resolved_at is not None
        key = KeyPair.objects.get(pk=api.pk)
        assert (key.public_key, key.fingerprint) == (api.public_key, api.fingerprint)
        row.refresh_from_db()
        assert row.resolution == "kept-api" and row.resolved_at <= timezone.now()

    def test_keep_cell_replaces_the_api_material(self, conflict):
        api, row = conflict
        services.keypair_conflict_resolve(conflict_id=row.pk, keep="cell")
        key = KeyPair.objects.get(user_id=USER, name="k")
        assert key.pk == api.pk
        assert (key.public_key, key.fingerprint, key.type) == (row.public_key, row.fingerprint, "ssh")
        assert key.updated_at is not None
        assert KeyPairConflict.objects.get(pk=row.pk).resolution == "kept-cell"

    def test_keep_cell_recreates_a_key_the_user_deleted_meanwhile(self, conflict):
        api, row = conflict
        KeyPair.objects.filter(pk=api.pk).delete()
        services.keypair_conflict_resolve(conflict_id=row.pk, keep="cell")
        assert KeyPair.objects.get(user_id=USER, name="k").public_key == row.public_key

    @pytest.mark.parametrize("keep", ["api", "cell"])
    def test_a_resolved_or_unknown_conflict_is_not_found(self, conflict, keep):
        _, row = conflict
        services.keypair_conflict_resolve(conflict_id=row.pk, keep=keep)
        with pytest.raises(ConflictNotFound):
            services.keypair_conflict_resolve(conflict_id=row.pk, keep=keep)
        with pytest.raises(ConflictNotFound, match="not found"):
            services.keypair_conflict_resolve(conflict_id=row.pk + 1000, keep=keep)

    def test_keep_must_be_api_or_cell(self, conflict):
        _, row = conflict
        with pytest.raises(ValueError, match="keep must be"):
            services.keypair_conflict_resolve(conflict_id=row.pk, keep="both")
        assert KeyPairConflict.objects.get(pk=row.pk).resolved_at is None


# --- concurrent creates (PostgreSQL) ----------------------------------------------------------------


def run_concurrently(count: int, fn) -> list:
    """Run fn(i) in ``count`` threads started together; returns what each returned or raised."""
    barrier = threading.Barrier(count)
    outcomes = [None] * count

    def worker(i: int):
        try:
            barrier.wait(30)
            outcomes[i] = fn(i)
        except Exception as exc:
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
class TestConcurrentCreates:
    def test_creates_at_the_quota_never_end_above_it(self, key_pair_quota):
        key_pair_quota(3)
        legacy_key("cell1", USER, "old")
        outcomes = run_concurrently(8, lambda i: create(f"k{i}", keys.openssh_public_key()).keypair.name)
        created = [o for o in outcomes if isinstance(o, str)]
        assert len(created) == 2, outcomes
        assert all(isinstance(o, OverQuota) for o in outcomes if not isinstance(o, str)), outcomes
        assert api_names(USER) == sorted(created)

    def test_the_same_name_is_created_once(self):
        outcomes = run_concurrently(6, lambda i: create("same", keys.openssh_public_key()).keypair.public_key)
        winners = [o for o in outcomes if isinstance(o, str)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, KeyPairExists) for o in outcomes if not isinstance(o, str)), outcomes
        assert list(KeyPair.objects.values_list("public_key", flat=True)) == winners
