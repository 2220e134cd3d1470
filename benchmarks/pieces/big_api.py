"""Piece ``big_api`` (PostgreSQL): the API database at 10 million instance mappings.

One world, grown: the API calls, commands and admin pages are measured with ``small`` instance
mappings (10,000) and ``small / 10`` request specs, then the same database is grown with ``COPY``
to ``large`` mappings (10 million) and ``large / 10`` request specs, and everything is measured
again. Both times the tables are ``VACUUM ANALYZE``d, their indexes read into shared buffers
(``pg_prewarm``) and each call warmed before it is timed, so the caches are warm on both sides.

Seeded rows look like Nova's: random uuid4 instance uuids, 32-hex Keystone project ids spread
over ``projects`` projects (five users each; a tenth of the mappings without a user id, as
mappings made before Nova recorded it), a hundredth queued for delete, the cells ``cell1`` to
``cell3`` in turn; each request spec is the JSON spec of a server created through the API with its
instance uuid and project changed. Build requests stay few (the created servers are deleted
after each phase). The benchmark's own project (``bench-project``) is not among the seeded ones:
its quota counts are the same at either size, so the ratios show the table's size alone.

Measured at each size, in the same process:

- placed server show (``direct``, servers in cell1; no mapping cache) and server create (the API
  path, ``direct``, worker mode);
- ``cell_v2 verify_instance --uuid X`` through the command function (``call_command``), and once
  through ``manage.py`` in a process of its own (its exit code and wall time);
- ``map_instances`` of a cell of ``map_count`` unmapped instances (cell2 at the small size, cell3,
  seeded the same, at the large one): instances mapped per second;
- PostgreSQL's own limit for it: ``map_count`` random uuids inserted in the same batches into a
  table that holds nothing but instance_mappings' uuids under a unique index (``uuid_floor``),
  so the cost of a B-tree of random keys 1,000x larger is measured apart from ours;
- the admin, as a logged-in superuser (``django.test.Client``): the index, the cells dashboard,
  the instance mapping list (unfiltered, filtered by cell, searched by project) with every SQL
  statement they run (any thread, any database) and its time, and ``EXPLAIN (ANALYZE, BUFFERS)``
  of each page's slowest statement.

The seeding of the large size is timed (COPY, index builds, VACUUM ANALYZE) and reported.
"""

import concurrent.futures
import os
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from io import StringIO

from benchmarks.common import IMAGE, api_headers, calibrate, stats, timed

CELLS = ("cell1", "cell2", "cell3")
CHUNK = 100_000
USERS_PER_PROJECT = 5

ADMIN_PAGES = {
    "index": "/admin/",
    "dashboard": "/admin/dashboard/",
    "mapping_list": "/admin/mappings/instancemapping/",
    "mapping_list_by_cell": "/admin/mappings/instancemapping/?cell__id__exact={cell1}",
    "mapping_list_by_project": "/admin/mappings/instancemapping/?q={project}",
    "mapping_list_by_uuid": "/admin/mappings/instancemapping/?q={uuid}",
    "mapping_list_sorted_by_created": "/admin/mappings/instancemapping/?o=-6",
    "mapping_list_sorted_by_project": "/admin/mappings/instancemapping/?o=2",
}
# The pages held to the 1 s target (the others are reported).
ADMIN_TARGET_PAGES = ("dashboard", "mapping_list", "index")
ADMIN_LIMIT_MS = 1000.0


# --- SQL capture (every connection, every thread) ----------------------------------------------------

_capture_lock = threading.Lock()
_capture: dict = {"on": False, "rows": []}


def _capture_wrapper(alias):
    def wrapper(execute, sql, params, many, context):
        if not _capture["on"]:
            return execute(sql, params, many, context)
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            ms = (time.perf_counter() - t0) * 1e3
            with _capture_lock:
                _capture["rows"].append({"alias": alias, "sql": sql, "params": params, "ms": ms})

    wrapper.cellsv2_big_api = True
    return wrapper


def _on_connection_created(sender, connection, **kwargs):
    if not any(getattr(w, "cellsv2_big_api", False) for w in connection.execute_wrappers):
        connection.execute_wrappers.append(_capture_wrapper(connection.alias))


