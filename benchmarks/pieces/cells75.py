"""Piece ``cells75`` (PostgreSQL): what 75 cells cost next to one cell.

Two worlds, each a database per cell (CREATE DATABASE ... TEMPLATE): ``many`` (cell0 + 75 cells)
and ``one`` (cell0 + cell1), holding the same servers:

- ``/v2.1/servers/detail?limit=1000`` with 5 ms slept before every cell query (cell0 included,
  the ``latency`` piece's injection), the same instances spread over the 75 cells or all in one;
- server create (a build request: CELLSV2_CONDUCTOR_MODE=worker), the show of a placed server and
  a key pair show, over django.test.Client, the ops taking turns call by call, each world's child
  run in turn (A B A B); queries per database for one call of each;
- the cell-mapping cache refresh (the list read again and every mapping resolved to its alias,
  what the first request after ``CELLSV2_CELL_CACHE_SECONDS`` pays);
- the PostgreSQL connections one API process holds after that mix, and one conductor after
  placing servers (``pg_stat_activity`` by the child's ``application_name``, ``PGAPPNAME``), right
  after and at rest (CELLSV2_CELL_IDLE_SECONDS later), against the ceiling its configuration sets
  at rest (``cellsv2.cells.cell_connection_ceiling``);
- when ``benchmarks.pgbouncer`` is there, the 75-cell listing again with every URL through a
  PgBouncer in transaction mode.

Child tasks run in the world's processes; ``piece_cells75`` and ``cells75_figures`` are the
parent side (runner.py and report.py only register them).
"""

import os
import secrets
import time

from benchmarks.common import IMAGE, api_headers, count_queries, stats

OPS = ("server_create", "server_show", "keypair_show")
OP_TARGET = 1.1
LIST_TARGET = 1.5


# --- child side ----------------------------------------------------------------------------------


def _client(version: str = "latest"):
    from django.test import Client

    from benchmarks.transports import DirectTransport

    return DirectTransport(Client(), api_headers(version))


def held_connections() -> dict:
    """PostgreSQL connections this process holds (``pg_stat_activity`` rows whose application_name
    is this process's PGAPPNAME), per database, read on a connection of its own."""
    import psycopg
    from django.db import connections

    name = os.environ.get("PGAPPNAME")
    if not name:
        return {"total": None, "by_db": {}, "why": "PGAPPNAME not set"}
    conf = connections["api"].settings_dict
    # The server itself (CELLSV2_BENCH_PG), also when this process goes through a PgBouncer.
    base = os.environ.get("CELLSV2_BENCH_PG")
    where = {"conninfo": f"{base}/postgres"} if base else {"host": conf["HOST"] or "127.0.0.1", "port": conf["PORT"]}
    with psycopg.connect(
        **where,
        **({} if base else {"user": conf["USER"], "dbname": "postgres"}),
        application_name=f"{name}-count",
    ) as admin:
        rows = admin.execute(
            "SELECT datname, count(*) FROM pg_stat_activity WHERE application_name = %s GROUP BY datname",
            [name],
        ).fetchall()
    by_db = {datname: n for datname, n in rows}
    return {"total": sum(by_db.values()), "by_db": by_db}


def _by_tier(queries: dict, target: str | None = None) -> dict:
    """{alias: queries} -> api, cell0, the target cell, the other cells (and how many of them)."""
    out = {"api": queries.get("api", 0), "cell0": queries.get("cell0", 0)}
    if target:
        out["target_cell"] = queries.get(target, 0)
    others = {a: n for a, n in queries.items() if a not in ("api", "cell0", target)}
    out["other_cells"] = sum(others.values())
    out["other_cells_asked"] = len(others)
    return out


def refresh_times(repeats: int = 20) -> dict:
    """Seconds to reload the cell mappings and resolve each to its alias (cache cleared first)."""
    from cellsv2.cells import alias_for_mapping, cell_mappings, cells_cache_clear

    samples = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        cells_cache_clear()
        for mapping in cell_mappings():
            alias_for_mapping(mapping)
        samples.append(time.perf_counter() - t0)
    return {"mappings": len(cell_mappings()), **stats(samples[1:])}


