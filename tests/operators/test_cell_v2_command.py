"""``manage.py cell_v2 <subcommand>``: every operator command's success path and exit codes.

The exit codes follow nova-manage (reference §5.4); the cell databases are real, and compute
nodes and instances are written into them inside ``target_cell``.
"""

import uuid
from io import StringIO

import pytest
from django.core.management import call_command, get_commands, load_command_class

from cellsv2.cells import CELL0_UUID, configured_alias_url
from cellsv2.context import target_cell
from cellsv2.dburls import sqlite_url
from mappings.models import CellMapping, HostMapping, InstanceMapping
from mappings.selectors import INSTANCE_MIGRATION_MARKER
from servers.models import ComputeNode, Instance
from tests.factories import ComputeNodeFactory, InstanceFactory
from tests.support import ALL_DATABASES, CommandResult, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

UNKNOWN_UUID = "deadbeef-dead-4eef-8eef-deadbeefdead"


# --- helpers -------------------------------------------------------------------------------------


def cell_v2(*args: str):
    return run_command("cell_v2", *args)


def node_mapped_flags(cell) -> dict[str, int]:
    with target_cell(cell):
        return dict(ComputeNode.objects.live().values_list("hypervisor_hostname", "mapped"))


def map_instance(instance: Instance, cell: CellMapping | None) -> InstanceMapping:
    return InstanceMapping.objects.create(
        instance_uuid=instance.uuid, cell=cell, project_id=instance.project_id, user_id=instance.user_id
    )


def table_rows(out: str) -> list[list[str]]:
    """The rows of a PrettyTable printed to ``out``, header first, cells stripped."""
    return [
        [cell.strip() for cell in line.strip()[1:-1].split("|")] for line in out.splitlines() if line.startswith("|")
    ]


def migrate() -> CommandResult:
    """Run ``migrate`` for every database; it ends with sys.exit(1) when one could not be migrated."""
    command = load_command_class(get_commands()["migrate"], "migrate")
    out, err = StringIO(), StringIO()
    try:
        call_command(command, stdout=out, stderr=err)
    except SystemExit as exc:
        return CommandResult(exc.code, out.getvalue(), err.getvalue())
    return CommandResult(0, out.getvalue(), err.getvalue())


def respelled(url: str) -> str:
    """Another spelling of the same database URL (a ./ in the SQLite path, localhost for 127.0.0.1)."""
    if url.startswith("sqlite:///"):
        head, _, name = url.rpartition("/")
        return f"{head}/./{name}"
    assert "127.0.0.1" in url, url
    return url.replace("127.0.0.1", "localhost")


@pytest.fixture
def new_database_url(tmp_path):
    """A reachable database no cell uses yet (SQLite creates the file on first connection)."""
    return sqlite_url(tmp_path / "new-cell.sqlite3")


@pytest.fixture
def unreachable_cell(fresh_database_url, tmp_path):
    """A mapped cell whose database (an SQLite file in a missing directory) cannot be opened.

    Requesting ``fresh_database_url`` lets cells registered at run time connect in the test.
    """
    return CellMapping.objects.create(
        uuid=str(uuid.uuid4()),
        name="unreachable",
        transport_url="none:///",
        database_connection=sqlite_url(tmp_path / "missing-directory" / "cell.sqlite3"),
    )


# --- simple_cell_setup ---------------------------------------------------------------------------


class TestSimpleCellSetup:
    def test_maps_cell0_every_settings_cell_their_hosts_and_instances(self):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        ComputeNodeFactory(cell="cell2", host="compute-2")
        instances = [
            InstanceFactory(cell="cell1"),
            InstanceFactory(cell="cell1", deleted=True),
            InstanceFactory(cell="cell2"),
        ]

        result = cell_v2("simple_cell_setup")

        assert result.code == 0, result.err
        mapped = {cell.name: cell for cell in CellMapping.objects.all()}
        assert set(mapped) == {"cell0", "cell1", "cell2"}
        assert mapped["cell0"].uuid == CELL0_UUID
        for alias in ("cell0", "cell1", "cell2"):
            assert mapped[alias].database_connection == configured_alias_url(alias)
            assert mapped[alias].transport_url == "none:///"
        assert dict(HostMapping.objects.values_list("host", "cell__name")) == {
            "compute-1": "cell1",
            "compute-2": "cell2",
        }
        assert node_mapped_flags("cell1") == {"compute-1": 1}
        assert dict(InstanceMapping.objects.values_list("instance_uuid", "cell__name")) == {
            instances[0].uuid: "cell1",
            instances[1].uuid: "cell1",
            instances[2].uuid: "cell2",
        }

    def test_verbose_says_what_it_mapped(self):
        ComputeNodeFactory(cell="cell1", host="compute-1")

        result = cell_v2("simple_cell_setup", "--verbose")

        assert result.code == 0
        cell1 = CellMapping.objects.get(name="cell1")
        assert f"Created cell {cell1.uuid}(cell1)" in result.out
        assert "Found 3 cell mappings." in result.out
        assert "Creating host mapping for compute host 'compute-1'" in result.out

    def test_running_it_again_changes_nothing(self):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        assert cell_v2("simple_cell_setup").code == 0
        before = list(CellMapping.objects.order_by("id").values_list("uuid", "name"))

        result = cell_v2("simple_cell_setup")

        assert result.code == 0
        assert "Cell0 is already setup" in result.out
        assert list(CellMapping.objects.order_by("id").values_list("uuid", "name")) == before
        assert HostMapping.objects.count() == 1

    def test_without_compute_nodes_it_succeeds_and_says_how_to_add_them(self):
        result = cell_v2("simple_cell_setup")

        assert result.code == 0
        assert "No hosts found to map to cell yet" in result.out
        assert CellMapping.objects.count() == 3

    def test_a_mapped_cell_that_cannot_be_reached_exits_1_after_setting_up_the_others(self, unreachable_cell):
        ComputeNodeFactory(cell="cell1", host="compute-1")

        result = cell_v2("simple_cell_setup")

        assert result.code == 1
        assert f"Unable to reach cell {unreachable_cell.uuid}" in result.err
        assert set(CellMapping.objects.values_list("name", flat=True)) == {"unreachable", "cell0", "cell1", "cell2"}
        assert list(HostMapping.objects.values_list("host", flat=True)) == ["compute-1"]


