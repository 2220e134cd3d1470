"""Shared fixtures: every test runs against the API database plus cell0, cell1 and cell2."""

import importlib
import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cellsv2.cells import (
    CELL0_UUID,
    RUNTIME_ALIAS_PREFIX,
    cell_breakers_reset,
    cells_cache_clear,
    configured_alias_url,
    scatter_gather_shutdown,
    unregister_runtime_aliases,
)
from cellsv2.dburls import sqlite_url
from flavors.models import Flavor
from tests.factories import CellMappingFactory
from tests.support import (
    ALL_DATABASES,
    CELL_ALIASES,
    ROOT,
    CommandResult,
    on_postgres,
)

pytest_plugins = [
    # A real Keystone and Glance for tests that need an OpenStack around cellsv2 (tests/cloud_services).
    "tests.cloud_services.fixtures",
    # The compute API client and topology of the servers, consoles, operators and admin tests.
    "tests.fixtures.compute",
    # cellsv2 behind a real Keystone (CELLSV2_AUTH=keystone), served by gunicorn.
    "tests.fixtures.keystone_cloud",
    # cellsv2 behind PgBouncer in transaction mode (PostgreSQL run).
    "tests.fixtures.pgbouncer",
]


assert {"cell0", "cell1", "cell2"} <= set(CELL_ALIASES), "tests need cell0 and at least two real cells"


@pytest.fixture(scope="session", autouse=True)
def _close_scatter_gather_connections(django_db_setup, django_db_blocker):
    """Close what other threads still hold before the test databases are dropped.

    Pool threads hold cell connections (closed with the pool); a thread a test started may still
    hold one too (a live server's, a client's). On PostgreSQL such a session would make the drop
    fail and leave the run's databases behind, so the sessions still open on them are ended.
    """
    yield
    scatter_gather_shutdown()
    with django_db_blocker.unblock():
        for alias in ALL_DATABASES:
            connection = connections[alias]
            # Only the run's own test databases (none were made when no test used a database).
            if (
                connection.vendor != "postgresql"
                or connection.settings_dict["NAME"] != connection.creation._get_test_db_name()
            ):
                continue
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(autouse=True)
def _fresh_cell_registry():
    """Each test starts with an empty cell cache, no cells registered at run time and every
    cell's breaker closed."""
    cells_cache_clear()
    yield
    cells_cache_clear()
    cell_breakers_reset()
    unregister_runtime_aliases()


@pytest.fixture
def cells():
    """CellMappings for cell0, cell1 and cell2 (the databases declared in test settings)."""
    return {
        alias: CellMappingFactory(
            name=alias,
            database_connection=configured_alias_url(alias),
            **({"uuid": CELL0_UUID} if alias == "cell0" else {}),
        )
        for alias in CELL_ALIASES
    }


@pytest.fixture
def default_flavors():
    """Flavors "1".."5" (a flush after a transactional test removes what the data migration made)."""
    migration = importlib.import_module("servers.migrations.0003_default_flavors")
    for flavorid, name, memory_mb, vcpus, root_gb in migration.DEFAULT_FLAVORS:
        if not Flavor.objects.filter(flavorid=flavorid).exists():
            Flavor.objects.create(
                flavorid=flavorid, name=name, memory_mb=memory_mb, vcpus=vcpus, root_gb=root_gb, ephemeral_gb=0
            )


@pytest.fixture
def runtime_connections(monkeypatch, django_db_blocker):
    """Cells registered at run time really connect (or really fail to) inside the test.

    Django's test cases refuse connections to aliases that were not declared when the test
    started, which cells registered at run time never are.
    """
    guarded = BaseDatabaseWrapper.ensure_connection
    real = django_db_blocker._real_ensure_connection

    def ensure_connection(self, *args, **kwargs):
        if self.alias.startswith(RUNTIME_ALIAS_PREFIX):
            return real(self, *args, **kwargs)
        return guarded(self, *args, **kwargs)

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", ensure_connection)


