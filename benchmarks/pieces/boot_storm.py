"""Piece: a boot storm, end to end. PostgreSQL, cell0 + cell1 + cell2 with compute nodes, gunicorn
(2 sync workers) serving the API in worker mode, 1 or 2 ``manage.py conductor`` processes, and
``clients`` concurrent clients (threads of 2 processes, a new connection per request) POSTing
``servers`` servers (m1.tiny, an image, ``networks: none``) as fast as they are answered.

What is timed, and by whom:

- each server's request start: the client's clock (``time.time()`` before its POST);
- each server's ACTIVE: the product's own ``instances.launched_at``, stamped by the conductor
  in the transaction that makes the server ACTIVE, read from the cell databases after the run
  (so no polling of the API distorts what is measured: the driver only counts the API
  database's remaining build requests, one cheap query every 50 ms, to know when to stop);
- wall: first request start to the last ``launched_at``; servers ACTIVE/s = ACTIVE / wall;
  per-server time to ACTIVE = ``launched_at`` - its request start (median, p95).

Both clocks are this host's. After each run the databases are checked: every server in exactly
one cell and one instance mapping, none in cell0, no build request left, and on every node the
claimed vCPUs/RAM/disk equal the sum of its servers' flavors and stay within its capacity (after
allocation ratios). CPU seconds per process group (gunicorn, conductors, PostgreSQL backends of
this world, the clients) and of the whole machine are read from /proc around the storm.

Parent side (no Django): ``piece_boot_storm`` and ``storm_figures`` (registered in runner.py).
Child tasks (Django): ``prepare`` and ``check``.
"""

import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

CELLS = ["cell1", "cell2"]
NODES_PER_CELL = 4
ROOM = 2.0  # capacity for ROOM x the servers asked
FLAVOR = "1"  # m1.tiny: 1 vCPU, 512 MB, 1 GB
NOVA_PYTHON = "/tmp/nova-anchor/venv/bin/python"


# --- child tasks ----------------------------------------------------------------------------------


def prepare(servers: int, cells: list[str] = CELLS, nodes_per_cell: int = NODES_PER_CELL) -> dict:
    """Child task: cell mappings, and compute nodes in each cell sized so ROOM x ``servers``
    m1.tiny servers fit (vCPUs after the allocation ratio), their hosts mapped."""
    from django.conf import settings

    from benchmarks.pieces.setup import map_cells
    from flavors.models import Flavor
    from operators.services import hosts_discover
    from servers.services.compute_nodes import compute_node_create

    mappings = map_cells(cells)
    flavor = Flavor.objects.get(flavorid=FLAVOR)
    slots = math.ceil(servers * ROOM / (len(cells) * nodes_per_cell))
    cpu_ratio = settings.CELLSV2_ALLOCATION_RATIOS["cpu"]
    nodes = []
    for alias in cells:
        cell = mappings[alias]
        for i in range(nodes_per_cell):
            host = f"storm-{alias}-{i}"
            compute_node_create(
                cell=cell,
                host=host,
                vcpus=math.ceil(slots * flavor.vcpus / cpu_ratio),
                memory_mb=slots * flavor.memory_mb,
                local_gb=slots * flavor.root_gb,
            )
            nodes.append(host)
        hosts_discover(cell_uuid=cell.uuid)
    return {"nodes": nodes, "slots_per_node": slots, "flavor": FLAVOR}


