"""The compute API framework: discovery, microversions, headers, faults, auth, policy, quotas, paging."""

import json
import os
import re
import subprocess
import sys
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connections

from cellsv2.api.authentication import (
    HeaderAuthentication,
    NoAuthAuthentication,
    auth_modes,
    authentication_classes,
    register_auth_mode,
)
from cellsv2.api.microversions import MAX_VERSION_STRING as MAX
from tests.support import ALL_DATABASES, ROOT, on_postgres

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.urls("tests.cellsv2.api_urls")]

MEMBER = {"HTTP_X_AUTH_TOKEN": "alice:proj1"}
ADMIN = {"HTTP_X_AUTH_TOKEN": "admin:admin"}
REQUEST_ID_HEADERS = ("x-openstack-request-id", "x-compute-request-id")


@pytest.fixture
def noauth(settings):
    settings.CELLSV2_AUTH = "noauth"


def post_json(client, path, body, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def fault(response):
    ((name, inner),) = response.json().items()
    return name, inner["code"], inner["message"]


# --- discovery ------------------------------------------------------------------------------


class TestVersionDiscovery:
    def test_root_lists_v2_0_first_then_the_current_v2_1(self, client):
        response = client.get("/", HTTP_HOST="api.example:8774")
        assert response.status_code == 200
        versions = response.json()["versions"]
        assert [v["id"] for v in versions] == ["v2.0", "v2.1"]
        assert versions[1] == {
            "id": "v2.1",
            "status": "CURRENT",
            "version": MAX,
            "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": "http://api.example:8774/v2.1/"}],
        }
        assert versions[0]["status"] == "DEPRECATED" and versions[0]["version"] == ""

    @pytest.mark.parametrize("path", ["/v2.1", "/v2.1/"])
    def test_v2_1_document_is_served_with_and_without_slash_and_no_auth(self, client, path):
        response = client.get(path, HTTP_HOST="api.example")
        assert response.status_code == 200
        version = response.json()["version"]
        assert set(version) == {"id", "links", "status", "updated", "version", "min_version", "media-types"}
        assert (version["version"], version["min_version"]) == (MAX, "2.1")
        assert version["links"][0] == {"rel": "self", "href": "http://api.example/v2.1/"}
        assert version["media-types"] == [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
        ]

    @pytest.mark.parametrize("path", ["/v2", "/v2/"])
    def test_v2_0_document_is_deprecated(self, client, path):
        version = client.get(path).json()["version"]
        assert (version["id"], version["status"], version["version"]) == ("v2.0", "DEPRECATED", "")
        assert version["links"][0]["href"] == "http://testserver/v2/"

    def test_self_links_are_followable_and_stable(self, client):
        for entry in client.get("/").json()["versions"]:
            href = entry["links"][0]["href"].replace("http://testserver", "")
            assert client.get(href).json()["version"]["links"][0]["href"] == entry["links"][0]["href"]


# --- microversions and headers ----------------------------------------------------------------


