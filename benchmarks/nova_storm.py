"""Boot storm on Nova 34: the Nova anchor of the boot storm piece (``benchmarks/pieces/boot_storm.py``).

N servers are requested by C concurrent clients (16) over real HTTP; measured: from the first
request to the last server ACTIVE, and each server's time to ACTIVE (median, p95). N is 200 by
default: the issue's 500 take this single-process Nova 22 minutes on a 2-core host (about 1 s of CPU
per server at 200, 2.5 s at 500, as hosts fill; see benchmarks/README.md).

Runs only under the python of Nova's own virtualenv, never under ours, and imports nothing of this
project (nothing of Nova is in the repository either)::

    bash ../shared/anchors/nova/setup.sh      # /tmp/nova-anchor/venv: nova 34.0.0 + test deps, ~1 min
    /tmp/nova-anchor/venv/bin/python benchmarks/nova_storm.py --json /tmp/nova-storm.json

What runs, in this one process, started by Nova's own functional-test base class
(``nova.tests.functional.integrated_helpers._IntegratedTestBase``, eventlet mode as Nova's classic
functional tests): the real osapi_compute paste app (the wheel's api-paste.ini) served over HTTP on
127.0.0.1 by ``eventlet.wsgi`` (what the fixtures' servers use), a real nova-conductor (one, for the
API and both cells) and nova-scheduler, in-process Placement, cell0 + 2 cells (``NUMBER_OF_CELLS``),
each cell with 4 nova-computes (``--computes-per-cell``; our side's storm has 4 compute nodes per
cell) on the fake virt driver (``fake.FakeDriver``: 1000 vCPUs, 800,000 MB, 600,000 GB per host, so
capacity never decides), the oslo.messaging fake bus with asynchronous casts (not the fixture's
cast-as-call default), so a server goes BUILD -> ACTIVE after its 202 as in a deployment. SQLite
databases in memory (API, cell0, cell1, cell2), stubbed Keystone (identity from the X-Auth-User /
X-Auth-Project-Id / X-Roles headers, roles reader,member), fake Glance / Neutron / Cinder. Quotas
unlimited (-1); the shipped default policies with ``enforce_new_defaults=True``; ``debug=False``,
logging INFO to ``--log``. One scheduler option differs from Nova's defaults:
``[filter_scheduler] shuffle_best_same_weighed_hosts = True`` (identical fake hosts weigh the same
and Nova would otherwise pick the first every time, all in one cell). One fixture function is
replaced: ``CellDatabases._wrap_target_cell``, whose race fails a conductor under concurrent work in
two cells (see ``_target_cell_without_race``).

The client is a separate process (this script with ``--client``, stdlib only), so it shares neither
the GIL nor the eventlet hub with Nova: C threads, one new connection per request, each POSTing
``/v2.1/servers`` (flavor "1" = m1.tiny and the fixture's image, ``networks: "none"``,
microversion latest) until N have been requested. It records each request's start (wall clock)
and the server id of each 202.

Time to ACTIVE uses Nova's own record: the instance's ``launched_at`` in its cell database (set by
the compute right before the save that makes it ACTIVE), minus the client's start of that server's
request (same host, same clock). Nobody polls during the storm; once the client is done this
process checks the cell databases every ``--poll`` seconds (one count query per cell) only to know
when to stop waiting. Afterwards: which cell each server landed in, and the over-claim checks from
Placement (consumers allocated on more than one provider, servers in more than one cell database,
providers whose usage exceeds their capacity).

Exit status: 0 when the storm ran (HTTP errors and servers never ACTIVE are counted in the JSON,
and a warning says so on stderr); 2 with a message when it cannot run (not Nova's virtualenv, Nova
failed to start, the client process failed).
"""

import argparse
import contextlib
import datetime
import json
import math
import os
import statistics
import sys
import tempfile
import time

IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"  # GlanceFixture.image1, as our side's benchmarks.common.IMAGE
FLAVOR = "1"  # m1.tiny of DefaultFlavorsFixture (1 vCPU, 512 MB, 1 GB)
USER = "storm-user"
PROJECT = "storm-project"
SETUP_HINT = (
    "run it with Nova's virtualenv: bash ../shared/anchors/nova/setup.sh && "
    "/tmp/nova-anchor/venv/bin/python benchmarks/nova_storm.py --json /tmp/nova-storm.json"
)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--servers",
        type=int,
        default=200,
        help="servers requested in all (200: the issue's 500 take Nova's fixtures 22 minutes here)",
    )
    ap.add_argument("--clients", type=int, default=16, help="concurrent client threads (16)")
    ap.add_argument("--cells", type=int, default=2, help="cells with compute capacity, besides cell0 (2)")
    ap.add_argument(
        "--computes-per-cell",
        type=int,
        default=4,
        help="fake computes in each cell (4, as the compute nodes of our side's storm)",
    )
    ap.add_argument("--json", default=None, metavar="PATH", help="write the result here")
    ap.add_argument(
        "--timeout", type=float, default=1200, help="seconds from the first request until the storm is given up (1200)"
    )
    ap.add_argument("--poll", type=float, default=0.5, help="seconds between cell checks after the last request (0.5)")
    ap.add_argument(
        "--stall",
        type=float,
        default=60,
        help="after the last request, seconds without a server reaching ACTIVE or ERROR before giving up (60)",
    )
    ap.add_argument("--log", default="/tmp/nova-storm.log", help="Nova's log, INFO (/tmp/nova-storm.log; - = stderr)")
    ap.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    # the client process (this script again, started by the Nova side)
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--client-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.servers < 1 or args.clients < 1 or args.cells < 1 or args.computes_per_cell < 1:
        ap.error("--servers, --clients, --cells and --computes-per-cell must be >= 1")
    return args


def percentile(samples, p):
    """Nearest rank, as the Nova anchor's nova_bench.py."""
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, math.ceil(p * len(s)) - 1))]


def calibrate():
    """The anchor's host-speed probe (ms, min of 5): JSON dumps/loads of a fixed document."""
    doc = {f"k{i}": [i, str(i), {"x": i * 1.5}] for i in range(200)}
    best = None
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(200):
            json.loads(json.dumps(doc))
        dt = (time.perf_counter() - t0) * 1e3
        best = dt if best is None else min(best, dt)
    return round(best, 2)


# --------------------------------------------------------------------------------------------------
# the client: a separate process, stdlib only
# --------------------------------------------------------------------------------------------------


