"""CELLSV2_LOG_FORMAT=json: one JSON object per line, with the request's id, caller and route."""

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cellsv2.cells import scatter_gather_cells
from cellsv2.observability.context import log_fields, log_fields_bound
from cellsv2.observability.logs import logging_settings
from tests.support import ALL_DATABASES

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


@pytest.fixture(autouse=True)
def _noauth(settings):
    settings.CELLSV2_AUTH = "noauth"


def test_one_access_line_per_request_with_the_id_returned_to_the_client(client, cells, json_lines):
    response = client.get("/v2.1/os-keypairs/nope", HTTP_X_AUTH_TOKEN="alice:proj1")
    assert response.status_code == 404
    access = [json.loads(line) for line in json_lines() if '"cellsv2.access"' in line]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == response["x-openstack-request-id"]
    assert {k: line[k] for k in ("level", "logger", "message", "user", "project", "method", "route", "status")} == {
        "level": "INFO",
        "logger": "cellsv2.access",
        "message": "GET /v2.1/os-keypairs/nope 404",
        "user": "alice",
        "project": "proj1",
        "method": "GET",
        "route": "v2.1/os-keypairs/<str:name>",
        "status": 404,
    }
    assert line["path"] == "/v2.1/os-keypairs/nope"
    assert line["duration_ms"] > 0
    assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]


def test_lines_logged_during_a_request_carry_its_id_caller_and_route(client, cells, unreachable, json_lines):
    cell2 = unreachable("cell2")
    response = client.get("/v2.1/servers", HTTP_X_AUTH_TOKEN="alice:proj1")
    assert response.status_code == 200
    lines = [json.loads(line) for line in json_lines()]
    about_cell2 = [line for line in lines if cell2.uuid in line["message"] and line["level"] == "WARNING"]
    assert about_cell2
    for line in about_cell2:
        assert line["request_id"] == response["x-openstack-request-id"]
        assert (line["user"], line["project"], line["route"]) == ("alice", "proj1", "v2.1/servers")
        assert "status" not in line  # not known until the answer


def test_scatter_gather_threads_inherit_the_fields(cells):
    with log_fields_bound(request_id="req-inherited", user="alice"):
        seen = scatter_gather_cells(list(cells.values()), lambda cell: dict(log_fields()))
    assert all(fields["request_id"] == "req-inherited" for fields in seen.values())
    assert len(seen) == 3
    assert log_fields() == {}


def test_exceptions_are_one_json_line_with_the_traceback(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("cellsv2.test").exception("It failed")
    (line,) = [json.loads(line) for line in json_lines() if "It failed" in line]
    assert line["message"] == "It failed"
    assert "ValueError: boom" in line["exception"] and "Traceback" in line["exception"]


def test_text_mode_keeps_the_classic_lines():
    config = logging_settings("text", "WARNING")
    assert config["formatters"]["plain"]["format"] == "%(asctime)s %(levelname)s %(name)s %(message)s"
    assert "root" not in config


def test_text_mode_gives_every_app_s_lines_a_time_a_level_and_a_name(tmp_path):
    # Before, only the cellsv2 loggers had a handler: a warning of the conductor, a delete or
    # psycopg's pool came out as its bare message.
    code = (
        "import logging; logging.getLogger('servers.services.lifecycle').warning('Server x deleted');"
        "logging.getLogger('psycopg.pool').warning('error connecting in pool');"
        "logging.getLogger('keypairs.services').info('not at WARNING')"
    )
    result = command("shell", "-c", code, CELLSV2_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert len(lines) == 2, lines
    assert re.fullmatch(stamp + r" WARNING servers\.services\.lifecycle Server x deleted", lines[0]), lines
    assert re.fullmatch(stamp + r" WARNING psycopg\.pool error connecting in pool", lines[1]), lines


def command(*args, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CELLSV2_", "DJANGO_"))}
    environment.update(DJANGO_SETTINGS_MODULE="cellsv2.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_a_command_s_log_lines_are_json_in_json_mode(tmp_path):
    # An unreachable memcached: the command logs a warning, and says the cache is unreachable.
    result = command(
        "healthcheck",
        CELLSV2_LOG_FORMAT="json",
        CELLSV2_DATA_DIR=str(tmp_path),
        CELLSV2_CACHE_URL="memcached://127.0.0.1:9",
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, result
    for line in lines:
        record = json.loads(line)  # every line, tracebacks included
        assert {"timestamp", "level", "logger", "message"} <= set(record)


def test_an_unknown_format_stops_every_command_with_one_line(tmp_path):
    result = command("check", CELLSV2_LOG_FORMAT="xml", CELLSV2_DATA_DIR=str(tmp_path))
    assert result.returncode == 1
    assert "CELLSV2_LOG_FORMAT must be text or json, not 'xml'" in result.stderr
