"""/metrics: who may read it, and counters that move by exactly what happened."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from cellsv2.observability.access import parse_networks
from mappings.models import HostMapping
from operators.metrics import online_migrations_source
from servers import conductor
from servers.models import BuildRequest
from tests.observability.helpers import sample
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

TOKEN = "alice:proj1"
IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"


@pytest.fixture(autouse=True)
def _noauth(settings):
    settings.CELLSV2_AUTH = "noauth"


class TestAccess:
    def test_nobody_by_default(self, client):
        response = client.get("/metrics")
        assert (response.status_code, response.content) == (403, b"Forbidden\n")

    def test_the_bearer_token(self, client, settings):
        settings.CELLSV2_METRICS_TOKEN = "s3cret-scrape-token"
        missing = client.get("/metrics")
        assert missing.status_code == 401
        assert missing["WWW-Authenticate"] == 'Bearer realm="cellsv2-metrics"'
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
        response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")

    def test_allowed_addresses_but_not_through_a_proxy(self, client, settings):
        settings.CELLSV2_METRICS_ALLOWED_ADDRESSES = parse_networks("192.0.2.0/24")
        assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="198.51.100.1").status_code == 403
        assert client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_FORWARDED="for=203.0.113.1").status_code == 403

    def test_a_staff_session_of_the_admin(self, client):
        client.force_login(get_user_model().objects.create_user("ops", password="pw", is_staff=True))
        assert client.get("/metrics").status_code == 200


class TestRequests:
    def test_counters_move_by_exactly_the_requests_made_by_route_method_and_status(self, client, cells, scrape):
        before = scrape()
        for _ in range(3):
            assert client.get("/v2.1/os-keypairs", HTTP_X_AUTH_TOKEN=TOKEN).status_code == 200
        assert client.get("/v2.1/os-keypairs/missing-one", HTTP_X_AUTH_TOKEN=TOKEN).status_code == 404
        assert client.get("/v2.1/os-keypairs/missing-two", HTTP_X_AUTH_TOKEN=TOKEN).status_code == 404
        assert client.get("/v2.1/no-such-resource", HTTP_X_AUTH_TOKEN=TOKEN).status_code == 404
        after = scrape()

        def moved(name, **labels):
            return sample(after, name, **labels) - sample(before, name, **labels)

        listing = {"route": "v2.1/os-keypairs", "method": "GET", "status": "200"}
        show = {"route": "v2.1/os-keypairs/<str:name>", "method": "GET", "status": "404"}
        unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
        assert moved("cellsv2_http_requests_total", **listing) == 3
        assert moved("cellsv2_http_requests_total", **show) == 2
        assert moved("cellsv2_http_requests_total", **unmatched) == 1
        assert moved("cellsv2_http_request_duration_seconds_count", **listing) == 3
        assert moved("cellsv2_http_request_duration_seconds_bucket", le="+Inf", **show) == 2
        assert moved("cellsv2_http_request_duration_seconds_sum", **listing) > 0
        # Static files are "static"; routes are patterns: no raw path (a key pair's name) is a label.
        client.get("/static/cellsv2/admin.css")
        assert sample(scrape(), "cellsv2_http_requests_total", route="static", method="GET", status="200") >= 1
        labels = {value for (_, pairs) in after for _, value in pairs}
        assert not {"missing-one", "missing-two", "v2.1/no-such-resource"} & labels


class TestCells:
    def test_cells_up_and_each_cells_failures(self, client, cells, unreachable, scrape):
        cell2 = unreachable("cell2")
        before = scrape()
        for _ in range(2):
            assert client.get("/v2.1/servers", HTTP_X_AUTH_TOKEN=TOKEN).status_code == 200
        after = scrape()
        for name in ("cell0", "cell1"):
            labels = {"cell_uuid": cells[name].uuid, "cell_name": name}
            assert sample(after, "cellsv2_cell_up", **labels) == 1
            assert sample(after, "cellsv2_cell_ping_seconds", **labels) > 0
            assert sample(after, "cellsv2_cell_query_duration_seconds_count", **labels) > sample(
                before, "cellsv2_cell_query_duration_seconds_count", **labels
            )
        down = {"cell_uuid": cell2.uuid, "cell_name": "cell2"}
        assert sample(after, "cellsv2_cell_up", **down) == 0
        assert ("cellsv2_cell_up", frozenset(down.items())) in after  # present, at 0
        failures = "cellsv2_cell_query_failures_total"
        moved = sample(after, failures, reason="error", **down) - sample(before, failures, reason="error", **down)
        # One failed part per listing, and one for the ping of the first scrape (read after its counters).
        assert moved == 2 + 1
        assert sample(after, "cellsv2_api_database_up") == 1


class TestBuildQueueAndMigrations:
    def test_build_requests_waiting_and_the_oldest_ones_age(self, cells, scrape):
        assert sample(scrape(), "cellsv2_build_requests_waiting") == 0
        assert sample(scrape(), "cellsv2_build_requests_oldest_age_seconds") == 0
        BuildRequest.objects.create(instance_uuid="0e0a3e48-3f4e-4a42-9d27-6a4b1a7c9a01", project_id="p")
        old = BuildRequest.objects.create(instance_uuid="0e0a3e48-3f4e-4a42-9d27-6a4b1a7c9a02", project_id="p")
        BuildRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=20))
        now = scrape()
        assert sample(now, "cellsv2_build_requests_waiting") == 2
        assert 20 * 60 <= sample(now, "cellsv2_build_requests_oldest_age_seconds") < 21 * 60

    def test_rows_left_per_online_migration(self, cells, scrape):
        online_migrations_source.forget()
        names = {
            dict(labels)["migration"] for (name, labels) in scrape() if name == "cellsv2_online_migration_rows_left"
        }
        assert names == {
            "populate_instance_keypairs",
            "migrate_keypairs_to_api_db",
            "migrate_instance_groups_to_api_db",
        }


class TestConductor:
    def test_placements_are_counted_by_outcome_and_log_their_instance(
        self, client, cells, default_flavors, unreachable, settings, scrape, json_lines
    ):
        settings.CELLSV2_CONDUCTOR_MODE = "worker"
        # A host mapped in cell2: the scheduler asks cell2 for its nodes, which does not answer.
        HostMapping.objects.create(cell=cells["cell2"], host="compute-in-cell2")
        cell2 = unreachable("cell2")
        body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}
        response = client.post(
            "/v2.1/servers",
            data=body,
            content_type="application/json",
            HTTP_X_AUTH_TOKEN=TOKEN,
            HTTP_X_OPENSTACK_NOVA_API_VERSION="2.37",
        )
        assert response.status_code == 202, response.content
        uuid = response.json()["server"]["id"]
        before = scrape()
        logged_before = len(json_lines())
        assert conductor.conductor_run_once() == {"buried": 1}  # no compute node anywhere
        placement_lines = [json.loads(line) for line in json_lines()[logged_before:]]
        after = scrape()

        def moved(name, **labels):
            return sample(after, name, **labels) - sample(before, name, **labels)

        assert moved("cellsv2_conductor_placements_total", outcome="buried") == 1
        assert moved("cellsv2_conductor_placement_failures_total") == 0
        assert moved("cellsv2_conductor_placement_duration_seconds_count") == 1
        # What the placement logged (cell2 not answering) names the build request's instance.
        about_cell2 = [line for line in placement_lines if cell2.uuid in line["message"]]
        assert about_cell2
        assert {line.get("instance_uuid") for line in about_cell2} == {uuid}
