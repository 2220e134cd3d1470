"""Server pages merged across cells follow code point order whatever the database collation."""

import pytest
from django.db import connections

from tests.fixtures.compute import MEMBER, seed_instance
from tests.servers.helpers import walk_with_markers
from tests.support import ALL_DATABASES, requires_postgres

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), requires_postgres]

NAMES = {"cell1": ["a", "B", "c", "D"], "cell2": ["b", "C", "d", "E"]}


def test_names_sort_by_code_point_under_a_linguistic_collation(api, cells):
    # Under "und-x-icu" "a" < "B": a cell's page in that order, merged by code point, would
    # skip or repeat servers across pages.
    for alias in ("cell0", "cell1", "cell2"):
        with connections[alias].cursor() as cursor:  # inside the test's transaction: rolled back
            cursor.execute('ALTER TABLE instances ALTER COLUMN display_name TYPE varchar(255) COLLATE "und-x-icu"')
    uuid_of = {}
    for alias, names in NAMES.items():
        for name in names:
            uuid_of[name] = seed_instance(cells[alias], display_name=name).uuid
    expected = [uuid_of[name] for name in sorted(uuid_of)]

    for direction, order in (("asc", expected), ("desc", expected[::-1])):
        params = [("sort_key", "display_name"), ("sort_dir", direction)]
        assert walk_with_markers(api, token=MEMBER, params=params, limit=3) == order
