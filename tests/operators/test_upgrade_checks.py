"""``manage.py status upgrade check``: one failing condition at a time, its row and its exit code."""

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from cellsv2.context import target_cell
from consoles.models import ConsoleAuthToken
from keypairs.models import KeyPairConflict, LegacyKeyPair
from mappings.models import CellMapping, HostMapping, InstanceMapping
from servers.models import BuildRequest, ComputeNode, Instance
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

CHECKS = [
    "Cells v2",
    "Cell databases",
    "Compute host mappings",
    "Instance mappings",
    "Online data migrations",
    "Key pair conflicts",
    "Build requests",
    "Console auths",
]


def status() -> tuple[int, dict]:
    """Run the checks with --json; (exit code, {check name: (result, details)})."""
    result = run_command("status", "upgrade", "check", "--json")
    body = json.loads(result.out)
    assert body["name"] == "Upgrade Check Results"
    assert [c["check"] for c in body["checks"]] == CHECKS
    return result.code, {c["check"]: (c["result"], c["details"]) for c in body["checks"]}


def only(rows: dict, name: str) -> tuple[int, str]:
    """The row of ``name``; every other check passed."""
    others = {k: v[0] for k, v in rows.items() if k != name}
    assert set(others.values()) == {0}, others
    return rows[name]


def node(cell, host: str) -> ComputeNode:
    with target_cell(cell):
        return ComputeNode.objects.create(
            uuid=str(uuid.uuid4()), host=host, hypervisor_hostname=host, vcpus=4, memory_mb=4096, local_gb=40
        )


def instance(cell, **fields) -> Instance:
    with target_cell(cell):
        return Instance.objects.create(uuid=str(uuid.uuid4()), project_id="p", user_id="u", **fields)


@pytest.fixture
def healthy(cells):
    """cell0 and two cells, a mapped host in cell1: every check passes."""
    node(cells["cell1"], "compute1")
    HostMapping.objects.create(cell=cells["cell1"], host="compute1")
    return cells


def test_a_healthy_deployment_passes_every_check_and_exits_0(healthy):
    code, rows = status()
    assert code == 0
    assert {name: row[0] for name, row in rows.items()} == dict.fromkeys(CHECKS, 0)


def test_the_table_is_oslo_upgradechecks(healthy):
    result = run_command("status", "upgrade_check")
    lines = result.out.splitlines()
    assert lines[1] == "| Upgrade Check Results" + " " * (len(lines[0]) - 24) + "|"
    assert "| Check: Cells v2" in result.out and "| Result: Success" in result.out
    assert "| Details: None" in result.out
    assert result.code == 0


def test_without_cell_mappings_cells_v2_fails_and_exits_2(db):
    code, rows = status()
    assert code == 2
    assert rows["Cells v2"][0] == 2
    assert "at least two cell mappings" in rows["Cells v2"][1]


def test_without_cell0_cells_v2_fails(healthy):
    CellMapping.objects.filter(name="cell0").delete()
    code, rows = status()
    assert code == 2
    assert rows["Cells v2"] == (
        2,
        "No cell0 mapping found. Run command 'manage.py cell_v2 simple_cell_setup' and then retry.",
    )


def test_compute_nodes_and_no_host_mapping_at_all_fail(cells):
    node(cells["cell2"], "compute9")
    code, rows = status()
    assert code == 2
    assert "No host mappings found but there are compute nodes" in rows["Cells v2"][1]


def test_an_unreachable_cell_fails_cell_databases(healthy, down_cell):
    code, rows = status()
    assert code == 2
    result, details = rows["Cell databases"]
    assert result == 2
    assert details.startswith("cell cell-down cannot be reached: OperationalError")


def test_a_cell_whose_schema_is_behind_fails_cell_databases(healthy, fresh_database_url):
    CellMapping.objects.create(
        uuid=str(uuid.uuid4()), name="new-cell", transport_url="none:///", database_connection=fresh_database_url
    )
    code, rows = status()
    assert code == 2
    result, details = rows["Cell databases"]
    assert result == 2 and "cell new-cell has" in details and "run 'manage.py migrate'" in details


def test_a_compute_host_without_a_host_mapping_warns(healthy):
    node(healthy["cell2"], "compute2")
    code, rows = status()
    assert code == 1
    assert only(rows, "Compute host mappings") == (
        1,
        "1 compute host(s) have no host mapping (cell2: 1). "
        "Run command 'manage.py cell_v2 discover_hosts' to map them.",
    )


def test_instances_without_a_mapping_are_counted_per_cell(healthy):
    mapped = instance(healthy["cell1"])
    InstanceMapping.objects.create(instance_uuid=mapped.uuid, cell=healthy["cell1"], project_id="p", user_id="u")
    instance(healthy["cell1"])
    instance(healthy["cell1"])
    code, rows = status()
    assert code == 1
    result, details = only(rows, "Instance mappings")
    assert result == 1
    assert details == (
        f"Cell cell1 has 2 instance(s) with no instance mapping: run "
        f"'manage.py cell_v2 map_instances --cell_uuid {healthy['cell1'].uuid}'."
    )