def check(expected: list[str]) -> dict:
    """Child task: where every server ended up, and the invariants (see the module docstring).

    Reads the API database (instance_mappings, build_requests) and every cell, cell0 included.
    Returns per-server ``launched_at`` (epoch seconds) and the problems found (empty: all hold).
    """
    from django.conf import settings

    from cellsv2.cells import cell_mappings
    from cellsv2.context import target_cell
    from mappings.models import InstanceMapping
    from servers.models import BuildRequest, ComputeNode, Instance

    problems: list[str] = []
    expected_set = set(expected)
    where: dict[str, list[str]] = {}
    launched: dict[str, float] = {}
    states: dict[str, int] = {}
    in_cell0 = 0
    ratios = settings.CELLSV2_ALLOCATION_RATIOS
    nodes_checked = 0
    for cell in cell_mappings():
        with target_cell(cell):
            rows = list(
                Instance.objects.filter(deleted=0).values(
                    "uuid", "vm_state", "launched_at", "host", "node", "vcpus", "memory_mb", "root_gb", "ephemeral_gb"
                )
            )
            for row in rows:
                where.setdefault(row["uuid"], []).append(cell.name)
                states[row["vm_state"]] = states.get(row["vm_state"], 0) + 1
                if row["launched_at"] is not None and row["vm_state"] == "active":
                    launched[row["uuid"]] = row["launched_at"].timestamp()
            if cell.is_cell0:
                in_cell0 = len(rows)
                continue
            sums: dict[tuple, list[int]] = {}
            for row in rows:
                if row["host"]:
                    total = sums.setdefault((row["host"], row["node"]), [0, 0, 0, 0])
                    total[0] += row["vcpus"] or 0
                    total[1] += row["memory_mb"] or 0
                    total[2] += (row["root_gb"] or 0) + (row["ephemeral_gb"] or 0)
                    total[3] += 1
            for node in ComputeNode.objects.filter(deleted=0):
                nodes_checked += 1
                key = (node.host, node.hypervisor_hostname)
                placed = sums.pop(key, [0, 0, 0, 0])
                claimed = [node.vcpus_used, node.memory_mb_used, node.local_gb_used, node.running_vms or 0]
                if claimed != placed:
                    problems.append(f"{cell.name} {key}: claimed {claimed} != placed servers {placed}")
                caps = [
                    node.vcpus * (node.cpu_allocation_ratio or ratios["cpu"]),
                    node.memory_mb * (node.ram_allocation_ratio or ratios["ram"]),
                    node.local_gb * (node.disk_allocation_ratio or ratios["disk"]),
                ]
                if any(c > cap for c, cap in zip(claimed, caps, strict=False)):
                    problems.append(f"{cell.name} {key}: claimed {claimed[:3]} over capacity {caps}")
            for key in sums:
                problems.append(f"{cell.name}: servers on {key}, which is no live node")
    twice = sorted(u for u, cells in where.items() if len(cells) > 1)
    missing = sorted(expected_set - set(where))
    unexpected = sorted(set(where) - expected_set)
    if twice:
        problems.append(f"{len(twice)} servers in more than one cell, e.g. {twice[0]}: {where[twice[0]]}")
    if missing:
        problems.append(f"{len(missing)} servers in no cell, e.g. {missing[0]}")
    if unexpected:
        problems.append(f"{len(unexpected)} servers nobody asked for, e.g. {unexpected[0]}")
    if in_cell0:
        problems.append(f"{in_cell0} servers in cell0")
    mapping_counts: dict[str, int] = {}
    unmapped = 0
    for uuid, cell_id in InstanceMapping.objects.values_list("instance_uuid", "cell_id"):
        mapping_counts[uuid] = mapping_counts.get(uuid, 0) + 1
        unmapped += cell_id is None
    bad_mappings = [u for u in expected if mapping_counts.get(u) != 1]
    if bad_mappings:
        problems.append(f"{len(bad_mappings)} servers without exactly one instance mapping")
    if unmapped:
        problems.append(f"{unmapped} instance mappings without a cell")
    left = BuildRequest.objects.count()
    if left:
        problems.append(f"{left} build requests left")
    return {
        "launched_at": launched,
        "vm_states": states,
        "in_cell0": in_cell0,
        "nodes_checked": nodes_checked,
        "per_cell": {name: sum(1 for cells in where.values() if name in cells) for name in _names(where)},
        "problems": problems,
    }


def _names(where: dict[str, list[str]]) -> list[str]:
    return sorted({name for names in where.values() for name in names})


# --- the clients (parent side, no Django) -----------------------------------------------------------


