"""Chaos (PostgreSQL, loopback, about two minutes): the product as deployed, under faults.

Three PostgreSQL clusters of the test's own (the API database and cell0 on one, cell1 and cell2
each on their own; cell2 reached through a proxy that can stop answering), two API processes under
gunicorn, two conductors in worker mode. Clients create, list, show and delete servers, key pairs
and server groups while the test kills cell1's postmaster with SIGKILL and restarts it, hangs
cell2 behind its proxy, kills a conductor and an API worker with SIGKILL. Then it checks what
must hold whatever happened:

- every server that got a 202 exists exactly once (in a cell, in cell0, or deleted) with exactly
  one instance mapping that names where it is, no build request is left, and after
  ``db archive_deleted_rows`` nothing of a deleted server is left in the API database;
- no compute node holds more than its capacity;
- every key pair and server group that got a 201 (and no successful delete) exists exactly once;
- no answer was a 500, and every answer came within the deadlines (plus the pool's wait).

It prints the figures: requests made, faults injected, answers by status.
"""

import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid as uuid_lib
from pathlib import Path

import pytest

from tests import pgcluster
from tests.faultproxy import HangingProxy

ROOT = Path(__file__).resolve().parents[2]
RUN_SECONDS = float(os.environ.get("CELLSV2_CHAOS_SECONDS", "60"))
DEADLINE = 4  # CELLSV2_SCATTER_GATHER_TIMEOUT of the processes
POOL_WAIT = 3  # CELLSV2_DB_POOL_TIMEOUT
# An answer may wait for a cell's deadline, then for a pooled connection, then for a restarting
# database's connect timeout; anything slower is a hang.
ANSWER_BOUND = DEADLINE + POOL_WAIT + 5 + 3
NODE_VCPUS = 64

