"""CELLSV2_METRICS_LISTEN: the conductor's and the console proxies' own /metrics and /healthcheck."""

import json
import urllib.error
import urllib.request

import pytest

from cellsv2.observability.access import parse_networks
from cellsv2.observability.server import listen_address, metrics_server_start
from tests.observability.helpers import parse_metrics
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


@pytest.fixture
def server():
    started = metrics_server_start("127.0.0.1:0")
    yield f"http://127.0.0.1:{started.server_address[1]}"
    started.shutdown()
    started.server_close()


def get(url: str, **headers) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_off_unless_configured(settings):
    settings.CELLSV2_METRICS_LISTEN = ""
    assert metrics_server_start() is None


def test_metrics_of_this_process_only_to_the_token_or_allowed_addresses(server, cells, settings):
    settings.CELLSV2_METRICS_TOKEN = "port-token"
    assert get(server + "/metrics")[0] == 403
    status, content_type, body = get(server + "/metrics", Authorization="Bearer port-token")
    assert (status, content_type.split(";")[0]) == (200, "text/plain")
    names = {name for name, _ in parse_metrics(body)}
    assert "cellsv2_conductor_placement_failures_total" in names
    # The scrape-time series come from the API's /metrics only.
    assert not {"cellsv2_cell_up", "cellsv2_build_requests_waiting"} & names
    settings.CELLSV2_METRICS_ALLOWED_ADDRESSES = parse_networks("127.0.0.0/8")
    assert get(server + "/metrics")[0] == 200
    assert get(server + "/metrics", **{"X-Forwarded-For": "203.0.113.5"})[0] == 403


def test_healthcheck_with_oslo_s_bodies(server, cells, settings):
    assert get(server + "/healthcheck") == (200, "text/plain; charset=UTF-8", "OK")
    status, _, body = get(server + "/healthcheck", Accept="application/json")
    assert (status, json.loads(body)) == (200, {"detailed": False, "reasons": ["OK"]})
    settings.CELLSV2_HEALTHCHECK_ALLOWED_ADDRESSES = parse_networks("127.0.0.1")
    detailed = json.loads(get(server + "/healthcheck", Accept="application/json")[2])
    assert detailed["detailed"] is True and len(detailed["reasons"]) == 5
    assert get(server + "/nothing")[0] == 404


@pytest.mark.parametrize("value", ["", "8000", "host:", "host:port"])
def test_bad_listen_addresses_are_refused(value):
    with pytest.raises(ValueError, match="CELLSV2_METRICS_LISTEN must be HOST:PORT"):
        listen_address(value)


def test_listen_addresses():
    assert listen_address("127.0.0.1:9181") == ("127.0.0.1", 9181)
    assert listen_address("[::1]:9181") == ("::1", 9181)
    assert listen_address(":9181") == ("0.0.0.0", 9181)