def prepare(*, cells: list[str], host_cell: str, servers: int) -> dict:
    """Child task: cells mapped, a compute node in ``host_cell``, ``servers`` build requests."""
    from benchmarks.pieces.setup import compute_node, map_cells

    map_cells(cells)
    compute_node(host_cell)
    api = _client()
    uuids = []
    for i in range(servers):
        body = {"server": {"name": f"c75-{i}", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}
        uuids.append(api.call("POST", "/v2.1/servers", body)["server"]["id"])
    return {"servers": uuids}


def conductor(*, cells: list[str]) -> dict:
    """Child task: one conductor process places every build request; its connections afterwards."""
    from benchmarks.pieces.setup import map_cells
    from servers.conductor import PROGRESS, conductor_run_once

    map_cells(cells)
    placed = 0
    t0 = time.perf_counter()
    while True:
        counts = conductor_run_once(limit=200)
        placed += counts.get("placed", 0)
        if not any(counts.get(outcome) for outcome in PROGRESS):
            break
    return {"placed": placed, "seconds": round(time.perf_counter() - t0, 2), "connections": _connections_report()}


def _connections_report() -> dict:
    """This process's connections right after its last cell task, then at rest (once
    CELLSV2_CELL_IDLE_SECONDS have passed), and the ceiling its configuration sets."""
    from django.conf import settings

    from cellsv2.cells import cell_connection_ceiling

    busy = held_connections()
    time.sleep(max(0, settings.CELLSV2_CELL_IDLE_SECONDS) + 1.0)
    return {**held_connections(), "just_after": busy["total"], "ceiling": cell_connection_ceiling()}


def ops(*, cells: list[str], server: str, m: int = 100, warmup: int = 5, refresh_repeats: int = 20) -> dict:
    """Child task: the three ops timed (taking turns call by call, in a rotating order), one call of
    each counted per database, the cell cache refresh timed, and this process's connections after
    that mix plus two listings."""
    from benchmarks.common import ssh_public_key
    from benchmarks.pieces.setup import map_cells
    from cellsv2.api.microversions import MAX_VERSION_STRING
    from cellsv2.cells import alias_for_mapping
    from mappings.models import InstanceMapping

    map_cells(cells)
    api = _client()
    shown = api.call("GET", f"/v2.1/servers/{server}")["server"]
    assert shown["status"] == "ACTIVE", shown["status"]
    target = alias_for_mapping(InstanceMapping.objects.select_related("cell").get(instance_uuid=server).cell)
    keypair = f"c75-{secrets.token_hex(3)}"
    api.call("POST", "/v2.1/os-keypairs", {"keypair": {"name": keypair, "public_key": ssh_public_key()}})
    made = []

    def create(_i):
        body = {"server": {"name": "c75-op", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}
        made.append(api.call("POST", "/v2.1/servers", body)["server"]["id"])

    calls = {
        "server_create": create,
        "server_show": lambda _i: api.call("GET", f"/v2.1/servers/{server}"),
        "keypair_show": lambda _i: api.call("GET", f"/v2.1/os-keypairs/{keypair}"),
    }
    for i in range(warmup):
        for call in calls.values():
            call(i)
    census = {}
    for op, call in calls.items():
        with count_queries() as queries:
            call(0)
        census[op] = {"by_db": queries, **_by_tier(queries, None if op == "keypair_show" else target)}
    samples: dict[str, list[float]] = {op: [] for op in OPS}
    for i in range(m):
        shift = i % len(OPS)
        for op in OPS[shift:] + OPS[:shift]:
            t0 = time.perf_counter()
            calls[op](i)
            samples[op].append(time.perf_counter() - t0)
    for _ in range(2):
        api.call("GET", "/v2.1/servers/detail?limit=1000")
    connections = _connections_report()
    refresh = refresh_times(refresh_repeats)
    for uuid in made:
        api.call("DELETE", f"/v2.1/servers/{uuid}")
    api.call("DELETE", f"/v2.1/os-keypairs/{keypair}")
    return {
        "cells": len(cells),
        "samples": samples,
        "stats": {op: stats(s) for op, s in samples.items()},
        "queries": census,
        "refresh": refresh,
        "connections": connections,
        "version": MAX_VERSION_STRING,
    }


def list_times(*, cells: list[str], limit: int = 1000, repeats: int = 10, delay: float = 0.005) -> dict:
    """Child task: the listing piece's timed listing (injected cell latency), then this process's
    connections."""
    from benchmarks.pieces import listing

    result = listing.list_times(cells=cells, limit=limit, repeats=repeats, delay=delay)
    result["connections"] = _connections_report()
    return result


def remap(*, cells: list[str]) -> dict:
    """Child task: point every mapping of ``cells`` (and cell0) at the URL this process's settings
    give its alias (e.g. through a PgBouncer, or back)."""
    from cellsv2.cells import configured_alias_url
    from mappings.models import CellMapping

    for alias in ["cell0", *cells]:
        CellMapping.objects.filter(name=alias).update(database_connection=configured_alias_url(alias))
    return {}


# --- parent side ---------------------------------------------------------------------------------


def _pooled(results: list[dict]) -> dict:
    return stats([s for r in results for s in r["samples"]])


def _pgbouncer():
    try:
        from benchmarks.pgbouncer import PgBouncer
    except ImportError as exc:
        return None, f"benchmarks.pgbouncer not available ({exc})"
    return PgBouncer, ""


def piece_cells75(run, db: str, size: dict) -> dict:
    """Runner side: build both worlds, seed, place, then the timed children in turns."""
    from benchmarks.world import PG_BASE, World

    k, total, delay = size["cells"], size["total"], size["delay"]
    many_cells = [f"cell{i}" for i in range(1, k + 1)]
    t0 = time.perf_counter()
    many = run.world("postgres", f"c{k}", many_cells)
    one = run.world("postgres", "c1", ["cell1"])
    made_s = round(time.perf_counter() - t0, 1)
    worlds = {"many": (many, many_cells), "one": (one, ["cell1"])}

    def child(world, task, params, tag, **extra):
        env = {"PGAPPNAME": f"cv2b-{run.id}-{world.tag}-{tag}", "CELLSV2_BENCH_PG": PG_BASE, **extra}
        return world.child(f"benchmarks.pieces.cells75:{task}", params, env=env)

    out: dict = {"cells": k, "total": total, "delay_ms": round(delay * 1e3, 1), "worlds_made_s": made_s}
    try:
        for world, cells in worlds.values():
            world.child("benchmarks.pieces.listing:seed", {"cells": cells, "per_cell": total // len(cells)})
        placed = {}
        conductors = {}
        for key, (world, cells) in worlds.items():
            prepared = child(
                world, "prepare", {"cells": cells, "host_cell": cells[-1], "servers": size["servers"]}, "prep"
            )
            conductors[key] = child(world, "conductor", {"cells": cells}, "conductor")
            placed[key] = prepared["servers"][0]
        out["conductor"] = conductors
        reps = max(1, size["repeats"] // size["alternations"])
        lists: dict[str, list] = {"many": [], "one": []}
        runs: dict[str, list] = {"many": [], "one": []}
        # A B B A ...: the side that goes first changes each turn, so a host getting quieter (or
        # busier) during the run does not favour one side.
        for turn in range(size["alternations"]):
            for key, (world, cells) in list(worlds.items())[:: 1 if turn % 2 == 0 else -1]:
                params = {"cells": cells, "limit": 1000, "repeats": reps, "delay": delay}
                lists[key].append(child(world, "list_times", params, f"list{turn}"))
        for turn in range(size["ops_turns"]):
            for key, (world, cells) in list(worlds.items())[:: 1 if turn % 2 == 0 else -1]:
                params = {"cells": cells, "server": placed[key], "m": max(1, size["m"] // size["ops_turns"])}
                params["warmup"] = size["warmup"]
                runs[key].append(child(world, "ops", params, f"ops{turn}"))
        out["listing"] = {
            key: {
                "stats": _pooled(results),
                "returned": results[0]["returned"],
                "queries": results[0]["queries"],
                "connections": results[-1]["connections"],
            }
            for key, results in lists.items()
        }
        out["ops"] = {
            key: {
                "stats": {op: stats([s for r in results for s in r["samples"][op]]) for op in OPS},
                "queries": results[0]["queries"],
                "refresh": results[-1]["refresh"],
                "connections": results[-1]["connections"],
            }
            for key, results in runs.items()
        }
        PgBouncer, why = _pgbouncer()
        if PgBouncer is None:
            out["pgbouncer"] = {"skipped": why}
        else:
            with PgBouncer(run.tmp / "pgbouncer", pool_mode="transaction") as bouncer:
                via = World(
                    run, "postgres", many.tag, many.cells, urls={a: bouncer.url(u) for a, u in many.urls.items()}
                )
                # Configured as an operator would behind PgBouncer (docs/operators-guide.md).
                pooled = {"CELLSV2_DB_POOLER": "pgbouncer"}
                child(via, "remap", {"cells": many_cells}, "remap", **pooled)
                try:
                    params = {"cells": many_cells, "limit": 1000, "repeats": size["repeats"], "delay": delay}
                    result = child(via, "list_times", params, "bouncer", **pooled)
                    # The same servers as without it, or the time means nothing.
                    expected = min(1000, total)
                    if result["returned"] != expected:
                        got = result["returned"]
                        raise RuntimeError(f"the listing through PgBouncer returned {got}, not {expected}")
                finally:
                    child(many, "remap", {"cells": many_cells}, "unmap")
            out["pgbouncer"] = {
                "stats": result["stats"],
                "returned": result["returned"],
                "connections": result["connections"],
            }
    finally:
        many.drop()
        one.drop()
    return out


# --- figures -------------------------------------------------------------------------------------


def _queries_note(census: dict) -> str:
    keys = ("api", "cell0", "target_cell", "other_cells")
    return "/".join(str(census.get(key, "-")) for key in keys)


def cells75_figures(result: dict) -> list:
    from benchmarks.report import Figure

    k = result["cells"]
    figures = []
    lm, lo = result["listing"]["many"], result["listing"]["one"]
    ratio = lm["stats"]["median_ms"] / lo["stats"]["median_ms"]
    figures.append(
        Figure(
            "cells75",
            f"servers/detail?limit=1000, {result['delay_ms']:g} ms per cell query: {k} cells",
            lm["stats"]["median_ms"],
            lm["stats"]["p95_ms"],
            baseline=f"1 cell {lo['stats']['median_ms']:.1f} ms",
            baseline_median=lo["stats"]["median_ms"],
            ratio=round(ratio, 2),
            target=f"ratio <= {LIST_TARGET}",
            passed=ratio <= LIST_TARGET,
            target_ratio=LIST_TARGET,
            note=f"{result['total']:,} servers either way, {lm['returned']} returned",
        )
    )
    om, oo = result["ops"]["many"], result["ops"]["one"]
    for op in OPS:
        a, b = om["stats"][op], oo["stats"][op]
        ratio = a["median_ms"] / b["median_ms"]
        figures.append(
            Figure(
                "cells75",
                f"{op} [direct, {k} cells]",
                a["median_ms"],
                a["p95_ms"],
                baseline=f"1 cell {b['median_ms']:.2f} ms",
                baseline_median=b["median_ms"],
                ratio=round(ratio, 2),
                target=f"ratio <= {OP_TARGET}",
                passed=ratio <= OP_TARGET,
                target_ratio=OP_TARGET,
                note=(
                    f"queries api/cell0/its cell/other cells: {_queries_note(om['queries'][op])} "
                    f"at {k} cells, {_queries_note(oo['queries'][op])} at 1"
                ),
            )
        )
    rm, ro = om["refresh"], oo["refresh"]
    figures.append(
        Figure(
            "cells75",
            f"cell-mapping cache refresh ({rm['mappings']} mappings read and resolved)",
            rm["median_ms"],
            rm["p95_ms"],
            baseline=f"{ro['mappings']} mappings {ro['median_ms']:.2f} ms",
            baseline_median=ro["median_ms"],
            ratio=round(rm["median_ms"] / ro["median_ms"], 2),
            target="(reported)",
        )
    )
    at_one = {"API process": oo["connections"], "conductor": result["conductor"]["one"]["connections"]}
    for who, conns in (("API process", om["connections"]), ("conductor", result["conductor"]["many"]["connections"])):
        ceiling = conns["ceiling"]
        held = conns["total"]
        figures.append(
            Figure(
                "cells75",
                f"PostgreSQL connections held by one {who} at {k} cells",
                held,
                unit="conns",
                baseline=f"ceiling {ceiling['total']} = {ceiling['formula']}",
                baseline_median=ceiling["total"],
                ratio=round(held / ceiling["total"], 2) if held is not None else None,
                target="<= the configured ceiling",
                passed=held is not None and held <= ceiling["total"],
                note=(
                    f"at rest; {conns.get('just_after')} right after its last cell task; "
                    f"at 1 cell: {at_one[who]['total']}"
                ),
            )
        )
    bouncer = result.get("pgbouncer") or {}
    if "skipped" in bouncer:
        figures.append(
            Figure(
                "cells75",
                f"servers/detail through PgBouncer: {k} cells",
                None,
                target="(reported)",
                note=bouncer["skipped"],
            )
        )
    else:
        s = bouncer["stats"]
        ratio = s["median_ms"] / lo["stats"]["median_ms"]
        figures.append(
            Figure(
                "cells75",
                f"servers/detail through PgBouncer (transaction mode), {result['delay_ms']:g} ms per cell query: "
                f"{k} cells",
                s["median_ms"],
                s["p95_ms"],
                baseline=f"1 cell direct {lo['stats']['median_ms']:.1f} ms",
                baseline_median=lo["stats"]["median_ms"],
                ratio=round(ratio, 2),
                target="(reported)",
                note=(
                    f"{bouncer['returned']} returned; server connections named by the API process: "
                    f"{bouncer['connections']['total']} (PgBouncer's own carry its name)"
                ),
            )
        )
    return figures