pytestmark = [
    pytest.mark.skipif(not os.environ.get("CELLSV2_API_DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL"),
    pytest.mark.skipif(not pgcluster.available(), reason="needs PostgreSQL's initdb"),
]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Deployment:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.clusters = {name: pgcluster.PostgresCluster(max_connections=60) for name in ("api", "cell1", "cell2")}
        self.proxy: HangingProxy | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.api_ports: list[int] = []

    def env(self) -> dict[str, str]:
        api, cell1 = self.clusters["api"], self.clusters["cell1"]
        cell2 = f"postgresql://postgres@127.0.0.1:{self.proxy.port}/cell2"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CELLSV2_") and k != "DJANGO_SETTINGS_MODULE"}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "cellsv2.settings",
                "CELLSV2_DATA_DIR": str(self.workdir),
                "CELLSV2_API_DATABASE_URL": api.url("api"),
                "CELLSV2_CELL_DATABASE_URLS": f"cell0={api.url('cell0')},cell1={cell1.url('cell1')},cell2={cell2}",
                "CELLSV2_AUTH": "noauth",
                "CELLSV2_CONDUCTOR_MODE": "worker",
                "CELLSV2_SCATTER_GATHER_TIMEOUT": str(DEADLINE),
                "CELLSV2_CELL_BREAKER_SECONDS": "3",
                "CELLSV2_DB_POOL_SIZE": "6",
                "CELLSV2_DB_POOL_TIMEOUT": str(POOL_WAIT),
                "CELLSV2_DB_CONNECT_TIMEOUT": "3",
                "CELLSV2_DB_TCP_USER_TIMEOUT": "10",
                "CELLSV2_CELL_QUERY_TIMEOUT": "10",
                "CELLSV2_QUOTA_INSTANCES": "100000",
                "CELLSV2_QUOTA_CORES": "100000",
                "CELLSV2_QUOTA_RAM": "100000000",
                "CELLSV2_QUOTA_KEY_PAIRS": "100000",
                "CELLSV2_QUOTA_SERVER_GROUPS": "100000",
                "CELLSV2_SECRET_KEY": "chaos",
                "CELLSV2_ALLOWED_HOSTS": "127.0.0.1",
                "CELLSV2_LOG_LEVEL": "WARNING",
                "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "prom"),
            }
        )
        return env

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=300
        )
        if check and done.returncode:
            raise AssertionError(f"manage.py {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def start(self) -> None:
        for name, cluster in self.clusters.items():
            cluster.start()
            for db in ("api", "cell0") if name == "api" else (name,):
                cluster.psql(f"CREATE DATABASE {db}")
        self.proxy = HangingProxy(("127.0.0.1", self.clusters["cell2"].port))
        (self.workdir / "prom").mkdir(exist_ok=True)
        self.manage("migrate")
        self.manage("cell_v2", "simple_cell_setup")
        for cell in ("cell1", "cell2"):
            for n in (1, 2):
                self.manage(
                    "compute_nodes", "add", "--cell", cell, "--host", f"{cell}-host{n}",
                    "--vcpus", str(NODE_VCPUS), "--memory-mb", "1000000", "--local-gb", "100000",
                )  # fmt: skip
        self.manage("cell_v2", "discover_hosts")
        for n in range(2):
            port = _free_port()
            self.api_ports.append(port)
            self.spawn(
                f"api{n}",
                [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--log-level", "warning"],
                {
                    "CELLSV2_LISTEN": f"127.0.0.1:{port}",
                    "CELLSV2_WORKERS": "2",
                    "CELLSV2_THREADS": "4",
                    # Each server its own: a starting server empties the directory of its metrics.
                    "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / f"prom-api{n}"),
                },
            )
        for n in range(2):
            self.spawn(f"conductor{n}", [sys.executable, "manage.py", "conductor", "--interval", "0.5"])
        for port in self.api_ports:
            wait_until(lambda p=port: http("GET", p, "/v2.1/flavors")[0] == 200, 180)

    def spawn(self, name: str, argv: list[str], extra: dict | None = None) -> None:
        log = open(self.workdir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env={**self.env(), **(extra or {})}, stdout=log, stderr=log, start_new_session=True
        )

    def gunicorn_workers(self, name: str) -> list[int]:
        master = self.processes[name].pid
        found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
        return [int(pid) for pid in found]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if self.proxy is not None:
            self.proxy.close()
        for cluster in self.clusters.values():
            cluster.stop()


def wait_until(predicate, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise AssertionError("timed out waiting")


def http(method: str, port: int, path: str, body: dict | None = None, version: str = "2.71"):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Content-Type": "application/json",
            "X-Auth-Token": "alice:proj1",
            "X-OpenStack-Nova-API-Version": version,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, raw[:200]


class Clients:
    """Threads doing what users do, recording every answer."""

    def __init__(self, deployment: Deployment):
        self.deployment = deployment
        self.lock = threading.Lock()
        self.statuses: collections.Counter = collections.Counter()
        self.errors: list = []
        self.slow: list = []
        self.servers_created: set[str] = set()
        self.servers_deleted: set[str] = set()
        # DELETEs whose outcome the client cannot know (503 after the delete committed, a worker
        # killed mid-request): the server may be gone or not, never duplicated.
        self.servers_delete_unknown: set[str] = set()
        self.keypairs: dict[str, str] = {}  # name -> "live" | "deleted" | "unknown"
        self.groups: dict[str, str] = {}
        self.stop = threading.Event()

    def call(self, method, path, body=None, version="2.71"):
        port = random.choice(self.deployment.api_ports)
        began = time.monotonic()
        try:
            status, answer = http(method, port, path, body, version)
        except Exception as exc:  # a worker killed mid-request: the connection drops
            status, answer = "dropped", str(exc)
        seconds = time.monotonic() - began
        key = f"{method} {path.split('?')[0].split('/')[2] if path.count('/') > 1 else path}"
        with self.lock:
            self.statuses[(key, status)] += 1
            if status == 500 or (isinstance(status, int) and status >= 500 and status != 503):
                self.errors.append((method, path, status, answer))
            if seconds > ANSWER_BOUND:
                self.slow.append((method, path, round(seconds, 1)))
        return status, answer

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        mine: list[str] = []
        while not self.stop.is_set():
            action = rng.random()
            if action < 0.25:
                status, answer = self.call(
                    "POST", "/v2.1/servers",
                    {"server": {"name": "c", "flavorRef": "1", "imageRef": str(uuid_lib.uuid4()), "networks": "none"}},
                )  # fmt: skip
                if status == 202:
                    with self.lock:
                        self.servers_created.add(answer["server"]["id"])
                    mine.append(answer["server"]["id"])
            elif action < 0.45:
                self.call("GET", "/v2.1/servers/detail?limit=50", version=rng.choice(["2.1", "2.69", "2.71"]))
            elif action < 0.6 and mine:
                self.call("GET", f"/v2.1/servers/{rng.choice(mine)}", version=rng.choice(["2.1", "2.69"]))
            elif action < 0.7 and mine:
                target = mine.pop(rng.randrange(len(mine)))
                status, _ = self.call("DELETE", f"/v2.1/servers/{target}")
                with self.lock:
                    (self.servers_deleted if status == 204 else self.servers_delete_unknown).add(target)
            elif action < 0.8:
                name = f"kp-{uuid_lib.uuid4().hex[:12]}"
                status, _ = self.call("POST", "/v2.1/os-keypairs", {"keypair": {"name": name}}, version="2.1")
                with self.lock:
                    self.keypairs[name] = "live" if status in (200, 201) else "unknown"
                if status in (200, 201) and rng.random() < 0.4:
                    status, _ = self.call("DELETE", f"/v2.1/os-keypairs/{name}")
                    with self.lock:
                        self.keypairs[name] = "deleted" if status in (202, 204) else "unknown"
            elif action < 0.9:
                status, answer = self.call(
                    "POST", "/v2.1/os-server-groups", {"server_group": {"name": "g", "policy": "anti-affinity"}}
                )
                if status == 200:
                    uuid = answer["server_group"]["id"]
                    with self.lock:
                        self.groups[uuid] = "live"
                    if rng.random() < 0.4:
                        status, _ = self.call("DELETE", f"/v2.1/os-server-groups/{uuid}")
                        with self.lock:
                            self.groups[uuid] = "deleted" if status == 204 else "unknown"
            else:
                self.call("GET", "/v2.1/os-keypairs", version="2.35")


def faults(deployment: Deployment, clients: Clients, log: list) -> None:
    """The faults, spread over the run."""
    step = RUN_SECONDS / 8

    def at(n):
        clients.stop.wait(max(0.0, n * step - (time.monotonic() - started)))
        return not clients.stop.is_set()

    started = time.monotonic()
    if at(1):
        deployment.clusters["cell1"].kill()
        log.append("cell1 postmaster SIGKILL")
    if at(2):
        deployment.clusters["cell1"].start()
        log.append("cell1 restarted")
    if at(3):
        deployment.proxy.hang()
        log.append("cell2 hung behind its proxy")
    if at(4.5):
        deployment.proxy.resume()
        log.append("cell2 answers again")
    if at(5):
        process = deployment.processes["conductor0"]
        os.killpg(process.pid, signal.SIGKILL)
        log.append("conductor0 SIGKILL")
    if at(5.5):
        deployment.spawn("conductor0", [sys.executable, "manage.py", "conductor", "--interval", "0.5"])
        log.append("conductor0 restarted")
    if at(6):
        workers = deployment.gunicorn_workers("api0")
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            log.append("an api0 gunicorn worker SIGKILL")


def query(cluster: pgcluster.PostgresCluster, db: str, sql: str) -> list[list[str]]:
    out = cluster.psql(sql, dbname=db)
    return [line.split("|") for line in out.splitlines() if line]


def test_chaos(tmp_path_factory):
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="cellsv2-chaos-"))
    deployment = Deployment(workdir)
    try:
        deployment.start()
        clients = Clients(deployment)
        log: list[str] = []
        threads = [threading.Thread(target=clients.run, args=(n,), daemon=True) for n in range(8)]
        for thread in threads:
            thread.start()
        injector = threading.Thread(target=faults, args=(deployment, clients, log), daemon=True)
        injector.start()
        time.sleep(RUN_SECONDS)
        clients.stop.set()
        for thread in [*threads, injector]:
            thread.join(120)
        api, cell1, cell2 = (deployment.clusters[n] for n in ("api", "cell1", "cell2"))
        # The conductors drain what is still waiting.
        wait_until(lambda: query(api, "api", "SELECT count(*) FROM build_requests")[0][0] == "0", 180)
        # And the operator's archive leaves nothing of deleted servers in the API database.
        archived = deployment.manage("db", "archive_deleted_rows", "--all-cells", "--until-complete", check=False)
        assert archived.returncode in (0, 1), archived.stdout + archived.stderr

        cells = {row[1]: row[0] for row in query(api, "api", "SELECT id, name FROM cell_mappings")}
        where = {"cell0": (api, "cell0"), "cell1": (cell1, "cell1"), "cell2": (cell2, "cell2")}
        instances = collections.defaultdict(list)  # uuid -> [(cell, deleted)]
        for name, (cluster, db) in where.items():
            for uuid, deleted in query(cluster, db, "SELECT uuid, deleted FROM instances"):
                instances[uuid].append((name, deleted != "0"))
        mappings = collections.defaultdict(list)
        for uuid, cell_id, queued in query(
            api, "api", "SELECT instance_uuid, coalesce(cell_id, 0), queued_for_delete FROM instance_mappings"
        ):
            mappings[uuid].append((cell_id, queued))
        problems = []
        for uuid in clients.servers_created:
            found = instances.get(uuid, [])
            if len(found) > 1:
                problems.append(f"server {uuid} in several cells: {found}")
            mapped = mappings.get(uuid, [])
            if len(mapped) > 1:
                problems.append(f"server {uuid} has {len(mapped)} mappings")
            if found and mapped and str(mapped[0][0]) != cells[found[0][0]]:
                problems.append(f"server {uuid} mapped to cell {mapped[0][0]} but in {found[0][0]}")
            maybe_deleted = uuid in clients.servers_deleted or uuid in clients.servers_delete_unknown
            if not found and not (maybe_deleted and not mapped):
                problems.append(f"server {uuid} (202) is nowhere: mapping {mapped}")
            if uuid in clients.servers_deleted and found and not found[0][1]:
                problems.append(f"server {uuid} deleted (204) but live in {found[0][0]}")
        for name, (cluster, db) in where.items():
            for node, vcpus, used in query(
                cluster,
                db,
                "SELECT n.hypervisor_hostname, n.vcpus, coalesce(sum(i.vcpus), 0) FROM compute_nodes n "
                "LEFT JOIN instances i ON i.node = n.hypervisor_hostname AND i.deleted = 0 "
                "GROUP BY n.hypervisor_hostname, n.vcpus",
            ):
                if int(used) > int(vcpus) * 4:
                    problems.append(f"node {node} of {name} over-claimed: {used} of {vcpus} vcpus (x4)")
        live_keypairs = collections.Counter(
            row[0] for row in query(api, "api", "SELECT name FROM key_pairs WHERE user_id = 'alice'")
        )
        for name, state in clients.keypairs.items():
            if state == "live" and live_keypairs[name] != 1:
                problems.append(f"key pair {name} (201) found {live_keypairs[name]} times")
            if state == "deleted" and live_keypairs[name]:
                problems.append(f"key pair {name} deleted but still there")
        groups = collections.Counter(row[0] for row in query(api, "api", "SELECT uuid FROM instance_groups"))
        for uuid, state in clients.groups.items():
            if state == "live" and groups[uuid] != 1:
                problems.append(f"server group {uuid} (200) found {groups[uuid]} times")
            if state == "deleted" and groups[uuid]:
                problems.append(f"server group {uuid} deleted but still there")

        by_status = collections.Counter()
        for (_, status), count in clients.statuses.items():
            by_status[status] += count
        print(
            f"\nchaos: {sum(clients.statuses.values())} requests in {RUN_SECONDS:.0f} s; answers by status "
            f"{dict(sorted(by_status.items(), key=str))}; faults: {'; '.join(log)}; "
            f"servers created {len(clients.servers_created)}, deleted {len(clients.servers_deleted)} "
            f"(+{len(clients.servers_delete_unknown)} deletes with no answer or 503); "
            f"key pairs {len(clients.keypairs)}, groups {len(clients.groups)}; "
            f"500s {len(clients.errors)}; slower than {ANSWER_BOUND} s: {len(clients.slow)}"
        )
        for (key, status), count in sorted(clients.statuses.items(), key=str):
            print(f"  {key:28} {status!s:8} {count}")
        assert len(log) >= 7, log
        assert not problems, problems[:20]
        assert not clients.errors, clients.errors[:10]
        assert not clients.slow, clients.slow[:10]
    finally:
        deployment.stop()
