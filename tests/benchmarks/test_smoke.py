"""Smoke run of the benchmark pieces in-process, tiny sizes, so the suite does not rot.

No timing is asserted: only that each piece runs end to end against the test databases and that
the report (table, JSON shapes, chart) can be produced from what it returns.
"""

import importlib
import json
import uuid

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
    floor.drop_table(floor.CELL)


def test_api_ops_show_consoles_and_report(tmp_path):
    from benchmarks.pieces.setup import map_cells
    from cellsv2.cells import scatter_gather_shutdown

    map_cells(["cell1"])
    api = api_ops.measure(transports=("direct",), n=2, m=2, population=3, servers=2, warmup=1, rounds=1)
    assert set(api["ours"]["direct"]) == set(api_ops.OPS)
    assert set(api["floor"]["client"]) == set(api_ops.FLOOR_OPS)
    assert api["queries"]["direct"]["keypair_show"]["api"] >= 1

    # A show reads its cell in that cell's threads: fresh ones, whose connections the query
    # counters see being made (earlier tests' threads opened theirs before the counters were on).
    scatter_gather_shutdown()
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
    # A show's query counts hold their target at both microversions: the mapping cache spares the
    # mapping's own round trip at 2.1, and at the latest the mapping shares the API statement.
    counted = [f for f in figures if f.figure.startswith("placed server show queries")]
    assert len(counted) == 2 and all(f.passed for f in counted), [(f.figure, f.note) for f in counted]
    meta = {"db": "test", "python": "3", "cpus": 2}
    candidate = report.candidate_json(api, meta)
    assert set(candidate["results"]["direct"]["keypair_show"]) >= {"n", "median_ms", "p95_ms", "ops_per_s"}
    json.dumps(report.floor_json(api, meta))
    report.chart(figures, api, None, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 0


def test_api_keystone_variant_and_its_figures(keystone, settings):
    from benchmarks.pieces.setup import map_cells
    from cellsv2.api.keystone import auth_protocol
    from tests.cloud_services.keystone_service import REGION

    map_cells(["cell1"])
    service = keystone.create_service_user(f"nova-{uuid.uuid4().hex[:6]}")
    member = keystone.create_user(f"bench-{uuid.uuid4().hex[:6]}", project="bench", roles=["member"])
    settings.CELLSV2_AUTH = "keystone"
    settings.CELLSV2_WWW_AUTHENTICATE_URI = keystone.auth_url
    settings.CELLSV2_KEYSTONE = {
        **settings.CELLSV2_KEYSTONE,
        "url": keystone.auth_url,
        "username": service.username,
        "password": service.password,
        "region_name": REGION,
    }
    try:
        result = api_ops.measure_keystone_cost(
            token=member.session().get_token(),
            user_id=member.user_id,
            project_id=member.project_id,
            service_token=service.session().get_token(),
            m=2,
            warmup=1,
            population=2,
            cold=1,
        )
    finally:
        auth_protocol.cache_clear()
    assert {v: s["n"] for v, s in result["ops"]["keypair_show"].items()} == {
        "headers": 2,
        "keystone_warm": 2,
        "keystone_cold": 1,
        "keystone_validation": 1,
    }
    floor_result = {"floor": {"client": {"floor_get_pk": {"median_ms": 1.0}}}, "keystone": result}
    warm, cold = report.keystone_figures(floor_result, None)
    assert warm.figure == "keypair_show keystone, token cached [direct]" and warm.passed is not None
    assert cold.passed is None and "Keystone's own GET /v3/auth/tokens" in cold.note
    skipped = report.keystone_figures({"keystone": {"skipped": "no Keystone venv: offline"}}, None)
    assert skipped[0].note == "no Keystone venv: offline"


@pytest.mark.skipif(not on_postgres(), reason="the migration pieces seed with PostgreSQL SQL")
def test_server_group_migration_and_its_figures_on_postgres():
    from benchmarks.pieces import migrations

    moved = migrations.keypairs(cells=["cell1", "cell2"], per_cell=2, users=2)
    groups = migrations.groups(cells=["cell1", "cell2"], per_cell=2, members=3)
    assert (groups["groups"], groups["members"], groups["copy_rows"]) == (4, 12, 20)
    figures = report.migration_figures(
        {"keypairs_small": moved, "keypairs_large": moved, "groups_small": groups, "groups_large": groups}, False
    )
    assert [f.piece for f in figures] == ["migrations"] * 4
    assert figures[2].figure == "server groups moved/s (4, 3 members)" and figures[2].passed is not None
    assert figures[3].figure == "peak RSS at 4 server groups" and figures[3].ratio == 1.0


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


def test_load_driver_summary_and_figures():
    # The load piece's client against a stdlib server on 127.0.0.1 (gunicorn's part runs in the
    # full benchmark): pooled percentiles, CPU shares and the report's figures, no timing judged.
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from benchmarks.pieces.load import drive, summarize

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"ok": true}' if self.headers.get("X-Ok") == "yes" else b"{}"
            self.send_response(200 if body != b"{}" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        ok = [
            drive(port, "/x", {"X-Ok": "yes"}, clients=2, processes=1, seconds=0.3, max_requests=40) for _ in range(2)
        ]
        refused = drive(port, "/x", {}, clients=2, processes=1, seconds=0.2, max_requests=10)
    finally:
        server.shutdown()
        server.server_close()
    assert refused["requests"] == 0 and refused["errors"] > 0 and refused["error_kinds"] == ["404"]
    summary = summarize(ok, cores=2)
    assert summary["requests"] == sum(r["requests"] for r in ok) > 0 and summary["errors"] == 0
    assert summary["median_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert summary["client_cpu_share"] is not None and summary["server_cpu_ms_per_request"] is None
    assert all("latencies_s" not in r for r in summary["rounds"])
    result = {"clients": 2, "seconds_per_op": 0.6, "rounds": 2}
    for name in ("floor_get_pk", "floor_two_databases", "keypair_show", "server_show"):
        result[name] = {**summary, "server_cpu_ms_per_request": 1.0, "server_cpu_share": 0.5}
    figures = report.load_figures(result)
    assert [f.target for f in figures] == ["ratio >= 0.90, no errors", "p99 <= 2x floor's p99"] * 2 + ["(reported)"]
    assert all(f.ratio == 1.0 for f in figures) and all(f.passed for f in figures[:4])
    assert "| load | server_show latency under load, p99" in report.table(figures)
    assert "floor_two_databases" in figures[4].baseline


def test_load_objects_answer_on_every_target():
    """What the load piece's prepare makes answers on each of its targets: key pair and server
    show through our API, the floor's row from the API database and from the API and cell1's."""
    from django.test import Client

    from benchmarks.common import api_headers
    from benchmarks.pieces.load import prepare
    from benchmarks.transports import DirectTransport

    objects = prepare()
    ours = DirectTransport(Client(), api_headers())
    assert ours.call("GET", f"/v2.1/os-keypairs/{objects['keypair']}")["keypair"]["name"] == "load-key"
    assert ours.call("GET", f"/v2.1/servers/{objects['server']}")["server"]["status"] == "ACTIVE"
    drv = DirectTransport(floor.floor_test_client())
    one = drv.call("GET", f"/floor/items/{objects['floor_pk']}")["item"]
    two = drv.call("GET", f"/floor/items/{objects['floor_pk']}/two-databases")["item"]
    assert one == two and one["id"] == objects["floor_pk"]


@pytest.mark.skipif(not on_postgres(), reason="the big_api piece seeds with PostgreSQL's COPY")
def test_big_api_at_a_tiny_size():
    from benchmarks.pieces import big_api

    prepared = big_api.prepare(mappings=40, projects=4, map_cells_=["cell2"], map_count=5, servers=2)
    assert prepared["counts"]["instance_mappings"] == 40 and prepared["counts"]["request_specs"] >= 4
    sizes = dict(m=3, n=3, verify_reps=3, admin_repeats=1, warmup=1, process_verify=False)
    rounds = big_api.measure(**prepared, map_cell="cell2", map_count=5, **sizes)
    assert {r["alias"] for r in rounds["show_sql"]} >= {"api", "cell1"}
    assert rounds["map_instances"]["instances"] == 5
    assert rounds["uuid_floor"]["instances"] == 5 and rounds["uuid_floor"]["rate_per_s"] > 0
    assert set(rounds["admin"]) == set(big_api.ADMIN_PAGES)
    assert all(page["queries"] and page["statements"] for page in rounds["admin"].values())
    plans = [s["plan"] for s in rounds["verify_instance_sql"] if "plan" in s]
    assert plans and all(plan for plan in plans)
    again = big_api.measure(**prepared, map_cell=None, **sizes)
    assert "map_instances" not in again
    again["map_instances"], again["uuid_floor"] = rounds["map_instances"], rounds["uuid_floor"]
    result = {
        "sizes": {"small": 40, "large": 45},
        "map_count": 5,
        "prepared": {"small": prepared, "large": prepared},
        "rounds": {"small": [rounds], "large": [again]},
    }
    figures = big_api.figures(result)
    table = report.table(figures)
    assert "| big_api | placed server show [direct]" in table
    assert "| big_api | admin dashboard" in table and "| big_api | seeding" in table
    assert "| big_api | PostgreSQL's own limit for map_instances" in table
    json.dumps(result, default=str)


@pytest.mark.skipif(not on_postgres(), reason="the cells75 piece seeds with PostgreSQL SQL and reads pg_stat_activity")
def test_cells75_on_postgres(monkeypatch, settings):
    from benchmarks.pieces import cells75, listing
    from tests.support import ALL_DATABASES as aliases

    cells = [a for a in aliases if a.startswith("cell") and a != "cell0"]
    monkeypatch.setenv("PGAPPNAME", f"cv2-smoke-{uuid.uuid4().hex[:6]}")
    settings.CELLSV2_CELL_IDLE_SECONDS = 0  # the connections at rest are counted a second later
    listing.seed(cells=cells, per_cell=2)
    listed = cells75.list_times(cells=cells, limit=3, repeats=1, delay=0.001)
    assert listed["returned"] == 3 and listed["connections"]["ceiling"]["total"] >= 1
    prepared = cells75.prepare(cells=cells, host_cell=cells[-1], servers=1)
    placed = cells75.conductor(cells=cells)
    assert placed["placed"] == 1 and placed["connections"]["total"] >= 0
    ops = cells75.ops(cells=cells, server=prepared["servers"][0], m=2, warmup=1, refresh_repeats=2)
    assert {op: s["n"] for op, s in ops["stats"].items()} == dict.fromkeys(cells75.OPS, 2)
    assert ops["queries"]["server_show"]["target_cell"] >= 1 and ops["refresh"]["mappings"] == len(cells) + 1
    conductor = {"connections": placed["connections"]}
    result = {
        "cells": len(cells),
        "total": 2 * len(cells),
        "delay_ms": 1.0,
        "listing": {side: {"stats": listed["stats"], "returned": 3} for side in ("many", "one")},
        "ops": {side: ops for side in ("many", "one")},
        "conductor": {"many": conductor, "one": conductor},
        "pgbouncer": {"skipped": "not measured here"},
    }
    figures = cells75.cells75_figures(result)
    assert len(figures) == 8 and figures[-1].note == "not measured here"
    assert "| cells75 | server_show [direct," in report.table(figures)