# --- map_cell0 -----------------------------------------------------------------------------------


class TestMapCell0:
    def test_maps_the_cell0_database_from_settings(self):
        result = cell_v2("map_cell0")

        assert result.code == 0, result.err
        cell0 = CellMapping.objects.get()
        assert (cell0.uuid, cell0.name, cell0.transport_url) == (CELL0_UUID, "cell0", "none:///")
        assert cell0.database_connection == configured_alias_url("cell0")

    def test_a_second_run_says_cell0_is_already_setup_and_exits_0(self):
        assert cell_v2("map_cell0").code == 0

        result = cell_v2("map_cell0")

        assert result.code == 0
        assert "Cell0 is already setup" in result.out
        assert CellMapping.objects.count() == 1

    def test_a_given_database_connection_is_used(self, new_database_url):
        result = cell_v2("map_cell0", "--database_connection", new_database_url)

        assert result.code == 0, result.err
        assert CellMapping.objects.get(uuid=CELL0_UUID).database_connection == new_database_url

    @pytest.mark.parametrize("url", ["not-a-url", "postgresql://127.0.0.1:5432/"])
    def test_a_malformed_database_connection_exits_1_and_maps_nothing(self, url):
        result = cell_v2("map_cell0", "--database_connection", url)

        assert result.code == 1
        assert "Invalid database connection" in result.err
        assert not CellMapping.objects.exists()

    def test_an_unreachable_database_exits_1_and_maps_nothing(self, tmp_path):
        url = sqlite_url(tmp_path / "missing-directory" / "cell0.sqlite3")

        result = cell_v2("map_cell0", "--database_connection", url)

        assert result.code == 1
        assert "Unable to connect" in result.err
        assert not CellMapping.objects.exists()


# --- create_cell ---------------------------------------------------------------------------------


class TestCreateCell:
    def test_creates_an_enabled_cell_without_a_message_queue(self, cells, new_database_url):
        result = cell_v2("create_cell", "--name", "cell3", "--database_connection", new_database_url)

        assert result.code == 0, result.err
        cell = CellMapping.objects.get(name="cell3")
        assert result.out == f"Created cell cell3 ({cell.uuid})\n"
        assert cell.database_connection == new_database_url
        assert cell.transport_url == "none:///"
        assert cell.disabled is False
        uuid.UUID(cell.uuid)

    def test_verbose_prints_the_uuid_of_the_new_cell(self, cells, new_database_url):
        result = cell_v2("create_cell", "--name", "cell3", "--database_connection", new_database_url, "--verbose")

        assert result.code == 0
        cell = CellMapping.objects.get(name="cell3")
        # Nova's contract: the uuid alone on stdout (for scripts); the confirmation goes to stderr.
        assert result.out.strip() == cell.uuid
        assert result.err.strip() == f"Created cell cell3 ({cell.uuid})"

    def test_disabled_creates_a_pre_disabled_cell(self, cells, new_database_url):
        result = cell_v2("create_cell", "--name", "cell3", "--database_connection", new_database_url, "--disabled")

        assert result.code == 0
        assert CellMapping.objects.get(name="cell3").disabled is True

    def test_a_transport_url_is_stored(self, cells, new_database_url):
        url = "rabbit://nova:secret@mq.example:5672/"
        result = cell_v2("create_cell", "--database_connection", new_database_url, "--transport-url", url)

        assert result.code == 0
        created = CellMapping.objects.exclude(uuid__in=[c.uuid for c in cells.values()]).get()
        assert created.transport_url == url
        assert created.name is None

    def test_cells_without_a_message_queue_do_not_clash_on_their_transport_url(self, cells, new_database_url):
        result = cell_v2(
            "create_cell", "--name", "cell3", "--database_connection", new_database_url, "--transport-url", "none:///"
        )

        assert result.code == 0, result.err
        assert CellMapping.objects.filter(transport_url="none:///").count() == 4

    def test_a_cell_declared_in_settings_needs_no_database_connection(self):
        result = cell_v2("create_cell", "--name", "cell2")

        assert result.code == 0, result.err
        assert "using the database configured as cell2" in result.out
        assert CellMapping.objects.get(name="cell2").database_connection == configured_alias_url("cell2")

    def test_a_missing_database_connection_exits_1_and_creates_nothing(self, cells):
        result = cell_v2("create_cell", "--name", "cell9")

        assert result.code == 1
        assert "Must specify --database_connection" in result.err
        assert CellMapping.objects.count() == 3

    @pytest.mark.parametrize("url", ["not-a-url", "postgresql://127.0.0.1:5432/"])
    def test_a_malformed_database_connection_exits_1_and_creates_nothing(self, cells, url):
        result = cell_v2("create_cell", "--name", "cell3", "--database_connection", url)

        assert result.code == 1
        assert "Invalid database connection" in result.err
        assert not CellMapping.objects.filter(name="cell3").exists()

    def test_an_unreachable_database_exits_1_and_creates_nothing(self, cells, tmp_path):
        url = sqlite_url(tmp_path / "missing-directory" / "cell3.sqlite3")

        result = cell_v2("create_cell", "--name", "cell3", "--database_connection", url)

        assert result.code == 1
        assert "Unable to connect to the cell database" in result.err
        assert not CellMapping.objects.filter(name="cell3").exists()

    def test_the_database_of_another_cell_exits_2_and_creates_nothing(self, cells):
        result = cell_v2("create_cell", "--name", "again", "--database_connection", configured_alias_url("cell1"))

        assert result.code == 2
        assert f"already exists for another cell with uuid {cells['cell1'].uuid}" in result.err
        assert CellMapping.objects.count() == 3

    def test_the_same_database_spelled_differently_is_still_a_duplicate(self, cells):
        url = respelled(configured_alias_url("cell2"))

        result = cell_v2("create_cell", "--name", "again", "--database_connection", url)

        assert result.code == 2
        assert cells["cell2"].uuid in result.err
        assert CellMapping.objects.count() == 3

    def test_the_transport_url_of_another_cell_exits_2_and_creates_nothing(self, cells, new_database_url, tmp_path):
        url = "rabbit://nova:secret@mq.example:5672/"
        assert cell_v2("create_cell", "--database_connection", new_database_url, "--transport-url", url).code == 0
        other_database = sqlite_url(tmp_path / "other.sqlite3")

        result = cell_v2("create_cell", "--name", "x", "--database_connection", other_database, "--transport-url", url)

        assert result.code == 2
        assert CellMapping.objects.count() == 4
        assert not CellMapping.objects.filter(name="x").exists()


