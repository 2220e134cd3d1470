"""Piece 3 (PostgreSQL): listing across cells.

- ``/v2.1/servers/detail?limit=1000`` (default sort: created_at desc, uuid asc) with the same
  instances spread over 3 cells or held by one cell (seeded so that the cells interleave in the
  sort order: instance ``o`` is in cell ``o mod K``);
- the same listing with a fixed delay injected before every query of every cell database
  (connection execute_wrapper; cell0 included), 8 cells against 1, the same instances in total;
- paging through every instance with markers (time of each page, in order).
"""

import json
import time

from django.db import connections

from benchmarks.common import PROJECT, USER, api_headers, count_queries, injected_latency, stats

BASE_TS = "2026-01-01 00:00:00+00"


def _flavor_json() -> str:
    flavor = {
        "flavorid": "1",
        "name": "m1.tiny",
        "memory_mb": 512,
        "vcpus": 1,
        "root_gb": 1,
        "ephemeral_gb": 0,
        "swap": 0,
        "rxtx_factor": 1.0,
        "vcpu_weight": None,
        "extra_specs": {},
    }
    return json.dumps({"cur": flavor, "old": None, "new": None})


def seed_cell(alias: str, *, index: int, of: int, per_cell: int, prefix: str = "bench") -> None:
    """Instances o = (g-1)*of + index, g in 1..per_cell, with extra and system metadata (SQL only)."""
    from keypairs.serialization import keypair_list_json

    ordinals = f"SELECT (g - 1) * {int(of)} + {int(index)} AS o FROM generate_series(1, {int(per_cell)}) g"
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO instances (uuid, user_id, project_id, image_ref, hostname, display_name, vm_state,
                power_state, memory_mb, vcpus, root_gb, ephemeral_gb, host, node, instance_type_id, launched_at,
                launched_on, availability_zone, created_at, deleted, locked, launch_index, config_drive, progress,
                auto_disk_config, shutdown_terminate, disable_terminate, cleaned, hidden, reservation_id)
            SELECT md5(%s || o)::uuid::text, %s, %s, %s, 'vm-' || o, 'vm-' || o, 'active',
                1, 512, 1, 1, 0, 'bench-host-1', 'bench-host-1', 1, timestamptz %s + o * interval '1 second',
                'bench-host-1', 'nova', timestamptz %s + o * interval '1 second', 0, false, 0, '', 0,
                false, false, false, 0, false, 'r-bench'
            FROM ({ordinals}) s
            """,
            [f"{prefix}-", USER, PROJECT, "155d900f-4e14-4e4c-a73d-069cbf4541e6", BASE_TS, BASE_TS],
        )
        cursor.execute(
            """
            INSERT INTO instance_extra (instance_uuid, flavor, keypairs, created_at, deleted)
            SELECT uuid, %s, %s, created_at, 0 FROM instances
            """,
            [_flavor_json(), keypair_list_json([])],
        )
        cursor.execute(
            """
            INSERT INTO instance_system_metadata (instance_uuid, key, value, created_at, deleted)
            SELECT uuid, 'security_groups', '["default"]', created_at, 0 FROM instances
            """
        )
        cursor.execute("ANALYZE")


def seed_mappings(*, cell_id: int, index: int, of: int, per_cell: int, prefix: str = "bench") -> None:
    ordinals = f"SELECT (g - 1) * {int(of)} + {int(index)} AS o FROM generate_series(1, {int(per_cell)}) g"
    with connections["api"].cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO instance_mappings (instance_uuid, cell_id, project_id, user_id, queued_for_delete, created_at)
            SELECT md5(%s || o)::uuid::text, %s, %s, %s, false, now() FROM ({ordinals}) s
            """,
            [f"{prefix}-", cell_id, PROJECT, USER],
        )


def seed(*, cells: list[str], per_cell: int) -> dict:
    """Child task: map the cells and seed ``per_cell`` instances in each (interleaved ordinals)."""
    from benchmarks.pieces.setup import map_cells

    mappings = map_cells(cells)
    t0 = time.perf_counter()
    for index, alias in enumerate(cells, start=1):
        seed_cell(alias, index=index, of=len(cells), per_cell=per_cell)
        seed_mappings(cell_id=mappings[alias].id, index=index, of=len(cells), per_cell=per_cell)
    with connections["api"].cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"seed_s": round(time.perf_counter() - t0, 1), "instances": per_cell * len(cells)}


def _client():
    from django.test import Client

    from benchmarks.transports import DirectTransport

    return DirectTransport(Client(), api_headers())


def list_times(*, cells: list[str], limit: int = 1000, repeats: int = 10, warmup: int = 2, delay: float = 0.0) -> dict:
    """Child task: time ``GET /servers/detail?limit=`` (optionally with injected cell latency)."""
    from benchmarks.pieces.setup import map_cells

    map_cells(cells)
    api = _client()
    path = f"/v2.1/servers/detail?limit={limit}"
    cell_aliases = ["cell0", *cells]
    samples = []
    with injected_latency(delay, cell_aliases if delay else []):
        for _ in range(warmup):
            body = api.call("GET", path)
        returned = len(body["servers"])
        with count_queries() as queries:
            api.call("GET", path)
        for _ in range(repeats):
            t0 = time.perf_counter()
            api.call("GET", path)
            samples.append(time.perf_counter() - t0)
    return {"samples": samples, "returned": returned, "queries": queries, "stats": stats(samples)}


def paging(*, cells: list[str], limit: int = 1000) -> dict:
    """Child task: page through every server with markers; seconds per page, in page order."""
    from benchmarks.pieces.setup import map_cells

    map_cells(cells)
    api = _client()
    api.call("GET", f"/v2.1/servers/detail?limit={limit}")  # warm
    marker = None
    pages, total, seen = [], 0, set()
    while True:
        path = f"/v2.1/servers/detail?limit={limit}" + (f"&marker={marker}" if marker else "")
        t0 = time.perf_counter()
        body = api.call("GET", path)
        pages.append(time.perf_counter() - t0)
        servers = body["servers"]
        total += len(servers)
        seen.update(s["id"] for s in servers)
        if len(servers) < limit or not body.get("servers_links"):
            break
        marker = servers[-1]["id"]
        if len(pages) > 100000:
            raise RuntimeError("paging does not end")
    return {"pages": pages, "total": total, "unique": len(seen)}
