"""The ``token`` authentication mode (CELLSV2_AUTH=token, the default), which the identity app registers."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from cellsv2.api.authentication import authentication_classes
from identity import services
from identity.authentication import TokenAuthentication
from identity.models import ApiToken
from identity.selectors import token_hash
from tests.support import ALL_DATABASES, ROOT

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.urls("tests.cellsv2.api_urls")]

ADMIN = {"HTTP_X_AUTH_TOKEN": "admin:admin"}


def post_json(client, path, body, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def test_the_token_mode_is_identitys():
    assert authentication_classes() == [TokenAuthentication]


def test_without_the_identity_app_the_check_says_nobody_provides_token_and_the_other_modes_work(tmp_path):
    (tmp_path / "without_identity.py").write_text(
        "from cellsv2.settings_test import *  # noqa: F403\n"
        "INSTALLED_APPS = [app for app in INSTALLED_APPS if app != 'identity']  # noqa: F405\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "DJANGO_SETTINGS_MODULE": "without_identity"}

    def check(mode):
        argv = [sys.executable, "manage.py", "check"]
        return subprocess.run(argv, cwd=ROOT, env={**env, "CELLSV2_AUTH": mode}, capture_output=True, text=True)

    token, noauth = check("token"), check("noauth")

    assert token.returncode == 1
    assert (
        "?: (cellsv2.E003) CELLSV2_AUTH=token but no installed app provides that authentication mode "
        "(registered: headers, noauth)"
    ) in token.stderr.splitlines()
    assert noauth.returncode == 0 and noauth.stdout.startswith("System check identified no issues"), noauth.stderr


class TestTokenAuth:
    @pytest.fixture
    def token(self):
        project = services.project_create(name="proj-a", project_id="a" * 32)
        user = services.user_create(username="alice")
        services.role_assign(user=user, project=project, role="member")
        _, token = services.token_create(user=user, project=project)
        return token

    def test_is_the_default_mode(self, settings):
        assert settings.CELLSV2_AUTH == "token"

    def test_a_valid_token_identifies_user_project_and_implied_roles(self, client, token):
        response = post_json(client, "/v2.1/test-echo", {"thing": {"name": "a"}}, HTTP_X_AUTH_TOKEN=token)
        assert response.status_code == 200
        body = response.json()
        assert (body["user_id"], body["project_id"], body["roles"]) == ("alice", "a" * 32, ["member", "reader"])

    def test_only_the_hash_of_a_token_is_stored(self, token):
        row = ApiToken.objects.get()
        assert row.token_hash == token_hash(token)
        with connections["api"].cursor() as cursor:
            cursor.execute("SELECT * FROM cellsv2_api_tokens")
            assert token not in repr(cursor.fetchall())

    @pytest.mark.parametrize("header", [{}, {"HTTP_X_AUTH_TOKEN": "wrong"}, {"HTTP_X_AUTH_TOKEN": "x" * 10000}])
    def test_missing_or_invalid_tokens_are_401_keystone_style(self, client, token, header):
        response = client.get("/v2.1/test-echo", **header)
        assert response.status_code == 401
        assert response.json() == {
            "error": {
                "code": 401,
                "title": "Unauthorized",
                "message": "The request you have made requires authentication.",
            }
        }
        # No Keystone issues these tokens: the challenge names the API's own scheme, not a Keystone.
        assert response["WWW-Authenticate"] == 'Token realm="cellsv2"'
        assert response["X-OpenStack-Nova-API-Version"] == "2.1"

    def test_401_names_the_configured_keystone(self, client, token, settings):
        settings.CELLSV2_WWW_AUTHENTICATE_URI = "https://keystone.example.org/v3"
        response = client.get("/v2.1/test-echo")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Keystone uri="https://keystone.example.org/v3"'

    def test_an_expired_token_is_401(self, client, token):
        ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        assert client.get("/v2.1/test-echo", HTTP_X_AUTH_TOKEN=token).status_code == 401

    def test_a_revoked_token_is_401(self, client, token):
        assert services.token_revoke(prefix=token[:8]) == 1
        assert client.get("/v2.1/test-echo", HTTP_X_AUTH_TOKEN=token).status_code == 401

    def test_noauth_style_tokens_mean_nothing_in_token_mode(self, client, token):
        assert client.get("/v2.1/test-echo", **ADMIN).status_code == 401

    def test_header_identity_is_ignored_in_token_mode(self, client):
        response = client.get("/v2.1/test-echo", HTTP_X_USER_ID="admin", HTTP_X_PROJECT_ID="p", HTTP_X_ROLES="admin")
        assert response.status_code == 401
