"""cellsv2.db.sql: the raw SQL helpers give what the ORM gives, in one round trip each, on either tier."""

import pytest
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS, RawColumns, sql
from identity.models import Project
from keypairs.models import KeyPair, LegacyKeyPair
from servers.models import Instance
from tests.fixtures.compute import seed_instance
from tests.support import ALL_DATABASES, on_postgres

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

KEY_COLUMNS = RawColumns([KeyPair._meta.get_field(name) for name in ("id", "name", "created_at")])
PROJECT_COLUMNS = RawColumns([Project._meta.get_field(name) for name in ("project_id", "enabled")])


def round_trips(alias, call):
    """(call's result, the statements it sent to ``alias``)."""
    with CaptureQueriesContext(sql.connection(alias)) as captured:
        result = call()
    return result, [query["sql"] for query in captured.captured_queries]


def test_the_api_alias_is_a_configured_database(settings):
    assert API_ALIAS in settings.DATABASES
    assert sql.connection(API_ALIAS).alias == API_ALIAS


def test_fetch_one_converts_a_row_to_the_orms_values_in_one_statement():
    key = KeyPair.objects.create(name="k1", user_id="alice", public_key="ssh-rsa AAAA")
    row, statements = round_trips(
        API_ALIAS,
        lambda: sql.fetch_one(
            API_ALIAS, f"SELECT {KEY_COLUMNS.sql} FROM key_pairs WHERE name = %s", ["k1"], columns=KEY_COLUMNS
        ),
    )
    assert len(statements) == 1
    # SQLite hands timestamps back as text: converted, the row is what a queryset reads.
    assert row == list(KeyPair.objects.filter(pk=key.pk).values_list("id", "name", "created_at").get())
    assert row[2] == key.created_at and timezone.is_aware(row[2])


def test_fetch_one_without_a_row_is_none_with_or_without_columns():
    assert sql.fetch_one(API_ALIAS, "SELECT id FROM key_pairs WHERE name = %s", ["nobody"]) is None
    assert (
        sql.fetch_one(API_ALIAS, f"SELECT {KEY_COLUMNS.sql} FROM key_pairs WHERE id = -1", columns=KEY_COLUMNS) is None
    )


def test_fetch_all_converts_every_row_booleans_included():
    Project.objects.create(project_id="p1", name="one", enabled=True)
    Project.objects.create(project_id="p2", name="two", enabled=False)
    rows, statements = round_trips(
        API_ALIAS,
        lambda: sql.fetch_all(
            API_ALIAS,
            f"SELECT {PROJECT_COLUMNS.sql} FROM cellsv2_projects ORDER BY project_id",
            columns=PROJECT_COLUMNS,
        ),
    )
    assert len(statements) == 1
    # SQLite stores booleans as 0/1: the field's converter gives True/False back.
    assert rows == [["p1", True], ["p2", False]]
    assert all(type(enabled) is bool for _, enabled in rows)


def test_fetch_all_without_columns_gives_the_drivers_rows():
    KeyPair.objects.create(name="a", user_id="alice")
    KeyPair.objects.create(name="b", user_id="alice")
    assert [tuple(r) for r in sql.fetch_all(API_ALIAS, "SELECT name FROM key_pairs ORDER BY name")] == [("a",), ("b",)]
    assert sql.fetch_all(API_ALIAS, "SELECT name FROM key_pairs WHERE user_id = %s", ["nobody"]) == []


def test_fetch_value_is_the_first_column_of_the_first_row_or_none():
    KeyPair.objects.create(name="a", user_id="alice")
    count, statements = round_trips(
        API_ALIAS, lambda: sql.fetch_value(API_ALIAS, "SELECT COUNT(*) FROM key_pairs WHERE user_id = %s", ["alice"])
    )
    assert (count, len(statements)) == (1, 1)
    assert sql.fetch_value(API_ALIAS, "SELECT name FROM key_pairs WHERE user_id = %s", ["nobody"]) is None


def test_execute_returns_the_rows_it_touched():
    KeyPair.objects.create(name="a", user_id="alice")
    KeyPair.objects.create(name="b", user_id="alice")
    touched, statements = round_trips(
        API_ALIAS, lambda: sql.execute(API_ALIAS, "DELETE FROM key_pairs WHERE user_id = %s", ["alice"])
    )
    assert (touched, len(statements)) == (2, 1)
    assert sql.execute(API_ALIAS, "DELETE FROM key_pairs WHERE user_id = %s", ["alice"]) == 0
    assert not KeyPair.objects.exists()


def test_cursor_runs_several_statements_on_the_named_cell(cells):
    with target_cell(cells["cell2"]) as alias:
        LegacyKeyPair.objects.create(name="old", user_id="alice")
    with sql.cursor("cell2") as cursor:
        cursor.execute("SELECT COUNT(*) FROM key_pairs WHERE deleted = 0")
        in_cell2 = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM key_pairs")
        all_rows = cursor.fetchone()[0]
    assert (alias, in_cell2, all_rows) == ("cell2", 1, 1)
    # Each alias is its own database: the API's key_pairs and cell1's legacy key_pairs are empty.
    assert sql.fetch_value(API_ALIAS, "SELECT COUNT(*) FROM key_pairs") == 0
    assert sql.fetch_value("cell1", "SELECT COUNT(*) FROM key_pairs") == 0