class TestACellCreatedAtRunTime:
    def test_is_migrated_gets_compute_nodes_and_has_its_hosts_discovered(self, cells, fresh_database_url):
        created = cell_v2("create_cell", "--name", "runtime", "--database_connection", fresh_database_url, "--verbose")
        assert created.code == 0, created.err
        cell_uuid = created.out.strip()

        migrated = migrate()

        assert migrated.code == 0, migrated.err
        assert f"cell-{cell_uuid}: applied " in migrated.out
        assert migrate().out.splitlines()[-1] == f"cell-{cell_uuid}: up to date"

        added = run_command(
            "compute_nodes", "add", "--cell", cell_uuid, "--host", "rt-compute", "--vcpus", "2", "--memory-mb", "512"
        )
        assert added.code == 0, added.err

        discovered = cell_v2("discover_hosts", "--cell_uuid", cell_uuid, "--strict")

        assert discovered.code == 0, discovered.err
        assert HostMapping.objects.get(host="rt-compute").cell.uuid == cell_uuid
        runtime = CellMapping.objects.get(uuid=cell_uuid)
        assert node_mapped_flags(runtime) == {"rt-compute": 1}
        for alias in ("cell1", "cell2"):
            assert node_mapped_flags(alias) == {}

    def test_is_unusable_until_migrated(self, cells, fresh_database_url):
        created = cell_v2("create_cell", "--name", "runtime", "--database_connection", fresh_database_url, "--verbose")
        cell_uuid = created.out.strip()

        result = cell_v2("discover_hosts")

        assert result.code == 3
        assert f"Unable to reach cell {cell_uuid}" in result.err


# --- list_cells ----------------------------------------------------------------------------------


class TestListCells:
    @pytest.fixture
    def cells_with_passwords(self, cells):
        CellMapping.objects.create(
            uuid="11111111-1111-4111-8111-111111111111",
            name="secret",
            transport_url="rabbit://nova:mq-password@mq.example:5672/",
            database_connection="postgresql://nova:db-password@db.example:5432/nova_secret",
            disabled=True,
        )
        CellMapping.objects.create(
            uuid="22222222-2222-4222-8222-222222222222",
            name=None,
            transport_url="none:///",
            database_connection="postgresql://nova@db.example:5432/nova_nameless",
        )
        return cells

    def test_lists_every_cell_sorted_by_name_with_passwords_masked(self, cells_with_passwords):
        result = cell_v2("list_cells")

        assert result.code == 0
        header, *rows = table_rows(result.out)
        assert header == ["Name", "UUID", "Transport URL", "Database Connection", "Disabled"]
        assert [row[0] for row in rows] == ["", "cell0", "cell1", "cell2", "secret"]
        secret = rows[-1]
        assert secret == [
            "secret",
            "11111111-1111-4111-8111-111111111111",
            "rabbit://nova:****@mq.example:5672/",
            "postgresql://nova:****@db.example:5432/nova_secret",
            "True",
        ]
        assert rows[0][3] == "postgresql://nova@db.example:5432/nova_nameless"
        assert "mq-password" not in result.out and "db-password" not in result.out

    def test_verbose_shows_the_passwords(self, cells_with_passwords):
        result = cell_v2("list_cells", "--verbose")

        assert result.code == 0
        secret = table_rows(result.out)[-1]
        assert secret[2] == "rabbit://nova:mq-password@mq.example:5672/"
        assert secret[3] == "postgresql://nova:db-password@db.example:5432/nova_secret"

    def test_no_cells_is_an_empty_table(self):
        result = cell_v2("list_cells")
        assert result.code == 0
        assert len(table_rows(result.out)) == 1


