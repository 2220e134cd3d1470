"""Constants and plain helpers shared by the tests (not fixtures: those are in conftest.py and
tests/fixtures/). Test modules import from here, never from a conftest or another test module."""

import json
import os
import socket
import subprocess
import sys
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