def test_is_postgresql_and_the_row_estimate_follow_the_engine():
    assert sql.is_postgresql(API_ALIAS) is on_postgres()
    estimate = sql.table_row_estimate(API_ALIAS, "key_pairs")
    if on_postgres():
        assert estimate is None or estimate >= 0
    else:
        assert estimate is None


def test_raw_columns_add_up_and_quote_their_table():
    both = KEY_COLUMNS + RawColumns([KeyPair._meta.get_field("user_id")])
    assert both.sql == '"key_pairs"."id", "key_pairs"."name", "key_pairs"."created_at", "key_pairs"."user_id"'
    assert len(both.fields) == 4


def _instances_page(**filters):
    """A values() queryset of cell rows: what a listing's page query looks like."""
    return (
        Instance.objects.filter(**filters)
        .order_by(F("launched_at").desc(nulls_last=True), "uuid")
        .values("uuid", "launched_at", "locked", "display_name")[:10]
    )


def test_compiled_values_give_the_orms_rows_in_every_cell_compiled_once(cells):
    """One compiled query run in cell1 and cell2 gives, in each, exactly the dicts values() gives
    there (SQLite's timestamps and booleans converted), with one statement per run."""
    now = timezone.now()
    for alias, count in (("cell1", 3), ("cell2", 2)):
        for i in range(count):
            seed_instance(cells[alias], launched_at=now if i else None, locked=bool(i), display_name=f"{alias}-{i}")
    statement = sql.CompiledValues(_instances_page(project_id="proj1"))
    for alias in ("cell1", "cell2"):
        rows, statements = round_trips(alias, lambda alias=alias: statement.rows(alias))
        with target_cell(alias):
            expected = list(_instances_page(project_id="proj1"))
        assert rows == expected and len(rows) == (3 if alias == "cell1" else 2)
        assert [type(row["locked"]) for row in rows] == [bool] * len(rows)
        assert all(row["launched_at"] is None or timezone.is_aware(row["launched_at"]) for row in rows)
        assert len(statements) == 1
    # Compiled once for both cells (they are the same kind of database).
    assert list(statement._compiled) == [sql.connection("cell1").vendor]


def test_compiled_values_of_an_empty_in_list_send_nothing(cells):
    """uuid__in=[]: the ORM answers [] without a query, and so does the compiled statement."""
    statement = sql.CompiledValues(_instances_page(uuid__in=[]))
    rows, statements = round_trips("cell1", lambda: statement.rows("cell1"))
    assert rows == [] and statements == []


# --- prepared statements ---------------------------------------------------------------------------

KEY_BY_NAME = f"SELECT {KEY_COLUMNS.sql} FROM key_pairs WHERE name = %s"


def prepared_here(alias: str, text: str) -> int:
    """How many statements of this session of ``alias`` (PostgreSQL) are prepared from ``text``."""
    server_text = text.replace("%s", "$1")
    with sql.cursor(alias) as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement = %s", [server_text])
        return cursor.fetchone()[0]


def test_a_prepared_read_gives_the_same_rows_in_one_statement_prepared_once_per_connection():
    key = KeyPair.objects.create(name="k1", user_id="alice", public_key="ssh-rsa AAAA")
    expected = list(KeyPair.objects.filter(pk=key.pk).values_list("id", "name", "created_at").get())
    for _ in range(3):
        row, statements = round_trips(
            API_ALIAS, lambda: sql.fetch_one(API_ALIAS, KEY_BY_NAME, ["k1"], columns=KEY_COLUMNS, prepare=True)
        )
        assert row == expected and len(statements) == 1
        if on_postgres():  # Django's query log shows the prepared statement as written
            assert statements == [KEY_BY_NAME]
    assert sql.fetch_all(API_ALIAS, KEY_BY_NAME, ["nobody"], prepare=True) == []
    assert sql.fetch_value(API_ALIAS, "SELECT name FROM key_pairs WHERE id = %s", [key.pk], prepare=True) == "k1"
    assert sql.prepares(API_ALIAS) is on_postgres()
    if on_postgres():
        assert prepared_here(API_ALIAS, KEY_BY_NAME) == 1