def test_online_migrations_with_rows_left_warn(healthy):
    with target_cell(healthy["cell2"]):
        LegacyKeyPair.objects.create(name="old", user_id="alice", fingerprint="aa", public_key="ssh-rsa AAA")
    code, rows = status()
    assert code == 1
    result, details = only(rows, "Online data migrations")
    assert result == 1 and "migrate_keypairs_to_api_db: 1" in details
    assert details.endswith("Run command 'manage.py online_data_migrations' until it exits 0.")


def test_key_pair_conflicts_waiting_for_a_decision_warn(healthy):
    KeyPairConflict.objects.create(cell_uuid=healthy["cell1"].uuid, legacy_id=1, name="k", user_id="alice")
    code, rows = status()
    assert code == 1
    assert only(rows, "Key pair conflicts")[1].startswith("1 key pair conflict(s) wait for a decision")


def test_old_build_requests_warn(healthy, settings):
    settings.CELLSV2_BUILD_REQUEST_MAX_AGE = 60
    old = BuildRequest.objects.create(instance_uuid=str(uuid.uuid4()), project_id="p", instance="{}")
    BuildRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    BuildRequest.objects.create(instance_uuid=str(uuid.uuid4()), project_id="p", instance="{}")
    code, rows = status()
    assert code == 1
    assert only(rows, "Build requests")[1].startswith("1 build request(s) have waited more than 60 s")


def test_expired_console_tokens_not_cleaned_warn(healthy):
    with target_cell(healthy["cell2"]):
        ConsoleAuthToken.objects.create(
            token_hash="0" * 64,
            console_type="novnc",
            host="compute2",
            port=5900,
            instance_uuid=str(uuid.uuid4()),
            expires=int(time.time()) - 10,
        )
    code, rows = status()
    assert code == 1
    assert only(rows, "Console auths")[1].startswith("Expired console tokens are still stored (cell2: 1)")


def test_the_worst_result_is_the_exit_code(healthy, down_cell):
    node(healthy["cell2"], "compute2")
    code, rows = status()
    assert code == 2
    assert rows["Compute host mappings"][0] == 1


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_on_a_terminal_and_through_a_pipe(manage_py, healthy):
    node(healthy["cell2"], "compute2")
    on_terminal = manage_py.terminal("status", "upgrade", "check")
    assert on_terminal.code == 1, on_terminal.raw
    assert "| Check: Compute host mappings" in on_terminal.screen
    assert "| Result: Warning" in on_terminal.screen
    piped = manage_py.pipe("status", "upgrade_check", "--json")
    assert piped.code == 1
    assert json.loads(piped.out)["checks"][2] == {
        "check": "Compute host mappings",
        "result": 1,
        "details": "1 compute host(s) have no host mapping (cell2: 1). "
        "Run command 'manage.py cell_v2 discover_hosts' to map them.",
    }


@pytest.mark.parametrize("spelling", [("upgrade_check",), ("upgrade_check", "--json")])
def test_upgrade_check_is_the_same_command_as_upgrade_check(healthy, down_cell, spelling):
    """Nova's docs spell it ``nova-status upgrade check``; ``upgrade_check`` gives the same output
    and exit code, whatever the result (here 0, then 1 for an unmapped host, then 2 for a down cell)."""
    spaced = ("upgrade", "check", *spelling[1:])
    CellMapping.objects.filter(pk=down_cell.pk).delete()
    for make_worse in (lambda: None, lambda: node(healthy["cell2"], "compute2"), lambda: down_cell.save()):
        make_worse()
        one, other = run_command("status", *spelling), run_command("status", *spaced)
        assert (one.code, one.out, one.err) == (other.code, other.out, other.err)
    assert one.code == 2


@pytest.fixture
def api_database_gone(manage_py):
    """The manage.py runner with the API database's name pointed at nothing (a file in a missing
    directory on SQLite; no such database on PostgreSQL)."""
    names = {**json.loads(manage_py.env["CELLSV2_TEST_DATABASE_NAMES"]), "api": "no/such/dir/api"}
    return type(manage_py)({**manage_py.env, "CELLSV2_TEST_DATABASE_NAMES": json.dumps(names)})


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_without_the_api_database_no_check_runs_and_the_exit_code_is_255(api_database_gone):
    # Nova's checks raise out of oslo.upgradecheck, which prints "Error:" and exits 255 ("so it's
    # not confused with the upgrade check exit codes"); here the traceback is one line.
    on_terminal = api_database_gone.terminal("status", "upgrade", "check")
    assert on_terminal.code == 255, on_terminal.raw
    (line,) = on_terminal.screen.splitlines()
    assert line.startswith("Error: The API database cannot be read: OperationalError: ")
    assert "Traceback" not in on_terminal.raw


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_both_spellings_agree_when_the_api_database_cannot_be_opened(api_database_gone):
    one = api_database_gone.pipe("status", "upgrade_check", "--json")
    other = api_database_gone.pipe("status", "upgrade", "check", "--json")
    assert (one.code, one.out, one.err) == (other.code, other.out, other.err)
    assert one.code == 255
    assert one.out.startswith("Error: The API database cannot be read: OperationalError: ")
    assert (len(one.out.splitlines()), one.err) == (1, "")