def run_client(args):
    """POST /v2.1/servers from ``--clients`` threads until ``--servers`` were requested; write
    one record per request (wall-clock start and end, status, server id) to ``--client-out``."""
    import http.client
    import itertools
    import threading
    from urllib.parse import urlsplit

    url = urlsplit(args.url)
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-Auth-User": USER,
        "X-Auth-Project-Id": PROJECT,
        "X-Roles": "reader,member",
        "OpenStack-API-Version": "compute latest",
        "Connection": "close",
    }
    numbers = itertools.count()
    lock = threading.Lock()
    barrier = threading.Barrier(args.clients)
    records = []

    def worker():
        barrier.wait()
        while True:
            with lock:
                i = next(numbers)
            if i >= args.servers:
                return
            body = json.dumps(
                {"server": {"name": f"storm-{i}", "flavorRef": FLAVOR, "imageRef": IMAGE, "networks": "none"}}
            )
            rec = {"i": i, "t0": time.time()}
            try:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
                conn.request("POST", "/v2.1/servers", body, headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                rec["status"] = resp.status
                if resp.status == 202:
                    rec["id"] = json.loads(data)["server"]["id"]
                else:
                    rec["error"] = data[:300].decode("utf-8", "replace")
            except Exception as e:  # an HTTP error of the storm: counted, the storm goes on
                rec["status"] = 0
                rec["error"] = f"{type(e).__name__}: {e}"[:300]
            rec["t1"] = time.time()
            with lock:
                records.append(rec)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(args.client_out, "w") as f:
        json.dump(records, f)
    return 0


# --------------------------------------------------------------------------------------------------
# the Nova side
# --------------------------------------------------------------------------------------------------


def _utc_epoch(value):
    """A naive UTC datetime column (SQLite returns it as text) -> seconds since the epoch."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value.replace(tzinfo=datetime.UTC).timestamp()


@contextlib.contextmanager
def _target_cell_without_race(celldbs, context, cell_mapping):
    """``CellDatabases._wrap_target_cell`` of Nova's fixture with its race closed.

    The fixture points the process-global "current cell" database at the targeted cell (for code
    that reaches the database without a targeted context), under a reader-writer lock: a write
    lock to switch, then a read lock held while the caller works. It releases the write lock before
    taking the read lock; a waiting writer switches to its own cell in between, and after three
    such losses the fixture's generator ends without yielding ("generator didn't yield" in the
    conductor). Under a storm over two cells that happens within seconds. Here the switch keeps the
    lock across: the writer takes its read lock before letting the write lock go (the lock lets a
    writer become a reader), so the body always runs with its cell current, as the fixture intends.
    """
    lock = celldbs._cell_lock
    desired = celldbs._ctxt_mgrs[cell_mapping.database_connection] if cell_mapping else celldbs._default_ctxt_mgr
    with lock.read_lock():
        if celldbs._last_ctxt_mgr == desired:
            with celldbs._real_target_cell(context, cell_mapping) as cctxt:
                yield cctxt
            return
    lock.acquire_write_lock()
    try:
        celldbs._last_ctxt_mgr = desired
        lock.acquire_read_lock()
    finally:
        lock.release_write_lock()
    try:
        with celldbs._real_target_cell(context, cell_mapping) as cctxt:
            yield cctxt
    finally:
        lock.release_read_lock()
        with lock.write_lock():
            celldbs._last_ctxt_mgr = celldbs._default_ctxt_mgr


def _storm_case(args, out):
    """The storm as a Nova functional test case (Nova imported here: after the eventlet choice)."""
    import logging
    import subprocess

    import eventlet
    import eventlet.wsgi
    import sqlalchemy as sa
    from nova import context as nova_context
    from nova import policy as nova_policy
    from nova.db.api import api as api_db
    from nova.db.main import api as main_db
    from nova.tests import fixtures as nova_fixtures
    from nova.tests.functional import integrated_helpers

    nova_fixtures.CellDatabases._wrap_target_cell = _target_cell_without_race

    class NovaStorm(integrated_helpers._IntegratedTestBase):
        CAST_AS_CALL = False  # casts are asynchronous: BUILD -> ACTIVE after the 202, as deployed
        NUMBER_OF_CELLS = args.cells
        ADMIN_API = False

        def _setup_services(self):
            # the wheel installs api-paste.ini under <venv>/etc/nova, not where ConfFixture looks
            paste = os.path.join(sys.prefix, "etc", "nova", "api-paste.ini")
            if os.path.exists(paste):
                self.flags(api_paste_config=paste, group="wsgi")
            # ConfFixture's default is SmallFakeDriver (2 vCPUs): the fake driver's big host instead
            self.flags(compute_driver="fake.FakeDriver")
            # identical fake hosts weigh the same, and Nova's default then always picks the first
            # one (in one cell); breaking ties at random spreads the storm over both cells
            self.flags(shuffle_best_same_weighed_hosts=True, group="filter_scheduler")
            for opt in ("instances", "cores", "ram"):
                self.flags(**{opt: -1, "group": "quota"})
            super()._setup_services()
            self.flags(debug=False)  # OSAPIFixture forces debug=True; production's default is False
            # Placement's fixture flips oslo.policy's shared default to enforce_new_defaults=False;
            # Nova's production default is True (as nova_server.py of the anchor does)
            self.flags(enforce_new_defaults=True, group="oslo_policy")
            nova_policy.reset()
            nova_policy.init(suppress_deprecation_warnings=True)

        def _setup_compute_service(self):
            first = None
            for c in range(1, args.cells + 1):
                for k in range(args.computes_per_cell):
                    compute = self._start_compute(f"storm-cell{c}-{k + 1}", cell_name=f"cell{c}")
                    first = first or compute
            return first

        def _logging(self):
            root = logging.getLogger()
            for h in root.handlers:  # the fixture's in-memory handlers
                h.setLevel(logging.CRITICAL + 1)
            if args.log == "-":
                handler = logging.StreamHandler(sys.stderr)
            else:
                handler = logging.FileHandler(args.log, mode="w")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
            level = getattr(logging, args.log_level)
            handler.setLevel(level)
            root.addHandler(handler)
            root.setLevel(level)
            self.addCleanup(root.removeHandler, handler)

        def _cells(self):
            return sorted(self.cell_mappings.items())

        def _finished(self):
            """Instances in a final state (active or error), all cells: one count query per cell."""
            ctxt = nova_context.get_admin_context()
            done = 0
            for _, cell in self._cells():
                with nova_context.target_cell(ctxt, cell) as cctxt:
                    with main_db.get_context_manager(cctxt).reader.using(cctxt) as session:
                        done += session.execute(
                            sa.text(
                                "SELECT count(*) FROM instances WHERE deleted = 0 AND vm_state IN ('active', 'error')"
                            )
                        ).scalar()
            return done

        def _instances(self):
            """{uuid: [(cell, vm_state, launched_at epoch, host), ...]} from every cell database."""
            ctxt = nova_context.get_admin_context()
            rows = {}
            for name, cell in self._cells():
                with nova_context.target_cell(ctxt, cell) as cctxt:
                    with main_db.get_context_manager(cctxt).reader.using(cctxt) as session:
                        result = session.execute(
                            sa.text("SELECT uuid, vm_state, launched_at, host FROM instances WHERE deleted = 0")
                        )
                        for uuid, vm_state, launched_at, host in result:
                            rows.setdefault(uuid, []).append((name, vm_state, _utc_epoch(launched_at), host))
            return rows

        def _api_counts(self):
            ctxt = nova_context.get_admin_context()
            with api_db.context_manager.reader.using(ctxt) as session:
                build_requests = session.execute(sa.text("SELECT count(*) FROM build_requests")).scalar()
                unmapped = session.execute(
                    sa.text("SELECT count(*) FROM instance_mappings WHERE cell_id IS NULL")
                ).scalar()
            return build_requests, unmapped

        def _placement_check(self, active):
            """Allocations per consumer over all providers, and each provider's usage vs capacity."""
            consumers = {}
            over_claimed = []
            usage = {}
            for rp in self._get_all_providers():
                allocations = self.placement.get(f"/resource_providers/{rp['uuid']}/allocations").body["allocations"]
                for consumer in allocations:
                    consumers.setdefault(consumer, []).append(rp["name"])
                usages = self._get_provider_usages(rp["uuid"])
                usage[rp["name"]] = usages
                for rc, inv in self._get_provider_inventory(rp["uuid"]).items():
                    capacity = (inv["total"] - inv["reserved"]) * inv["allocation_ratio"]
                    if usages.get(rc, 0) > capacity:
                        over_claimed.append(f"{rp['name']}:{rc} {usages[rc]} > {capacity:g}")
            return {
                "allocated_twice": sorted(c for c, rps in consumers.items() if len(rps) > 1),
                "active_without_allocation": sorted(u for u in active if u not in consumers),
                "over_claimed": over_claimed,
                "usage": usage,
            }

        def test_storm(self):
            self._logging()
            sock = eventlet.listen(("127.0.0.1", 0), backlog=128)
            port = sock.getsockname()[1]
            server = eventlet.spawn(
                eventlet.wsgi.server,
                sock,
                self.api_fixture.app(),
                log=logging.getLogger("eventlet.wsgi.server"),
                log_output=False,
                custom_pool=eventlet.GreenPool(200),
                debug=False,
                keepalive=True,
            )
            client_out = tempfile.NamedTemporaryFile(prefix="nova-storm-client-", suffix=".json", delete=False).name
            self.addCleanup(os.unlink, client_out)
            cpu0 = time.process_time()
            started = time.time()
            client = subprocess.Popen(
                [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--client",
                    f"--url=http://127.0.0.1:{port}",
                    f"--servers={args.servers}",
                    f"--clients={args.clients}",
                    f"--client-out={client_out}",
                ]
            )
            deadline = started + args.timeout
            while client.poll() is None:
                if time.time() > deadline:
                    client.kill()
                    client.wait()
                    raise RuntimeError(f"the client did not finish its requests within --timeout {args.timeout:g} s")
                eventlet.sleep(0.2)
            if client.returncode != 0:
                raise RuntimeError(f"the client process failed (exit {client.returncode})")
            with open(client_out) as f:
                records = json.load(f)
            accepted = {r["id"]: r for r in records if r["status"] == 202}
            # the client is done: wait (cheap count queries) until every accepted server is final
            timed_out = stalled = False
            done, progress_at = self._finished(), time.time()
            while done < len(accepted):
                if time.time() > deadline:
                    timed_out = True
                    break
                if time.time() - progress_at > args.stall:
                    stalled = True
                    break
                eventlet.sleep(args.poll)
                now_done = self._finished()
                if now_done != done:
                    done, progress_at = now_done, time.time()
            out["nova_cpu_s"] = round(time.process_time() - cpu0, 1)
            server.kill()
            sock.close()
            rows = self._instances()
            build_requests, unmapped = self._api_counts()
            placement = self._placement_check([u for u, rs in rows.items() if any(r[1] == "active" for r in rs)])
            out.update(
                records=records,
                accepted=accepted,
                rows=rows,
                timed_out=timed_out,
                stalled=stalled,
                build_requests_left=build_requests,
                unmapped=unmapped,
                placement=placement,
            )
            # cleanups run last in, first out: silence the teardown chatter first
            self.addCleanup(logging.disable, logging.CRITICAL)

    return NovaStorm