@pytest.mark.skipif(not on_postgres(), reason="prepared statements are PostgreSQL's")
def test_fetch_sets_reads_every_statement_in_one_query_of_django_prepared(cells):
    with target_cell("cell1"):
        one = seed_instance(cells["cell1"], display_name="one").uuid
    texts = [
        'SELECT "display_name" FROM "instances" WHERE "uuid" = %s',
        'SELECT count(*) FROM "instances" WHERE "uuid" = ANY(%s) AND "deleted" = %s',
    ]
    statements_and_params = list(zip(texts, [[one], [[one], 0]], strict=True))
    for _ in range(2):
        sets, statements = round_trips("cell1", lambda: sql.fetch_sets("cell1", statements_and_params))
        assert sets == [[("one",)], [(1,)]]
        assert statements == ["; ".join(texts)]
    # Prepared once each on this connection (the first run sent the PREPAREs with the EXECUTEs).
    with sql.cursor("cell1") as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = ANY(%s) AND from_sql",
            [[sql._statement_name(text) for text in texts]],
        )
        assert cursor.fetchone()[0] == 2


@pytest.mark.skipif(not on_postgres(), reason="prepared statements are PostgreSQL's")
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_prepared_reads_go_on_after_a_migration_changes_a_column_they_read():
    """PostgreSQL refuses to run a prepared statement whose result type changed ("cached plan must
    not change result type"); the connection's statements are dropped and the read runs again."""
    KeyPair.objects.create(name="k1", user_id="alice", public_key="ssh-rsa AAAA")
    name_of = 'SELECT "name" FROM key_pairs WHERE "user_id" = %s'

    def read():
        return sql.fetch_value(API_ALIAS, name_of, ["alice"], prepare=True)

    assert read() == "k1"
    try:
        sql.execute(API_ALIAS, 'ALTER TABLE key_pairs ALTER COLUMN "name" TYPE varchar(300)')
        assert read() == "k1"
        assert prepared_here(API_ALIAS, name_of) == 1
        with target_cell("cell1"):
            uuid = seed_instance_for_pipeline()
        texts = [('SELECT "display_name" FROM "instances" WHERE "uuid" = %s', [uuid])]
        assert sql.fetch_sets("cell1", texts) == [[("piped",)]]
        sql.execute("cell1", 'ALTER TABLE instances ALTER COLUMN "display_name" TYPE varchar(300)')
        assert sql.fetch_sets("cell1", texts) == [[("piped",)]]
    finally:
        sql.execute(API_ALIAS, 'ALTER TABLE key_pairs ALTER COLUMN "name" TYPE varchar(255)')
        sql.execute("cell1", 'ALTER TABLE instances ALTER COLUMN "display_name" TYPE varchar(255)')
    assert read() == "k1"


@pytest.mark.skipif(not on_postgres(), reason="prepared statements are PostgreSQL's")
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_fetch_sets_prepares_again_what_the_session_forgot(cells):
    # DISCARD ALL (a pooler's or a tool's reset) drops the session's statements behind our back.
    with target_cell("cell1"):
        uuid = seed_instance_for_pipeline()
    texts = [('SELECT "display_name" FROM "instances" WHERE "uuid" = %s', [uuid])]
    assert sql.fetch_sets("cell1", texts) == [[("piped",)]]
    sql.execute("cell1", "DEALLOCATE ALL")
    assert sql.fetch_sets("cell1", texts) == [[("piped",)]]


def seed_instance_for_pipeline() -> str:
    return Instance.objects.create(display_name="piped", project_id="proj1", user_id="alice").uuid


def test_behind_a_transaction_pooler_nothing_is_prepared():
    """DISABLE_SERVER_SIDE_CURSORS (set for PgBouncer): prepared reads run with client-side binding."""
    db = sql.connection(API_ALIAS)
    KeyPair.objects.create(name="k1", user_id="alice")
    text = 'SELECT "name" FROM key_pairs WHERE "user_id" = %s AND "id" > 0'
    before = dict(db.settings_dict)
    db.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        assert sql.prepares(API_ALIAS) is False
        assert sql.fetch_value(API_ALIAS, text, ["alice"], prepare=True) == "k1"
    finally:
        db.settings_dict.clear()
        db.settings_dict.update(before)
    if on_postgres():
        assert prepared_here(API_ALIAS, text) == 0


@pytest.mark.skipif(not on_postgres(), reason="binary cursors are PostgreSQL's")
def test_the_query_log_shows_a_binary_cursors_statement_as_written():
    # Bound on the server, psycopg keeps no client-side text: Django's log read None before.
    from cellsv2.bulk import binary_cursor

    statement = "SELECT count(*) FROM key_pairs WHERE name = %b"

    def count():
        with binary_cursor(API_ALIAS) as cursor:
            cursor.execute(statement, ["nobody"])
            return cursor.fetchone()[0]

    assert round_trips(API_ALIAS, count) == (0, [statement])


@pytest.mark.skipif(not on_postgres(), reason="prepared statements are PostgreSQL's")
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_fetch_sets_after_a_first_run_that_failed_still_reads():
    # The PREPARE outlives the failed EXECUTE sent with it: sent again, it would be refused
    # ("already exists") on this connection at every later read.
    from django.db import DataError

    statement = "SELECT 10 / %s::int"
    with pytest.raises(DataError):
        sql.fetch_sets("cell1", [(statement, [0])])
    assert sql.fetch_sets("cell1", [(statement, [5])]) == [[(2,)]]