@pytest.mark.usefixtures("noauth")
class TestMicroversions:
    def version_of(self, client, **headers):
        response = client.get("/v2.1/test-echo", **MEMBER, **headers)
        return response

    def test_default_is_2_1_and_echoed_in_both_headers(self, client):
        response = self.version_of(client)
        assert response.json()["version"] == "2.1"
        assert response["OpenStack-API-Version"] == "compute 2.1"
        assert response["X-OpenStack-Nova-API-Version"] == "2.1"
        assert "OpenStack-API-Version" in response["Vary"] and "X-OpenStack-Nova-API-Version" in response["Vary"]

    def test_legacy_header(self, client):
        response = self.version_of(client, HTTP_X_OPENSTACK_NOVA_API_VERSION="2.60")
        assert response.json()["version"] == "2.60"
        assert response["X-OpenStack-Nova-API-Version"] == "2.60"

    def test_standard_header_wins_over_the_legacy_one(self, client):
        response = self.version_of(
            client, HTTP_OPENSTACK_API_VERSION="compute 2.30", HTTP_X_OPENSTACK_NOVA_API_VERSION="2.60"
        )
        assert response.json()["version"] == "2.30"
        assert response["OpenStack-API-Version"] == "compute 2.30"

    def test_other_services_in_the_standard_header_are_ignored(self, client):
        response = self.version_of(client, HTTP_OPENSTACK_API_VERSION="volume 3.5, compute 2.12")
        assert response.json()["version"] == "2.12"

    def test_latest_is_the_maximum(self, client):
        response = self.version_of(client, HTTP_OPENSTACK_API_VERSION="compute latest")
        assert response.json()["version"] == MAX
        assert response["X-OpenStack-Nova-API-Version"] == MAX

    @pytest.mark.parametrize("value", ["abc", "2", "2.", "02.1", "2.01", "2.1.1", "-2.1", " "])
    def test_malformed_versions_are_400_without_version_headers(self, client, value):
        response = self.version_of(client, HTTP_X_OPENSTACK_NOVA_API_VERSION=value)
        if not value.strip():
            assert response.status_code == 200
            return
        assert response.status_code == 400
        assert fault(response) == (
            "badRequest",
            400,
            f"API Version String {value.strip()} is of invalid format. Must be of format MajorNum.MinorNum.",
        )
        assert "X-OpenStack-Nova-API-Version" not in response
        assert all(h in response for h in REQUEST_ID_HEADERS)

    @pytest.mark.parametrize("value", ["2.0", "2.200", "3.0", "1.5"])
    def test_unsupported_versions_are_406_compute_faults(self, client, value):
        response = self.version_of(client, HTTP_X_OPENSTACK_NOVA_API_VERSION=value)
        assert response.status_code == 406
        assert fault(response) == (
            "computeFault",
            406,
            f"Version {value} is not supported by the API. Minimum is 2.1 and maximum is {MAX}.",
        )
        assert response["X-OpenStack-Nova-API-Version"] == value

    def test_version_document_also_rejects_unsupported_versions(self, client):
        assert client.get("/v2.1/", HTTP_X_OPENSTACK_NOVA_API_VERSION="2.999").status_code == 406

    def test_every_response_has_a_request_id_errors_included(self, client):
        responses = [
            client.get("/v2.1/test-echo", **MEMBER),
            client.get("/v2.1/no-such-thing", **MEMBER),
            client.get("/v2.1/test-echo"),
            client.get("/v2.1/"),
        ]
        ids = set()
        for response in responses:
            assert response["x-openstack-request-id"].startswith("req-")
            assert response["x-openstack-request-id"] == response["x-compute-request-id"]
            assert response["X-OpenStack-Nova-API-Version"] == "2.1"
            ids.add(response["x-openstack-request-id"])
        assert len(ids) == len(responses)

    def test_a_method_missing_below_its_microversion_is_404(self, client):
        assert client.get("/v2.1/test-gated", **MEMBER, HTTP_X_OPENSTACK_NOVA_API_VERSION="2.49").status_code == 404
        assert client.get("/v2.1/test-gated", **MEMBER, HTTP_X_OPENSTACK_NOVA_API_VERSION="2.50").status_code == 200

    def test_unknown_query_parameters_are_refused_from_2_75(self, client):
        assert (
            client.get("/v2.1/test-echo?foo=1", **MEMBER, HTTP_X_OPENSTACK_NOVA_API_VERSION="2.74").status_code == 200
        )
        response = client.get("/v2.1/test-echo?foo=1", **MEMBER, HTTP_X_OPENSTACK_NOVA_API_VERSION="2.75")
        assert response.status_code == 400
        assert fault(response)[2] == "Additional properties are not allowed ('foo' was unexpected)"


