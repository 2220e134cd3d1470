"""``manage.py db archive_deleted_rows`` and ``db purge``: shadow tables, API cleanup, batches, re-runs."""

import re
import threading
import uuid as uuid_lib
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connections

from cellsv2.context import target_cell
from consoles.models import ConsoleAuthToken
from instance_actions.models import (
    InstanceAction,
    InstanceActionEvent,
    ShadowInstanceAction,
    ShadowInstanceActionEvent,
)
from mappings.models import InstanceMapping
from mappings.selectors import cell_mapping_list
from operators import archive
from operators.management.commands.db import InvalidDate, parse_before
from servergroups.models import InstanceGroupMember
from servergroups.services import servergroup_create
from servers.models import (
    BlockDeviceMapping,
    Instance,
    InstanceExtra,
    InstanceFault,
    InstanceMetadata,
    InstanceSystemMetadata,
    RequestSpec,
    ShadowBlockDeviceMapping,
    ShadowInstance,
    ShadowInstanceExtra,
    ShadowInstanceFault,
    ShadowInstanceMetadata,
    ShadowInstanceSystemMetadata,
    Tag,
)
from tests.fixtures.compute import add_node, api_rows, cells_holding, discover, mapping_of, place_all
from tests.support import ALL_DATABASES, CELL_ALIASES, requires_postgres, run_command

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]

PAIRS = (
    (Instance, ShadowInstance),
    (BlockDeviceMapping, ShadowBlockDeviceMapping),
    (InstanceExtra, ShadowInstanceExtra),
    (InstanceFault, ShadowInstanceFault),
    (InstanceMetadata, ShadowInstanceMetadata),
    (InstanceSystemMetadata, ShadowInstanceSystemMetadata),
)
# Archived with their instance, but keyed by instance_uuid (no foreign key) and, for the events, by action.
ACTION_PAIRS = ((InstanceAction, ShadowInstanceAction), (InstanceActionEvent, ShadowInstanceActionEvent))
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def archive_cmd(*args):
    return run_command("db", "archive_deleted_rows", *args)


def purge_cmd(*args):
    return run_command("db", "purge", *args)


