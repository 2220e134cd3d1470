"""Smoke run of the benchmark pieces in-process, tiny sizes, so the suite does not rot.

No timing is asserted: only that each piece runs end to end against the test databases and that
the report (table, JSON shapes, chart) can be produced from what it returns.
"""

import importlib
import json

import pytest

from benchmarks import floor, report
from benchmarks.common import count_queries, install_query_hooks, uninstall_query_hooks
from benchmarks.pieces import api_ops, consoles, show
from tests.support import ALL_DATABASES, on_postgres

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES, transaction=True), pytest.mark.urls("benchmarks.urls")]


@pytest.fixture(autouse=True)
def bench_settings(settings):
    from flavors.models import Flavor

    # A flush after an earlier transactional test removes what the data migration made.
    migration = importlib.import_module("servers.migrations.0003_default_flavors")
    for flavorid, name, memory_mb, vcpus, root_gb in migration.DEFAULT_FLAVORS:
        if not Flavor.objects.filter(flavorid=flavorid).exists():
            Flavor.objects.create(
                flavorid=flavorid, name=name, memory_mb=memory_mb, vcpus=vcpus, root_gb=root_gb, ephemeral_gb=0
            )
    settings.CELLSV2_AUTH = "headers"
    settings.CELLSV2_CONDUCTOR_MODE = "worker"
    install_query_hooks()
    yield
    uninstall_query_hooks()
    floor.drop_table()


def test_api_ops_show_consoles_and_report(tmp_path):
    from benchmarks.pieces.setup import map_cells

    map_cells(["cell1"])
    api = api_ops.measure(transports=("direct",), n=2, m=2, population=3, servers=2, warmup=1, rounds=1)
    assert set(api["ours"]["direct"]) == set(api_ops.OPS)
    assert set(api["floor"]["client"]) == set(api_ops.FLOOR_OPS)
    assert api["queries"]["direct"]["keypair_show"]["api"] >= 1

    shown = show.measure(cell_steps=[["cell1"], ["cell1", "cell2"]], m=2, rounds=1, warmup=1)
    assert {row["cells"] for row in shown["counts"]} == {1, 2}
    assert all(row["queries"] >= 2 for row in shown["counts"])

    tokens = consoles.measure(cell_alias="cell1", tokens=2, validations=4, batches=2)
    assert set(tokens["median_per_s"]) == {
        "baseline_orm_get_pk",
        "validate_with_instance",
        "validate_without_instance",
    }

    api["metrics"] = api_ops.measure_metrics_cost(m=3, warmup=1, population=2)
    assert set(api["metrics"]["ops"]["keypair_show"]) == {"off", "on", "on_json"}
    figures = report.api_figures(api, None) + report.show_figures(shown) + report.console_figures(tokens)
    assert "| api | keypair_show [direct]" in report.table(figures)
    assert "| api | keypair_show metrics on + json [direct]" in report.table(figures)
    meta = {"db": "test", "python": "3", "cpus": 2}
    candidate = report.candidate_json(api, meta)
    assert set(candidate["results"]["direct"]["keypair_show"]) >= {"n", "median_ms", "p95_ms", "ops_per_s"}
    json.dumps(report.floor_json(api, meta))
    report.chart(figures, api, None, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 0


@pytest.mark.skipif(not on_postgres(), reason="the listing and migration pieces seed with PostgreSQL SQL")
def test_listing_and_migrations_on_postgres():
    from benchmarks.pieces import listing, migrations

    listing.seed(cells=["cell1", "cell2"], per_cell=3)
    listed = listing.list_times(cells=["cell1", "cell2"], limit=4, repeats=1, warmup=1)
    assert listed["returned"] == 4
    paged = listing.paging(cells=["cell1", "cell2"], limit=4)
    assert paged["total"] == paged["unique"] == 6
    with count_queries() as queries:
        moved = migrations.keypairs(cells=["cell1", "cell2"], per_cell=3, users=2)
    assert moved["rows"] == 6 and queries
