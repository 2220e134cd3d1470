"""benchmarks/nova_storm.py without Nova: its stdlib parts (the client process, the summary) and its
refusal to run outside Nova's virtualenv. The storm itself needs Nova's venv and is run by hand."""

import json
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks import nova_storm

SCRIPT = Path(nova_storm.__file__)


def test_outside_novas_venv_it_exits_2_and_says_how_to_run_it():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--servers", "1"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "/tmp/nova-anchor/venv/bin/python benchmarks/nova_storm.py" in proc.stderr


class _FakeNova(BaseHTTPRequestHandler):
    """POST /v2.1/servers: 202 with a new id, except every fourth request (a 500)."""

    count = 0
    lock = threading.Lock()
    bodies = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            type(self).count += 1
            n = self.count
            self.bodies.append((self.path, dict(self.headers), body))
        status, doc = (500, {"computeFault": {}}) if n % 4 == 0 else (202, {"server": {"id": str(uuid.uuid4())}})
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_client_records_every_request_and_the_summary_counts_them(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeNova)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out_path = tmp_path / "client.json"
    try:
        argv = ["--client", f"--url=http://127.0.0.1:{server.server_port}", "--servers=12", "--clients=3"]
        assert nova_storm.main([*argv, f"--client-out={out_path}"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    records = json.loads(out_path.read_text())
    assert len(records) == 12
    path, headers, body = _FakeNova.bodies[0]
    assert path == "/v2.1/servers"
    assert headers["X-Roles"] == "reader,member"
    assert body["server"]["networks"] == "none"

    accepted = {r["id"]: r for r in records if r["status"] == 202}
    assert len(accepted) == 9
    ids = sorted(accepted)
    # all ACTIVE 2 s after their request, in cell1, except one left in ERROR in cell0
    rows = {u: [("cell1", "active", accepted[u]["t0"] + 2.0, "storm-cell1-1")] for u in ids[1:]}
    rows[ids[0]] = [("cell0", "error", None, None)]
    out = {
        "records": records,
        "accepted": accepted,
        "rows": rows,
        "timed_out": False,
        "stalled": False,
        "build_requests_left": 0,
        "unmapped": 0,
        "placement": {"allocated_twice": [], "active_without_allocation": [], "over_claimed": [], "usage": {}},
        "nova_cpu_s": 1.0,
    }
    args = nova_storm.parse_args(["--servers=12", "--clients=3"])
    summary = nova_storm.summarize(args, out, 40.0, 41.0, "34.0.0")
    assert summary["target"].startswith("nova 34.0.0 ")
    assert (summary["servers"], summary["clients"], summary["errors"]) == (12, 3, 3)
    assert (summary["active"], summary["not_active"], summary["placed_twice"]) == (8, 1, 0)
    assert summary["by_cell"] == {"cell0": 1, "cell1": 8}
    assert summary["ttl_median_s"] == summary["ttl_p95_s"] == 2.0
    assert summary["wall_s"] > 2.0 and summary["active_per_s"] > 0
    json.dumps(summary)
