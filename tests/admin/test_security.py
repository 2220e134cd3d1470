"""Security of the operators' console: staff only, CSRF on, nothing revealed before login, production
settings with secure cookies that `manage.py check --deploy` finds clean."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from mappings.models import CellMapping
from tests.admin.helpers import PASSWORD, make_superuser
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

ROOT = Path(__file__).resolve().parents[2]


def _pages(deployment, cells) -> list[str]:
    from mappings.models import InstanceMapping

    mapping = InstanceMapping.objects.get(instance_uuid=deployment.active)
    return [
        reverse("admin:index"),
        reverse("admin:cellsv2_dashboard"),
        reverse("admin:mappings_instancemapping_changelist"),
        reverse("admin:mappings_instancemapping_change", args=[mapping.pk]),
        reverse("admin:mappings_cellmapping_changelist"),
        reverse("admin:servers_buildrequest_changelist"),
        reverse("celladmin:index"),
        f"{reverse('celladmin:servers_instance_changelist')}?cell={cells['cell1'].uuid}",
        reverse("celladmin:servers_instance_changelist"),
        reverse("celladmin:consoles_consoleauthtoken_changelist"),
        reverse("celladmin:instance_by_uuid", args=[deployment.active]),
    ]


def _reveals(html: str, deployment, cells, url: str = "") -> list[str]:
    """Data of the deployment in a page (the login page echoes the URL asked for in ``next``: that is
    the visitor's own input, not something revealed)."""
    secrets_ = [deployment.active, deployment.building, deployment.token_hash[:8], "compute1"]
    secrets_ += [cell.uuid for cell in cells.values()] + ["cell1", "cell2"]
    return [s for s in secrets_ if s in html and s not in url]


def test_anonymous_users_are_sent_to_the_login_page_which_reveals_nothing(client, deployment, cells):
    for url in _pages(deployment, cells):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login/" in response.url, url
        login = client.get(response.url)
        assert login.status_code == 200
        assert _reveals(login.content.decode(), deployment, cells, url) == [], url
    # POST actions too, and nothing changes.
    response = client.post(reverse("admin:cellsv2_toggle_cell", args=[cells["cell1"].uuid]), {"disable": "1"})
    assert response.status_code == 302 and "/login/" in response.url
    assert CellMapping.objects.get(pk=cells["cell1"].pk).disabled is False
    for login_url in (reverse("admin:login"), reverse("celladmin:login")):
        html = client.get(login_url).content.decode()
        assert _reveals(html, deployment, cells) == [] and 'id="cell-switcher"' not in html


def test_a_logged_in_user_who_is_not_staff_sees_nothing(client, deployment, cells):
    user = get_user_model().objects.create_user("tenant", password=PASSWORD)
    assert client.login(username="tenant", password=PASSWORD)
    for url in _pages(deployment, cells):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.url, url
        assert _reveals(client.get(response.url).content.decode(), deployment, cells, url) == [], url
    response = client.post(reverse("admin:cellsv2_discover_hosts"))
    assert response.status_code == 302 and "/login/" in response.url
    assert user.is_staff is False


def test_staff_without_a_model_permission_cannot_open_its_pages(client, deployment, cells):
    get_user_model().objects.create_user("viewer", password=PASSWORD, is_staff=True)
    assert client.login(username="viewer", password=PASSWORD)
    assert client.get(reverse("admin:mappings_instancemapping_changelist")).status_code == 403
    client.get(reverse("celladmin:index"), {"cell": "cell1"})
    assert client.get(reverse("celladmin:servers_instance_changelist")).status_code == 403


def test_login_with_a_password_then_the_dashboard(client, deployment, cells):
    make_superuser("ops")
    login = client.post(reverse("admin:login"), {"username": "ops", "password": PASSWORD, "next": "/admin/dashboard/"})
    assert login.status_code == 302 and login.url == "/admin/dashboard/"
    assert cells["cell1"].uuid in client.get(login.url).content.decode()
    wrong = Client().post(reverse("admin:login"), {"username": "ops", "password": "nope"})
    assert wrong.status_code == 200 and _reveals(wrong.content.decode(), deployment, cells) == []


def test_post_actions_refuse_requests_without_a_csrf_token(deployment, cells):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_superuser())
    cell = cells["cell1"]
    for name, args, data in (
        ("cellsv2_toggle_cell", (cell.uuid,), {"disable": "1"}),
        ("cellsv2_discover_hosts", (), {}),
        ("cellsv2_run_migrations", (), {}),
        ("cellsv2_verify_instance", (), {"uuid": deployment.active}),
    ):
        assert client.post(reverse(f"admin:{name}", args=args), data).status_code == 403, name
    # A model page's action too.
    refused = client.post(
        reverse("admin:mappings_cellmapping_changelist"), {"action": "disable_cells", "_selected_action": [cell.pk]}
    )
    assert refused.status_code == 403
    assert CellMapping.objects.get(pk=cell.pk).disabled is False
    from mappings.models import HostMapping

    assert not HostMapping.objects.filter(host="compute2").exists()
    # With the token the dashboard's form carries, the same POST works.
    page = client.get(reverse("admin:cellsv2_dashboard"))
    token = page.context["csrf_token"]
    ok = client.post(
        reverse("admin:cellsv2_toggle_cell", args=[cell.uuid]), {"disable": "1", "csrfmiddlewaretoken": token}
    )
    assert ok.status_code == 302
    assert CellMapping.objects.get(pk=cell.pk).disabled is True


def _run_production(*args: str, secret: str | None, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CELLSV2_SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
    env["DJANGO_SETTINGS_MODULE"] = "cellsv2.settings_production"
    env.update(extra)
    if secret is not None:
        env["CELLSV2_SECRET_KEY"] = secret
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    secret, static = secrets.token_urlsafe(64), str(tmp_path / "static")
    # Before collectstatic the deployment check says what is missing (every admin page would fail).
    result = _run_production("check", "--deploy", secret=secret, CELLSV2_STATIC_ROOT=static)
    assert "cellsv2.W003" in result.stderr, result.stdout + result.stderr
    collected = _run_production("collectstatic", "--noinput", "-v", "0", secret=secret, CELLSV2_STATIC_ROOT=static)
    assert collected.returncode == 0, collected.stderr
    result = _run_production("check", "--deploy", "--fail-level", "WARNING", secret=secret, CELLSV2_STATIC_ROOT=static)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _run_production("check", secret=None)
    assert result.returncode != 0
    assert "CELLSV2_SECRET_KEY" in result.stderr


def test_production_settings_use_secure_cookies():
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY, "
        "s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.X_FRAME_OPTIONS, "
        "'django.middleware.csrf.CsrfViewMiddleware' in s.MIDDLEWARE)"
    )
    result = _run_production("shell", "--no-imports", "-c", code, secret=secrets.token_urlsafe(64))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "True",
        "True",
        "True",
        "True",
        "False",
        "True",
        "True",
        "DENY",
        "True",
    ]