# --- faults ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("noauth")
class TestFaults:
    def test_unknown_routes_are_404_faults(self, client):
        response = client.get("/v2.1/no-such-thing", **MEMBER)
        assert response.status_code == 404
        assert fault(response) == ("itemNotFound", 404, "The resource could not be found.")

    def test_unrouted_methods_are_404_like_nova(self, client):
        response = client.put("/v2.1/test-echo", data="{}", content_type="application/json", **MEMBER)
        assert response.status_code == 404
        assert fault(response)[0] == "itemNotFound"

    def test_no_trailing_slash_redirects(self, client):
        response = client.post("/v2.1/test-echo/", data="{}", content_type="application/json", **MEMBER)
        assert response.status_code == 404

    def test_a_valid_body_is_accepted(self, client):
        response = post_json(client, "/v2.1/test-echo", {"thing": {"name": "a", "size": 2}}, **MEMBER)
        assert response.status_code == 200
        assert response.json()["thing"] == {"name": "a", "size": 2}

    @pytest.mark.parametrize("content_type", ["application/vnd.openstack.compute+json", "text/plain", ""])
    def test_accepted_content_types(self, client, content_type):
        response = client.post(
            "/v2.1/test-echo", data=json.dumps({"thing": {"name": "a"}}), content_type=content_type, **MEMBER
        )
        assert response.status_code == 200

    def test_unsupported_content_type_is_415(self, client):
        response = client.post("/v2.1/test-echo", data="<x/>", content_type="application/xml", **MEMBER)
        assert response.status_code == 415
        assert fault(response) == ("badMediaType", 415, "Unsupported Content-Type")

    @pytest.mark.parametrize("raw", ["{not json", "[1,", "\x00\x01", "{" * 10000 + "}" * 10000])
    def test_malformed_json_is_400(self, client, raw):
        response = client.post("/v2.1/test-echo", data=raw, content_type="application/json", **MEMBER)
        assert response.status_code == 400
        assert fault(response) == ("badRequest", 400, "Malformed request body")

    def test_an_empty_body_is_a_schema_error(self, client):
        response = client.post("/v2.1/test-echo", data="", content_type="application/json", **MEMBER)
        assert response.status_code == 400
        assert fault(response)[2] == "None is not of type 'object'"

    def test_schema_messages_are_novas(self, client):
        cases = [
            ({}, "'thing' is a required property"),
            ({"thing": {"name": "a"}, "extra": 1}, "Additional properties are not allowed ('extra' was unexpected)"),
            (
                {"thing": {"name": "a", "size": 0}},
                "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1",
            ),
            (
                {"thing": {"size": 1}},
                "Invalid input for field/attribute thing. Value: {'size': 1}. 'name' is a required property",
            ),
            (
                {"thing": {"name": " padded"}},
                "An invalid 'name' value was provided. The name must be: printable characters. "
                "Can not start or end with whitespace.",
            ),
            (
                {"thing": {"name": "bell\x07"}},
                "An invalid 'name' value was provided. The name must be: printable characters. "
                "Can not start or end with whitespace.",
            ),
        ]
        for body, message in cases:
            response = post_json(client, "/v2.1/test-echo", body, **MEMBER)
            assert response.status_code == 400, body
            assert fault(response) == ("badRequest", 400, message)

    def test_bodies_over_the_cap_are_413(self, client, settings):
        settings.CELLSV2_MAX_REQUEST_BODY_SIZE = 1000
        response = post_json(client, "/v2.1/test-echo", {"thing": {"name": "x" * 2000}}, **MEMBER)
        assert response.status_code == 413
        assert fault(response) == ("overLimit", 413, "Request is too large.")

    def test_unexpected_errors_are_500_compute_faults_without_a_traceback(self, client, caplog):
        response = client.get("/v2.1/test-boom", **MEMBER)
        assert response.status_code == 500
        name, code, message = fault(response)
        assert (name, code) == ("computeFault", 500)
        assert "Unexpected API Error" in message
        assert response["x-openstack-request-id"] in message
        assert "secret internal detail" not in response.content.decode()
        assert "Traceback" not in response.content.decode()
        assert any(response["x-openstack-request-id"] in r.getMessage() for r in caplog.records)

    def test_204_has_an_empty_body(self, client):
        response = client.delete("/v2.1/test-gated", **MEMBER)
        assert response.status_code == 204
        assert response.content == b""
        assert response["X-OpenStack-Nova-API-Version"] == "2.1"


