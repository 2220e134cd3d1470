"""/healthcheck answers as oslo.middleware's healthcheck does, and manage.py healthcheck likewise."""

import json

import pytest
from django.contrib.auth import get_user_model

from cellsv2.observability.access import parse_networks
from cellsv2.observability.health import negotiate
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def oslo_json(body: dict) -> str:
    """oslo.middleware's JSON: indent 4, sorted keys."""
    return json.dumps(body, indent=4, sort_keys=True)


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(user)
    return user


class TestHealthy:
    def test_get_is_200_ok_in_plain_text(self, client, cells):
        response = client.get("/healthcheck")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; charset=UTF-8"
        assert response.content == b"OK"
        assert "no-cache" in response["Cache-Control"]

    def test_head_is_204_with_no_body(self, client, cells):
        response = client.head("/healthcheck")
        assert response.status_code == 204
        assert response.content == b""

    def test_json_and_html_by_accept(self, client, cells):
        response = client.get("/healthcheck", HTTP_ACCEPT="application/json")
        assert response["Content-Type"] == "application/json; charset=UTF-8"
        assert response.content.decode() == oslo_json({"detailed": False, "reasons": ["OK"]})
        page = client.get("/healthcheck", HTTP_ACCEPT=BROWSER)
        assert page["Content-Type"] == "text/html; charset=UTF-8"
        html = page.content.decode()
        assert "<TITLE>Healthcheck Status</TITLE>" in html and "<H2>Result of 1 checks:</H2>" in html
        assert "<TD>OK</TD>" in html and "Server status" not in html

    @pytest.mark.parametrize(
        ("accept", "chosen"),
        [
            (None, "text/plain"),
            ("*/*", "text/plain"),
            ("image/png", "text/plain"),  # nothing acceptable: text, never a 406
            ("application/json, text/plain, */*", "text/plain"),  # a tie goes to oslo's first offer
            ("application/json;q=0.9, text/plain;q=0.5", "application/json"),
            ("application/*", "application/json"),
            (BROWSER, "text/html"),
            ("text/*;q=0.1, application/json;q=0", "text/plain"),
        ],
    )
    def test_accept_is_negotiated_as_webob_does_for_oslo(self, accept, chosen):
        assert negotiate(accept) == chosen

    def test_other_methods_are_refused(self, client, cells):
        assert client.post("/healthcheck").status_code == 405


