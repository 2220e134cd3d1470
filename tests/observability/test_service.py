"""Two API processes under gunicorn (deploy/gunicorn.conf.py, production settings) sharing a cache.

A cell mapping change made by a third process (``manage.py cell_v2 update_cell --disable``)
reaches both API processes within CELLSV2_CELL_CHANGE_CHECK_SECONDS through the shared cache
(Redis, then memcached): server creates that landed in cell1 before can no longer land there
(they are buried in cell0, ERROR). The cell list is cached for an hour, so nothing but the
shared cache can tell them. The same processes show /metrics adding up every worker's counts
(multiprocess mode) and one JSON access line per request carrying the id the client got.
"""

import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.observability.helpers import parse_metrics, sample
from tests.support import GunicornApi, manage

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHECK_SECONDS = 1
IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b"
CACHES = {"redis": (6379, "redis://127.0.0.1:6379/14"), "memcached": (11211, "memcached://127.0.0.1:11211")}


def reachable(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, standalone_databases):
    """Databases migrated, cell0 and cell1 mapped, a compute node in cell1: what every process shares."""
    data = tmp_path_factory.mktemp("service")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELLSV2_", "DJANGO_", "PROMETHEUS_"))}
    env.update(standalone_databases)
    env.update(
        DJANGO_SETTINGS_MODULE="cellsv2.settings_production",
        CELLSV2_SECRET_KEY=secrets.token_urlsafe(64),
        CELLSV2_DATA_DIR=str(data),
        CELLSV2_ALLOWED_HOSTS="127.0.0.1",
        CELLSV2_SSL_REDIRECT="false",
        CELLSV2_AUTH="noauth",
        CELLSV2_CELL_CACHE_SECONDS="3600",
        CELLSV2_CELL_CHANGE_CHECK_SECONDS=str(CHECK_SECONDS),
        CELLSV2_QUOTA_INSTANCES="-1",
        CELLSV2_QUOTA_CORES="-1",
        CELLSV2_QUOTA_RAM="-1",
    )
    steps = [
        ["migrate"],
        ["collectstatic", "--noinput", "-v", "0"],
        ["cell_v2", "simple_cell_setup"],
        ["compute_nodes", "add", "--cell", "cell1", "--host", "node1", "--host-ip", "127.0.0.1"]
        + ["--vcpus", "256", "--memory-mb", "262144", "--local-gb", "4000"],
        ["cell_v2", "discover_hosts"],
    ]
    for step in steps:
        manage(env, *step)
    listing = manage(env, "cell_v2", "list_cells")
    cell1 = re.search(r"\| cell1 \| ([0-9a-f-]{36}) \|", listing).group(1)
    return type("Deployment", (), {"env": env, "data": data, "cell1": cell1})


class ApiProcess(GunicornApi):
    """One gunicorn (2 workers) with deploy/gunicorn.conf.py, called as alice of project demo (noauth)."""

    def call(self, method: str, path: str, body=None) -> tuple[int, dict, dict]:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "X-Auth-Token": "alice:demo",
                "Content-Type": "application/json",
                "X-OpenStack-Nova-API-Version": "2.37",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")

    def create_server(self) -> tuple[str, str]:
        """POST /servers (placed inline, before the answer); returns (server id, its status now)."""
        body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}
        status, headers, created = self.call("POST", "/v2.1/servers", body)
        assert status == 202, created
        uuid = created["server"]["id"]
        status, _, shown = self.call("GET", f"/v2.1/servers/{uuid}")
        assert status == 200, shown
        self.request_ids.append(headers["x-openstack-request-id"])
        return uuid, shown["server"]["status"]

    request_ids: list


def json_lines_of(text: str) -> list[str]:
    """The log's lines, less the traceback gunicorn's arbiter itself may print to stderr when TERM
    arrives while it handles another signal (``handle_term`` raising StopIteration, possibly
    chained to the exception it interrupted): gunicorn writes it with print_exc, outside any
    logger, at shutdown. Any other traceback is kept (and fails the JSON check)."""
    kept: list[str] = []
    block: list[str] = []

    def close_block():
        if block and not ("gunicorn/arbiter.py" in "\n".join(block) and "StopIteration" in block):
            kept.extend(block)
        block.clear()

    for line in (line for line in text.splitlines() if line.strip()):
        if line.startswith("{"):
            close_block()
            kept.append(line)
        elif block or line.startswith("Traceback"):
            block.append(line)
        else:
            kept.append(line)
    close_block()
    return kept


@pytest.fixture(params=sorted(CACHES))
def two_api_processes(request, deployment, tmp_path):
    port, url = CACHES[request.param]
    if not reachable(port):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{request.param} is not running on 127.0.0.1:{port}, and CI requires it")
        pytest.skip(f"{request.param} is not running on 127.0.0.1:{port}")
    env = {**deployment.env, "CELLSV2_CACHE_URL": url}
    manage(env, "cell_v2", "update_cell", "--cell_uuid", deployment.cell1, "--enable")
    processes = [ApiProcess(env, name, tmp_path) for name in ("api-a", "api-b")]
    try:
        for process in processes:
            process.request_ids = []
            process.wait_ready()
        yield env, processes
    finally:
        for process in processes:
            process.stop()


def test_a_cell_disabled_by_another_process_is_seen_by_both_within_the_check_period(two_api_processes, deployment):
    env, (a, b) = two_api_processes
    # Both processes (every worker) load the cell list and place into cell1.
    for process in (a, b):
        for _ in range(3):
            assert process.create_server()[1] == "ACTIVE"

    manage(env, "cell_v2", "update_cell", "--cell_uuid", deployment.cell1, "--disable")
    time.sleep(CHECK_SECONDS + 0.5)

    # Nothing may land in cell1 any more, whichever process and worker answers.
    for process in (a, b):
        for _ in range(4):
            assert process.create_server()[1] == "ERROR"

    # /metrics adds up both workers of a process: exactly the creates that process answered.
    with urllib.request.urlopen(a.url + "/metrics", timeout=10) as response:
        scraped = parse_metrics(response.read().decode())
    assert sample(scraped, "cellsv2_http_requests_total", route="v2.1/servers", method="POST", status="202") == 7
    assert (
        sample(
            scraped, "cellsv2_http_requests_total", route="v2.1/servers/<str:server_id>", method="GET", status="200"
        )
        == 7
    )
    assert sample(scraped, "cellsv2_conductor_placements_total", outcome="placed") == 3
    assert sample(scraped, "cellsv2_conductor_placements_total", outcome="buried") == 4
    assert sample(scraped, "cellsv2_cell_up", cell_uuid=deployment.cell1, cell_name="cell1") == 1

    # Every line gunicorn and the application wrote is JSON; one access line per request, with its id.
    a.stop()
    records = [json.loads(line) for line in json_lines_of(a.log.read_text())]
    access = [r for r in records if r["logger"] == "cellsv2.access" and r["method"] == "POST"]
    assert sorted(r["request_id"] for r in access) == sorted(a.request_ids)
    assert {(r["route"], r["status"], r["user"], r["project"]) for r in access} == {
        ("v2.1/servers", 202, "alice", "demo")
    }
    assert any(r["logger"] == "gunicorn.error" for r in records)
