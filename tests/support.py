"""Constants and plain helpers shared by the tests (not fixtures: those are in conftest.py and
tests/fixtures/). Test modules import from here, never from a conftest or another test module."""

import socket
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
