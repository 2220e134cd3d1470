"""``python -m benchmarks run``: every piece in its own child processes, one table at the end."""

import glob
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import report
from benchmarks.common import calibrate
from benchmarks.pieces import big_api, boot_storm
from benchmarks.pieces.cells75 import cells75_figures, piece_cells75
from benchmarks.world import REPO, Run, pg_available

PIECES = (
    "api",
    "show",
    "listing",
    "latency",
    "hung_cell",
    "migrations",
    "map_instances",
    "load",
    "consoles",
    "big_api",
    "boot_storm",
    "cells75",
)
PG_ONLY = {"listing", "latency", "hung_cell", "migrations", "map_instances", "big_api", "boot_storm", "cells75"}
RESULTS = REPO / "benchmarks" / "results"

FULL = {
    "api": {"n": 200, "m": 300, "population": 100, "servers": 100, "warmup": 10, "rounds": 3},
    "show": {"m": 300, "rounds": 3, "warmup": 10},
    "listing": {"per_cell": 30000, "cells": 3, "limit": 1000, "repeats": 6, "alternations": 2},
    "latency": {"total": 80, "cells": 8, "delay": 0.05, "repeats": 10, "alternations": 2},
    "hung_cell": {"per_cell": 500, "limit": 1000, "repeats": 20, "deadline": 3.0},
    "migrations": {
        "small": 30000,
        "large": 300000,
        "groups_small_per_cell": 1667,
        "groups_per_cell": 16667,
        "members": 3,
    },
    "map_instances": {"count": 500000},
    "load": {"seconds": 4, "rounds": 6, "clients": 16},
    "consoles": {"validations": 5000, "batches": 5},
    "big_api": {"small": 10000, "large": 10000000, "map_count": 100000, "n": 150, "alternations": 2},
    "boot_storm": {"servers": 500, "clients": 16, "rounds": 2, "nova_servers": 200},
    "cells75": {
        "cells": 75,
        "total": 1500,
        "delay": 0.005,
        "repeats": 10,
        "alternations": 2,
        "ops_turns": 4,
        "servers": 3,
        "m": 200,
        "warmup": 10,
    },
}
QUICK = {
    "api": {"n": 20, "m": 30, "population": 100, "servers": 10, "warmup": 3, "rounds": 2},
    "show": {"m": 60, "rounds": 2, "warmup": 3},
    "listing": {"per_cell": 2000, "cells": 3, "limit": 1000, "repeats": 3, "alternations": 1},
    "latency": {"total": 80, "cells": 8, "delay": 0.05, "repeats": 3, "alternations": 1},
    "hung_cell": {"per_cell": 100, "limit": 1000, "repeats": 8, "deadline": 2.0},
    "migrations": {"small": 1000, "large": 10000, "groups_small_per_cell": 100, "groups_per_cell": 1000, "members": 3},
    "map_instances": {"count": 20000},
    "load": {"seconds": 1, "rounds": 3, "clients": 16},
    "consoles": {"validations": 1000, "batches": 5},
    "big_api": {
        "small": 10000,
        "large": 200000,
        "map_count": 20000,
        "m": 60,
        "n": 30,
        "verify_reps": 30,
        "alternations": 2,
    },
    "boot_storm": {"servers": 60, "clients": 16, "rounds": 1, "nova_servers": 30},
    "cells75": {
        "cells": 75,
        "total": 750,
        "delay": 0.005,
        "repeats": 4,
        "alternations": 2,
        "ops_turns": 2,
        "servers": 2,
        "m": 40,
        "warmup": 3,
    },
}


def _latest_nova_json() -> str | None:
    found = sorted(glob.glob("/tmp/nova-anchor/results/*/r*/nova_eventlet.json"), key=os.path.getmtime)
    return found[-1] if found else None


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# --- the pieces, parent side ----------------------------------------------------------------------


def piece_api(run: Run, db: str, size: dict) -> dict:
    world = run.world(db, "api", ["cell1"])
    try:
        result = world.child("benchmarks.pieces.api_ops:api", size)
    finally:
        world.drop()
    result["keystone"] = keystone_variant(run, db, size)
    return result