def summarize(args, out, calib_before, calib_after, nova_version):
    """The JSON of the run from the client's records, the cell rows and the Placement check."""
    records, accepted, rows = out["records"], out["accepted"], out["rows"]
    errors = [r for r in records if r["status"] != 202]
    ttl, launched, by_cell = [], [], {}
    placed_twice = set(out["placement"]["allocated_twice"])
    for uuid, rec in accepted.items():
        found = rows.get(uuid, [])
        if len(found) > 1:
            placed_twice.add(uuid)
        for cell, vm_state, launched_at, _host in found:
            by_cell[cell] = by_cell.get(cell, 0) + 1
            if vm_state == "active" and launched_at is not None:
                ttl.append(launched_at - rec["t0"])
                launched.append(launched_at)
    first = min(r["t0"] for r in records)
    last_accept = max((r["t1"] for r in accepted.values()), default=first)
    wall = (max(launched) - first) if launched else None
    post = [r["t1"] - r["t0"] for r in accepted.values()]
    stray = sorted(set(rows) - set(accepted))
    return {
        "target": (
            f"nova {nova_version} functional-test fixtures (_IntegratedTestBase, eventlet.wsgi on 127.0.0.1, "
            f"conductor + scheduler + in-process placement, cell0 + {args.cells} cells x "
            f"{args.computes_per_cell} fake compute, in-memory SQLite, fake RPC, casts async)"
        ),
        "servers": args.servers,
        "clients": args.clients,
        "cells": args.cells,
        "computes_per_cell": args.computes_per_cell,
        "wall_s": round(wall, 2) if wall is not None else None,
        "active_per_s": round(len(ttl) / wall, 2) if wall else None,
        "ttl_median_s": round(statistics.median(ttl), 3) if ttl else None,
        "ttl_p95_s": round(percentile(ttl, 0.95), 3) if ttl else None,
        "accept_s": round(last_accept - first, 2),
        "post_median_ms": round(statistics.median(post) * 1e3, 1) if post else None,
        "post_p95_ms": round(percentile(post, 0.95) * 1e3, 1) if post else None,
        "errors": len(errors),
        "error_samples": sorted({f"{r['status']} {r.get('error', '')}"[:200] for r in errors})[:5],
        "active": len(ttl),
        "not_active": len(accepted) - len(ttl),
        "timed_out": out["timed_out"],
        "stalled": out["stalled"],
        "by_cell": by_cell,
        "placed_twice": len(placed_twice),
        "over_claimed": out["placement"]["over_claimed"],
        "active_without_allocation": len(out["placement"]["active_without_allocation"]),
        "provider_usage": out["placement"]["usage"],
        "build_requests_left": out["build_requests_left"],
        "unmapped": out["unmapped"],
        "stray_instances": len(stray),
        "nova_cpu_s": out["nova_cpu_s"],
        "timing": "time to ACTIVE = instance launched_at (cell database, set by the compute) - client request start",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "calib_ms": calib_before,
        "calib_ms_before": calib_before,
        "calib_ms_after": calib_after,
    }