# --- update_cell ---------------------------------------------------------------------------------


class TestUpdateCell:
    def fields(self, cell: CellMapping):
        cell.refresh_from_db()
        return (cell.name, cell.transport_url, cell.database_connection, cell.disabled)

    def test_changes_only_the_values_given(self, cells, new_database_url):
        cell = cells["cell2"]

        result = cell_v2(
            "update_cell",
            "--cell_uuid",
            cell.uuid,
            "--name",
            "renamed",
            "--transport-url",
            "rabbit://u:p@mq.example/",
            "--database_connection",
            new_database_url,
        )

        assert result.code == 0, result.err
        assert self.fields(cell) == ("renamed", "rabbit://u:p@mq.example/", new_database_url, False)
        rename_only = cell_v2("update_cell", "--cell_uuid", cell.uuid, "--name", "again")
        assert rename_only.code == 0
        assert self.fields(cell) == ("again", "rabbit://u:p@mq.example/", new_database_url, False)

    def test_disable_then_enable_with_a_note_when_nothing_changes(self, cells):
        cell = cells["cell1"]

        assert cell_v2("update_cell", "--cell_uuid", cell.uuid, "--disable").code == 0
        assert self.fields(cell)[3] is True
        again = cell_v2("update_cell", "--cell_uuid", cell.uuid, "--disable")
        assert again.code == 0
        assert again.out.splitlines() == [
            f"Cell {cell.uuid} is already disabled",
            f"Nothing to change in cell cell1 ({cell.uuid})",
        ]
        assert self.fields(cell)[3] is True

        assert cell_v2("update_cell", "--cell_uuid", cell.uuid, "--enable").code == 0
        assert self.fields(cell)[3] is False
        again = cell_v2("update_cell", "--cell_uuid", cell.uuid, "--enable")
        assert again.code == 0
        assert f"Cell {cell.uuid} is already enabled" in again.out

    def test_says_what_changed_or_that_nothing_did(self, cells):
        cell = cells["cell1"]

        changed = cell_v2("update_cell", "--cell_uuid", cell.uuid, "--transport-url", "rabbit://mq/", "--disable")
        nothing = cell_v2("update_cell", "--cell_uuid", cell.uuid)

        assert changed.out == f"Updated cell cell1 ({cell.uuid}): transport URL, disabled\n"
        assert nothing.out == f"Nothing to change in cell cell1 ({cell.uuid})\n"

    def test_an_unknown_cell_exits_1(self, cells):
        result = cell_v2("update_cell", "--cell_uuid", UNKNOWN_UUID, "--name", "x")

        assert result.code == 1
        assert UNKNOWN_UUID in result.err
        assert not CellMapping.objects.filter(name="x").exists()

    @pytest.mark.parametrize("bad", ["not-a-url", "missing-directory"])
    def test_an_invalid_database_connection_exits_2_and_changes_nothing(self, cells, tmp_path, bad):
        cell = cells["cell2"]
        before = self.fields(cell)
        url = bad if bad == "not-a-url" else sqlite_url(tmp_path / bad / "cell.sqlite3")

        result = cell_v2("update_cell", "--cell_uuid", cell.uuid, "--name", "renamed", "--database_connection", url)

        assert result.code == 2
        assert "Unable to update CellMapping" in result.err
        assert self.fields(cell) == before

    def test_the_database_of_another_cell_exits_3_and_changes_nothing(self, cells):
        cell = cells["cell1"]
        before = self.fields(cell)

        result = cell_v2(
            "update_cell",
            "--cell_uuid",
            cell.uuid,
            "--name",
            "x",
            "--database_connection",
            configured_alias_url("cell2"),
        )

        assert result.code == 3
        assert cells["cell2"].uuid in result.err
        assert self.fields(cell) == before

    def test_the_transport_url_of_another_cell_exits_3(self, cells):
        url = "rabbit://nova:secret@mq.example:5672/"
        assert cell_v2("update_cell", "--cell_uuid", cells["cell2"].uuid, "--transport-url", url).code == 0

        result = cell_v2("update_cell", "--cell_uuid", cells["cell1"].uuid, "--transport-url", url)

        assert result.code == 3
        assert self.fields(cells["cell1"])[1] == "none:///"

    def test_keeping_its_own_database_is_not_a_duplicate(self, cells):
        cell = cells["cell1"]
        result = cell_v2(
            "update_cell", "--cell_uuid", cell.uuid, "--database_connection", configured_alias_url("cell1")
        )
        assert result.code == 0, result.err

    def test_disable_and_enable_together_exit_4_and_change_nothing(self, cells):
        cell = cells["cell1"]
        before = self.fields(cell)

        result = cell_v2("update_cell", "--cell_uuid", cell.uuid, "--name", "x", "--disable", "--enable")

        assert result.code == 4
        assert "cannot be disabled and enabled at the same time" in result.err
        assert self.fields(cell) == before

    @pytest.mark.parametrize("flag", ["--disable", "--enable"])
    def test_cell0_cannot_be_disabled_or_enabled_and_exits_5(self, cells, flag):
        result = cell_v2("update_cell", "--cell_uuid", CELL0_UUID, "--name", "x", flag)

        assert result.code == 5
        assert "Cell0 cannot be disabled." in result.err
        assert self.fields(cells["cell0"]) == ("cell0", "none:///", configured_alias_url("cell0"), False)

    def test_cell0_can_still_be_renamed(self, cells):
        assert cell_v2("update_cell", "--cell_uuid", CELL0_UUID, "--name", "zero").code == 0
        assert self.fields(cells["cell0"])[0] == "zero"


