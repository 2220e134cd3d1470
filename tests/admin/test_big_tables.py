"""Pages that must stay fast with 10 million instance mappings: what they ask the database.

No timing here (benchmarks/pieces/big_api.py measures them): each test checks that a page reads a
big table through an index, or not at all, rather than scanning it (a case-insensitive comparison,
a sort on an unindexed column, a full count).
"""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mappings.models import InstanceMapping
from operators import dashboard
from tests.support import ALL_DATABASES, on_postgres

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def _sql(queries) -> list[str]:
    return [q["sql"] for q in queries]


def _exactly(sql: str, column: str) -> bool:
    """``column`` compared as stored (``=``): not Django's iexact, ``UPPER(column) = UPPER(%s)`` on
    PostgreSQL and ``LIKE`` on SQLite, which no index answers."""
    return f"{column} = " in sql and f"UPPER({column}" not in sql and f"{column} LIKE" not in sql


def _mapping_statements(queries) -> list[str]:
    return [sql for sql in _sql(queries) if 'FROM "instance_mappings"' in sql]


def test_searches_on_ids_match_exactly_not_case_insensitively(operator, deployment):
    url = reverse("admin:mappings_instancemapping_changelist")
    for term in (deployment.active, "proj1", "alice"):
        with CaptureQueriesContext(connections["api"]) as queries:
            response = operator.get(url, {"q": term})
        assert response.status_code == 200
        assert response.context["cl"].result_list
        statements = _mapping_statements(queries)
        assert statements, statements
        for column in ("instance_uuid", "project_id", "user_id"):
            assert all(_exactly(sql, f'"instance_mappings"."{column}"') for sql in statements), statements
    # Exact: another case is another id, except for a uuid, read as the uuid it spells (stored in
    # lower case with dashes), still through the index.
    assert not operator.get(url, {"q": "PROJ1"}).context["cl"].result_list
    with CaptureQueriesContext(connections["api"]) as queries:
        found = operator.get(url, {"q": deployment.active.upper()}).context["cl"].result_list
    assert [m.instance_uuid for m in found] == [deployment.active]
    assert all(_exactly(sql, '"instance_mappings"."instance_uuid"') for sql in _mapping_statements(queries))


def test_searches_on_ids_in_a_cell_list_match_exactly(operator, deployment, cells):
    operator.get(reverse("celladmin:index"), {"cell": "cell1"})
    url = reverse("celladmin:servers_instance_changelist")
    with CaptureQueriesContext(connections["cell1"]) as queries:
        response = operator.get(url, {"q": deployment.active})
    assert [i.uuid for i in response.context["cl"].result_list] == [deployment.active]
    searched = [sql for sql in _sql(queries) if 'FROM "instances"' in sql]
    assert searched, searched
    for column in ("uuid", "project_id", "host"):
        assert all(_exactly(sql, f'"instances"."{column}"') for sql in searched), searched


def test_the_mapping_list_sorts_only_on_indexed_columns(operator, deployment):
    url = reverse("admin:mappings_instancemapping_changelist")
    cl = operator.get(url).context["cl"]
    fields = {name: cl.get_ordering_field(name) for name in cl.list_display if name != "action_checkbox"}
    indexed = {"instance_uuid", "project_id", "user_id", "id"}
    assert {field for field in fields.values() if field} <= indexed, fields
    assert fields["created"] == "id" and fields["where"] is None and fields["state"] is None
    # Sorting by creation: ORDER BY id, the primary key.
    position = list(cl.list_display).index("created")
    with CaptureQueriesContext(connections["api"]) as queries:
        response = operator.get(url, {"o": f"-{position}"})
    assert response.status_code == 200
    listed = [sql for sql in _mapping_statements(queries) if "ORDER BY" in sql]
    assert listed and all('ORDER BY "instance_mappings"."id" DESC' in sql for sql in listed), listed
    assert not any("created_at" in sql.split("ORDER BY")[1] for sql in listed)


def test_the_dashboard_counts_mappings_per_cell_below_the_limit(operator, deployment):
    with CaptureQueriesContext(connections["api"]) as queries:
        statuses = dashboard.dashboard_cells()
    assert any("GROUP BY" in sql for sql in _mapping_statements(queries))
    assert all(status.unmapped is not None for status in statuses)


@pytest.mark.skipif(not on_postgres(), reason="the planner's estimate (pg_class.reltuples) is PostgreSQL's")
def test_past_the_limit_the_dashboard_does_not_count_the_mappings(operator, deployment, monkeypatch):
    with connections["api"].cursor() as cursor:
        cursor.execute('ANALYZE "instance_mappings"')
    rows = InstanceMapping.objects.count()
    monkeypatch.setattr(dashboard, "DASHBOARD_MAPPING_COUNT_LIMIT", rows - 1)
    with CaptureQueriesContext(connections["api"]) as queries:
        statuses = dashboard.dashboard_cells()
    assert _mapping_statements(queries) == []  # one catalog read (pg_class), no count of the table
    assert any("reltuples" in sql for sql in _sql(queries))
    assert {status.unmapped for status in statuses} == {None}
    assert all(status.reachable for status in statuses)
    html = operator.get(reverse("admin:cellsv2_dashboard")).content.decode()
    assert "not counted" in html
    # Under the limit again: counted.
    monkeypatch.setattr(dashboard, "DASHBOARD_MAPPING_COUNT_LIMIT", rows)
    assert None not in {status.unmapped for status in dashboard.dashboard_cells()}
