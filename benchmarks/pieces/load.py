"""Piece 6: under load. gunicorn (2 sync workers) on 127.0.0.1 serving our API and the floor
from the same databases, both up for the whole piece; 16 concurrent clients on key pair show,
server show (a placed server), the floor's get-by-pk and the floor's read of the same row from
the API database then from cell1's (floor_two_databases, the shape of a show with nothing else),
in rounds (runner.piece_load). Per operation: throughput, latency median / p95 / p99 over every
request of every round, errors, and the CPU per request of the gunicorn processes (/proc) and of
the client processes.

The client is 2 processes x 8 threads (so the client's own GIL is not the bottleneck), one new
connection per request (gunicorn's sync workers close it anyway) on raw sockets: one prebuilt
request, read to EOF, the status line checked; the least client CPU per request, since the
clients share the 2 cores with the server (their share is reported). Every loop stops at its
deadline or after ``max_requests``; only 127.0.0.1 is ever addressed.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.common import stats

_TICKS = os.sysconf("SC_CLK_TCK")


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
    # The same row in cell1's database, for the floor that reads two databases.
    floor.ensure_table(floor.CELL)
    row = floor.Item.objects.get(pk=pk)
    created_at = row.created_at
    row.save(using=floor.CELL, force_insert=True)
    floor.Item.objects.using(floor.CELL).filter(pk=pk).update(created_at=created_at)  # not the insert's now
    assert drv.call("GET", f"/floor/items/{pk}/two-databases")["item"]["id"] == pk
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

    def pids(self) -> list[int]:
        """The master and its workers."""
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            children = []
        return pids + [int(p) for p in children]

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its live workers (/proc; a worker that exited
        during the measure takes its share with it, hence both ends read the same pids)."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return total / _TICKS

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _request_bytes(path: str, headers: dict) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "connection")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _client_process(port: int, path: str, headers: dict, threads: int, seconds: float, max_requests: int):
    """One client process: ``threads`` loops of connect, send, read to EOF, close (raw sockets:
    the least client CPU per request). Returns latencies (s), errors, wall (s) and its CPU (s)."""
    request = _request_bytes(path, headers)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    budget = [max_requests]

    def worker():
        local, local_errors = [], []
        clock = time.perf_counter
        while clock() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            t0 = clock()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
                    conn.sendall(request)
                    chunks = []
                    while chunk := conn.recv(65536):
                        chunks.append(chunk)
                head = chunks[0][:12] if chunks else b""
                if head[9:12] != b"200":
                    local_errors.append(head[9:12].decode("latin-1") or "empty")
                    continue
            except Exception as exc:
                local_errors.append(type(exc).__name__)
                continue
            local.append(clock() - t0)
        with lock:
            latencies.extend(local)
            errors.extend(local_errors)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return latencies, errors, time.perf_counter() - t0, time.process_time() - cpu0


def drive(
    port: int,
    path: str,
    headers: dict,
    *,
    clients: int = 16,
    processes: int = 2,
    seconds: float = 10,
    max_requests: int = 200000,
    server: "Gunicorn | None" = None,
) -> dict:
    """``clients`` concurrent loops for ``seconds`` (and at most ``max_requests`` requests).

    The result holds the latencies themselves (``latencies_s``, for pooling rounds), the client
    processes' CPU and, given the ``server``, its processes' CPU over the same time.
    """
    per = clients // processes
    with ProcessPoolExecutor(processes) as pool:
        pool.submit(int).result()  # the processes exist before the clock starts
        server_cpu0 = server.cpu_seconds() if server else None
        futures = [
            pool.submit(_client_process, port, path, headers, per, seconds, max_requests // processes)
            for _ in range(processes)
        ]
        outs = [f.result() for f in futures]
        server_cpu = server.cpu_seconds() - server_cpu0 if server else None
    latencies = [x for out in outs for x in out[0]]
    errors = [x for out in outs for x in out[1]]
    wall = max(out[2] for out in outs)
    client_cpu = sum(out[3] for out in outs)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "wall_s": round(wall, 3),
        "throughput_per_s": round(len(latencies) / wall, 1),
        "client_cpu_s": round(client_cpu, 3),
        "server_cpu_s": round(server_cpu, 3) if server_cpu is not None else None,
        **stats(latencies),
        "latencies_s": latencies,
    }


def summarize(rounds: list[dict], cores: int) -> dict:
    """One operation's rounds pooled: throughput over the summed walls, latency percentiles over
    every request, errors, and CPU per request and share of the ``cores`` of clients and server."""
    latencies = sorted(x for r in rounds for x in r["latencies_s"])
    requests = sum(r["requests"] for r in rounds)
    wall = sum(r["wall_s"] for r in rounds)
    pooled = stats(latencies)
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * len(latencies) + 0.5)) - 1)] if latencies else 0.0
    client_cpu = sum(r["client_cpu_s"] for r in rounds)
    server_cpu = [r["server_cpu_s"] for r in rounds if r.get("server_cpu_s") is not None]
    out = {
        "requests": requests,
        "errors": sum(r["errors"] for r in rounds),
        "throughput_per_s": round(requests / wall, 1) if wall else 0.0,
        "median_ms": pooled["median_ms"],
        "p95_ms": pooled["p95_ms"],
        "p99_ms": round(p99 * 1e3, 3),
        "client_cpu_ms_per_request": round(client_cpu / requests * 1e3, 4) if requests else None,
        "client_cpu_share": round(client_cpu / (wall * cores), 3) if wall else None,
        "server_cpu_ms_per_request": round(sum(server_cpu) / requests * 1e3, 4) if server_cpu and requests else None,
        "server_cpu_share": round(sum(server_cpu) / (wall * cores), 3) if server_cpu and wall else None,
        "rounds": [{k: v for k, v in r.items() if k != "latencies_s"} for r in rounds],
    }
    return out
