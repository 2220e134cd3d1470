"""Pagination of big tables: no full COUNT(*) per page view (PostgreSQL's estimate when unfiltered,
a cached count otherwise), and the page says "about" when the number is not exact."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cellsv2.admin import EstimatedCountPaginator, table_row_estimate
from cellsv2.context import target_cell
from mappings.models import InstanceMapping
from servers.models import Instance
from tests.admin.helpers import new_uuid
from tests.support import ALL_DATABASES, on_postgres

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


@pytest.fixture(autouse=True)
def _empty_count_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def _counts(queries) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


def _mappings(n: int) -> None:
    InstanceMapping.objects.bulk_create(
        [InstanceMapping(instance_uuid=new_uuid(), project_id=f"p{i % 10}") for i in range(n)], batch_size=5000
    )


def _analyze(alias: str, table: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"ANALYZE {connections[alias].ops.quote_name(table)}")


def test_a_small_list_is_counted_exactly_every_time(monkeypatch):
    _mappings(5)
    queryset = InstanceMapping.objects.order_by("id")
    for _ in range(2):
        paginator = EstimatedCountPaginator(queryset, 2)
        with CaptureQueriesContext(connections["api"]) as queries:
            assert paginator.count == 5
        assert len(_counts(queries)) == 1 and not paginator.is_estimate


def test_a_big_filtered_count_is_cached(monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_threshold", 3)
    _mappings(20)
    filtered = InstanceMapping.objects.filter(project_id="p1").order_by("id")  # 2 rows: under the threshold
    everything = InstanceMapping.objects.order_by("id")
    first = EstimatedCountPaginator(everything, 5)
    with CaptureQueriesContext(connections["api"]) as queries:
        assert first.count == 20
    assert len(_counts(queries)) == 1
    _mappings(1)
    second = EstimatedCountPaginator(everything, 5)
    with CaptureQueriesContext(connections["api"]) as queries:
        assert second.count == 20  # the cached count (stale by one): no second scan
    assert _counts(queries) == [] and second.is_estimate
    for _ in range(2):
        small = EstimatedCountPaginator(filtered, 5)
        with CaptureQueriesContext(connections["api"]) as queries:
            assert small.count == 2
        assert len(_counts(queries)) == 1 and not small.is_estimate


@pytest.mark.skipif(not on_postgres(), reason="needs PostgreSQL (the planner's pg_class.reltuples)")
def test_an_unfiltered_list_uses_postgresql_s_estimate(monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_threshold", 10)
    _mappings(50)
    _analyze("api", "instance_mappings")
    assert table_row_estimate("api", "instance_mappings") == 50
    paginator = EstimatedCountPaginator(InstanceMapping.objects.order_by("id"), 10, unfiltered=True)
    with CaptureQueriesContext(connections["api"]) as queries:
        assert paginator.count == 50 and paginator.num_pages == 5
    assert _counts(queries) == [] and paginator.is_estimate
    # A filtered list is never estimated from the whole table.
    filtered = EstimatedCountPaginator(InstanceMapping.objects.filter(project_id="p1").order_by("id"), 10)
    assert filtered.count == 5 and not filtered.is_estimate


def test_the_estimate_is_none_where_there_is_none():
    if not on_postgres():
        assert table_row_estimate("api", "instance_mappings") is None
    assert table_row_estimate("api", "no_such_table") is None


def test_an_unfiltered_cell_list_is_estimated_in_its_own_cell(operator, cells, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_threshold", 10)
    with target_cell(cells["cell2"]):
        Instance.objects.bulk_create([Instance(uuid=new_uuid(), vm_state="active") for _ in range(30)])
    if on_postgres():
        _analyze("cell2", "instances")
    operator.get(reverse("celladmin:index"), {"cell": "cell2"})
    url = reverse("celladmin:servers_instance_changelist")
    operator.get(url)  # on SQLite: counts once and caches
    with CaptureQueriesContext(connections["cell2"]) as queries:
        page = operator.get(url)
    assert page.status_code == 200 and page.context["cl"].result_count == 30
    assert _counts(queries) == []
    assert "about</span> 30 instances" in page.content.decode()


@pytest.mark.slow
def test_the_instance_mapping_list_stays_fast_with_100k_rows(operator, cells):
    _mappings(100_000)
    if on_postgres():
        _analyze("api", "instance_mappings")
    url = reverse("admin:mappings_instancemapping_changelist")
    first = operator.get(url)
    assert first.status_code == 200
    for params in ({}, {"p": "500"}, {"q": "p3"}, {"q": "p3", "p": "2"}):
        if params.get("q") and "p" not in params:
            operator.get(url, params)  # the first filtered view counts its rows once
        with CaptureQueriesContext(connections["api"]) as queries:
            page = operator.get(url, params)
        assert page.status_code == 200, params
        assert _counts(queries) == [], (params, _counts(queries))
        cl = page.context["cl"]
        assert len(cl.result_list) == 100 and cl.full_result_count is None
        expected = 10_000 if params.get("q") else 100_000
        assert abs(cl.result_count - expected) <= expected * 0.1, (params, cl.result_count)
        assert "about</span>" in page.content.decode()


def test_a_uuid_pasted_in_upper_case_or_without_dashes_finds_its_row(operator, cells):
    uuid = new_uuid()
    InstanceMapping.objects.create(instance_uuid=uuid, project_id="p1")
    InstanceMapping.objects.create(instance_uuid=new_uuid(), project_id="p1")
    url = reverse("admin:mappings_instancemapping_changelist")
    for typed in (uuid, uuid.upper(), uuid.replace("-", ""), f"  {uuid.upper().replace('-', '')} "):
        page = operator.get(url, {"q": typed})
        assert page.status_code == 200
        assert [m.instance_uuid for m in page.context["cl"].result_list] == [uuid], typed
    # Anything else is matched as typed: a project id in another case finds nothing.
    assert list(operator.get(url, {"q": "P1"}).context["cl"].result_list) == []