def report(out: str) -> dict[str, int]:
    """The rows of the --verbose table: {"cell1.instances": 2, "API_DB.request_specs": 2, ...}."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^\| (\S+)\s+\| (\d+)\s+\|$", out, re.M)}


def counts(alias: str, uuid: str | None = None) -> dict[str, tuple[int, int]]:
    """(live rows, shadow rows) per table in one cell, of one instance or of all."""
    result = {}
    with target_cell(alias):
        for live, shadow in PAIRS:
            key = "uuid" if live is Instance else "instance_id"
            shadow_key = "uuid" if live is Instance else "instance_uuid"
            live_rows, shadow_rows = live.objects.all(), shadow.objects.all()
            if uuid:
                live_rows, shadow_rows = live_rows.filter(**{key: uuid}), shadow_rows.filter(**{shadow_key: uuid})
            result[live._meta.db_table] = (live_rows.count(), shadow_rows.count())
        actions, shadow_actions = InstanceAction.objects.all(), ShadowInstanceAction.objects.all()
        if uuid:
            actions, shadow_actions = actions.filter(instance_uuid=uuid), shadow_actions.filter(instance_uuid=uuid)
        result["instance_actions"] = (actions.count(), shadow_actions.count())
        result["instance_actions_events"] = (
            InstanceActionEvent.objects.filter(action_id__in=actions.values("id")).count(),
            ShadowInstanceActionEvent.objects.filter(action_id__in=shadow_actions.values("id")).count(),
        )
    return result


def shadow_total() -> int:
    total = 0
    for alias in CELL_ALIASES:
        with target_cell(alias):
            total += sum(shadow.objects.count() for _, shadow in PAIRS + ACTION_PAIRS)
    return total


def cell_of(uuid) -> str:
    return mapping_of(uuid).cell.name


def deleted_at(uuid, when) -> None:
    """Pretend a deleted server (and its soft-deleted rows) was deleted at ``when``."""
    alias = cell_of(uuid)
    with target_cell(alias):
        Instance.objects.filter(uuid=uuid).update(deleted_at=when)
        for live, _ in PAIRS[1:]:
            live.objects.filter(instance_id=uuid).exclude(deleted=0).update(deleted_at=when)


@pytest.fixture
def servers(api, topology):
    """Create and place ``count`` servers of alice; returns their uuids."""

    def make(count=1, **kwargs):
        uuids = [api.create_uuid(name=f"vm{i}", metadata={"k": "v"}, **kwargs) for i in range(count)]
        place_all()
        return uuids

    return make


@pytest.fixture
def delete(api):
    def remove(*uuids):
        for uuid in uuids:
            assert api("delete", f"/servers/{uuid}").status_code == 204

    return remove


# --- the shadow tables ----------------------------------------------------------------------------


@pytest.mark.parametrize(("live", "shadow"), PAIRS + ACTION_PAIRS, ids=[p[1].__name__ for p in PAIRS + ACTION_PAIRS])
def test_a_shadow_table_has_exactly_the_live_columns_and_no_constraints(live, shadow):
    def columns(model):
        return {
            f.column: (f.get_internal_type().replace("AutoField", "IntegerField"), f.null)
            for f in model._meta.concrete_fields
        }

    assert shadow._meta.db_table == f"shadow_{live._meta.db_table}"
    live_columns = {c: t for c, t in columns(live).items()}
    # The foreign key column is a plain column of the same nullability in the shadow table: a
    # string for instance_uuid, an integer for an event's action_id.
    for field in live._meta.concrete_fields:
        if field.is_relation:
            target = field.target_field.get_internal_type().replace("AutoField", "IntegerField")
            live_columns[field.column] = (target, field.null)
    assert columns(shadow) == live_columns
    assert not shadow._meta.constraints
    assert not [f for f in shadow._meta.concrete_fields if f.unique and not f.primary_key]
    assert not [f for f in shadow._meta.concrete_fields if f.is_relation]


def test_every_table_that_refers_to_instances_is_archived_with_them():
    """Nova follows every foreign key to instances; a new one must join archive.DEPENDENTS (or the DELETE fails)."""
    referring = {relation.related_model for relation in Instance._meta.related_objects}
    assert referring == {live for live, _ in archive.DEPENDENTS}


# --- archiving ------------------------------------------------------------------------------------


class TestArchive:
    def test_a_deleted_server_moves_to_the_shadow_tables_and_leaves_the_api_database(
        self, api, servers, delete, cells
    ):
        group = servergroup_create(project_id="proj1", user_id="alice", name="g", policy="soft-affinity")
        gone, kept = servers(2, hints={"group": group.uuid})
        alias = cell_of(gone)
        actions_url = f"/servers/{gone}/os-instance-actions"
        with target_cell(alias):
            Tag.objects.create(resource_id=gone, tag="t1")
            ConsoleAuthToken.objects.create(
                token_hash="h" * 64, console_type="novnc", host="compute1", port=5900, instance_uuid=gone, expires=1
            )
        assert InstanceGroupMember.objects.filter(instance_uuid=gone).count() == 1
        delete(gone)
        listed = api("get", actions_url, version="2.21").json()["instanceActions"]
        assert [a["action"] for a in listed] == ["delete", "create"]  # a deleted server's, until archived

        result = archive_cmd("--all-cells", "--verbose")
        assert result.code == 1, result.err
        assert report(result.out) == {
            "API_DB.instance_group_member": 1,
            "API_DB.instance_mappings": 1,
            "API_DB.request_specs": 1,
            f"{alias}.block_device_mapping": 1,
            f"{alias}.instance_actions": 2,
            f"{alias}.instance_actions_events": 2,
            f"{alias}.instance_extra": 1,
            f"{alias}.instance_metadata": 1,
            f"{alias}.instance_system_metadata": 2,
            f"{alias}.instances": 1,
        }
        assert counts(alias, gone) == {
            "instances": (0, 1),
            "block_device_mapping": (0, 1),
            "instance_extra": (0, 1),
            "instance_faults": (0, 0),
            "instance_metadata": (0, 1),
            "instance_system_metadata": (0, 2),
            "instance_actions": (0, 2),
            "instance_actions_events": (0, 2),
        }
        with target_cell(alias):
            assert not Tag.objects.filter(resource_id=gone).exists()
            assert not ConsoleAuthToken.objects.filter(instance_uuid=gone).exists()
            archived = ShadowInstance.objects.get(uuid=gone)
        assert (archived.vm_state, archived.display_name) == ("deleted", "vm0")
        assert archived.deleted == archived.id
        with target_cell(alias):
            actions = {a.action: a for a in ShadowInstanceAction.objects.filter(instance_uuid=gone)}
            events = ShadowInstanceActionEvent.objects.filter(action_id__in=[a.id for a in actions.values()])
            assert sorted(actions) == ["create", "delete"]
            assert {(e.action_id, e.event) for e in events} == {
                (actions["create"].id, "compute_build_and_run_instance"),
                (actions["delete"].id, "compute_terminate_instance"),
            }
        assert api_rows(gone) == {"build_requests": 0, "request_specs": 0, "instance_mappings": 0}
        assert not InstanceGroupMember.objects.filter(instance_uuid=gone).exists()
        # The live server is untouched.
        assert counts(cell_of(kept), kept)["instances"] == (1, 0)
        assert counts(cell_of(kept), kept)["instance_actions"] == (1, 0)
        assert api_rows(kept)["instance_mappings"] == 1
        assert InstanceGroupMember.objects.filter(instance_uuid=kept).exists()
        assert api.show(kept).status_code == 200
        assert api.show(gone).status_code == 404
        assert api("get", actions_url, version="2.21").status_code == 404

        again = archive_cmd("--all-cells", "--verbose")
        assert (again.code, again.out.strip()) == (0, "Nothing was archived.")

    def test_novas_table_layout(self, servers, delete):
        (uuid,) = servers()
        delete(uuid)
        alias = cell_of(uuid)
        out = archive_cmd("--all-cells", "--verbose").out
        width = len(f"{alias}.instance_system_metadata")
        border = f"+-{'-' * width}-+-------------------------+"
        progress, *lines = out.strip().split("\n")
        assert progress == f"{alias}: archived 10 rows"
        assert lines[:3] == [border, f"| {'Table'.ljust(width)} | Number of Rows Archived |", border]
        assert lines[3] == f"| {'API_DB.instance_group_member'.ljust(width)} | 0                       |"
        assert lines[-1] == border

    def test_without_verbose_a_line_per_batch_and_one_summary_line(self, servers, delete):
        (uuid,) = servers()
        delete(uuid)
        alias = cell_of(uuid)
        result = archive_cmd("--all-cells")
        assert (result.code, result.err) == (1, "")
        assert result.out.splitlines() == [
            f"{alias}: archived 10 rows",
            "Archived 10 rows from 1 cell and deleted 2 rows from the API database; "
            "run it again until it exits 0 (or use --until-complete).",
        ]
        again = archive_cmd("--all-cells")
        assert (again.code, again.out) == (0, "Nothing was archived.\n")

    def test_a_server_buried_in_cell0_goes_with_its_fault(self, api, cells, delete):
        uuid = api.create_uuid()  # no compute node at all: no valid host
        place_all()
        assert cell_of(uuid) == "cell0"
        delete(uuid)
        result = archive_cmd("--all-cells", "--verbose")
        assert report(result.out)["cell0.instance_faults"] == 1
        assert counts("cell0", uuid)["instance_faults"] == (0, 1)
        assert cells_holding(uuid) == []

    def test_live_servers_are_never_archived(self, servers):
        uuids = servers(3)
        result = archive_cmd("--all-cells", "--verbose", "--until-complete")
        assert result.code == 0
        assert result.out == "Archiving...complete\nNothing was archived.\n"
        assert all(len(cells_holding(u)) == 1 for u in uuids)

    def test_a_soft_deleted_row_of_a_live_server_is_archived_on_its_own(self, servers):
        (uuid,) = servers()
        alias = cell_of(uuid)
        with target_cell(alias):
            InstanceMetadata.objects.filter(instance_id=uuid).soft_delete()
        result = archive_cmd("--all-cells", "--verbose")
        assert report(result.out) == {f"{alias}.instance_metadata": 1}
        assert counts(alias, uuid)["instance_metadata"] == (0, 1)
        assert counts(alias, uuid)["instances"] == (1, 0)
        assert api_rows(uuid)["instance_mappings"] == 1

    def test_before_archives_only_servers_deleted_earlier(self, servers, delete):
        old, recent = servers(2)
        delete(old, recent)
        deleted_at(old, LONG_AGO)
        result = archive_cmd("--all-cells", "--before", "2021-06-01", "--verbose")
        assert result.code == 1
        assert cells_holding(old) == [] and len(cells_holding(recent)) == 1
        assert api_rows(old)["instance_mappings"] == 0 and api_rows(recent)["instance_mappings"] == 1
        assert archive_cmd("--all-cells", "--before", "2021-06-01").code == 0
        assert archive_cmd("--all-cells").code == 1
        assert cells_holding(recent) == []


class TestBatches:
    def test_max_rows_bounds_one_run_and_rows_travel_with_their_instance(self, servers, delete):
        uuids = servers(3)
        where = {uuid: cell_of(uuid) for uuid in uuids}
        delete(*uuids)
        result = archive_cmd("--all-cells", "--max_rows", "1", "--verbose")
        assert result.code == 1
        rows = report(result.out)
        assert sum(v for k, v in rows.items() if k.endswith(".instances")) == 1
        # The one instance took its extra, metadata, 2 system metadata rows, its image's block
        # device mapping and its create and delete actions with an event each along; nobody else's moved.
        assert sum(v for k, v in rows.items() if not k.startswith("API_DB")) == 10
        assert rows["API_DB.instance_mappings"] == 1
        (archived,) = [u for u in uuids if not cells_holding(u)]
        assert set(counts(where[archived], archived).values()) <= {(0, 2), (0, 1), (0, 0)}
        for uuid in set(uuids) - {archived}:
            left = counts(where[uuid], uuid)
            assert left["instances"] == left["instance_extra"] == left["instance_metadata"] == (1, 0)
            assert left["block_device_mapping"] == (1, 0)
            assert left["instance_actions"] == left["instance_actions_events"] == (2, 0)

    def test_repeated_runs_finish_and_then_return_0(self, servers, delete):
        uuids = servers(3)
        delete(*uuids)
        codes = [archive_cmd("--all-cells", "--max_rows", "2").code for _ in range(4)]
        assert codes[-1] == 0 and set(codes[:-1]) <= {0, 1} and 1 in codes
        assert all(cells_holding(u) == [] for u in uuids)
        assert InstanceMapping.objects.count() == 0

    def test_until_complete_archives_everything_in_batches(self, servers, delete):
        uuids = servers(5)
        delete(*uuids)
        result = archive_cmd("--all-cells", "--max_rows", "2", "--until-complete", "--verbose")
        assert result.code == 1
        progress = result.out.split("\n")[0]
        # "Archiving.." then one dot for every batch after the first that archived something.
        assert re.fullmatch(r"Archiving\.\.\.+complete", progress), progress
        rows = report(result.out)
        assert sum(v for k, v in rows.items() if k.endswith(".instances")) == 5
        assert rows["API_DB.instance_mappings"] == rows["API_DB.request_specs"] == 5
        assert all(cells_holding(u) == [] for u in uuids)
        assert archive_cmd("--all-cells", "--until-complete").code == 0

    def test_the_budget_is_shared_by_all_cells_without_until_complete(self, api, cells, delete):
        add_node(cells, "cell1", "compute1")
        discover()
        first = [api.create_uuid(name=f"a{i}") for i in range(2)]
        place_all()
        add_node(cells, "cell2", "compute2", memory_mb=65536)
        discover()
        second = [api.create_uuid(name=f"b{i}") for i in range(2)]
        place_all()
        assert {cell_of(u) for u in first} == {"cell1"} and {cell_of(u) for u in second} == {"cell2"}
        delete(*first, *second)
        rows = report(archive_cmd("--all-cells", "--max_rows", "19", "--verbose").out)
        # Each server has 9 rows (instance, extra, 2 system metadata, its image's block device
        # mapping, a create and a delete action with an event each). cell1 spends 18 of the 19;
        # cell2 gets the one row left, which still brings a whole instance.
        assert (rows["cell1.instances"], rows["cell1.instance_extra"]) == (2, 2)
        assert (rows["cell2.instances"], rows["cell2.instance_extra"]) == (1, 1)
        assert rows["API_DB.instance_mappings"] == 3

    def test_max_rows_0_archives_nothing(self, servers, delete):
        (uuid,) = servers()
        delete(uuid)
        assert archive_cmd("--all-cells", "--max_rows", "0").code == 0
        assert len(cells_holding(uuid)) == 1


class TestInterruptedRuns:
    def test_a_crash_between_the_cell_and_the_api_database_is_finished_by_the_next_run(
        self, servers, delete, monkeypatch
    ):
        uuids = servers(3)
        delete(*uuids)
        real = archive.instance_api_records_delete
        calls = []

        def crash(**kwargs):
            calls.append(kwargs)
            raise RuntimeError("killed")

        monkeypatch.setattr(archive, "instance_api_records_delete", crash)
        result = archive_cmd("--all-cells", "--max_rows", "2")
        assert result.code == 255
        assert result.err.strip() == "An error has occurred: RuntimeError: killed"
        # The cell batch committed: two instances are in the shadow tables, their API rows remain.
        moved = [u for u in uuids if cells_holding(u) == []]
        assert len(moved) == 2
        assert all(api_rows(u)["instance_mappings"] == api_rows(u)["request_specs"] == 1 for u in uuids)
        verify = run_command("cell_v2", "verify_instance", "--uuid", moved[0])
        assert verify.code == 4

        monkeypatch.setattr(archive, "instance_api_records_delete", real)
        result = archive_cmd("--all-cells", "--max_rows", "2", "--verbose")
        assert result.code == 1
        rows = report(result.out)
        # The leftovers of the crashed run, then the third server.
        assert rows["API_DB.instance_mappings"] == 3
        assert sum(v for k, v in rows.items() if k.endswith(".instances")) == 1
        assert all(api_rows(u) == {"build_requests": 0, "request_specs": 0, "instance_mappings": 0} for u in uuids)
        assert archive_cmd("--all-cells").code == 0

    def test_ctrl_c_stops_after_a_batch_and_a_rerun_completes(self, servers, delete, monkeypatch):
        uuids = servers(4)
        delete(*uuids)
        real = archive.instance_api_records_delete
        batches = []

        def interrupted(**kwargs):
            batches.append(kwargs)
            if len(batches) == 2:
                raise KeyboardInterrupt
            return real(**kwargs)

        monkeypatch.setattr(archive, "instance_api_records_delete", interrupted)
        result = archive_cmd("--all-cells", "--max_rows", "1", "--until-complete", "--verbose")
        assert result.code == 1
        # One dot after the first batch; the second batch committed in its cell, then Ctrl-C hit.
        assert result.out.startswith("Archiving....stopped\n")
        rows = report(result.out)
        assert rows["API_DB.instance_mappings"] == 1
        assert sum(v for k, v in rows.items() if k.endswith(".instances")) == 2
        monkeypatch.setattr(archive, "instance_api_records_delete", real)
        assert archive_cmd("--all-cells", "--until-complete").code == 1
        assert all(cells_holding(u) == [] for u in uuids)
        assert InstanceMapping.objects.count() == RequestSpec.objects.count() == 0
        assert archive_cmd("--all-cells", "--until-complete").code == 0

    def test_a_failing_cell_is_reported_and_the_others_are_archived(self, servers, delete, monkeypatch):
        uuids = servers(4)
        where = {uuid: cell_of(uuid) for uuid in uuids}
        assert set(where.values()) == {"cell1", "cell2"}
        delete(*uuids)
        real = archive.cell_deleted_rows_archive

        def flaky(*, cell, **kwargs):
            if cell.name == "cell1":
                raise OperationalError("could not connect to server")
            return real(cell=cell, **kwargs)

        monkeypatch.setattr(archive, "cell_deleted_rows_archive", flaky)
        result = archive_cmd("--all-cells", "--verbose")
        assert result.code == 255
        assert "Cell cell1 could not be archived: OperationalError: could not connect to server" in result.err
        assert "cell2.instances" in report(result.out)
        for uuid, alias in where.items():
            assert cells_holding(uuid) == (["cell1"] if alias == "cell1" else [])


class TestCellChoice:
    def test_one_cell(self, servers, delete):
        uuids = servers(4)
        where = {uuid: cell_of(uuid) for uuid in uuids}
        delete(*uuids)
        result = archive_cmd("--cell", "cell2", "--until-complete")
        assert result.code == 1
        for uuid, alias in where.items():
            assert cells_holding(uuid) == (["cell1"] if alias == "cell1" else [])
            assert api_rows(uuid)["instance_mappings"] == (1 if alias == "cell1" else 0)

    @pytest.mark.parametrize(
        "args",
        [(), ("--all-cells", "--cell", "cell1"), ("--cell", "nope")],
        ids=["no cell", "both", "unknown cell"],
    )
    def test_a_cell_must_be_chosen(self, cells, args):
        result = archive_cmd(*args)
        assert result.code == 2
        assert result.err

    def test_by_uuid_too(self, cells, servers, delete):
        (uuid,) = servers()
        delete(uuid)
        cell = mapping_of(uuid).cell
        assert archive_cmd("--cell", cell.uuid).code == 1
        assert cells_holding(uuid) == []


class TestArguments:
    @pytest.mark.parametrize("value", ["-1", "abc", "1.5", str(0x7FFFFFFF + 1)])
    def test_bad_max_rows_is_2(self, cells, value):
        result = archive_cmd("--all-cells", "--max_rows", value)
        assert result.code == 2
        expected = "max rows must be <= 2147483647" if value.isdigit() else "Must supply a positive value for max_rows"
        assert result.out.strip() == expected

    def test_a_bad_before_is_4(self, cells):
        result = archive_cmd("--all-cells", "--before", "yesterday-ish")
        assert result.code == 4
        assert result.out.strip() == "Invalid value for --before: Unknown string format: yesterday-ish"

    def test_an_unreachable_api_database_is_3(self, cells, monkeypatch):
        def unreachable():
            raise OperationalError("connection refused")

        monkeypatch.setattr("operators.management.commands.db.cell_mapping_list", unreachable)
        result = archive_cmd("--all-cells")
        assert result.code == 3
        assert result.out.startswith("Failed to connect to API DB so aborting this archival attempt.")

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-03-04", datetime(2024, 3, 4, tzinfo=UTC)),
            ("2024-03-04 10:20", datetime(2024, 3, 4, 10, 20, tzinfo=UTC)),
            ("2024-03-04 10:20:30", datetime(2024, 3, 4, 10, 20, 30, tzinfo=UTC)),
            ("2024-03-04T10:20:30+02:00", datetime(2024, 3, 4, 8, 20, 30, tzinfo=UTC)),
            ("Mon Mar  4 10:20:30 UTC 2024", datetime(2024, 3, 4, 10, 20, 30, tzinfo=UTC)),
            ("Mon Mar 4 10:20:30 2024", datetime(2024, 3, 4, 10, 20, 30, tzinfo=UTC)),
        ],
    )
    def test_before_formats(self, text, expected):
        assert parse_before(text) == expected

    @pytest.mark.parametrize("text", ["", "2024-02-30", "soon", "2024-13-01 00:00"])
    def test_bad_before_formats(self, text):
        with pytest.raises(InvalidDate):
            parse_before(text)


# --- purge ----------------------------------------------------------------------------------------


class TestPurge:
    def test_purge_all_empties_the_shadow_tables(self, servers, delete, cells):
        uuids = servers(2)
        where = {uuid: cell_of(uuid) for uuid in uuids}
        delete(*uuids)
        assert archive_cmd("--all-cells").code == 1
        assert shadow_total() == 20
        result = purge_cmd("--all", "--all-cells", "--verbose")
        assert result.code == 0
        lines = result.out.strip().split("\n")
        for alias in set(where.values()):
            rows = list(where.values()).count(alias)
            prefix = f"Cell {cells[alias].identity}: Deleted {rows} rows from"
            assert f"{prefix} shadow_block_device_mapping based on timestamp column (n/a)" in lines
            assert f"{prefix} shadow_instance_extra based on timestamp column (n/a)" in lines
            assert f"{prefix} shadow_instances based on timestamp column (n/a)" in lines
            actions = f"Cell {cells[alias].identity}: Deleted {2 * rows} rows from shadow_instance_actions"
            assert f"{actions} based on timestamp column (n/a)" in lines
            assert f"{actions}_events based on timestamp column (n/a)" in lines
        assert lines[-1] == "Purged 20 rows from the shadow tables of 3 cells."
        assert shadow_total() == 0
        assert purge_cmd("--all", "--all-cells").out == "Nothing was purged.\n"
        assert purge_cmd("--all", "--all-cells").code == 3

    def test_purge_before_keeps_newer_rows(self, servers, delete):
        old, recent = servers(2)
        delete(old, recent)
        deleted_at(old, LONG_AGO)
        old_cell = cell_of(old)
        assert archive_cmd("--all-cells").code == 1
        result = purge_cmd("--before", "2021-01-01", "--all-cells", "--verbose")
        assert result.code == 0
        assert "based on timestamp column deleted_at" in result.out
        for alias in CELL_ALIASES:
            with target_cell(alias):
                assert not ShadowInstance.objects.filter(uuid=old).exists()
                assert not ShadowInstanceExtra.objects.filter(instance_uuid=old).exists()
                assert not ShadowBlockDeviceMapping.objects.filter(instance_uuid=old).exists()
        # The old server's actions stay with everything of the recent one: actions are never
        # deleted, Nova purges them by when they were created (now).
        assert counts(old_cell, old)["instance_actions"] == (0, 2)
        assert shadow_total() == 10 + 4
        assert purge_cmd("--before", "2021-01-01", "--all-cells").code == 3

    def test_purge_before_takes_actions_and_events_by_when_they_were_created(self, servers, delete, cells):
        old, recent = servers(2)
        delete(old, recent)
        assert archive_cmd("--all-cells").code == 1
        alias = cell_of_archived(old)
        with target_cell(alias):
            actions = ShadowInstanceAction.objects.filter(instance_uuid=old)
            ShadowInstanceActionEvent.objects.filter(action_id__in=actions.values("id")).update(created_at=LONG_AGO)
            actions.update(created_at=LONG_AGO)

        result = purge_cmd("--before", "2021-01-01", "--all-cells", "--verbose")
        assert result.code == 0
        prefix = f"Cell {cells[alias].identity}: Deleted 2 rows from shadow_instance_actions"
        assert result.out.strip().split("\n") == [
            f"{prefix} based on timestamp column created_at",
            f"{prefix}_events based on timestamp column created_at",
            "Purged 4 rows from the shadow tables of 3 cells.",
        ]
        assert counts(alias, old)["instance_actions"] == counts(alias, old)["instance_actions_events"] == (0, 0)
        assert counts(alias, old)["instances"] == (0, 1)  # deleted now: kept
        assert counts(cell_of_archived(recent), recent)["instance_actions"] == (0, 2)

    def test_purge_one_cell(self, servers, delete, cells):
        uuids = servers(4)
        delete(*uuids)
        archive_cmd("--all-cells", "--until-complete")
        holding = {cell_of_archived(u) for u in uuids}
        target = sorted(holding)[0]
        assert purge_cmd("--all", "--cell", target).code == 0
        with target_cell(target):
            assert not ShadowInstance.objects.exists()
        for other in holding - {target}:
            with target_cell(other):
                assert ShadowInstance.objects.exists()

    def test_archive_with_purge(self, servers, delete):
        (uuid,) = servers()
        delete(uuid)
        result = archive_cmd("--all-cells", "--purge", "--verbose")
        assert result.code == 1
        assert "Rows were archived, running purge..." in result.out
        assert "Deleted 1 rows from shadow_instances based on timestamp column (n/a)" in result.out
        assert shadow_total() == 0

    @pytest.mark.parametrize(
        ("args", "code", "message"),
        [
            (("--all-cells",), 1, "Either --before or --all is required"),
            (
                ("--all-cells", "--before", "whenever"),
                2,
                "Invalid value for --before: Unknown string format: whenever",
            ),
            (("--all",), 1, ""),
            (("--all", "--cell", "nope"), 1, ""),
        ],
    )
    def test_purge_arguments(self, cells, args, code, message):
        result = purge_cmd(*args)
        assert result.code == code
        if message:
            assert result.out.strip() == message
        else:
            assert result.err

    def test_an_unreachable_api_database_is_4(self, cells, monkeypatch):
        def unreachable():
            raise OperationalError("connection refused")

        monkeypatch.setattr("operators.management.commands.db.cell_mapping_list", unreachable)
        result = purge_cmd("--all", "--all-cells")
        assert (result.code, result.out.strip()) == (4, "Unable to get cell list from API DB. Is it configured?")


def cell_of_archived(uuid) -> str:
    for alias in CELL_ALIASES:
        with target_cell(alias):
            if ShadowInstance.objects.filter(uuid=uuid).exists():
                return alias
    raise AssertionError(f"{uuid} is in no shadow table")


def test_deleted_at_helper_sanity(servers, delete):
    """The tests above rely on deleted_at being set by the API's delete."""
    (uuid,) = servers()
    delete(uuid)
    with target_cell(cell_of(uuid)):
        row = Instance.objects.get(uuid=uuid)
    assert row.deleted_at is not None and row.deleted_at > datetime.now(UTC) - timedelta(minutes=5)


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_two_archivers_at_once_never_move_a_row_twice(api, topology):
    uuids = [api.create_uuid(name=f"vm{i}", metadata={"k": "v"}) for i in range(8)]
    place_all()
    for uuid in uuids:
        assert api("delete", f"/servers/{uuid}").status_code == 204
    barrier = threading.Barrier(2)
    results, errors = [], []

    def archiver():
        try:
            barrier.wait(10)
            results.append(
                archive.deleted_rows_archive(cells=list(cell_mapping_list()), max_rows=1, until_complete=True)
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=archiver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and all(not r.failed_cells for r in results), (errors, [r.failed_cells for r in results])
    moved = sum(v for r in results for k, v in r.rows.items() if k.endswith(".instances"))
    assert moved == 8
    # Each server: instance, extra, metadata, 2 system metadata, its image's block device mapping,
    # 2 actions and 2 events.
    assert shadow_total() == 8 * 10
    assert InstanceMapping.objects.count() == RequestSpec.objects.count() == 0


class TestRowsOfServersThatNeverLanded:
    def test_a_build_request_deleted_before_placement_leaves_nothing_after_an_archive(self, api, topology, delete):
        gone, waiting = api.create_uuid(name="gone"), api.create_uuid(name="waiting")
        delete(gone)
        # What a delete before placement (or a build whose instance never landed) may leave: the
        # mapping with no cell, queued for delete, and the request spec, with no build request.
        never_landed = str(uuid_lib.uuid4())
        InstanceMapping.objects.create(
            instance_uuid=never_landed, cell=None, project_id="proj1", queued_for_delete=True
        )
        RequestSpec.objects.create(instance_uuid=never_landed, spec="{}")

        result = archive_cmd("--all-cells", "--until-complete", "--verbose")
        assert result.code in (0, 1), result.err
        assert (
            api_rows(gone)
            == api_rows(never_landed)
            == {
                "build_requests": 0,
                "request_specs": 0,
                "instance_mappings": 0,
            }
        )
        assert report(result.out)["API_DB.instance_mappings"] >= 1
        # A build request still waiting for its cell keeps every row.
        assert api_rows(waiting) == {"build_requests": 1, "request_specs": 1, "instance_mappings": 1}
        assert api.show(waiting).status_code == 200
        place_all()
        assert api.show(waiting).json()["server"]["status"] == "ACTIVE"