# --- delete_cell ---------------------------------------------------------------------------------


class TestDeleteCell:
    def test_an_empty_cell_is_deleted(self, cells):
        result = cell_v2("delete_cell", "--cell_uuid", cells["cell2"].uuid)

        assert result.code == 0, result.err
        assert set(CellMapping.objects.values_list("name", flat=True)) == {"cell0", "cell1"}

    def test_an_unknown_cell_exits_1(self, cells):
        result = cell_v2("delete_cell", "--cell_uuid", UNKNOWN_UUID)
        assert result.code == 1
        assert UNKNOWN_UUID in result.err
        assert CellMapping.objects.count() == 3

    def test_a_cell_with_hosts_exits_2_without_force(self, cells):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        assert cell_v2("discover_hosts").code == 0

        result = cell_v2("delete_cell", "--cell_uuid", cells["cell1"].uuid)

        assert result.code == 2
        assert "existing hosts" in result.err
        assert CellMapping.objects.filter(uuid=cells["cell1"].uuid).exists()
        assert HostMapping.objects.count() == 1
        assert node_mapped_flags("cell1") == {"compute-1": 1}

    def test_force_unmaps_the_nodes_and_deletes_host_and_instance_mappings(self, cells):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        ComputeNodeFactory(cell="cell1", host="compute-2")
        ComputeNodeFactory(cell="cell2", host="elsewhere")
        assert cell_v2("discover_hosts").code == 0
        gone = InstanceFactory(cell="cell1", host="compute-1", deleted=True)
        map_instance(gone, cells["cell1"])
        kept = map_instance(InstanceFactory(cell="cell2", host="elsewhere"), cells["cell2"])

        result = cell_v2("delete_cell", "--cell_uuid", cells["cell1"].uuid, "--force")

        assert result.code == 0, result.err
        assert not CellMapping.objects.filter(uuid=cells["cell1"].uuid).exists()
        assert list(HostMapping.objects.values_list("host", flat=True)) == ["elsewhere"]
        assert list(InstanceMapping.objects.values_list("instance_uuid", flat=True)) == [kept.instance_uuid]
        assert node_mapped_flags("cell1") == {"compute-1": 0, "compute-2": 0}
        assert node_mapped_flags("cell2") == {"elsewhere": 1}

    def test_force_still_refuses_a_cell_with_live_instances_with_3_and_deletes_nothing(self, cells):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        assert cell_v2("discover_hosts").code == 0
        map_instance(InstanceFactory(cell="cell1", host="compute-1"), cells["cell1"])

        result = cell_v2("delete_cell", "--cell_uuid", cells["cell1"].uuid, "--force")

        assert result.code == 3
        assert "existing instances" in result.err
        assert CellMapping.objects.filter(uuid=cells["cell1"].uuid).exists()
        assert HostMapping.objects.count() == 1
        assert InstanceMapping.objects.count() == 1
        assert node_mapped_flags("cell1") == {"compute-1": 1}

    def test_a_cell_without_hosts_but_with_live_instances_exits_3(self, cells):
        map_instance(InstanceFactory(cell="cell2"), cells["cell2"])

        result = cell_v2("delete_cell", "--cell_uuid", cells["cell2"].uuid)

        assert result.code == 3
        assert "existing instances" in result.err
        assert InstanceMapping.objects.count() == 1

    def test_mappings_of_deleted_instances_only_exit_4_without_force(self, cells):
        map_instance(InstanceFactory(cell="cell2", deleted=True), cells["cell2"])

        result = cell_v2("delete_cell", "--cell_uuid", cells["cell2"].uuid)

        assert result.code == 4
        assert "archive_deleted_rows" in result.err
        assert InstanceMapping.objects.count() == 1
        assert CellMapping.objects.filter(uuid=cells["cell2"].uuid).exists()

        forced = cell_v2("delete_cell", "--cell_uuid", cells["cell2"].uuid, "--force")

        assert forced.code == 0
        assert not InstanceMapping.objects.exists()
        assert not CellMapping.objects.filter(uuid=cells["cell2"].uuid).exists()


# --- discover_hosts ------------------------------------------------------------------------------