# --- authentication ---------------------------------------------------------------------------------


class TestHeaderAuth:
    @pytest.fixture(autouse=True)
    def mode(self, settings):
        settings.CELLSV2_AUTH = "headers"

    def test_identity_comes_from_the_proxy_headers_with_implied_roles(self, client):
        response = client.post(
            "/v2.1/test-echo",
            data=json.dumps({"thing": {"name": "a"}}),
            content_type="application/json",
            HTTP_X_USER_ID="u1",
            HTTP_X_PROJECT_ID="p1",
            HTTP_X_ROLES="Admin",
        )
        assert response.json()["roles"] == ["admin", "member", "reader"]
        assert (response.json()["user_id"], response.json()["project_id"]) == ("u1", "p1")

    def test_missing_project_is_401(self, client):
        assert client.get("/v2.1/test-echo", HTTP_X_USER_ID="u1").status_code == 401

    def test_noauth_tokens_are_not_accepted(self, client):
        assert client.get("/v2.1/test-echo", **ADMIN).status_code == 401


@pytest.mark.usefixtures("noauth")
def test_the_admins_session_auth_and_messages_middleware_stay_off_the_compute_api(client, admin_client):
    api = client.get("/v2.1/test-echo", **MEMBER)
    assert api.status_code == 200
    assert not hasattr(api.wsgi_request, "session") and not hasattr(api.wsgi_request, "_messages")
    assert "Set-Cookie" not in api.headers
    admin = admin_client.get("/admin/")
    assert admin.status_code == 200
    assert admin.wsgi_request.user.is_superuser and hasattr(admin.wsgi_request, "_messages")


@pytest.mark.usefixtures("noauth")
class TestNoAuth:
    def test_user_colon_project(self, client):
        body = post_json(client, "/v2.1/test-echo", {"thing": {"name": "a"}}, **MEMBER).json()
        assert (body["user_id"], body["project_id"], body["roles"]) == ("alice", "proj1", ["member", "reader"])

    def test_admin_user_is_admin(self, client):
        body = post_json(client, "/v2.1/test-echo", {"thing": {"name": "a"}}, **ADMIN).json()
        assert body["roles"] == ["admin", "member", "reader"]

    def test_no_colon_means_the_project_is_the_user(self, client):
        body = post_json(client, "/v2.1/test-echo", {"thing": {"name": "a"}}, HTTP_X_AUTH_TOKEN="notused").json()
        assert (body["user_id"], body["project_id"]) == ("notused", "notused")

    def test_no_token_is_401(self, client):
        assert client.get("/v2.1/test-echo").status_code == 401


