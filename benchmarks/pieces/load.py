"""Piece 6: under load. gunicorn (2 sync workers) on 127.0.0.1 serving our API, then the floor,
from the same databases; 16 concurrent clients for a bounded time on key pair show, server show
(a placed server) and the floor's get-by-pk. Throughput ratio to the floor, errors counted.

The client is 2 processes x 8 threads (so the client's own GIL is not the bottleneck), one new
connection per request (gunicorn's sync workers close it anyway), http.client only. Every loop
stops at its deadline or after ``max_requests``; only 127.0.0.1 is ever addressed.
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from benchmarks.common import stats


def prepare() -> dict:
    """Child task: the objects the load reads (a key pair, a placed server, a floor row)."""
    from django.test import Client

    from benchmarks import floor
    from benchmarks.common import api_headers, ssh_public_key
    from benchmarks.pieces.setup import compute_node, map_cells, place_servers
    from benchmarks.transports import DirectTransport

    map_cells(["cell1"])
    compute_node("cell1")
    floor.ensure_table()
    api = DirectTransport(Client(), api_headers())
    api.call(
        "POST", "/v2.1/os-keypairs", {"keypair": {"name": "load-key", "public_key": ssh_public_key(), "type": "ssh"}}
    )
    uuid = place_servers(api, 1, name="load")[0]
    assert api.call("GET", f"/v2.1/servers/{uuid}")["server"]["status"] == "ACTIVE"
    drv = DirectTransport(floor.floor_test_client())
    pk = drv.call("POST", "/floor/items", floor.item_body(1))["item"]["id"]
    return {"keypair": "load-key", "server": uuid, "floor_pk": pk}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(self, app: str, env: dict, workers: int = 2, log=None):
        self.port = _free_port()
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        self.proc = subprocess.Popen(
            [
                gunicorn,
                "-w",
                str(workers),
                "--worker-class",
                "sync",
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "--backlog",
                "256",
                app,
            ],
            env=env,
            stdout=log or subprocess.DEVNULL,
            stderr=log or subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"gunicorn {app} did not start") from None
                time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _client_process(port: int, path: str, headers: dict, threads: int, seconds: float, max_requests: int):
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    budget = [max_requests]

    def worker():
        local, local_errors = [], []
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status != 200:
                    local_errors.append(str(response.status))
                    continue
            except Exception as exc:
                local_errors.append(type(exc).__name__)
                continue
            local.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(local)
            errors.extend(local_errors)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return latencies, errors, time.perf_counter() - t0


def drive(
    port: int,
    path: str,
    headers: dict,
    *,
    clients: int = 16,
    processes: int = 2,
    seconds: float = 10,
    max_requests: int = 200000,
) -> dict:
    """``clients`` concurrent loops for ``seconds`` (and at most ``max_requests`` requests)."""
    per = clients // processes
    with ProcessPoolExecutor(processes) as pool:
        futures = [
            pool.submit(_client_process, port, path, headers, per, seconds, max_requests // processes)
            for _ in range(processes)
        ]
        outs = [f.result() for f in futures]
    latencies = [x for out in outs for x in out[0]]
    errors = [x for out in outs for x in out[1]]
    wall = max(out[2] for out in outs)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "wall_s": round(wall, 2),
        "throughput_per_s": round(len(latencies) / wall, 1),
        **stats(latencies),
    }