class TestDiscoverHosts:
    def test_maps_the_unmapped_live_nodes_of_every_cell_and_marks_them_mapped(self, cells):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        ComputeNodeFactory(cell="cell1", host="compute-1", hypervisor_hostname="compute-1b")
        ComputeNodeFactory(cell="cell2", host="compute-2")
        ComputeNodeFactory(cell="cell2", host="retired", deleted=True)
        ComputeNodeFactory(cell="cell0", host="not-a-real-cell-host")

        result = cell_v2("discover_hosts")

        assert result.code == 0, result.err
        # Without a terminal: one plain line per cell searched, then what was mapped.
        assert result.out.splitlines() == [
            "cell1: 1 new host mapping",
            "cell2: 1 new host mapping",
            "Mapped 2 new compute hosts in 2 cells (cell1: compute-1; cell2: compute-2)",
        ]
        assert dict(HostMapping.objects.values_list("host", "cell__name")) == {
            "compute-1": "cell1",
            "compute-2": "cell2",
        }
        # Nova marks only the node that created the mapping; the host's other node stays unmarked.
        # Which of the two is read first is the database's order (PostgreSQL reuses free space).
        flags = node_mapped_flags("cell1")
        assert set(flags) == {"compute-1", "compute-1b"} and sorted(flags.values()) == [0, 1]
        assert node_mapped_flags("cell2") == {"compute-2": 1}
        assert node_mapped_flags("cell0") == {"not-a-real-cell-host": 0}

    def test_a_second_run_maps_nothing_new(self, cells):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        assert cell_v2("discover_hosts").code == 0

        assert cell_v2("discover_hosts").code == 0
        assert HostMapping.objects.count() == 1

    def test_verbose_reports_each_step(self, cells):
        node = ComputeNodeFactory(cell="cell1", host="compute-1")
        cell1, cell2 = cells["cell1"], cells["cell2"]

        result = cell_v2("discover_hosts", "--verbose")

        assert result.code == 0
        assert result.out.splitlines() == [
            "Found 3 cell mappings.",
            "Skipping cell0 since it does not contain hosts.",
            f"Getting computes from cell 'cell1': {cell1.uuid}",
            f"Found 1 unmapped computes in cell: {cell1.uuid}",
            f"Checking host mapping for compute host 'compute-1': {node.uuid}",
            f"Creating host mapping for compute host 'compute-1': {node.uuid}",
            f"Getting computes from cell 'cell2': {cell2.uuid}",
            f"Found 0 unmapped computes in cell: {cell2.uuid}",
            "Mapped 1 new compute host in 1 cell (cell1: compute-1)",
        ]

    def test_cell_uuid_limits_discovery_to_that_cell(self, cells):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        ComputeNodeFactory(cell="cell2", host="compute-2")

        result = cell_v2("discover_hosts", "--cell_uuid", cells["cell2"].uuid, "--verbose")

        assert result.code == 0
        assert result.out.splitlines()[0] == "Found 1 cell mappings."
        assert list(HostMapping.objects.values_list("host", flat=True)) == ["compute-2"]
        assert node_mapped_flags("cell1") == {"compute-1": 0}

    def test_strict_exits_0_only_when_a_host_was_mapped(self, cells):
        ComputeNodeFactory(cell="cell1", host="compute-1")

        assert cell_v2("discover_hosts", "--strict").code == 0
        nothing = cell_v2("discover_hosts", "--strict")
        assert (nothing.code, nothing.out.splitlines()[-1]) == (1, "No unmapped compute hosts found: nothing to map.")
        assert cell_v2("discover_hosts").code == 0

    def test_a_host_already_mapped_to_another_cell_is_not_mapped_again(self, cells):
        ComputeNodeFactory(cell="cell1", host="shared")
        assert cell_v2("discover_hosts").code == 0
        ComputeNodeFactory(cell="cell2", host="shared")

        result = cell_v2("discover_hosts", "--strict")

        assert result.code == 1
        assert HostMapping.objects.get().cell == cells["cell1"]

    def test_an_unreachable_cell_exits_3_and_the_other_cells_are_still_discovered(self, cells, unreachable_cell):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        ComputeNodeFactory(cell="cell2", host="compute-2")

        result = cell_v2("discover_hosts")

        assert result.code == 3
        assert f"Unable to reach cell {unreachable_cell.uuid}" in result.err
        assert set(HostMapping.objects.values_list("host", flat=True)) == {"compute-1", "compute-2"}
        assert node_mapped_flags("cell2") == {"compute-2": 1}

    def test_a_parallel_discovery_mapping_the_same_host_first_exits_2_and_a_rerun_succeeds(self, cells):
        node = ComputeNodeFactory(cell="cell1", host="compute-1")

        class ParallelDiscovery(StringIO):
            """Stdout that lets "another discover_hosts" map the host just before this one does."""

            def write(self, text):
                if text.startswith("Creating host mapping for compute host 'compute-1'"):
                    HostMapping.objects.create(cell=cells["cell1"], host="compute-1")
                return super().write(text)

        command = load_command_class(get_commands()["cell_v2"], "cell_v2")
        out, err = ParallelDiscovery(), StringIO()
        call_command(command, "discover_hosts", "--verbose", stdout=out, stderr=err)

        assert command.exit_code == 2
        assert "ERROR: Duplicate host mapping was encountered" in err.getvalue()
        assert "compute-1" in err.getvalue()
        assert HostMapping.objects.count() == 1
        assert node_mapped_flags("cell1") == {node.hypervisor_hostname: 0}
        assert cell_v2("discover_hosts").code == 0
        assert HostMapping.objects.count() == 1

    def test_an_unknown_cell_exits_255(self, cells):
        ComputeNodeFactory(cell="cell1", host="compute-1")

        result = cell_v2("discover_hosts", "--cell_uuid", UNKNOWN_UUID)

        assert result.code == 255
        assert UNKNOWN_UUID in result.err
        assert not HostMapping.objects.exists()


