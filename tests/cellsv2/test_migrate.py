"""``manage.py migrate``: the API database, every settings cell and every cell registered at run time."""

import re
import uuid
from io import StringIO

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.db import connections

from cellsv2.cells import alias_for_mapping
from cellsv2.dburls import sqlite_url
from mappings.models import CellMapping
from tests.support import ALL_DATABASES, CELL_ALIASES, CommandResult

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

SETTINGS_DATABASES = ["api", *CELL_ALIASES]


def up_to_date(*aliases: str) -> list[str]:
    return [f"{alias}: up to date" for alias in aliases]


def register_cell(url: str, name: str = "runtime") -> CellMapping:
    return CellMapping.objects.create(
        uuid=str(uuid.uuid4()), name=name, transport_url="none:///", database_connection=url
    )


def migrate(*args: str) -> CommandResult:
    """Run migrate in-process; it ends with sys.exit(1) when a database could not be migrated."""
    command = load_command_class(get_commands()["migrate"], "migrate")
    out, err = StringIO(), StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return CommandResult(exc.code, out.getvalue(), err.getvalue())
    return CommandResult(0, out.getvalue(), err.getvalue())


def test_without_database_every_settings_database_gets_one_line_api_first():
    result = migrate()

    assert result.code == 0, result.err
    assert result.out.splitlines() == up_to_date(*SETTINGS_DATABASES)
    assert SETTINGS_DATABASES[:2] == ["api", "cell0"]


def test_cells_mapped_to_settings_databases_are_not_migrated_twice(cells):
    result = migrate()

    assert result.out.splitlines() == up_to_date(*SETTINGS_DATABASES)


def test_verbosity_0_prints_nothing():
    result = migrate("--verbosity", "0")

    assert result.code == 0
    assert result.out == ""


def test_database_option_migrates_only_that_database_as_django_does():
    result = migrate("--database", "cell1")

    assert result.code == 0, result.err
    assert "No migrations to apply." in result.out
    assert not any(line.startswith(f"{alias}:") for alias in SETTINGS_DATABASES for line in result.out.splitlines())


def test_a_cell_registered_at_run_time_is_migrated_then_up_to_date(cells, fresh_database_url):
    runtime = register_cell(fresh_database_url)
    alias = f"cell-{runtime.uuid}"

    first = migrate()

    assert first.code == 0, first.err
    lines = first.out.splitlines()
    assert lines[:4] == up_to_date(*SETTINGS_DATABASES)
    assert len(lines) == 5
    assert re.fullmatch(rf"{alias}: applied [1-9]\d* migrations?", lines[4]), lines[4]

    second = migrate()

    assert second.out.splitlines() == up_to_date(*SETTINGS_DATABASES, alias)


def test_a_cell_registered_at_run_time_gets_the_cell_tables_only(cells, fresh_database_url):
    runtime = register_cell(fresh_database_url)

    assert migrate().code == 0

    alias = alias_for_mapping(runtime)
    assert alias == f"cell-{runtime.uuid}"
    tables = set(connections[alias].introspection.table_names())
    assert {"instances", "instance_extra", "compute_nodes", "django_migrations"} <= tables
    assert not {"cell_mappings", "host_mappings", "instance_mappings", "auth_user"} & tables
    assert tables == set(connections["cell1"].introspection.table_names())


def test_an_unreachable_cell_is_reported_and_exits_1_after_migrating_the_others(cells, fresh_database_url, tmp_path):
    runtime = register_cell(fresh_database_url)
    down = register_cell(sqlite_url(tmp_path / "missing-directory" / "cell.sqlite3"), name="down")

    result = migrate()

    assert result.code == 1
    assert result.out.splitlines()[:4] == up_to_date(*SETTINGS_DATABASES)
    assert f"cell-{runtime.uuid}: applied " in result.out
    assert f"cell-{down.uuid}: failed: " in result.err
    assert f"Could not migrate: cell-{down.uuid}" in result.err
    assert "instances" in connections[f"cell-{runtime.uuid}"].introspection.table_names()


def test_a_cell_whose_url_cannot_be_used_is_reported_and_exits_1(cells):
    broken = register_cell("not a database url", name="broken")

    result = migrate()

    assert result.code == 1
    assert result.out.splitlines() == up_to_date(*SETTINGS_DATABASES)
    assert f"cell {broken.identity}: not migrated" in result.err
    assert f"Could not migrate: {broken.identity}" in result.err