@pytest.fixture
def fresh_database_url(tmp_path, runtime_connections):
    """The URL of a new, empty database on the same server as the API database (dropped afterwards).

    Cells registered at run time from it may connect inside the test.
    """
    if not on_postgres():
        yield sqlite_url(tmp_path / f"runtime-{uuid.uuid4().hex[:8]}.sqlite3")
        return
    import psycopg

    conf = connections["api"].settings_dict
    name = f"cellsv2_runtime_{uuid.uuid4().hex[:10]}"
    dsn = dict(host=conf["HOST"] or "127.0.0.1", port=conf["PORT"] or 5432, user=conf["USER"] or "postgres")
    with psycopg.connect(dbname="postgres", autocommit=True, **dsn) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://{dsn['user']}@{dsn['host']}:{dsn['port']}/{name}"
    unregister_runtime_aliases()
    with psycopg.connect(dbname="postgres", autocommit=True, **dsn) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def standalone_databases():
    """Environment for a product process with databases of its own, outside the test databases.

    On SQLite nothing (the process makes its files under its CELLSV2_DATA_DIR); in the PostgreSQL
    run, three new databases (api, cell0, cell1) on the test server, dropped afterwards.
    """
    if not on_postgres():
        yield {}
        return
    import psycopg

    conf = connections["api"].settings_dict
    server = f"postgresql://{conf['USER'] or 'postgres'}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}"
    names = {
        alias: f"cellsv2_standalone_{os.getpid()}_{uuid.uuid4().hex[:6]}_{alias}"
        for alias in ("api", "cell0", "cell1")
    }
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
    yield {
        "CELLSV2_API_DATABASE_URL": f"{server}/{names['api']}",
        "CELLSV2_CELL_DATABASE_URLS": ",".join(f"{a}={server}/{names[a]}" for a in ("cell0", "cell1")),
    }
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- operator commands as real processes: on a terminal and through a pipe ---------------------

# What a terminal does with a progress bar: redraw a line in place (a carriage return that does
# not end a line) and, for several bars, move the cursor (escape sequences).
IN_PLACE_REDRAW = re.compile(r"\r(?!\n)")
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def screen_of(raw: str) -> str:
    """What a terminal shows once ``raw`` is written to it: carriage returns and cursor moves applied.

    Lines are right-stripped and trailing empty lines dropped. Colours are ignored.
    """
    rows: list[list[str]] = [[]]
    row = col = 0
    for token in re.split(r"(\x1b\[[0-9;?]*[A-Za-z]|\r|\n)", raw):
        if token == "\r":
            col = 0
        elif token == "\n":
            row += 1
            col = 0
            if row == len(rows):
                rows.append([])
        elif token.startswith("\x1b["):
            arg = token[2:-1]
            if token.endswith("A"):  # cursor up
                row = max(row - int(arg or 1), 0)
            elif token.endswith("K"):  # erase to the end of the line
                del rows[row][col:]
        elif token:
            line = rows[row]
            line.extend(" " * (col - len(line)))
            line[col : col + len(token)] = token
            col += len(token)
    return "\n".join("".join(line).rstrip() for line in rows).rstrip("\n")


@dataclass
class TerminalResult:
    """A command run on a pseudo-terminal: stdout and stderr interleaved, as a person sees them."""

    code: int
    raw: str  # everything written to the terminal, control characters included

    @property
    def screen(self) -> str:
        return screen_of(self.raw)

    @property
    def lines(self) -> list[str]:
        return self.screen.splitlines()

    @property
    def drew_progress(self) -> bool:
        return bool(IN_PLACE_REDRAW.search(self.raw))