# --- list_hosts ----------------------------------------------------------------------------------


class TestListHosts:
    def test_lists_host_mappings_sorted_by_host(self, cells):
        ComputeNodeFactory(cell="cell2", host="b-compute")
        ComputeNodeFactory(cell="cell1", host="c-compute")
        ComputeNodeFactory(cell="cell1", host="a-compute")
        assert cell_v2("discover_hosts").code == 0

        result = cell_v2("list_hosts")

        assert result.code == 0
        assert table_rows(result.out) == [
            ["Cell Name", "Cell UUID", "Hostname"],
            ["cell1", cells["cell1"].uuid, "a-compute"],
            ["cell2", cells["cell2"].uuid, "b-compute"],
            ["cell1", cells["cell1"].uuid, "c-compute"],
        ]

    def test_cell_uuid_lists_that_cell_only(self, cells):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        ComputeNodeFactory(cell="cell2", host="compute-2")
        assert cell_v2("discover_hosts").code == 0

        result = cell_v2("list_hosts", "--cell_uuid", cells["cell2"].uuid)

        assert result.code == 0
        assert [row[2] for row in table_rows(result.out)[1:]] == ["compute-2"]

    def test_an_unknown_cell_exits_1(self, cells):
        result = cell_v2("list_hosts", "--cell_uuid", UNKNOWN_UUID)
        assert result.code == 1
        assert UNKNOWN_UUID in result.err


# --- delete_host ---------------------------------------------------------------------------------


class TestDeleteHost:
    @pytest.fixture
    def mapped_hosts(self, cells):
        ComputeNodeFactory(cell="cell1", host="compute-1")
        ComputeNodeFactory(cell="cell1", host="compute-1", hypervisor_hostname="compute-1b")
        ComputeNodeFactory(cell="cell2", host="compute-2")
        assert cell_v2("discover_hosts").code == 0
        return cells

    def test_deletes_the_mapping_and_unmaps_the_hosts_nodes(self, mapped_hosts):
        result = cell_v2("delete_host", "--cell_uuid", mapped_hosts["cell1"].uuid, "--host", "compute-1")

        assert result.code == 0, result.err
        assert list(HostMapping.objects.values_list("host", flat=True)) == ["compute-2"]
        assert node_mapped_flags("cell1") == {"compute-1": 0, "compute-1b": 0}
        assert node_mapped_flags("cell2") == {"compute-2": 1}

    def test_a_deleted_host_is_discovered_again(self, mapped_hosts):
        assert cell_v2("delete_host", "--cell_uuid", mapped_hosts["cell1"].uuid, "--host", "compute-1").code == 0

        assert cell_v2("discover_hosts", "--strict").code == 0
        assert HostMapping.objects.get(host="compute-1").cell == mapped_hosts["cell1"]

    def test_deleted_instances_on_the_host_do_not_stop_it(self, mapped_hosts):
        InstanceFactory(cell="cell1", host="compute-1", deleted=True)

        result = cell_v2("delete_host", "--cell_uuid", mapped_hosts["cell1"].uuid, "--host", "compute-1")

        assert result.code == 0

    def test_an_unknown_cell_exits_1(self, mapped_hosts):
        result = cell_v2("delete_host", "--cell_uuid", UNKNOWN_UUID, "--host", "compute-1")
        assert result.code == 1
        assert HostMapping.objects.count() == 2

    def test_an_unknown_host_exits_2(self, mapped_hosts):
        result = cell_v2("delete_host", "--cell_uuid", mapped_hosts["cell1"].uuid, "--host", "no-such-host")
        assert result.code == 2
        assert "no-such-host" in result.err
        assert HostMapping.objects.count() == 2

    def test_a_host_of_another_cell_exits_3_and_stays_mapped(self, mapped_hosts):
        result = cell_v2("delete_host", "--cell_uuid", mapped_hosts["cell1"].uuid, "--host", "compute-2")

        assert result.code == 3
        assert HostMapping.objects.get(host="compute-2").cell == mapped_hosts["cell2"]
        assert node_mapped_flags("cell2") == {"compute-2": 1}

    def test_a_host_with_live_instances_exits_4_and_stays_mapped(self, mapped_hosts):
        InstanceFactory(cell="cell1", host="compute-1")

        result = cell_v2("delete_host", "--cell_uuid", mapped_hosts["cell1"].uuid, "--host", "compute-1")

        assert result.code == 4
        assert "There are instances on the host compute-1" in result.err
        assert HostMapping.objects.filter(host="compute-1").exists()
        assert node_mapped_flags("cell1")["compute-1"] == 1


# --- map_instances -------------------------------------------------------------------------------


