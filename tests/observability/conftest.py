"""Fixtures of the health check, metrics and log tests: a cell made unreachable, metrics read back."""

import io
import logging

import pytest

from cellsv2.cells import cells_cache_clear
from cellsv2.dburls import sqlite_url
from cellsv2.observability import metrics
from cellsv2.observability.logs import JsonFormatter
from tests.observability.helpers import parse_metrics
from tests.support import free_port, on_postgres


def refusing_database_url(tmp_path) -> str:
    """A database URL on the test run's engine that refuses every connection."""
    if on_postgres():
        return f"postgresql://postgres@127.0.0.1:{free_port()}/nothing_listens_here"
    return sqlite_url(tmp_path / "no" / "such" / "directory" / "cell.sqlite3")


@pytest.fixture
def unreachable(cells, tmp_path, runtime_connections, settings):
    """``unreachable("cell2")`` points that cell's mapping at a database that refuses connections."""
    # A PostgreSQL pool retries a refused connection in the background until its timeout: within
    # the health check's deadline, the refusal (OperationalError) is what the caller sees.
    settings.CELLSV2_DATABASE_LIMITS = {**settings.CELLSV2_DATABASE_LIMITS, "pool_timeout": 0.5}

    def make(name: str):
        mapping = cells[name]
        mapping.database_connection = refusing_database_url(tmp_path)
        mapping.save()
        cells_cache_clear()
        return mapping

    return make


@pytest.fixture
def scrape():
    """The metrics as /metrics serves them now (this process: no gunicorn here), parsed."""

    def read() -> dict:
        return parse_metrics(metrics.exposition().decode())

    return read


@pytest.fixture
def json_lines():
    """Every record logged from now on (any logger, INFO and up), as JsonFormatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = {name: logging.getLogger(name).level for name in ("cellsv2", "cellsv2.access", "servers")}
    root.addHandler(handler)
    for name in previous:
        logging.getLogger(name).setLevel(logging.INFO)
    access = logging.getLogger("cellsv2.access")
    access_propagate = access.propagate
    access.propagate = True
    try:
        yield lambda: [line for line in stream.getvalue().splitlines() if line]
    finally:
        root.removeHandler(handler)
        access.propagate = access_propagate
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)