class TestAuthModes:
    """CELLSV2_AUTH names a mode; the apps that provide modes register them in their ready()."""

    def test_an_unknown_mode_stops_the_commands_and_the_server_as_the_settings_are_read(self):
        env = {**os.environ, "CELLSV2_AUTH": "kerberos", "DJANGO_SETTINGS_MODULE": "cellsv2.settings_test"}
        for argv in ([sys.executable, "manage.py", "check"], [sys.executable, "-c", "import cellsv2.wsgi"]):
            done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 1, argv
            assert done.stderr.splitlines()[-1] == (
                "django.core.exceptions.ImproperlyConfigured: "
                "CELLSV2_AUTH must be token, headers or noauth, not 'kerberos'"
            )

    def test_every_mode_the_settings_accept_is_registered(self):
        assert sorted(auth_modes()) == ["headers", "noauth", "token"]
        assert call_command("check", "--fail-level", "ERROR") is None

    def test_a_mode_no_installed_app_registered_fails_the_check_and_every_request(self, settings, client, caplog):
        # As CELLSV2_AUTH=token without the app that provides it.
        settings.CELLSV2_AUTH = "kerberos"
        message = "CELLSV2_AUTH=kerberos but no installed app provides that authentication mode"
        message += " (registered: headers, noauth, token)"

        with pytest.raises(SystemCheckError, match=re.escape(f"(cellsv2.E003) {message}")):
            call_command("check")
        response = client.get("/v2.1/test-echo", **MEMBER)
        assert response.status_code == 500 and fault(response)[0] == "computeFault"
        logged = [record.exc_text for record in caplog.records if record.exc_text]
        assert any(f"ImproperlyConfigured: {message}" in text for text in logged)

    def test_a_taken_name_cannot_be_registered_again_with_another_class(self, settings):
        register_auth_mode("noauth", NoAuthAuthentication)  # the same class again: harmless

        with pytest.raises(ImproperlyConfigured, match="'noauth' is already registered"):
            register_auth_mode("noauth", HeaderAuthentication)
        settings.CELLSV2_AUTH = "noauth"
        assert authentication_classes() == [NoAuthAuthentication]


# --- policy ---------------------------------------------------------------------------------------------


class TestPolicy:
    @pytest.fixture(autouse=True)
    def mode(self, settings):
        settings.CELLSV2_AUTH = "headers"

    def call(self, client, project, roles, user="u", caller_project="p1"):
        return client.get(
            f"/v2.1/test-policy/{project}", HTTP_X_USER_ID=user, HTTP_X_PROJECT_ID=caller_project, HTTP_X_ROLES=roles
        )

    def test_member_of_the_project_is_allowed(self, client):
        assert self.call(client, "p1", "member").status_code == 200

    def test_reader_is_denied_with_novas_message(self, client):
        response = self.call(client, "p1", "reader")
        assert response.status_code == 403
        assert fault(response) == (
            "forbidden",
            403,
            "Policy doesn't allow os_compute_api:os-server-groups:delete to be performed.",
        )

    def test_cross_project_access_is_denied(self, client):
        assert self.call(client, "p2", "member").status_code == 403

    def test_admin_may_act_on_any_project(self, client):
        assert self.call(client, "p2", "admin").status_code == 200

    def test_rules_can_be_overridden_in_a_policy_file(self, client, policy_file):
        policy_file({"os_compute_api:os-server-groups:delete": "role:admin"})
        assert self.call(client, "p1", "member").status_code == 403
        policy_file({"os_compute_api:os-server-groups:delete": "@"})
        assert self.call(client, "p2", "reader").status_code == 200

    def test_rule_language(self):
        from oslo_policy.policy import PolicyNotRegistered

        from cellsv2.api.authentication import ComputeContext
        from cellsv2.api.policy import policy_allows

        ctx = ComputeContext(user_id="u", project_id="p", roles=frozenset({"reader"}))
        assert policy_allows(ctx, "os_compute_api:os-keypairs:index", {"user_id": "u"})
        assert not policy_allows(ctx, "os_compute_api:os-keypairs:index", {"user_id": "other"})
        # A rule nobody registered is a programming error, as in Nova (not a silent "no").
        with pytest.raises(PolicyNotRegistered):
            policy_allows(ctx, "no-such-rule")