class ManagePy:
    """``python manage.py ...`` as a separate process against this test run's databases."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def _argv(self, args) -> list[str]:
        return [sys.executable, "manage.py", *args]

    def terminal(
        self, *args: str, size: tuple[int, int] = (120, 40), timeout: float = 60, interrupt_when: str | None = None
    ) -> TerminalResult:
        """Run on a new pseudo-terminal of ``size`` (columns, lines) as stdin, stdout and stderr.

        (0, 0) is a terminal nobody sized, as ``script -qec`` gives when it is not in a terminal.
        With ``interrupt_when``, the operator presses Ctrl-C (SIGINT to the command's process
        group) once that text is on the terminal: for commands that run until stopped.
        """
        import fcntl
        import pty
        import select
        import signal
        import struct
        import termios
        import time

        master, slave = pty.openpty()
        columns, lines = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        env = {**self.env, "TERM": "xterm-256color"}
        try:
            process = subprocess.Popen(
                self._argv(args), cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
            )
        finally:
            os.close(slave)
        raw = b""
        deadline = time.monotonic() + timeout
        try:
            while True:
                if time.monotonic() > deadline:
                    process.kill()
                    raise AssertionError(f"manage.py {' '.join(args)} took more than {timeout}s: {raw!r}")
                ready, _, _ = select.select([master], [], [], 0.5)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                raw += chunk
                if interrupt_when is not None and interrupt_when.encode() in raw:
                    os.killpg(process.pid, signal.SIGINT)
                    interrupt_when = None
            code = process.wait(timeout=max(deadline - time.monotonic(), 1))
        finally:
            os.close(master)
            if process.poll() is None:
                process.kill()
                process.wait()
        return TerminalResult(code, raw.decode("utf-8", "replace"))

    def pipe(self, *args: str, timeout: float = 60) -> CommandResult:
        """Run with stdout and stderr each a pipe (``| tee log``, cron, systemd)."""
        done = subprocess.run(
            self._argv(args), cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        return CommandResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def manage_py(request) -> ManagePy:
    """Run operator commands as a user does: ``manage_py.terminal(...)`` or ``manage_py.pipe(...)``.

    The process reads and writes this test's databases, so the test must commit what it sets up:
    mark it ``django_db(databases=ALL_DATABASES, transaction=True)``.
    """
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        pytest.fail("manage_py needs @pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)")
    request.getfixturevalue("transactional_db")
    names = {alias: str(connections[alias].settings_dict["NAME"]) for alias in ALL_DATABASES}
    # The policy file, like the databases, is the test's to give (manage_py.env), not the shell's.
    ignored = ("DJANGO_SETTINGS_MODULE", "COLUMNS", "LINES", "CELLSV2_POLICY_FILE")
    env = {k: v for k, v in os.environ.items() if k not in ignored}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.command_settings",
        CELLSV2_TEST_DATABASE_NAMES=json.dumps(names),
        LANG="C.UTF-8",
    )
    # Python buffers a pipe: what a log sees line by line, the commands flush themselves.
    env.pop("PYTHONUNBUFFERED", None)
    return ManagePy(env)


@pytest.fixture
def down_cell(cells, tmp_path, runtime_connections):
    """A fourth cell, mapped, named "cell-down", whose database cannot be opened (an SQLite file in
    a directory that does not exist): every query in it fails at once."""
    return CellMappingFactory(
        name="cell-down", database_connection=sqlite_url(tmp_path / "no" / "such" / "dir" / "cell.sqlite3")
    )


@pytest.fixture
def policy_file(tmp_path, settings):
    """An operator's policy.yaml: ``policy_file({"rule": "check"})`` writes it and points the enforcer at it.

    Call it again to edit the file, as an operator does: the running process sees the change by the
    file's modification time, without a restart. Text is written as it is (a Nova policy.yaml);
    a dict is dumped as YAML. Afterwards the enforcer is back to Nova's defaults.
    """
    from cellsv2.api.policy import policy_reset

    path = tmp_path / "policy.yaml"

    def write(rules: dict | str) -> Path:
        before = path.stat().st_mtime_ns if path.exists() else None
        path.write_text(rules if isinstance(rules, str) else yaml.safe_dump(rules))
        # oslo.policy reloads when the modification time moves forward; two writes within the
        # file system's timestamp granularity would look unchanged, so time is moved on by 1 ms.
        if before is not None and path.stat().st_mtime_ns <= before:
            os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
        if settings.CELLSV2_POLICY_FILE != str(path):
            settings.CELLSV2_POLICY_FILE = str(path)  # builds a new enforcer at the next check
        return path

    yield write
    policy_reset()
