"""``db version``, ``api_db version`` and ``cell_v2 map_cell_and_hosts``, as nova-manage has them."""

import uuid

import pytest

from cellsv2.cells import configured_alias_url
from cellsv2.context import target_cell
from mappings.models import CellMapping, HostMapping
from servers.models import ComputeNode
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def node(cell_or_alias, host: str) -> ComputeNode:
    with target_cell(cell_or_alias):
        return ComputeNode.objects.create(
            uuid=str(uuid.uuid4()), host=host, hypervisor_hostname=host, vcpus=4, memory_mb=4096, local_gb=40
        )


class TestVersions:
    def test_api_db_version_lists_the_api_apps_latest_migrations(self, cells):
        result = run_command("api_db", "version")
        assert result.code == 0
        heads = dict(line.split(" ") for line in result.out.splitlines())
        assert heads["mappings"].startswith("0002_") and heads["identity"] == "0001_initial"
        assert "consoles" not in heads  # a cell app: no table here

    def test_db_version_lists_each_cells_apps(self, cells):
        result = run_command("db", "version")
        assert result.code == 0
        rows = [line.split(" ") for line in result.out.splitlines()]
        assert {cell for cell, *_ in rows} == {"cell0", "cell1", "cell2"}
        cell1_apps = {app for cell, app, _ in rows if cell == "cell1"}
        assert cell1_apps == {"consoles", "hosts", "instance_actions", "keypairs", "servergroups", "servers"}

    def test_db_version_of_one_cell(self, cells):
        result = run_command("db", "version", "--cell", "cell2")
        assert {line.split(" ")[0] for line in result.out.splitlines()} == {"cell2"}

    def test_an_unreachable_cell_is_reported_and_the_others_printed(self, cells, down_cell):
        result = run_command("db", "version")
        assert result.code == 1
        assert result.err.startswith("cell-down: cannot be reached: OperationalError")
        assert "cell1 servers" in result.out


class TestMapCellAndHosts:
    def test_no_compute_nodes_exits_1_as_nova(self, cells):
        result = run_command("cell_v2", "map_cell_and_hosts", "--database_connection", configured_alias_url("cell2"))
        assert (result.code, result.out) == (1, "No hosts found to map to cell, exiting.\n")

    def test_hosts_of_a_mapped_cell_database_are_mapped_to_that_cell(self, cells):
        node("cell2", "compute-a")
        node("cell2", "compute-b")
        result = run_command("cell_v2", "map_cell_and_hosts", "--database_connection", configured_alias_url("cell2"))
        assert result.code == 0, result.err
        assert result.out == f"Mapped 2 hosts (compute-a, compute-b) to cell cell2 ({cells['cell2'].uuid}).\n"
        assert set(HostMapping.objects.filter(cell=cells["cell2"]).values_list("host", flat=True)) == {
            "compute-a",
            "compute-b",
        }
        with target_cell(cells["cell2"]):
            assert set(ComputeNode.objects.values_list("mapped", flat=True)) == {1}
        again = run_command(
            "cell_v2", "map_cell_and_hosts", "--database_connection", configured_alias_url("cell2"), "--verbose"
        )
        assert again.code == 0
        assert again.out.splitlines() == [
            f"Host compute-a is already mapped to cell {cells['cell2'].uuid}",
            f"Host compute-b is already mapped to cell {cells['cell2'].uuid}",
            "All hosts are already mapped to cell(s).",
        ]

    def test_an_unmapped_database_gets_a_new_cell_whose_uuid_verbose_prints(self, db, fresh_database_url):
        run_command("migrate", "--database", "api", "-v", "0")
        probe = CellMapping(uuid=str(uuid.uuid4()), name="probe", database_connection=fresh_database_url)
        with target_cell(probe) as alias:
            run_command("migrate", "--database", alias, "-v", "0")
        node(probe, "compute-z")
        result = run_command(
            "cell_v2",
            "map_cell_and_hosts",
            "--database_connection",
            fresh_database_url,
            "--name",
            "cell9",
            "--verbose",
        )
        assert result.code == 0, result.err
        created = CellMapping.objects.get(name="cell9")
        assert result.out == f"{created.uuid}\n"
        assert HostMapping.objects.get(host="compute-z").cell == created

    def test_a_database_that_refuses_is_one_line_and_exit_1(self, cells, tmp_path):
        bad = f"sqlite:///{tmp_path}/no/such/dir/cell.sqlite3"
        result = run_command("cell_v2", "map_cell_and_hosts", "--database_connection", bad)
        assert result.code == 1
        assert result.err.startswith("Invalid database connection:")
        assert len(result.err.strip().splitlines()) == 1