def install_capture() -> None:
    """Time every statement of every connection opened from now on (and of this thread's open ones)."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection_created, dispatch_uid="cellsv2-big-api-capture")
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            _on_connection_created(None, connection)


def uninstall_capture() -> None:
    from django.db import connections
    from django.db.backends.signals import connection_created

    connection_created.disconnect(dispatch_uid="cellsv2-big-api-capture")
    for connection in connections.all(initialized_only=True):
        connection.execute_wrappers[:] = [
            w for w in connection.execute_wrappers if not getattr(w, "cellsv2_big_api", False)
        ]


@contextmanager
def captured():
    """Yields the list of statements ({alias, sql, params, ms}) run inside the block."""
    rows: list[dict] = []
    with _capture_lock:
        _capture["rows"], _capture["on"] = rows, True
    try:
        yield rows
    finally:
        with _capture_lock:
            _capture["on"] = False
            _capture["rows"] = []


def _explain(statement: dict) -> list[str]:
    from cellsv2.db import sql

    text = statement["sql"]
    if not text.lstrip().upper().startswith("SELECT"):
        return [f"(not a SELECT: {text[:80]})"]
    try:
        rows = sql.fetch_all(statement["alias"], f"EXPLAIN (ANALYZE, BUFFERS) {text}", statement["params"] or ())
    except Exception as exc:  # a statement of a thread's alias this thread cannot run
        return [f"(EXPLAIN failed: {type(exc).__name__}: {str(exc)[:200]})"]
    return [row[0] for row in rows]


# --- seeding ------------------------------------------------------------------------------------------


def _uuid4s(count: int) -> list[str]:
    raw = os.urandom(16 * count).hex()
    out = []
    for i in range(0, 32 * count, 32):
        h = raw[i : i + 32]
        out.append(f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}")
    return out


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Seeder:
    """Writes instance mappings and request specs with COPY (text format) on the API database."""

    def __init__(self, *, projects: int, cell_ids: list[int], spec_template: str, spec_every: int = 10):
        from hashlib import md5

        self.projects = [md5(f"project-{i}".encode()).hexdigest() for i in range(projects)]
        self.users = [md5(f"user-{i}".encode()).hexdigest() for i in range(projects * USERS_PER_PROJECT)]
        self.cell_ids = cell_ids
        self.spec_template = _copy_escape(spec_template)
        self.spec_every = spec_every
        self.written = 0

    def _chunk(self, count: int, stamp: str) -> tuple[str, str]:
        uuids = _uuid4s(count)
        projects, users, cells = self.projects, self.users, self.cell_ids
        n_projects, n_cells = len(projects), len(cells)
        base = self.written
        mappings, specs = [], []
        template = self.spec_template
        for k, uuid in enumerate(uuids):
            i = base + k
            p = i % n_projects
            user = "\\N" if i % 10 == 9 else users[p * USERS_PER_PROJECT + (i // n_projects) % USERS_PER_PROJECT]
            qfd = "t" if i % 100 == 99 else "f"
            mappings.append(f"{stamp}\t{stamp}\t{uuid}\t{cells[i % n_cells]}\t{projects[p]}\t{user}\t{qfd}\n")
            if i % self.spec_every == 0:
                spec = template.replace("@UUID@", uuid).replace("@PROJECT@", projects[p])
                specs.append(f"{stamp}\t{stamp}\t{uuid}\t{spec}\n")
        self.written += count
        return "".join(mappings), "".join(specs)

    def seed(self, count: int) -> dict:
        """Add ``count`` mappings (and a spec for every ``spec_every``-th) in chunks of COPY."""
        from datetime import UTC, datetime, timedelta

        from cellsv2.db import sql

        api = sql.connection("api")
        api.ensure_connection()
        start = datetime(2020, 1, 1, tzinfo=UTC)
        gen_s = copy_s = 0.0
        specs = 0
        done = 0
        while done < count:
            n = min(CHUNK, count - done)
            t0 = time.perf_counter()
            stamp = (start + timedelta(minutes=self.written // 1000)).isoformat()
            mapping_text, spec_text = self._chunk(n, stamp)
            t1 = time.perf_counter()
            with api.connection.cursor() as cursor:
                with cursor.copy(
                    "COPY instance_mappings (created_at, updated_at, instance_uuid, cell_id, project_id, user_id, "
                    "queued_for_delete) FROM STDIN"
                ) as copy:
                    copy.write(mapping_text)
                if spec_text:
                    with cursor.copy(
                        "COPY request_specs (created_at, updated_at, instance_uuid, spec) FROM STDIN"
                    ) as copy:
                        copy.write(spec_text)
                specs += spec_text.count("\n")
            if not api.get_autocommit():
                api.connection.commit()
            gen_s += t1 - t0
            copy_s += time.perf_counter() - t1
            done += n
        return {"mappings": count, "specs": specs, "generate_s": round(gen_s, 1), "copy_s": round(copy_s, 1)}


_TABLES = ("instance_mappings", "request_specs")


def _secondary_ddl(table: str) -> tuple[list[str], list[str]]:
    """(drop, create) statements of a table's indexes and constraints other than its primary key."""
    from cellsv2.db import sql

    drops, creates = [], []
    constraints = sql.fetch_all(
        "api",
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND contype IN ('u', 'f') ORDER BY contype DESC",
        [table],
    )
    for name, definition in constraints:
        drops.append(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        creates.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    indexes = sql.fetch_all(
        "api",
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = to_regclass(%s) AND NOT x.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        [table],
    )
    for name, definition in indexes:
        drops.append(f'DROP INDEX "{name}"')
        creates.append(definition)
    # Unique constraints (their indexes) first, foreign keys after them.
    creates.sort(key=lambda s: "FOREIGN KEY" in s)
    return drops, creates


_FLOOR_TABLE = "bench_uuid_floor"


def _uuid_floor(count: int, batch: int) -> dict:
    """Insert ``count`` random uuids, ``batch`` per statement (map_instances' statement shape: an
    ``unnest`` of a bound array, ``ON CONFLICT DO NOTHING``), into a table of instance_mappings'
    uuids alone under a unique index, made (and read into shared buffers) on the first call.
    Returns the time the inserts took and their rate."""
    from cellsv2.bulk import binary_cursor
    from cellsv2.db import sql

    built_s = None
    if sql.fetch_value("api", "SELECT to_regclass(%s)::text", [_FLOOR_TABLE]) is None:
        t0 = time.perf_counter()
        sql.execute(
            "api", f"CREATE TABLE {_FLOOR_TABLE} (id bigserial PRIMARY KEY, instance_uuid varchar(36) NOT NULL)"
        )
        sql.execute("api", f"INSERT INTO {_FLOOR_TABLE} (instance_uuid) SELECT instance_uuid FROM instance_mappings")
        sql.execute("api", f"ALTER TABLE {_FLOOR_TABLE} ADD CONSTRAINT {_FLOOR_TABLE}_uniq UNIQUE (instance_uuid)")
        sql.execute("api", f"VACUUM ANALYZE {_FLOOR_TABLE}")
        try:
            sql.fetch_all("api", "SELECT pg_prewarm(%s)", [f"{_FLOOR_TABLE}_uniq"])
        except Exception:  # no pg_prewarm: the first batch warms it
            pass
        built_s = round(time.perf_counter() - t0, 1)
    uuids = _uuid4s(count)
    seconds = 0.0
    for start in range(0, count, batch):
        with binary_cursor("api") as cursor:
            t0 = time.perf_counter()
            cursor.execute(
                f"INSERT INTO {_FLOOR_TABLE} (instance_uuid) SELECT u FROM unnest(%b::text[]) AS batch(u) "
                "ON CONFLICT (instance_uuid) DO NOTHING",
                [uuids[start : start + batch]],
            )
            seconds += time.perf_counter() - t0
    return {"instances": count, "seconds": round(seconds, 3), "rate_per_s": round(count / seconds), "built_s": built_s}


def _maintain() -> dict:
    """VACUUM ANALYZE the two tables (as autovacuum leaves a steady table), then read their indexes in."""
    from cellsv2.db import sql

    t0 = time.perf_counter()
    for table in _TABLES:
        sql.execute("api", f'VACUUM ANALYZE "{table}"')
    vacuum_s = time.perf_counter() - t0
    prewarmed = False
    try:
        sql.execute("api", "CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for table in _TABLES:
            for (index,) in sql.fetch_all(
                "api", "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = to_regclass(%s)", [table]
            ):
                sql.fetch_all("api", "SELECT pg_prewarm(%s)", [index])
        prewarmed = True
    except Exception:  # no pg_prewarm on this server: the warm-up calls fill the caches
        pass
    return {"vacuum_analyze_s": round(vacuum_s, 1), "prewarmed": prewarmed}


def seed_to(seeder: Seeder, target: int, *, rebuild_over: int = 1_000_000) -> dict:
    """Grow instance_mappings to ``target`` rows with COPY, then VACUUM ANALYZE.

    Past ``rebuild_over`` new rows the secondary indexes and constraints are dropped first and
    rebuilt after (the same definitions, read from the catalog): building an index once costs
    less than ten million random insertions into it.
    """
    from cellsv2.db import sql

    present = sql.fetch_value("api", "SELECT count(*) FROM instance_mappings")
    count = max(0, target - present)
    out: dict = {"before": present, "added": count, "rebuilt_indexes": count > rebuild_over}
    ddl = {table: _secondary_ddl(table) for table in _TABLES} if count > rebuild_over else {}
    for drops, _ in ddl.values():
        for statement in drops:
            sql.execute("api", statement)
    t0 = time.perf_counter()
    out.update(seeder.seed(count))
    out["seed_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    if ddl:
        sql.execute("api", "SET maintenance_work_mem = '1GB'")
        for _, creates in ddl.values():
            for statement in creates:
                sql.execute("api", statement)
        sql.execute("api", "RESET maintenance_work_mem")
    out["index_s"] = round(time.perf_counter() - t0, 1)
    out.update(_maintain())
    out["total_s"] = round(out["seed_s"] + out["index_s"] + out["vacuum_analyze_s"], 1)
    out["rows_per_s"] = round(count / max(out["total_s"], 0.1))
    out["size_mb"] = {
        table: round(sql.fetch_value("api", "SELECT pg_total_relation_size(to_regclass(%s))", [table]) / 2**20)
        for table in _TABLES
    }
    return out


def seed_instances(alias: str, count: int, tag: str) -> None:
    """``count`` instances in a cell database with no mapping (map_instances' work)."""
    from cellsv2.db import sql

    sql.execute(
        alias,
        """
        INSERT INTO instances (uuid, user_id, project_id, vm_state, created_at, deleted)
        SELECT md5(%s || g)::uuid::text, md5('user-' || (g %% 5000)), md5('project-' || (g %% 1000)), 'active',
               timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second', 0
        FROM generate_series(1, %s) g
        """,
        [f"{tag}-", count],
    )
    sql.execute(alias, "VACUUM ANALYZE instances")


# --- measurements ---------------------------------------------------------------------------------------


def _create_body(name: str) -> dict:
    return {"server": {"name": name, "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}


def _verify_command(uuid: str) -> int:
    from django.core.management import call_command, load_command_class

    command = load_command_class("operators", "cell_v2")
    call_command(command, "verify_instance", "--uuid", uuid, stdout=StringIO(), stderr=StringIO())
    return command.exit_code


def _statements(rows: list[dict], *, explain: bool) -> list[dict]:
    """Captured statements as reported: alias, time, SQL (cut), and the plan of each SELECT."""
    out = []
    for r in rows:
        row = {"alias": r["alias"], "ms": round(r["ms"], 3), "sql": r["sql"][:600]}
        if explain and r["sql"].lstrip().upper().startswith("SELECT"):
            row["plan"] = _explain(r)
        out.append(row)
    return out


def _admin_pages(client, params: dict, repeats: int) -> dict:
    """Each admin page: its first view in this process (nothing cached: counts made), then
    ``repeats`` more; the statements of the first view, timed, and the slowest one's plan."""
    from cellsv2.cells import scatter_gather_shutdown

    # Fresh scatter-gather threads: their new connections get the capture wrapper.
    scatter_gather_shutdown()
    out = {}
    for page, template in ADMIN_PAGES.items():
        path = template.format(**params)
        with captured() as rows:
            t0 = time.perf_counter()
            response = client.get(path)
            first = time.perf_counter() - t0
        assert response.status_code == 200, (path, response.status_code)
        statements = list(rows)
        samples = [first]
        for _ in range(repeats):
            t0 = time.perf_counter()
            response = client.get(path)
            samples.append(time.perf_counter() - t0)
            assert response.status_code == 200, (path, response.status_code)
        slowest = max(statements, key=lambda r: r["ms"], default=None)
        out[page] = {
            "path": path,
            "samples": samples,
            "first_ms": round(first * 1e3, 1),
            "queries": len(statements),
            "sql_ms": round(sum(r["ms"] for r in statements), 2),
            "statements": _statements(sorted(statements, key=lambda r: -r["ms"]), explain=False),
            "slowest_explain": _explain(slowest) if slowest else [],
            "count_star": sum(1 for r in statements if "COUNT(" in r["sql"].upper()),
        }
    return out


def _counts() -> dict:
    from cellsv2.db import sql

    return {
        table: sql.fetch_value("api", f'SELECT count(*) FROM "{table}"')
        for table in ("instance_mappings", "request_specs", "build_requests")
    }


def _block_io() -> dict:
    """Blocks of instance_mappings and each of its indexes found in shared buffers ("hit") or read
    in ("read": from the OS's page cache or the disk), so far (pg_statio_user_*)."""
    from cellsv2.db import sql

    rows = sql.fetch_all(
        "api",
        "SELECT indexrelname, idx_blks_read, idx_blks_hit FROM pg_statio_user_indexes WHERE relname = %s "
        "UNION ALL SELECT 'heap', heap_blks_read, heap_blks_hit FROM pg_statio_user_tables WHERE relname = %s",
        ["instance_mappings", "instance_mappings"],
    )
    return {name: {"read": read or 0, "hit": hit or 0} for name, read, hit in rows}


def _wal() -> dict:
    """The cluster's WAL so far (pg_stat_wal): records, full-page images, bytes. Only one child
    runs at a time, so a difference over a phase is that phase's."""
    from cellsv2.db import sql

    records, fpi, written = sql.fetch_one("api", "SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
    return {"records": int(records), "fpi": int(fpi), "bytes": int(written)}


def prepare(
    *,
    mappings: int,
    projects: int = 10_000,
    map_cells_: list[str] | None = None,
    map_count: int = 1000,
    servers: int = 10,
) -> dict:
    """Child task: map the cells, place ``servers`` servers in cell1, seed ``map_count`` unmapped
    instances in each of ``map_cells_``, seed the API database to ``mappings`` instance mappings
    (a tenth with request specs), make the admin's superuser."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from benchmarks.pieces.setup import compute_node, map_cells, place_servers
    from benchmarks.transports import DirectTransport
    from servers.models import RequestSpec

    map_cells_ = map_cells_ or []
    cells = map_cells(["cell1", *map_cells_])
    compute_node("cell1")
    api = DirectTransport(Client(), api_headers())
    shows = place_servers(api, servers, name="big")
    template = RequestSpec.objects.get(instance_uuid=shows[0]).spec
    template = template.replace(shows[0], "@UUID@").replace(api_headers()["X-Project-Id"], "@PROJECT@")
    for alias in map_cells_:
        seed_instances(alias, map_count, alias)
    seeder = Seeder(
        projects=projects, cell_ids=[c.id for c in cells.values() if not c.is_cell0], spec_template=template
    )
    seeded = seed_to(seeder, mappings)
    get_user_model().objects.create_superuser("bench-admin", "admin@example.com", "bench-admin-password")
    return {
        "servers": shows,
        "cells": {alias: cell.id for alias, cell in cells.items()},
        "cell_uuids": {alias: cell.uuid for alias, cell in cells.items()},
        "project": seeder.projects[1],
        "seeded": seeded,
        "counts": _counts(),
        "spec_bytes": len(template),
    }


def measure(
    *,
    servers: list[str],
    cells: dict,
    cell_uuids: dict,
    project: str,
    map_cell: str | None,
    map_count: int = 0,
    m: int = 300,
    n: int = 60,
    verify_reps: int = 60,
    admin_repeats: int = 3,
    warmup: int = 5,
    process_verify: bool = True,
    **_,
) -> dict:
    """Child task: one round of every measurement on this world (see the module's docstring)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from benchmarks.transports import DirectTransport
    from cellsv2.db import sql
    from operators.services import MAP_INSTANCES_BATCH, instances_map

    install_capture()
    try:
        api = DirectTransport(Client(), api_headers())
        admin = Client()
        admin.force_login(get_user_model().objects.get(username="bench-admin"))
        result: dict = {"calib_ms": calibrate(), "counts": _counts(), "prewarm": _maintain()}
        created: list[str] = []
        for i in range(warmup):
            api.call("GET", f"/v2.1/servers/{servers[i % len(servers)]}")
            created.append(api.call("POST", "/v2.1/servers", _create_body(f"warm-{i}"))["server"]["id"])
            _verify_command(servers[i % len(servers)])
        samples: dict[str, list[float]] = {"show": [], "create": [], "verify_instance": []}
        codes: list[int] = []
        parts = 3  # show, create and verify take turns, a third of each at a time
        for _ in range(parts):
            samples["show"] += timed(
                lambda i: api.call("GET", f"/v2.1/servers/{servers[i % len(servers)]}"), range(m // parts)
            )
            samples["create"] += timed(
                lambda i: created.append(
                    api.call("POST", "/v2.1/servers", _create_body(f"big-{len(created)}-{i}"))["server"]["id"]
                ),
                range(n // parts),
            )
            samples["verify_instance"] += timed(
                lambda i: codes.append(_verify_command(servers[i % len(servers)])), range(verify_reps // parts)
            )
        assert set(codes) == {0}, codes
        result["samples"] = samples
        result.update({name: stats(values) for name, values in samples.items()})
        for name, call in (
            ("show", lambda: api.call("GET", f"/v2.1/servers/{servers[0]}")),
            (
                "create",
                lambda: created.append(api.call("POST", "/v2.1/servers", _create_body("census"))["server"]["id"]),
            ),
            ("verify_instance", lambda: _verify_command(servers[0])),
        ):
            with captured() as rows:
                call()
            result[f"{name}_sql"] = _statements(list(rows), explain=True)
        for uuid in created:  # build requests stay few, as in a running cloud
            api.call("DELETE", f"/v2.1/servers/{uuid}")

        if process_verify:  # the command through manage.py, in a process of its own
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "manage.py", "cell_v2", "verify_instance", "--uuid", servers[0]],
                capture_output=True,
                text=True,
                timeout=300,
            )
            result["verify_process"] = {
                "exit": proc.returncode,
                "wall_s": round(time.perf_counter() - t0, 2),
                "output": (proc.stdout + proc.stderr).strip()[-300:],
            }

        if map_cell:  # map_instances of a cell whose instances have no mapping yet
            # First PostgreSQL's own limit, on a table of as many uuids as instance_mappings holds now.
            if map_count:
                result["uuid_floor"] = _uuid_floor(map_count, MAP_INSTANCES_BATCH)
            before = result["counts"]["instance_mappings"]
            io_before, wal_before = _block_io(), _wal()
            with captured() as rows:
                t0 = time.perf_counter()
                mapped = instances_map(cell_uuid=cell_uuids[map_cell])
                map_s = time.perf_counter() - t0
            assert mapped.complete and mapped.processed == mapped.mapped, mapped
            by_sql: dict[str, list] = {}
            for r in rows:
                entry = by_sql.setdefault(r["sql"][:200], [r["alias"], 0, 0.0])
                entry[1] += 1
                entry[2] += r["ms"]
            io_after, wal_after = _block_io(), _wal()
            result["map_instances"] = {
                "wal": {k: wal_after[k] - wal_before[k] for k in wal_after},
                "blocks": {
                    name: {k: io_after[name][k] - io_before[name][k] for k in ("read", "hit")} for name in io_after
                },
                "instances": mapped.mapped,
                "seconds": round(map_s, 3),
                "rate_per_s": round(mapped.mapped / map_s),
                "mappings_before": before,
                "statements": sorted(
                    ({"alias": a, "calls": c, "ms": round(t, 1), "sql": q} for q, (a, c, t) in by_sql.items()),
                    key=lambda row: -row["ms"],
                )[:8],
            }
            sql.execute("api", "ANALYZE instance_mappings")  # as autovacuum would after such a batch

        params = {"cell1": cells["cell1"], "project": project, "uuid": servers[1 % len(servers)]}
        result["admin"] = _admin_pages(admin, params, admin_repeats)
        return result
    finally:
        uninstall_capture()


# --- parent side: the runner's piece and its figures ---------------------------------------------------


def piece_big_api(run, db: str, size: dict) -> dict:
    """The runner's piece: two PostgreSQL worlds, ``small`` and ``large`` mappings, each prepared
    once, then measured ``alternations`` times, both worlds at once (a fresh child each)."""
    alternations = size.get("alternations", 2)
    map_cells = [f"cell{i}" for i in range(2, 2 + alternations)]
    sizes = {"small": size["small"], "large": size["large"]}
    worlds = {label: run.world("postgres", f"bigapi_{label}", ["cell1", *map_cells]) for label in sizes}
    keys = ("m", "n", "verify_reps", "admin_repeats", "warmup")
    try:
        prepared = {}
        for label, world in worlds.items():
            t0 = time.perf_counter()
            prepared[label] = world.child(
                "benchmarks.pieces.big_api:prepare",
                {
                    "mappings": sizes[label],
                    "projects": size.get("projects", 10_000),
                    "map_cells_": map_cells,
                    "map_count": size["map_count"],
                    "servers": size.get("servers", 10),
                },
                timeout=4 * 3600,
            )
            prepared[label]["prepare_s"] = round(time.perf_counter() - t0, 1)
        rounds: dict[str, list[dict]] = {label: [] for label in worlds}
        for r in range(alternations):
            # Both sizes at the same time, a child each: on a shared host whose speed moves by 2x
            # within minutes, two rounds one after the other would compare two different hosts.
            futures = {}
            with concurrent.futures.ThreadPoolExecutor(len(worlds)) as pool:
                for label, world in worlds.items():
                    params = {**prepared[label], **{k: size[k] for k in keys if k in size}}
                    params.update(map_cell=map_cells[r], process_verify=r == 0, map_count=size["map_count"])
                    futures[label] = pool.submit(
                        world.child, "benchmarks.pieces.big_api:measure", params, timeout=3600
                    )
            for label, future in futures.items():
                rounds[label].append(future.result())
    finally:
        for world in worlds.values():
            world.drop()
    return {"sizes": sizes, "map_count": size["map_count"], "prepared": prepared, "rounds": rounds}


def _pooled(rounds: list[dict], key: str) -> dict:
    return stats([s for r in rounds for s in r["samples"][key]])


def _pooled_admin(rounds: list[dict], page: str) -> dict:
    samples = [s for r in rounds for s in r["admin"][page]["samples"]]
    return {**stats(samples), "first_ms": max(r["admin"][page]["first_ms"] for r in rounds)}


def _server_ms(rounds: list[dict], key: str) -> float:
    """Median over the rounds of the summed "Execution Time" of one call's SELECTs' plans."""
    totals = []
    for r in rounds:
        total = 0.0
        for statement in r[f"{key}_sql"]:
            for line in statement.get("plan", []):
                if line.startswith("Execution Time:"):
                    total += float(line.split()[2])
        totals.append(total)
    return statistics.median(totals)


def _wal_per_instance(rounds: list[dict], kind: str) -> float:
    total = sum(r["map_instances"].get("wal", {}).get(kind, 0) for r in rounds)
    return total / sum(r["map_instances"]["instances"] for r in rounds)


def _rates(result: dict, key: str) -> dict[str, float]:
    """Per world (small, large): instances per second of the ``key`` measurement over all its
    rounds; a world whose rounds lack it is left out."""
    return {
        label: sum(r[key]["instances"] for r in rounds) / sum(r[key]["seconds"] for r in rounds)
        for label, rounds in result["rounds"].items()
        if all(key in r for r in rounds)
    }


def _blocks(rounds: list[dict], kind: str) -> float:
    total = sum(sum(b[kind] for b in r["map_instances"]["blocks"].values()) for r in rounds)
    return total / sum(r["map_instances"]["instances"] for r in rounds)


def figures(result: dict) -> list:
    """The piece's rows of the results table."""
    from benchmarks.report import Figure

    small, large = result["rounds"]["small"], result["rounds"]["large"]
    n_small, n_large = (result["prepared"][k]["counts"]["instance_mappings"] for k in ("small", "large"))
    sizes = f"{n_large:,} mappings vs {n_small:,}"
    out = []
    for key, name in (
        ("show", "placed server show [direct]"),
        ("create", "server create [direct]"),
        ("verify_instance", "cell_v2 verify_instance (call_command)"),
    ):
        a, b = _pooled(small, key), _pooled(large, key)
        ratio = b["median_ms"] / a["median_ms"]
        note = (
            f"{len(large[0][key + '_sql'])} queries; their server-side execution (EXPLAIN ANALYZE) "
            f"{_server_ms(large, key):.2f} ms vs {_server_ms(small, key):.2f} ms"
        )
        if key == "verify_instance" and "verify_process" in large[0]:
            proc = large[0]["verify_process"]
            note += f"; through manage.py: exit {proc['exit']}, {proc['wall_s']} s"
        out.append(
            Figure(
                "big_api",
                f"{name} at {sizes}",
                b["median_ms"],
                b["p95_ms"],
                baseline=f"{a['median_ms']:.2f} ms",
                baseline_median=a["median_ms"],
                ratio=round(ratio, 2),
                target="ratio <= 1.2",
                passed=ratio <= 1.2,
                target_ratio=1.2,
                note=note,
            )
        )
    rate = _rates(result, "map_instances")
    ratio = rate["large"] / rate["small"]
    floor_rate = _rates(result, "uuid_floor")
    floor_ratio = floor_rate["large"] / floor_rate["small"] if len(floor_rate) == 2 else None
    floor_note = (
        f"; PostgreSQL's own, random uuids into a unique index alone: {floor_ratio:.2f} "
        f"({floor_rate['large']:,.0f}/s vs {floor_rate['small']:,.0f}/s)"
        if floor_ratio is not None
        else ""
    )
    out.append(
        Figure(
            "big_api",
            f"map_instances/s, {result['map_count']:,} instances per round, {n_large:,} mappings present",
            round(rate["large"]),
            unit="instances/s",
            baseline=f"with {n_small:,} present {rate['small']:,.0f}/s",
            baseline_median=round(rate["small"]),
            ratio=round(ratio, 2),
            target="ratio >= 0.9",
            passed=ratio >= 0.9,
            target_ratio=0.9,
            note="rounds: "
            + ", ".join(f"{r['map_instances']['rate_per_s']:,}" for r in large)
            + f"; per instance mapped, blocks of instance_mappings found in shared buffers "
            f"{_blocks(large, 'hit'):.1f} vs {_blocks(small, 'hit'):.1f}, read in {_blocks(large, 'read'):.2f} "
            f"vs {_blocks(small, 'read'):.2f}; WAL per instance mapped {_wal_per_instance(large, 'bytes'):,.0f} "
            f"vs {_wal_per_instance(small, 'bytes'):,.0f} bytes, full-page images "
            f"{_wal_per_instance(large, 'fpi'):.2f} vs {_wal_per_instance(small, 'fpi'):.2f}" + floor_note,
        )
    )
    if floor_ratio is not None:
        out.append(
            Figure(
                "big_api",
                f"PostgreSQL's own limit for map_instances: the same batches of random uuids inserted into a "
                f"table of nothing but the uuids under a unique index, {n_large:,} rows present",
                round(floor_rate["large"]),
                unit="uuids/s",
                baseline=f"with {n_small:,} present {floor_rate['small']:,.0f}/s",
                baseline_median=round(floor_rate["small"]),
                ratio=round(floor_ratio, 2),
                target="(reported)",
                note="one writer; map_instances writes with two",
            )
        )
    for page in ADMIN_PAGES:
        a, b = _pooled_admin(small, page), _pooled_admin(large, page)
        judged = page in ADMIN_TARGET_PAGES
        first = large[0]["admin"][page]
        slowest = first["statements"][0] if first["statements"] else None
        out.append(
            Figure(
                "big_api",
                f"admin {page} ({first['path']}) at {n_large:,} mappings",
                b["median_ms"],
                b["p95_ms"],
                baseline=f"at {n_small:,}: {a['median_ms']:.1f} ms",
                baseline_median=a["median_ms"],
                ratio=round(b["median_ms"] / a["median_ms"], 2),
                target=f"<= {ADMIN_LIMIT_MS:.0f} ms" if judged else "(reported)",
                passed=b["median_ms"] <= ADMIN_LIMIT_MS if judged else None,
                note=f"first view {b['first_ms']:.0f} ms; {first['queries']} queries, {first['sql_ms']:.0f} ms in SQL"
                + (f", slowest {slowest['ms']:.0f} ms on {slowest['alias']}" if slowest else ""),
            )
        )
    seeded = result["prepared"]["large"]["seeded"]
    out.append(
        Figure(
            "big_api",
            f"seeding {seeded['added']:,} mappings + {seeded['specs']:,} request specs (COPY)",
            seeded["total_s"],
            unit="s",
            target="minutes, not tens",
            passed=seeded["total_s"] <= 600,
            note=f"COPY {seeded['seed_s']} s (of which generating the rows {seeded['generate_s']} s), "
            f"indexes {seeded['index_s']} s, VACUUM ANALYZE {seeded['vacuum_analyze_s']} s; "
            f"{seeded['rows_per_s']:,} mappings/s; "
            + ", ".join(f"{t} {mb:,} MB" for t, mb in seeded["size_mb"].items()),
        )
    )
    return out