def _client_process(port: int, headers: dict, indexes: list[int], threads: int, prefix: str):
    """POST one server per index, from ``threads`` threads; returns ([(index, uuid, start, end, error)],
    this process's CPU seconds)."""
    body_of = {
        i: json.dumps(
            {"server": {"name": f"{prefix}-{i}", "flavorRef": FLAVOR, "imageRef": _image(), "networks": "none"}}
        )
        for i in indexes
    }
    todo = list(indexes)
    lock = threading.Lock()
    out: list[tuple] = []
    hdrs = {**headers, "Content-Type": "application/json"}

    def worker():
        local = []
        while True:
            with lock:
                if not todo:
                    break
                i = todo.pop(0)
            t0 = time.time()
            uuid, error = None, None
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("POST", "/v2.1/servers", body=body_of[i], headers=hdrs)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                if response.status == 202:
                    uuid = json.loads(data)["server"]["id"]
                else:
                    error = f"{response.status} {data[:120]!r}"
            except Exception as exc:
                error = type(exc).__name__
            local.append((i, uuid, t0, time.time(), error))
        with lock:
            out.extend(local)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return out, time.process_time()


def _warm(port: int, headers: dict, calls: int = 8) -> None:
    """A few reads on each gunicorn worker first, so their first-request set-up is not the storm's."""
    for _ in range(calls):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/v2.1/servers/detail?limit=1", headers=headers)
        conn.getresponse().read()
        conn.close()


def _image() -> str:
    from benchmarks.common import IMAGE

    return IMAGE