def keystone_variant(run: Run, db: str, size: dict) -> dict:
    """The api piece's keystone variant: a real Keystone (tests/cloud_services, its own cached
    venv) on 127.0.0.1, a member's token, and a child with CELLSV2_AUTH=keystone."""
    from tests.cloud_services import venvs
    from tests.cloud_services.keystone_service import REGION, Keystone

    try:
        venv = venvs.ensure_venv("keystone")
    except venvs.VenvUnavailable as error:
        return {"skipped": f"no Keystone venv: {str(error).splitlines()[0]}"}
    keystone = Keystone(run.tmp / "keystone", venv)
    world = run.world(db, "apiks", ["cell1"])
    try:
        keystone.setup()
        keystone.start()
        service = keystone.create_service_user("nova")
        member = keystone.create_user("bench", project="bench", roles=["member"])
        env = {
            "CELLSV2_AUTH": "keystone",
            "CELLSV2_KEYSTONE_URL": keystone.auth_url,
            "CELLSV2_KEYSTONE_USERNAME": service.username,
            "CELLSV2_KEYSTONE_PASSWORD": service.password,
            "CELLSV2_KEYSTONE_REGION": REGION,
        }
        params = {
            "token": member.session().get_token(),
            "user_id": member.user_id,
            "project_id": member.project_id,
            "service_token": service.session().get_token(),
            "m": size["m"],
            "warmup": size["warmup"],
            "population": size["population"],
        }
        return world.child("benchmarks.pieces.api_ops:api_keystone", params, env=env)
    finally:
        world.drop()
        keystone.stop()


def piece_show(run: Run, db: str, size: dict) -> dict:
    cells = [f"cell{i}" for i in range(1, 9)]
    world = run.world(db, "show", cells)
    try:
        return world.child("benchmarks.pieces.show:show", {"cell_steps": [cells[:1], cells[:3], cells], **size})
    finally:
        world.drop()


def _alternate(worlds: list, task: str, params_of, alternations: int) -> list[list[dict]]:
    """Run ``task`` in each world in turn, ``alternations`` times (A B A B ...)."""
    out: list[list[dict]] = [[] for _ in worlds]
    for _ in range(alternations):
        for i, (world, cells) in enumerate(worlds):
            out[i].append(world.child(task, params_of(cells)))
    return out


def _pooled(results: list[dict]) -> dict:
    from benchmarks.common import stats

    return stats([s for r in results for s in r["samples"]])


