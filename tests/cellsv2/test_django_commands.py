"""Django's own database commands: the API database by default, cells by alias, name or uuid."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


def test_createsuperuser_without_database_creates_the_user_in_the_api_database(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-enough-password-1")
    result = run_command("createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.org")
    assert result.code == 0, result.err
    assert "Superuser created successfully." in result.out
    user = get_user_model().objects.using("api").get(username="ops")
    assert user.is_superuser and user.check_password("a-long-enough-password-1")


def test_dumpdata_and_loaddata_default_to_the_api_database(tmp_path):
    get_user_model().objects.create_user("dumped", password="x")
    result = run_command("dumpdata", "auth.user")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [r["fields"]["username"] for r in rows] == ["dumped"]
    get_user_model().objects.all().delete()
    fixture = tmp_path / "users.json"
    fixture.write_text(result.out)
    loaded = run_command("loaddata", str(fixture))
    assert loaded.code == 0, loaded.err
    assert get_user_model().objects.using("api").filter(username="dumped").exists()


def test_showmigrations_lists_the_api_database_by_default_and_a_cell_by_name(cells):
    api = run_command("showmigrations", "mappings")
    assert "[X] 0001_initial" in api.out
    cell = run_command("showmigrations", "--database", "cell1", "servers")
    assert "[X] 0001_initial" in cell.out


def test_a_cell_is_reached_by_its_mapping_name_or_uuid(cells):
    for ref in ("cell2", cells["cell2"].uuid):
        result = run_command("sqlmigrate", "--database", ref, "consoles", "0001")
        assert result.code == 0, result.err
        assert "console_auth_tokens" in result.out


def test_a_cell_registered_at_run_time_is_reached_by_its_name(fresh_database_url):
    from mappings.services import cell_mapping_create

    call_command("migrate", database="api", verbosity=0)
    cell = cell_mapping_create(name="runtime-cell", database_connection=fresh_database_url, transport_url="none:///")
    result = run_command("migrate", "--database", "runtime-cell", "-v", "0")
    assert result.code == 0, result.err
    shown = run_command("showmigrations", "--database", cell.uuid, "servers")
    assert "[X] 0001_initial" in shown.out


def test_check_takes_cells_by_name(cells):
    result = run_command("check", "--database", "cell1", "--database", "api")
    assert result.code == 0, result.err
    assert "no issues" in result.out


def test_an_unknown_database_is_one_clear_error(cells):
    with pytest.raises(CommandError, match=r"Unknown database 'nope': use one of api, cell0, cell1, cell2"):
        call_command("dbshell", database="nope")