def _fire(port: int, headers: dict, servers: int, clients: int, prefix: str) -> tuple[list[tuple], float]:
    """``clients`` concurrent clients (2 processes when there are 2 or more) POST ``servers``;
    returns the clients' rows and their CPU seconds."""
    processes = 2 if clients >= 2 else 1
    per = clients // processes
    shares = [list(range(p, servers, processes)) for p in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        futures = [pool.submit(_client_process, port, headers, share, per, prefix) for share in shares]
        outs = [f.result() for f in futures]
    return [row for rows, _ in outs for row in rows], round(sum(cpu for _, cpu in outs), 2)


# --- CPU seconds from /proc ---------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(x) for x in text]
    except OSError:
        pass
    return found


def _postgres_backends(db_prefix: str) -> list[int]:
    """Backends serving this world's databases (their process title names the database)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres:") and db_prefix in title:
                pids.append(int(entry.name))
    return pids


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine (all cores) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / _TICK, total / _TICK


class CpuMeter:
    """CPU seconds per process group between ``start()`` and ``stop()`` (processes that appear
    meanwhile count from zero)."""

    def __init__(self, groups):
        self.groups = groups  # name -> callable returning pids

    def _sample(self) -> dict[str, dict[int, float]]:
        return {name: {pid: _cpu_of(pid) for pid in pids()} for name, pids in self.groups.items()}

    def start(self):
        self.before = self._sample()
        self.machine_before = _machine_cpu()
        self.t0 = time.perf_counter()

    def sample(self):
        """Take a reading now (call while the processes are still alive)."""
        self.after = self._sample()
        self.machine_after = _machine_cpu()
        self.t1 = time.perf_counter()

    def result(self, **measured) -> dict:
        """CPU seconds per group, plus ``measured`` ones (processes that measured themselves)."""
        wall = self.t1 - self.t0
        out = {}
        for name, after in self.after.items():
            before = self.before.get(name, {})
            out[name] = round(sum(v - before.get(pid, 0.0) for pid, v in after.items()), 2)
        out.update({name: round(value, 2) for name, value in measured.items()})
        busy = self.machine_after[0] - self.machine_before[0]
        total = self.machine_after[1] - self.machine_before[1]
        cores = os.cpu_count() or 1
        ours = sum(out.values())
        return {
            "wall_s": round(wall, 2),
            "cpu_s": out,
            # The machine's busy CPU seconds that none of these processes used: other work on the host.
            "cpu_s_elsewhere": round(max(0.0, busy - ours), 2),
            "cpu_share_of_wall": {name: round(v / wall, 2) for name, v in out.items()} if wall else {},
            "machine_busy_pct": round(100 * busy / total, 1) if total else None,
            "machine_cores": cores,
        }


# --- one storm ------------------------------------------------------------------------------------


def _count_pending(api_url: str) -> int:
    import psycopg

    with psycopg.connect(api_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM build_requests").fetchone()[0]


def storm_once(run, tag: str, *, servers: int, clients: int, conductors: int, timeout: float = 900) -> dict:
    """One storm in fresh databases: prepare, start gunicorn and the conductors, fire, wait until no
    build request is left, stop everything, check the invariants. Returns the figures."""
    import psycopg

    from benchmarks.common import api_headers
    from benchmarks.pieces.load import Gunicorn
    from benchmarks.world import REPO

    world = run.world("postgres", tag, CELLS)
    procs: list[subprocess.Popen] = []
    server = None
    log = open(run.log_dir / f"storm-{tag}.log", "a")  # noqa: SIM115
    try:
        prepared = world.child("benchmarks.pieces.boot_storm:prepare", {"servers": servers})
        env = {**os.environ, **world.env(), "PYTHONPATH": str(REPO)}
        server = Gunicorn("benchmarks.wsgi:application", env, workers=2, log=log)
        profile = os.environ.get("CELLSV2_BENCH_STORM_PROFILE")  # a directory: pyinstrument per conductor
        for i in range(conductors):
            cmd = [sys.executable, "manage.py", "conductor"]
            if profile:
                cmd[1:1] = ["-m", "pyinstrument", "-o", f"{profile}/conductor-{tag}-{i}.txt"]
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log))
        time.sleep(1.0)  # the conductors are up and idle (their import time is not the storm's)
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a conductor exited with {proc.returncode}; see {log.name}")
        headers = {**api_headers(), "Host": "127.0.0.1"}
        _warm(server.port, headers)
        db_prefix = world.urls["api"].rsplit("/", 1)[1].rsplit("_", 1)[0]
        meter = CpuMeter(
            {
                "gunicorn": lambda: [server.proc.pid, *_children(server.proc.pid)],
                "conductors": lambda: [p.pid for p in procs],
                "postgres": lambda: _postgres_backends(db_prefix),
            }
        )
        meter.start()
        driver_cpu = time.process_time()
        t_fire = time.time()
        result_box: dict = {}
        firing = threading.Thread(
            target=lambda: result_box.setdefault("rows", _fire(server.port, headers, servers, clients, tag))
        )
        firing.start()
        api_url = world.urls["api"]
        deadline = time.time() + timeout
        with psycopg.connect(api_url, autocommit=True) as conn:
            while True:
                time.sleep(0.05)
                if not firing.is_alive():
                    pending = conn.execute("SELECT count(*) FROM build_requests").fetchone()[0]
                    if pending == 0:
                        break
                if time.time() > deadline:
                    break
        firing.join()
        meter.sample()
        driver_cpu = time.process_time() - driver_cpu
        t_done = time.time()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if server is not None:
            server.stop()
        log.close()
    try:
        rows, client_cpu = result_box.get("rows", ([], 0.0))
        uuids = [r[1] for r in rows if r[1]]
        checked = world.child("benchmarks.pieces.boot_storm:check", {"expected": uuids})
    finally:
        world.drop()
    cpu = meter.result(clients=client_cpu, driver=driver_cpu)
    errors = [r[4] for r in rows if r[4]]
    start_of = {r[1]: r[2] for r in rows if r[1]}
    first = min((r[2] for r in rows), default=t_fire)
    launched = checked["launched_at"]
    ttl = sorted(launched[u] - start_of[u] for u in uuids if u in launched)
    post = sorted(r[3] - r[2] for r in rows)
    last = max(launched.values(), default=first)
    wall = last - first
    active = len(ttl)
    not_active = len(uuids) - active
    return {
        "conductors": conductors,
        "servers": servers,
        "clients": clients,
        "nodes": len(prepared["nodes"]),
        "slots_per_node": prepared["slots_per_node"],
        "active": active,
        "not_active": not_active,
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "wall_s": round(wall, 3),
        "active_per_s": round(active / wall, 2) if wall > 0 else None,
        "ttl_median_s": round(statistics.median(ttl), 3) if ttl else None,
        "ttl_p95_s": round(_p95(ttl), 3) if ttl else None,
        "post_median_ms": round(statistics.median(post) * 1e3, 1) if post else None,
        "post_p95_ms": round(_p95(post) * 1e3, 1) if post else None,
        "requests_wall_s": round(max((r[3] for r in rows), default=first) - first, 3),
        "waited_s": round(t_done - t_fire, 2),
        "vm_states": checked["vm_states"],
        "per_cell": checked["per_cell"],
        "nodes_checked": checked["nodes_checked"],
        "problems": checked["problems"],
        "invariants_hold": not checked["problems"],
        "cpu": cpu,
        **_cpu_bound(cpu, active),
    }


def _cpu_bound(cpu: dict, active: int) -> dict:
    """CPU milliseconds per server ACTIVE, of the product's processes (gunicorn, conductors, their
    PostgreSQL backends) and of the conductors alone, and the rate the machine's cores could give
    at that cost if nothing else ran: the ceiling of any conductor count on this host."""
    if not active:
        return {}
    ours = sum(cpu["cpu_s"].get(name, 0.0) for name in ("gunicorn", "conductors", "postgres"))
    per_server_ms = ours / active * 1e3
    return {
        "cpu_ms_per_server": round(per_server_ms, 1),
        "conductor_cpu_ms_per_server": round(cpu["cpu_s"].get("conductors", 0.0) / active * 1e3, 1),
        "cores_bound_per_s": round(cpu["machine_cores"] * 1e3 / per_server_ms, 1) if per_server_ms else None,
    }


def _p95(sorted_values: list[float]) -> float:
    n = len(sorted_values)
    return sorted_values[min(n - 1, max(0, int(round(0.95 * n + 0.5)) - 1))]


# --- the Nova side ------------------------------------------------------------------------------------


def nova_storm(run, servers: int, clients: int, path: str | None) -> dict:
    """The Nova anchor's storm: read from ``path``, or run now (before ours, never alongside) when
    its venv and benchmarks/nova_storm.py exist; else {"available": False, "why": ...}."""
    from benchmarks.world import REPO

    if path:
        data = json.loads(Path(path).read_text())
        return {"available": True, "source": path, **data}
    script = REPO / "benchmarks" / "nova_storm.py"
    if not (Path(NOVA_PYTHON).exists() and script.exists()):
        missing = [p for p in (NOVA_PYTHON, str(script)) if not Path(p).exists()]
        return {"available": False, "why": f"missing {', '.join(missing)}"}
    out = run.log_dir / "nova_storm.json"
    cmd = [NOVA_PYTHON, str(script), "--servers", str(servers), "--clients", str(clients), "--json", str(out)]
    with open(run.log_dir / "nova_storm.log", "w") as log:
        proc = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=3600)
    if proc.returncode != 0 or not out.exists():
        return {"available": False, "why": f"nova_storm.py exited {proc.returncode}; see {log.name}"}
    return {"available": True, "source": str(out), **json.loads(out.read_text())}


# --- parent side: the piece and its figures ---------------------------------------------------------------


def piece_boot_storm(run, db: str, size: dict) -> dict:
    """1 conductor then 2, alternating ``rounds`` times, each storm in fresh databases; the Nova
    storm first (read from ``size['nova_storm']`` or run as a separate process)."""
    servers, clients = size["servers"], size["clients"]
    # Nova's fixtures run API, conductor, scheduler, Placement and computes in one process: 500
    # servers take it over 20 minutes here, and its rate only falls with the size (each claim reads
    # the host's allocations), so a smaller Nova storm flatters Nova, not us.
    nova = nova_storm(run, size.get("nova_servers", servers), clients, size.get("nova_storm"))
    storms: dict[str, list[dict]] = {"1": [], "2": []}
    for r in range(size.get("rounds", 1)):
        for k in (1, 2):
            storms[str(k)].append(storm_once(run, f"storm{k}r{r}", servers=servers, clients=clients, conductors=k))
    one, two = _pool(storms["1"]), _pool(storms["2"])
    return {
        "servers": servers,
        "clients": clients,
        "nova": nova,
        "storms": storms,
        "one": one,
        "two": two,
        "ratio_2_to_1": round(two["active_per_s"] / one["active_per_s"], 2)
        if one["active_per_s"] and two["active_per_s"]
        else None,
    }


def _pool(storms: list[dict]) -> dict:
    """Median over repeated storms of the same shape (rates, times); errors and problems summed."""

    def med(key):
        values = [s[key] for s in storms if s[key] is not None]
        return round(statistics.median(values), 3) if values else None

    return {
        "runs": len(storms),
        "active_per_s": med("active_per_s"),
        "wall_s": med("wall_s"),
        "ttl_median_s": med("ttl_median_s"),
        "ttl_p95_s": med("ttl_p95_s"),
        "errors": sum(s["errors"] for s in storms),
        "not_active": sum(s["not_active"] for s in storms),
        "problems": [p for s in storms for p in s["problems"]],
    }


def storm_figures(result: dict) -> list:
    from benchmarks.report import Figure

    one, two, nova = result["one"], result["two"], result["nova"]
    shape = f"{result['servers']} servers, {result['clients']} clients"
    figures = []
    rate = two["active_per_s"]
    if nova.get("available") and nova.get("active_per_s"):
        ratio = round(rate / nova["active_per_s"], 2) if rate else None
        figures.append(
            Figure(
                "boot_storm",
                f"servers ACTIVE/s, 2 conductors ({shape})",
                rate,
                unit="/s",
                baseline=f"Nova {nova['active_per_s']:.2f}/s",
                baseline_median=nova["active_per_s"],
                ratio=ratio,
                target=">= 10x Nova's rate",
                passed=ratio is not None and ratio >= 10,
                note=f"Nova: {nova.get('servers')} servers, wall {nova.get('wall_s')} s, "
                f"time to ACTIVE median {nova.get('ttl_median_s')} s, "
                f"p95 {nova.get('ttl_p95_s')} s, errors {nova.get('errors')}",
                target_ratio=10,
            )
        )
    else:
        figures.append(
            Figure(
                "boot_storm",
                f"servers ACTIVE/s, 2 conductors ({shape})",
                rate,
                unit="/s",
                target=">= 10x Nova's rate: not judged",
                passed=None,
                note=f"Nova figure not available ({nova.get('why', '?')})",
            )
        )
    for k, pooled in (("1", one), ("2", two)):
        figures.append(
            Figure(
                "boot_storm",
                f"time to ACTIVE, {k} conductor{'s' if k == '2' else ''}",
                pooled["ttl_median_s"],
                pooled["ttl_p95_s"],
                unit="s",
                target="reported",
                passed=None,
                note=f"wall {pooled['wall_s']} s (first request to last ACTIVE), {pooled['active_per_s']}/s, "
                f"median of {pooled['runs']} storms",
            )
        )
    ratio = result["ratio_2_to_1"]
    last = result["storms"]["2"][-1] if result["storms"]["2"] else {}
    cpu = last.get("cpu", {})
    figures.append(
        Figure(
            "boot_storm",
            "servers ACTIVE/s, 2 conductors vs 1",
            rate,
            unit="/s",
            baseline=f"1 conductor {one['active_per_s']}/s",
            baseline_median=one["active_per_s"],
            ratio=ratio,
            target=">= 1.6x",
            passed=ratio is not None and ratio >= 1.6,
            note=f"machine CPU busy {cpu.get('machine_busy_pct')}% of {cpu.get('machine_cores')} cores during the "
            f"last 2-conductor storm ({cpu.get('wall_s')} s); CPU s {cpu.get('cpu_s')}, "
            f"elsewhere on the host {cpu.get('cpu_s_elsewhere')}; {last.get('cpu_ms_per_server')} ms CPU per server "
            f"(gunicorn + conductors + PostgreSQL), so {cpu.get('machine_cores')} idle cores give at most "
            f"{last.get('cores_bound_per_s')}/s",
            target_ratio=1.6,
        )
    )
    problems = one["problems"] + two["problems"]
    figures.append(
        Figure(
            "boot_storm",
            "invariants after every storm",
            len(problems),
            unit="problems",
            target="0: each server in one cell and one mapping, none in cell0, claims = placed flavors <= capacity",
            passed=not problems,
            note="; ".join(problems[:3]),
        )
    )
    failures = one["errors"] + two["errors"] + one["not_active"] + two["not_active"]
    figures.append(
        Figure(
            "boot_storm",
            "HTTP errors + servers not ACTIVE",
            failures,
            unit="",
            target="0",
            passed=failures == 0,
            note=f"HTTP errors {one['errors'] + two['errors']}, not ACTIVE {one['not_active'] + two['not_active']}",
        )
    )
    return figures