# --- quotas ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("noauth")
class TestQuotas:
    @pytest.fixture(autouse=True)
    def widget_quota(self, settings):
        settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "widgets": 2}

    def test_creates_up_to_the_limit_then_403_with_the_message(self, client):
        assert client.post("/v2.1/test-widgets", **MEMBER).status_code == 201
        assert client.post("/v2.1/test-widgets", **MEMBER).status_code == 201
        response = client.post("/v2.1/test-widgets", **MEMBER)
        assert response.status_code == 403
        assert fault(response) == ("forbidden", 403, "Quota exceeded, too many widgets.")

    def test_limits_count_per_project(self, client):
        for _ in range(2):
            client.post("/v2.1/test-widgets", **MEMBER)
        assert client.post("/v2.1/test-widgets", HTTP_X_AUTH_TOKEN="bob:proj2").status_code == 201

    def test_a_project_override_wins_and_minus_one_is_unlimited(self, client):
        from cellsv2.quotas import quota_limit, quota_set

        quota_set(project_id="proj1", resource="widgets", hard_limit=3)
        assert quota_limit(project_id="proj1", resource="widgets") == 3
        for _ in range(3):
            assert client.post("/v2.1/test-widgets", **MEMBER).status_code == 201
        assert client.post("/v2.1/test-widgets", **MEMBER).status_code == 403
        quota_set(project_id="proj1", resource="widgets", hard_limit=-1)
        assert client.post("/v2.1/test-widgets", **MEMBER).status_code == 201


@pytest.mark.skipif(not on_postgres(), reason="concurrent writers need PostgreSQL row locks")
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_concurrent_creates_at_the_limit_never_end_above_it(settings):
    from django.test import Client

    settings.CELLSV2_AUTH = "noauth"
    settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "widgets": 3}
    statuses = []
    barrier = threading.Barrier(6)

    def create():
        barrier.wait(timeout=10)
        statuses.append(Client().post("/v2.1/test-widgets", **MEMBER).status_code)
        connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    from identity.models import Project

    assert sorted(statuses) == [201, 201, 201, 403, 403, 403]
    assert Project.objects.filter(description="widget of proj1").count() == 3


# --- pagination -------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("noauth")
class TestPagination:
    def test_a_full_page_has_a_next_link_that_keeps_other_parameters(self, client):
        body = client.get("/v2.1/test-page?limit=10&foo=bar", **MEMBER).json()
        assert body["items"] == [f"item{n:02d}" for n in range(10)]
        (link,) = body["items_links"]
        assert link["rel"] == "next"
        # Nova sorts the parameters by name and sets the marker.
        assert link["href"] == "http://testserver/v2.1/test-page?foo=bar&limit=10&marker=item09"

    def test_parameters_a_query_schema_does_not_name_are_stripped_from_next_links(self, client):
        # Nova's query schemas allow unknown parameters before 2.75 and then strip them.
        body = client.get("/v2.1/test-page-validated?limit=10&foo=bar&marker=item04", **MEMBER).json()
        assert body["items"][0] == "item05"
        (link,) = body["items_links"]
        # (the view names its collection "test-page")
        assert link["href"] == "http://testserver/v2.1/test-page?limit=10&marker=item14"

    def test_walking_next_links_visits_every_item_once(self, client):
        url, seen = "/v2.1/test-page?limit=10", []
        while url:
            body = client.get(url, **MEMBER).json()
            seen += body["items"]
            links = body.get("items_links")
            url = links[0]["href"].replace("http://testserver", "") if links else None
        assert seen == [f"item{n:02d}" for n in range(25)]

    def test_limit_is_capped_at_max_limit(self, client, settings):
        settings.CELLSV2_API_MAX_LIMIT = 7
        body = client.get("/v2.1/test-page?limit=100", **MEMBER).json()
        assert len(body["items"]) == 7 and "items_links" in body

    @pytest.mark.parametrize(
        "query,message",
        [("limit=abc", "limit param must be an integer"), ("limit=-1", "limit param must be positive")],
    )
    def test_bad_limits_are_400(self, client, query, message):
        response = client.get(f"/v2.1/test-page?{query}", **MEMBER)
        assert response.status_code == 400
        assert fault(response) == ("badRequest", 400, message)

    def test_offset_and_limit(self, client):
        assert client.get("/v2.1/test-offset?offset=20&limit=3", **MEMBER).json()["items"] == [
            "item20",
            "item21",
            "item22",
        ]
        response = client.get("/v2.1/test-offset?offset=-2", **MEMBER)
        assert fault(response) == ("badRequest", 400, "offset param must be positive")