class TestMapInstances:
    def test_maps_every_instance_of_the_cell_deleted_ones_too(self, cells):
        live = InstanceFactory(cell="cell1", project_id="p1", user_id="user-a")
        deleted = InstanceFactory(cell="cell1", project_id="p2", deleted=True)
        InstanceFactory(cell="cell2")

        result = cell_v2("map_instances", "--cell_uuid", cells["cell1"].uuid)

        assert result.code == 0, result.err
        mappings = {m.instance_uuid: m for m in InstanceMapping.objects.all()}
        assert set(mappings) == {live.uuid, deleted.uuid}
        assert all(m.cell == cells["cell1"] for m in mappings.values())
        assert (mappings[live.uuid].project_id, mappings[live.uuid].user_id) == ("p1", "user-a")
        assert mappings[deleted.uuid].project_id == "p2"

    def test_max_count_maps_that_many_and_exits_1_while_more_remain(self, cells):
        for _ in range(3):
            InstanceFactory(cell="cell1")

        first = cell_v2("map_instances", "--cell_uuid", cells["cell1"].uuid, "--max-count", "2")

        assert first.code == 1
        assert InstanceMapping.objects.exclude(project_id=INSTANCE_MIGRATION_MARKER).count() == 2
        second = cell_v2("map_instances", "--cell_uuid", cells["cell1"].uuid, "--max-count", "2")
        assert second.code == 0
        assert InstanceMapping.objects.count() == 3

    @pytest.mark.parametrize("max_count", ["-1", "0", "many", "2.5", ""])
    def test_a_max_count_that_is_not_a_positive_integer_exits_127_and_maps_nothing(self, cells, max_count):
        InstanceFactory(cell="cell1")

        result = cell_v2("map_instances", "--cell_uuid", cells["cell1"].uuid, "--max-count", max_count)

        assert result.code == 127
        assert "Must supply a positive value for max-count" in result.err
        assert not InstanceMapping.objects.exists()

    def test_an_unknown_cell_exits_255(self, cells):
        InstanceFactory(cell="cell1")

        result = cell_v2("map_instances", "--cell_uuid", UNKNOWN_UUID)

        assert result.code == 255
        assert UNKNOWN_UUID in result.err
        assert not InstanceMapping.objects.exists()


# --- verify_instance -----------------------------------------------------------------------------


class TestVerifyInstance:
    def test_a_mapped_instance_exits_0_and_names_its_cell(self, cells):
        instance = InstanceFactory(cell="cell2")
        map_instance(instance, cells["cell2"])

        result = cell_v2("verify_instance", "--uuid", instance.uuid)

        assert result.code == 0
        assert result.out.strip() == f"Instance {instance.uuid} is in cell: cell2 ({cells['cell2'].uuid})"

    def test_an_unmapped_instance_exits_1(self, cells):
        instance = InstanceFactory(cell="cell1")

        result = cell_v2("verify_instance", "--uuid", instance.uuid)

        assert result.code == 1
        assert "is not mapped to a cell (upgrade is incomplete) or instance does not exist" in result.out

    def test_a_mapping_without_a_cell_exits_2(self, cells):
        InstanceMapping.objects.create(instance_uuid=UNKNOWN_UUID, cell=None, project_id="p")

        result = cell_v2("verify_instance", "--uuid", UNKNOWN_UUID)

        assert result.code == 2
        assert result.out.strip() == f"Instance {UNKNOWN_UUID} is not mapped to a cell"

    def test_a_deleted_instance_exits_3(self, cells):
        instance = InstanceFactory(cell="cell1", deleted=True)
        map_instance(instance, cells["cell1"])

        result = cell_v2("verify_instance", "--uuid", instance.uuid)

        assert result.code == 3
        assert f"The instance with uuid {instance.uuid} has been deleted." in result.out
        assert "archive_deleted_rows" in result.out

    def test_an_archived_instance_whose_mapping_remains_exits_4(self, cells):
        instance = InstanceFactory(cell="cell1")
        map_instance(instance, cells["cell1"])
        with target_cell("cell1"):
            Instance.objects.filter(uuid=instance.uuid).delete()

        result = cell_v2("verify_instance", "--uuid", instance.uuid)

        assert result.code == 4
        assert f"The instance with uuid {instance.uuid} has been archived." in result.out
        assert "However its instance_mapping remains." in result.out

    def test_an_instance_in_another_cell_than_its_mapping_says_is_archived(self, cells):
        instance = InstanceFactory(cell="cell1")
        map_instance(instance, cells["cell2"])

        assert cell_v2("verify_instance", "--uuid", instance.uuid).code == 4

    @pytest.mark.parametrize(("deleted", "code"), [(False, 0), (True, 3)])
    def test_quiet_prints_nothing_but_keeps_the_exit_code(self, cells, deleted, code):
        instance = InstanceFactory(cell="cell1", deleted=deleted)
        map_instance(instance, cells["cell1"])

        result = cell_v2("verify_instance", "--uuid", instance.uuid, "--quiet")

        assert result.code == code
        assert result.out == ""


# --- unexpected errors ---------------------------------------------------------------------------


def test_an_unexpected_error_exits_255_with_one_line_and_no_traceback(cells, unreachable_cell):
    instance_uuid = str(uuid.uuid4())
    InstanceMapping.objects.create(instance_uuid=instance_uuid, cell=unreachable_cell, project_id="p")

    result = cell_v2("verify_instance", "--uuid", instance_uuid)

    assert result.code == 255
    assert result.err.startswith("An error has occurred: OperationalError")
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err + result.out


def test_ctrl_c_exits_130_with_one_line_and_no_traceback(cells, monkeypatch):
    from operators import services

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(services, "instances_map", interrupted)

    result = cell_v2("map_instances", "--cell_uuid", cells["cell1"].uuid)

    assert (result.code, result.err) == (130, "Interrupted.\n")
    assert "Traceback" not in result.out