def run_nova(args):
    # decided before nova's test package is imported (importing it monkey-patches): eventlet mode,
    # as Nova's classic functional tests (in-memory SQLite, eventlet.wsgi)
    os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"] = "0"
    os.environ["OS_TEST_TIMEOUT"] = "0"  # oslotest: no per-test timeout
    for var in ("OS_STDOUT_CAPTURE", "OS_STDERR_CAPTURE", "OS_LOG_CAPTURE"):
        os.environ.pop(var, None)
    try:
        from nova.tests.functional import integrated_helpers  # noqa: F401  (here: to tell "not Nova's venv")
    except ImportError as e:
        print(f"nova_storm: cannot import Nova's functional tests ({e}); {SETUP_HINT}", file=sys.stderr)
        return 2
    if args.log != "-":
        os.makedirs(os.path.dirname(os.path.abspath(args.log)), exist_ok=True)
    import logging

    import nova.version
    import testtools

    calib_before = calibrate()
    out = {}
    case = _storm_case(args, out)("test_storm")
    result = testtools.TestResult()
    case.run(result)
    logging.disable(logging.CRITICAL)
    for kind, errs in (("error", result.errors), ("failure", result.failures)):
        for test, tb in errs:
            print(f"nova_storm: {kind} in {test.id()}:\n{tb}", file=sys.stderr)
    if not result.wasSuccessful() or "records" not in out:
        print("nova_storm: the storm could not run (see above and the log: " + args.log + ")", file=sys.stderr)
        return 2
    summary = summarize(args, out, calib_before, calibrate(), nova.version.version_string())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    s = summary

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    print(
        f"nova storm: {s['servers']} servers, {s['clients']} clients, cell0 + {s['cells']} cells: "
        f"wall {fmt(s['wall_s'], '.1f')} s, {fmt(s['active_per_s'], '.2f')} ACTIVE/s, time to ACTIVE median "
        f"{fmt(s['ttl_median_s'], '.2f')} s p95 {fmt(s['ttl_p95_s'], '.2f')} s, POST median "
        f"{fmt(s['post_median_ms'], '.0f')} ms, errors {s['errors']}, not active {s['not_active']}, "
        f"placed twice {s['placed_twice']}, over-claimed {len(s['over_claimed'])}, by cell {s['by_cell']}, "
        f"nova cpu {s['nova_cpu_s']} s, calib {s['calib_ms_before']}/{s['calib_ms_after']} ms",
        flush=True,
    )
    if s["errors"] or s["not_active"] or s["placed_twice"] or s["over_claimed"]:
        # the storm ran: its figures (and what went wrong) are in the JSON; only "cannot run" fails
        reason = "timed out" if s["timed_out"] else "stalled" if s["stalled"] else "finished"
        print(
            f"nova_storm: WARNING: the storm {reason} incomplete: {s['errors']} HTTP errors "
            f"{s['error_samples']}, {s['not_active']} accepted servers not ACTIVE, {s['placed_twice']} placed "
            f"twice, over-claimed {s['over_claimed']}",
            file=sys.stderr,
        )
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.client:
        return run_client(args)
    return run_nova(args)


if __name__ == "__main__":
    sys.exit(main())
