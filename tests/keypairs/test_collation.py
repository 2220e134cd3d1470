"""Pages of a merged key pair listing follow code point order whatever the database collation."""

import pytest
from django.db import connections

from keypairs.selectors import keypair_list
from tests.keypairs.helpers import api_key, legacy_key
from tests.support import ALL_DATABASES, requires_postgres

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells")]


def use_collation(alias: str, collation: str) -> None:
    # Inside the test's transaction: rolled back with it.
    with connections[alias].cursor() as cursor:
        cursor.execute(f'ALTER TABLE key_pairs ALTER COLUMN name TYPE varchar(255) COLLATE "{collation}"')


def walk(user_id: str, limit: int) -> list[list[str]]:
    pages, marker = [], None
    while True:
        page = [k.name for k in keypair_list(user_id=user_id, limit=limit, marker=marker)]
        if not page:
            return pages
        pages.append(page)
        marker = page[-1]


def test_pages_merge_the_api_and_the_cells_in_code_point_order():
    for name in ("a", "B", "c", "D"):
        api_key("alice", name)
    legacy_key("cell1", "alice", "b")
    legacy_key("cell2", "alice", "C")

    assert walk("alice", 2) == [["B", "C"], ["D", "a"], ["b", "c"]]


@requires_postgres
def test_a_linguistic_database_collation_does_not_change_the_pages():
    # Under a linguistic collation "a" < "B": a database page ordered that way, merged in code
    # point order, would skip "B" after the marker "a".
    for alias in ("api", "cell1", "cell2"):
        use_collation(alias, "und-x-icu")
    for name in ("a", "B", "c", "D"):
        api_key("alice", name)
    legacy_key("cell1", "alice", "b")
    legacy_key("cell2", "alice", "C")

    assert walk("alice", 2) == [["B", "C"], ["D", "a"], ["b", "c"]]
    assert [k.name for k in keypair_list(user_id="alice")] == ["B", "C", "D", "a", "b", "c"]
