"""Shared fixtures: every test runs against the API database plus cell0, cell1 and cell2."""

import os
import socket
import uuid
from dataclasses import dataclass
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from cellsv2.cells import (
    CELL0_UUID,
    RUNTIME_ALIAS_PREFIX,
    cells_cache_clear,
    configured_alias_url,
    scatter_gather_shutdown,
    unregister_runtime_aliases,
)
from cellsv2.dburls import sqlite_url

# A real Keystone and Glance for tests that need an OpenStack around cellsv2 (tests/cloud_services).
pytest_plugins = ["tests.cloud_services.fixtures"]

ALL_DATABASES = sorted(alias for alias in settings.DATABASES if alias != "default")
CELL_ALIASES = [alias for alias in ALL_DATABASES if alias != "api"]

assert {"cell0", "cell1", "cell2"} <= set(CELL_ALIASES), "tests need cell0 and at least two real cells"


def on_postgres() -> bool:
    return connections["api"].vendor == "postgresql"


requires_postgres = pytest.mark.skipif(not on_postgres(), reason="needs PostgreSQL (row locks, parallel runners)")


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
            if connection.vendor != "postgresql":
                continue
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(autouse=True)
def _fresh_cell_registry():
    """Each test starts with an empty cell cache and no cells registered at run time."""
    cells_cache_clear()
    yield
    cells_cache_clear()
    unregister_runtime_aliases()


@pytest.fixture
def cells():
    """CellMappings for cell0, cell1 and cell2 (the databases declared in test settings)."""
    from mappings.models import CellMapping

    mappings = {}
    for alias in CELL_ALIASES:
        mappings[alias] = CellMapping.objects.create(
            uuid=CELL0_UUID if alias == "cell0" else str(uuid.uuid4()),
            name=alias,
            transport_url="none:///",
            database_connection=configured_alias_url(alias),
        )
    return mappings


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


@pytest.fixture
def fresh_database_url(tmp_path, monkeypatch, django_db_blocker):
    """The URL of a new, empty database on the same server as the API database (dropped afterwards).

    Cells registered at run time from it may connect inside the test.
    """
    # Django's test cases refuse connections to aliases that were not declared when the test
    # started, which cells registered at run time never are.
    guarded = BaseDatabaseWrapper.ensure_connection
    real = django_db_blocker._real_ensure_connection

    def ensure_connection(self, *args, **kwargs):
        if self.alias.startswith(RUNTIME_ALIAS_PREFIX):
            return real(self, *args, **kwargs)
        return guarded(self, *args, **kwargs)

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", ensure_connection)
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
