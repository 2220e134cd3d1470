"""``migrate``, ``table_inventory``, ``online_data_migrations`` and ``policy`` as operators run them.

Each command is a real ``python manage.py`` process on a pseudo-terminal (and the long one through
pipes too), against this test run's databases: exit codes, what stays on the screen, and no
progress bar where output is not a terminal.
"""

import pytest

from keypairs.models import KeyPair
from tests.keypairs.helpers import legacy_key
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)

TABLE = [
    "+-----------------------------------+--------------+-----------+",
    "|             Migration             | Total Needed | Completed |",
    "+-----------------------------------+--------------+-----------+",
]


def test_online_data_migrations_with_nothing_to_do_on_a_terminal_nobody_sized(manage_py, cells):
    # What `script -qec "python manage.py online_data_migrations" /dev/null` gives outside a
    # terminal: a TTY that reports 0 columns. The bar used to crash the command (exit 255).
    result = manage_py.terminal("online_data_migrations", size=(0, 0))

    assert result.code == 0, result.raw
    assert result.drew_progress
    assert result.lines == [
        "Running batches of 5000 until complete",
        *TABLE,
        "| migrate_instance_groups_to_api_db |      0       |     0     |",
        "|     migrate_keypairs_to_api_db    |      0       |     0     |",
        "|     populate_instance_keypairs    |      0       |     0     |",
        "+-----------------------------------+--------------+-----------+",
    ]


def test_online_data_migrations_shows_a_bar_on_a_terminal_and_plain_lines_in_a_pipe(manage_py, cells):
    for name in ("a", "b", "c"):
        legacy_key("cell1", "alice", name)
    legacy_key("cell2", "bob", "d")

    one_batch = manage_py.terminal("online_data_migrations", "--max-count", "2")
    rest = manage_py.pipe("online_data_migrations")

    # On the terminal: the bar while it works, erased; Nova's lines and table stay.
    assert one_batch.code == 1, one_batch.raw
    assert one_batch.drew_progress
    assert one_batch.lines[0] == "2 rows matched query migrate_keypairs_to_api_db, 2 migrated"
    assert one_batch.lines[1:4] == TABLE
    assert "Migrating" not in one_batch.screen
    # Through a pipe: the same lines, no control character anywhere.
    assert rest.code == 0, rest.err
    assert "\r" not in rest.out + rest.err and "\x1b" not in rest.out + rest.err
    assert rest.out.splitlines()[:2] == [
        "Running batches of 5000 until complete",
        "2 rows matched query migrate_keypairs_to_api_db, 2 migrated",
    ]
    assert "|     migrate_keypairs_to_api_db    |      2       |     2     |" in rest.out.splitlines()
    assert KeyPair.objects.count() == 4


def test_migrate_says_each_database_is_up_to_date(manage_py, cells):
    result = manage_py.terminal("migrate")

    assert result.code == 0, result.raw
    assert result.lines == [f"{alias}: up to date" for alias in ALL_DATABASES]


def test_table_inventory_prints_the_tables_and_updates_a_file(manage_py, tmp_path):
    doc = tmp_path / "guide.md"
    doc.write_text("# Guide\n<!-- table-inventory:start -->\nstale block\n<!-- table-inventory:end -->\nrest\n")

    printed = manage_py.terminal("table_inventory")
    updated = manage_py.terminal("table_inventory", "--update", str(doc))

    assert printed.code == 0, printed.raw
    assert "instance_mappings" in printed.screen and "key_pairs" in printed.screen
    assert (updated.code, updated.lines) == (0, [f"Updated the table inventory in {doc}"])
    assert "stale block" not in doc.read_text() and "instance_mappings" in doc.read_text()


def test_policy_sample_through_a_pipe_becomes_the_policy_file_that_policy_list_shows(manage_py, tmp_path):
    sample = manage_py.pipe("policy", "sample")
    assert (sample.code, sample.err) == (0, "")
    assert sample.out == run_command("policy", "sample").out
    policy = tmp_path / "policy.yaml"
    default = '#"os_compute_api:os-server-groups:create": "rule:project_member_or_admin"'
    assert default in sample.out
    policy.write_text(sample.out.replace(default, '"os_compute_api:os-server-groups:create": "rule:admin_api"'))

    manage_py.env["CELLSV2_POLICY_FILE"] = str(policy)
    listed = manage_py.terminal("policy", "list")
    manage_py.env["CELLSV2_POLICY_FILE"] = str(tmp_path / "polcy.yaml")
    typo = manage_py.terminal("policy", "list")

    assert listed.code == 0, listed.raw
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in listed.lines if line.startswith("| ")]
    assert rows[0] == ["Rule", "Check string", "From"]
    assert ["os_compute_api:os-server-groups:create", "rule:admin_api", "policy file"] in rows
    assert ["os_compute_api:os-server-groups:delete", "rule:project_member_or_admin", "default"] in rows
    assert (typo.code, typo.lines) == (1, [f"CELLSV2_POLICY_FILE={tmp_path / 'polcy.yaml'} does not exist"])