def piece_listing(run: Run, db: str, size: dict) -> dict:
    k, n, limit = size["cells"], size["per_cell"], size["limit"]
    many_cells = [f"cell{i}" for i in range(1, k + 1)]
    many = run.world("postgres", "list3", many_cells)
    one = run.world("postgres", "list1", ["cell1"])
    try:
        seeded = [
            many.child("benchmarks.pieces.listing:seed", {"cells": many_cells, "per_cell": n}),
            one.child("benchmarks.pieces.listing:seed", {"cells": ["cell1"], "per_cell": n * k}),
        ]
        reps = max(1, size["repeats"] // size["alternations"])
        a, b = _alternate(
            [(many, many_cells), (one, ["cell1"])],
            "benchmarks.pieces.listing:list_times",
            lambda cells: {"cells": cells, "limit": limit, "repeats": reps},
            size["alternations"],
        )
        paged = many.child("benchmarks.pieces.listing:paging", {"cells": many_cells, "limit": limit})
    finally:
        many.drop()
        one.drop()
    full_pages = paged["pages"][: paged["total"] // limit]  # the last page is short (or empty)
    assert paged["unique"] == paged["total"] == n * k, paged
    return {
        "cells": k,
        "per_cell": n,
        "limit": limit,
        "seeded": seeded,
        "three_cells": _pooled(a),
        "one_cell": _pooled(b),
        "returned": [a[0]["returned"], b[0]["returned"]],
        "queries": {"many": a[0]["queries"], "one": b[0]["queries"]},
        "pages": full_pages,
        "paged_total": paged["total"],
    }


def piece_latency(run: Run, db: str, size: dict) -> dict:
    k, total = size["cells"], size["total"]
    many_cells = [f"cell{i}" for i in range(1, k + 1)]
    many = run.world("postgres", "lat8", many_cells)
    one = run.world("postgres", "lat1", ["cell1"])
    try:
        many.child("benchmarks.pieces.listing:seed", {"cells": many_cells, "per_cell": total // k})
        one.child("benchmarks.pieces.listing:seed", {"cells": ["cell1"], "per_cell": total})
        reps = max(1, size["repeats"] // size["alternations"])
        a, b = _alternate(
            [(many, many_cells), (one, ["cell1"])],
            "benchmarks.pieces.listing:list_times",
            lambda cells: {"cells": cells, "limit": 1000, "repeats": reps, "delay": size["delay"]},
            size["alternations"],
        )
    finally:
        many.drop()
        one.drop()
    return {
        "cells": k,
        "total": total,
        "delay_ms": round(size["delay"] * 1e3),
        "many": _pooled(a),
        "one": _pooled(b),
        "queries": {"many": a[0]["queries"], "one": b[0]["queries"]},
    }


def piece_hung_cell(run: Run, db: str, size: dict) -> dict:
    world = run.world("postgres", "hung", ["cell1", "cell2", "cell3"])
    try:
        world.child("benchmarks.pieces.listing:seed", {"cells": ["cell1", "cell2"], "per_cell": size["per_cell"]})
        return world.child("benchmarks.pieces.hung_cell:hung_cell", size)
    finally:
        world.drop()


def piece_migrations(run: Run, db: str, size: dict) -> dict:
    cells = ["cell1", "cell2", "cell3"]
    out = {}
    for key, rows in (("keypairs_small", size["small"]), ("keypairs_large", size["large"])):
        world = run.world("postgres", f"mig{rows}", cells)
        try:
            out[key] = world.child("benchmarks.pieces.migrations:keypairs", {"cells": cells, "per_cell": rows // 3})
        finally:
            world.drop()
    for key, per_cell in (("groups_small", size["groups_small_per_cell"]), ("groups_large", size["groups_per_cell"])):
        world = run.world("postgres", f"migsg{per_cell}", cells)
        try:
            out[key] = world.child(
                "benchmarks.pieces.migrations:groups",
                {"cells": cells, "per_cell": per_cell, "members": size["members"]},
            )
        finally:
            world.drop()
    return out


def piece_map_instances(run: Run, db: str, size: dict) -> dict:
    world = run.world("postgres", "map", ["cell1"])
    try:
        return world.child("benchmarks.pieces.map_instances:map_instances", size)
    finally:
        world.drop()


def piece_load(run: Run, db: str, size: dict) -> dict:
    from benchmarks.common import api_headers
    from benchmarks.pieces.load import Gunicorn, drive, summarize

    world = run.world(db, "load", ["cell1"])
    try:
        objects = world.child("benchmarks.pieces.load:prepare")
        env = {**os.environ, **world.env(), "PYTHONPATH": str(REPO)}
        headers = api_headers()
        targets = {
            "floor_get_pk": ("floor", f"/floor/items/{objects['floor_pk']}", {}),
            "floor_two_databases": ("floor", f"/floor/items/{objects['floor_pk']}/two-databases", {}),
            "keypair_show": ("ours", f"/v2.1/os-keypairs/{objects['keypair']}", headers),
            "server_show": ("ours", f"/v2.1/servers/{objects['server']}", headers),
        }
        raw: dict[str, list[dict]] = {name: [] for name in targets}
        log = open(run.log_dir / "gunicorn.log", "a")  # noqa: SIM115
        servers: dict[str, Gunicorn] = {}
        try:
            # Both servers stay up for the whole piece; the operations take turns in short rounds
            # (their order rotating) so that a slow phase of the host hits each side alike.
            servers["floor"] = Gunicorn("benchmarks.wsgi_floor:application", env, workers=2, log=log)
            servers["ours"] = Gunicorn("benchmarks.wsgi:application", env, workers=2, log=log)
            for side, path, hdrs in targets.values():
                drive(servers[side].port, path, hdrs, clients=size["clients"], seconds=1)  # warm
            names = list(targets)
            for i in range(size["rounds"]):
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    side, path, hdrs = targets[name]
                    server = servers[side]
                    raw[name].append(
                        drive(server.port, path, hdrs, clients=size["clients"], seconds=size["seconds"], server=server)
                    )
        finally:
            for server in servers.values():
                server.stop()
            log.close()
    finally:
        world.drop()
    out = {"clients": size["clients"], "seconds_per_op": size["seconds"] * size["rounds"], "rounds": size["rounds"]}
    for name, rounds in raw.items():
        out[name] = summarize(rounds, os.cpu_count() or 1)
    return out


def piece_consoles(run: Run, db: str, size: dict) -> dict:
    world = run.world(db, "consoles", ["cell1"])
    try:
        return world.child("benchmarks.pieces.consoles:consoles", size)
    finally:
        world.drop()


RUNNERS = {
    "api": piece_api,
    "show": piece_show,
    "listing": piece_listing,
    "latency": piece_latency,
    "hung_cell": piece_hung_cell,
    "migrations": piece_migrations,
    "map_instances": piece_map_instances,
    "load": piece_load,
    "consoles": piece_consoles,
    "big_api": big_api.piece_big_api,
    "boot_storm": boot_storm.piece_boot_storm,
    "cells75": piece_cells75,
}


def figures_of(name: str, result: dict, nova: dict | None, full: bool) -> list:
    if name == "api":
        return report.api_figures(result, nova)
    if name == "show":
        return report.show_figures(result)
    if name == "listing":
        return report.listing_figures(result)
    if name == "latency":
        return report.latency_figures(result)
    if name == "hung_cell":
        return report.hung_cell_figures(result)
    if name == "migrations":
        return report.migration_figures(result, full)
    if name == "map_instances":
        return report.map_instances_figures(result)
    if name == "load":
        return report.load_figures(result)
    if name == "consoles":
        return report.console_figures(result)
    if name == "big_api":
        return big_api.figures(result)
    if name == "boot_storm":
        return boot_storm.storm_figures(result)
    if name == "cells75":
        return cells75_figures(result)
    return []


def run(args) -> int:
    full = not args.quick
    sizes = QUICK if args.quick else FULL
    if getattr(args, "nova_storm", None):
        sizes = {**sizes, "boot_storm": {**sizes["boot_storm"], "nova_storm": args.nova_storm}}
    only = args.only or list(PIECES)
    unknown = set(only) - set(PIECES)
    if unknown:
        print(f"unknown pieces: {', '.join(sorted(unknown))}; known: {', '.join(PIECES)}", file=sys.stderr)
        return 2
    has_pg = pg_available()
    if args.db == "postgres" and not has_pg:
        print("PostgreSQL at 127.0.0.1:5432 is not reachable", file=sys.stderr)
        return 2
    nova_path = args.nova or _latest_nova_json()
    nova = report.load_nova(nova_path)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out) if args.out else RESULTS / f"{stamp}{'-quick' if args.quick else ''}"
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "started": stamp,
        "mode": "quick" if args.quick else "full",
        "db": args.db,
        "pieces": only,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_before": _loadavg(),
        "calib_ms_before": calibrate(),
        "nova_json": nova_path,
        "git": _git_head(),
    }
    print(
        f"cellsv2 benchmarks ({meta['mode']}, {args.db}); load average {meta['loadavg_before']}; "
        f"probe {meta['calib_ms_before']} ms; Nova anchor: {nova_path or 'none (issue reference values)'}"
    )
    bench_run = Run(args.db, out_dir / "logs")
    results, figures, errors = {}, [], {}
    t_all = time.perf_counter()
    try:
        for name in only:
            if name in PG_ONLY and not has_pg:
                print(f"- {name}: skipped (needs PostgreSQL at 127.0.0.1:5432)")
                continue
            t0 = time.perf_counter()
            print(f"- {name} ...", flush=True)
            try:
                results[name] = RUNNERS[name](bench_run, args.db, sizes[name])
                new = figures_of(name, results[name], nova, full)
                figures += new
                print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
                for f in new:
                    verdict = "-" if f.passed is None else ("PASS" if f.passed else "FAIL")
                    ratio = f"ratio {f.ratio:.2f}" if f.ratio is not None else ""
                    print(f"    {verdict:4} {f.figure}: {report._fmt(f.median, f.unit)} {ratio}")
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                print(f"  FAILED: {errors[name]}", flush=True)
                traceback.print_exc()
    finally:
        bench_run.cleanup()
    meta.update(
        wall_s=round(time.perf_counter() - t_all, 1),
        loadavg_after=_loadavg(),
        calib_ms_after=calibrate(),
        errors=errors,
    )
    md = _markdown(meta, figures)
    (out_dir / "table.md").write_text(md)
    report.write_json(
        out_dir / "results.json", {"meta": meta, "figures": report.figures_json(figures), "results": results}
    )
    if "api" in results:
        report.write_json(out_dir / "ours.json", report.candidate_json(results["api"], meta))
        report.write_json(out_dir / "floor.json", report.floor_json(results["api"], meta))
    try:
        report.chart(figures, results.get("api"), nova, out_dir / "chart.png")
    except Exception as exc:  # a chart must not lose the figures
        print(f"chart not drawn: {exc}")
    RESULTS.mkdir(parents=True, exist_ok=True)  # a fresh clone has none (gitignored), and --out may be elsewhere
    for name in ("table.md", "results.json", "chart.png", "ours.json", "floor.json"):
        if (out_dir / name).exists():
            shutil.copyfile(out_dir / name, RESULTS / f"latest-{name}")
    print()
    print(md)
    print(f"\nresults in {out_dir} (also benchmarks/results/latest-*)")
    if "api" in results and nova_path:
        floor_path = Path(nova_path).with_name("django_floor.json")
        if floor_path.exists():
            print(
                "compare with the anchor:\n  python3 /work/shared/anchors/nova/summarize.py "
                f"--nova {nova_path} --floor {floor_path} --candidate {out_dir / 'ours.json'}"
            )
    return 1 if errors else 0


def rerender(directory: str) -> int:
    """Table and chart again from a run's results.json (after a change to the report code)."""
    import json

    out_dir = Path(directory)
    data = json.loads((out_dir / "results.json").read_text())
    meta, results = data["meta"], data["results"]
    nova = report.load_nova(meta.get("nova_json"))
    full = meta["mode"] == "full"
    figures = [f for name in meta["pieces"] if name in results for f in figures_of(name, results[name], nova, full)]
    md = _markdown(meta, figures)
    (out_dir / "table.md").write_text(md)
    report.chart(figures, results.get("api"), nova, out_dir / "chart.png")
    data["figures"] = report.figures_json(figures)
    report.write_json(out_dir / "results.json", data)
    print(md)
    return 0


def _git_head() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True)
        return head.stdout.strip() + ("+uncommitted changes" if dirty.stdout.strip() else "")
    except OSError:
        return "?"


def _markdown(meta: dict, figures: list) -> str:
    passed = sum(1 for f in figures if f.passed)
    judged = sum(1 for f in figures if f.passed is not None)
    head = (
        f"Run {meta['started']} UTC, {meta['mode']}, API pieces on {meta['db']} "
        f"(listing, migrations, map_instances on PostgreSQL), git {meta['git']}; "
        f"{meta['cpus']} cores, Python {meta['python']}; load average before {meta['loadavg_before']}, "
        f"after {meta['loadavg_after']}; host-speed probe {meta['calib_ms_before']} / {meta['calib_ms_after']} ms "
        f"(the anchor's; lower is faster); wall {meta['wall_s']} s. Nova figures: "
        f"{meta['nova_json'] or 'the issue reference run'}. Targets met: {passed}/{judged}."
    )
    if meta.get("errors"):
        head += "\n\nPieces that failed: " + "; ".join(f"{k}: {v}" for k, v in meta["errors"].items())
    return head + "\n\n" + report.table(figures) + "\n"