class TestDetail:
    def test_anonymous_callers_get_no_detail(self, client, cells):
        body = json.loads(client.get("/healthcheck", HTTP_ACCEPT="application/json").content)
        assert body == {"detailed": False, "reasons": ["OK"]}

    def test_a_staff_session_gets_every_check_with_its_latency(self, client, cells, staff):
        body = json.loads(client.get("/healthcheck", HTTP_ACCEPT="application/json").content)
        assert body["detailed"] is True
        assert set(body) == {
            "detailed",
            "gc",
            "greenthreads",
            "now",
            "platform",
            "python_version",
            "reasons",
            "threads",
        }
        kinds = [reason["class"] for reason in body["reasons"]]
        assert kinds == ["ApiDatabaseCheck", "CellCheck", "CellCheck", "CellCheck", "CacheCheck"]
        assert all(reason["reason"] == "OK" for reason in body["reasons"])
        assert body["reasons"][0]["details"].startswith("api: SELECT 1 in ")
        for name, reason in zip(("cell0", "cell1", "cell2"), body["reasons"][1:4], strict=True):
            assert reason["details"].startswith(f"{name} ({cells[name].uuid}): SELECT 1 in ")
            assert reason["details"].endswith(" ms")
        html = client.get("/healthcheck", HTTP_ACCEPT=BROWSER).content.decode()
        assert "<H1>Server status</H1>" in html and "<TD>CellCheck</TD>" in html

    def test_a_user_who_is_not_staff_gets_no_detail(self, client, cells):
        client.force_login(get_user_model().objects.create_user("someone", password="pw"))
        body = json.loads(client.get("/healthcheck", HTTP_ACCEPT="application/json").content)
        assert body["detailed"] is False

    def test_allowed_addresses_get_detail_unless_a_proxy_relayed_them(self, client, cells, settings):
        settings.CELLSV2_HEALTHCHECK_ALLOWED_ADDRESSES = parse_networks("10.1.0.0/16, 127.0.0.1")

        def detailed(**meta):
            return json.loads(client.get("/healthcheck", HTTP_ACCEPT="application/json", **meta).content)["detailed"]

        assert detailed(REMOTE_ADDR="10.1.2.3") is True
        assert detailed(REMOTE_ADDR="127.0.0.1") is True
        assert detailed(REMOTE_ADDR="10.2.0.1") is False
        # Through the load balancer: its address says nothing about the client's.
        assert detailed(REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.9") is False


class TestUnhealthy:
    def test_a_cell_down_is_named_and_the_api_stays_in_rotation(self, client, cells, unreachable, staff):
        cell2 = unreachable("cell2")
        response = client.get("/healthcheck", HTTP_ACCEPT="application/json")
        # Every API node sees the same cell down: a 503 would take them all out of rotation.
        assert response.status_code == 200
        body = json.loads(response.content)
        down = [r for r in body["reasons"] if r["reason"] != "OK"]
        assert down == [
            {"class": "CellCheck", "reason": f"Cell cell2 ({cell2.uuid}) unreachable", "details": down[0]["details"]}
        ]
        assert down[0]["details"].startswith(f"cell2 ({cell2.uuid}): OperationalError")
        client.logout()
        response = client.get("/healthcheck")
        assert (response.status_code, response.content.decode()) == (200, f"Cell cell2 ({cell2.uuid}) unreachable")
        assert client.head("/healthcheck").status_code == 204

    def test_a_cell_down_is_a_503_when_configured_so(self, client, cells, unreachable, settings):
        settings.CELLSV2_HEALTHCHECK_CELL_DOWN = "unhealthy"
        cell1 = unreachable("cell1")
        response = client.get("/healthcheck", HTTP_ACCEPT="application/json")
        assert response.status_code == 503
        assert json.loads(response.content) == {
            "detailed": False,
            "reasons": [f"Cell cell1 ({cell1.uuid}) unreachable"],
        }
        assert client.head("/healthcheck").status_code == 503

    def test_cell0_down_is_a_503(self, client, cells, unreachable):
        cell0 = unreachable("cell0")
        response = client.get("/healthcheck")
        assert response.status_code == 503
        assert response.content.decode() == f"Cell cell0 ({cell0.uuid}) unreachable"
        head = client.head("/healthcheck")
        assert (head.status_code, head.content) == (503, b"")

    def test_the_disable_file_takes_the_node_out(self, client, cells, settings, tmp_path):
        settings.CELLSV2_HEALTHCHECK_DISABLE_FILE = str(tmp_path / "drain")
        assert client.get("/healthcheck").status_code == 200
        (tmp_path / "drain").touch()
        response = client.get("/healthcheck")
        assert (response.status_code, response.content) == (503, b"DISABLED BY FILE")


class TestCommand:
    def test_healthy_exits_0_with_a_line_per_check(self, cells):
        result = run_command("healthcheck")
        assert result.code == 0, result
        lines = result.out.splitlines()
        assert lines[-1] == "healthy"
        assert [line.split()[0] for line in lines[:-1]] == ["OK"] * 5
        assert any(f"cell2 ({cells['cell2'].uuid}): SELECT 1 in" in line for line in lines)

    def test_a_cell_down_is_degraded_and_cell0_down_unhealthy(self, cells, unreachable):
        cell2 = unreachable("cell2")
        result = run_command("healthcheck")
        assert result.code == 0
        assert f"DEGRADED  Cell cell2 ({cell2.uuid}) unreachable: cell2 ({cell2.uuid}): OperationalError" in result.out
        unreachable("cell0")
        result = run_command("healthcheck", "--json")
        assert result.code == 1
        body = json.loads(result.out)
        assert body["healthy"] is False and body["detailed"] is True
        assert "threads" not in body
        assert [r["reason"] for r in body["reasons"] if r["reason"] != "OK"] == [
            f"Cell cell0 ({cells['cell0'].uuid}) unreachable",
            f"Cell cell2 ({cell2.uuid}) unreachable",
        ]
