"""Constants and plain helpers shared by the tests (not fixtures: those are in conftest.py and
tests/fixtures/). Test modules import from here, never from a conftest or another test module."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError

from cellsv2.db import API_ALIAS, sql

ROOT = Path(__file__).resolve().parent.parent
ALL_DATABASES = sorted(alias for alias in settings.DATABASES if alias != "default")
CELL_ALIASES = [alias for alias in ALL_DATABASES if alias != API_ALIAS]


def on_postgres() -> bool:
    return sql.is_postgresql(API_ALIAS)


requires_postgres = pytest.mark.skipif(not on_postgres(), reason="needs PostgreSQL (row locks, parallel runners)")


@dataclass
class CommandResult:
    code: int
    out: str
    err: str


def run_command(name: str, *args: str) -> CommandResult:
    """Run a management command in-process and return its exit code and output."""
    command = load_command_class(get_commands()[name], name)
    out, err = StringIO(), StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except CommandError as exc:
        return CommandResult(exc.returncode, out.getvalue(), err.getvalue() + str(exc))
    return CommandResult(getattr(command, "exit_code", 0) or 0, out.getvalue(), err.getvalue())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clouds_yaml_write(path: Path, url: str, token: str) -> Path:
    """The README's clouds.yaml (cloud ``cellsv2``) for a server at ``url`` and an API token."""
    path.write_text(
        "clouds:\n"
        "  cellsv2:\n"
        "    auth_type: admin_token\n"
        "    auth:\n"
        f"      endpoint: {url}/v2.1\n"
        f"      token: {token}\n"
        "    identity_api_version: 3\n"
        f"    identity_endpoint_override: {url}/v2.1\n"
    )
    return path


def openstack_cli(clouds_yaml: Path, *args: str, json_output: bool = True):
    """The ``openstack`` command, with the clouds.yaml and nothing else (its JSON output, parsed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CELLSV2_", "DJANGO_"))}
    env.update(OS_CLIENT_CONFIG_FILE=str(clouds_yaml), OS_CLOUD="cellsv2")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "openstack"), *args, *(["-f", "json"] if json_output else [])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout) if json_output else result.stdout


BIN = Path(sys.executable).parent


def manage(env: dict, *args: str) -> str:
    """``manage.py ARGS`` as a separate process with ``env``; its output (the test fails if it fails)."""
    done = subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


class GunicornApi:
    """One gunicorn (2 workers) with deploy/gunicorn.conf.py, as production runs it; its stderr
    (JSON lines) in ``log``. ``env`` is the whole environment (settings module, databases, ...)."""

    def __init__(self, env: dict, name: str, data: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data / f"{name}.log"
        env = {
            **env,
            "CELLSV2_LISTEN": f"127.0.0.1:{self.port}",
            "CELLSV2_WORKERS": "2",
            "CELLSV2_THREADS": "2",
            "CELLSV2_LOG_FORMAT": "json",
            "CELLSV2_METRICS_ALLOWED_ADDRESSES": "127.0.0.1",
            "CELLSV2_HEALTHCHECK_ALLOWED_ADDRESSES": "127.0.0.1",
            "PROMETHEUS_MULTIPROC_DIR": str(data / f"{name}-metrics"),
        }
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self):
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(self.url + "/healthcheck", headers={"Accept": "application/json"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    body = json.loads(response.read())
                    assert all(r["reason"] == "OK" for r in body["reasons"]), body["reasons"]
                    return
            except (OSError, urllib.error.HTTPError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{self.log.read_text()}")
                time.sleep(0.3)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
