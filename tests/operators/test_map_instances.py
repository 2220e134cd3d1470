"""``cell_v2 map_instances``: batches, the resume marker, crash safety and the runner lock."""

import threading
import uuid
from collections import Counter
from contextlib import contextmanager

import pytest
from django.db import connections
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from cellsv2.context import target_cell
from cellsv2.locks import runner_lock
from mappings.models import InstanceMapping
from mappings.selectors import INSTANCE_MIGRATION_MARKER, instance_mapping_list
from operators import services
from servers.models import Instance
from tests.support import ALL_DATABASES, requires_postgres, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

INSTANCES = 300


def seed_instances(alias: str, count: int, *, deleted_every: int = 0) -> list[str]:
    """Create ``count`` instances in a cell (every ``deleted_every``-th soft-deleted); their uuids, oldest first."""
    with target_cell(alias):
        created = Instance.objects.bulk_create(
            Instance(uuid=str(uuid.uuid4()), project_id=f"project-{i % 7}", user_id=f"user-{i % 3}")
            for i in range(count)
        )
        uuids = [instance.uuid for instance in created]
        if deleted_every:
            Instance.objects.filter(uuid__in=uuids[::deleted_every]).update(deleted=F("id"))
        assert list(Instance.objects.order_by("id").values_list("uuid", flat=True)) == uuids
    return uuids


def mapped_uuids() -> Counter:
    """How many real mappings (the marker row excluded) each instance uuid has."""
    return Counter(instance_mapping_list().values_list("instance_uuid", flat=True))


def marker_rows() -> list[InstanceMapping]:
    return list(InstanceMapping.objects.filter(project_id=INSTANCE_MIGRATION_MARKER))


def map_instances(cell, *args: str):
    return run_command("cell_v2", "map_instances", "--cell_uuid", cell.uuid, *args)


@contextmanager
def lock_held_by_another_runner(name: str):
    """Hold runner_lock(name) in another thread (its own database connection) inside the block."""
    held, release = threading.Event(), threading.Event()
    errors = []

    def hold():
        try:
            with runner_lock(name):
                held.set()
                release.wait(30)
        except Exception as exc:
            errors.append(exc)
            held.set()
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30) and errors == [], errors
        yield
    finally:
        release.set()
        holder.join(30)


@pytest.fixture
def cell1_instances(cells) -> list[str]:
    return seed_instances("cell1", INSTANCES, deleted_every=4)


class TestBatchesWithMaxCount:
    def test_each_run_maps_one_batch_and_exits_1_until_everything_is_mapped(self, cells, cell1_instances):
        codes, counts, markers = [], [], []
        for _ in range(5):
            result = map_instances(cells["cell1"], "--max-count", "64")
            codes.append(result.code)
            counts.append(sum(mapped_uuids().values()))
            markers.append([m.instance_uuid for m in marker_rows()])

        assert codes == [1, 1, 1, 1, 0]
        assert counts == [64, 128, 192, 256, INSTANCES]
        # The marker is the last uuid mapped, dashes turned into spaces so it never clashes with a mapping.
        assert markers[:4] == [[cell1_instances[n * 64 - 1].replace("-", " ")] for n in range(1, 5)]
        assert markers[4] == []
        assert set(mapped_uuids()) == set(cell1_instances)

    def test_the_marker_row_belongs_to_no_cell_and_is_not_a_real_mapping(self, cells, cell1_instances):
        assert map_instances(cells["cell1"], "--max-count", "10").code == 1

        [marker] = marker_rows()

        assert marker.cell is None
        assert marker.user_id == INSTANCE_MIGRATION_MARKER
        assert " " in marker.instance_uuid and "-" not in marker.instance_uuid
        assert sum(mapped_uuids().values()) == 10

    def test_deleted_instances_are_mapped_too(self, cells, cell1_instances):
        while map_instances(cells["cell1"], "--max-count", "100").code == 1:
            pass

        with target_cell("cell1"):
            deleted = set(Instance.objects.only_deleted().values_list("uuid", flat=True))
        assert len(deleted) == INSTANCES // 4
        assert deleted <= set(mapped_uuids())

    def test_mappings_get_the_cell_project_and_user_of_their_instance(self, cells, cell1_instances):
        assert map_instances(cells["cell1"]).code == 0

        with target_cell("cell1"):
            owners = {u: (p, usr) for u, p, usr in Instance.objects.values_list("uuid", "project_id", "user_id")}
        for mapping in instance_mapping_list():
            assert mapping.cell == cells["cell1"]
            assert (mapping.project_id, mapping.user_id) == owners[mapping.instance_uuid]

    def test_when_exactly_a_batch_remains_one_more_empty_run_finishes(self, cells):
        seed_instances("cell1", 200)

        codes = [map_instances(cells["cell1"], "--max-count", "100").code for _ in range(3)]

        assert codes == [1, 1, 0]
        assert sum(mapped_uuids().values()) == 200
        assert marker_rows() == []

    def test_reset_starts_over_from_the_oldest_instance(self, cells, cell1_instances):
        assert map_instances(cells["cell1"], "--max-count", "100").code == 1
        # A mapping behind the marker goes missing: resuming never looks back there ...
        InstanceMapping.objects.filter(instance_uuid=cell1_instances[0]).delete()
        assert map_instances(cells["cell1"], "--max-count", "100").code == 1
        assert cell1_instances[0] not in mapped_uuids()

        # ... but --reset does, skips what is already mapped and leaves a marker where it stopped.
        result = map_instances(cells["cell1"], "--max-count", "100", "--reset")

        assert result.code == 1
        assert cell1_instances[0] in mapped_uuids()
        assert [m.instance_uuid for m in marker_rows()] == [cell1_instances[99].replace("-", " ")]
        assert sum(mapped_uuids().values()) == 200

    def test_instances_of_other_cells_are_left_alone(self, cells, cell1_instances):
        cell2_instances = seed_instances("cell2", 20)

        assert map_instances(cells["cell1"]).code == 0

        assert not set(cell2_instances) & set(mapped_uuids())
        assert map_instances(cells["cell2"]).code == 0
        assert instance_mapping_list(cell=cells["cell2"]).count() == 20

    def test_an_existing_mapping_is_kept_as_it_is(self, cells, cell1_instances):
        InstanceMapping.objects.create(instance_uuid=cell1_instances[5], cell=None, project_id="building")

        assert map_instances(cells["cell1"]).code == 0

        assert InstanceMapping.objects.get(instance_uuid=cell1_instances[5]).project_id == "building"
        assert set(mapped_uuids().values()) == {1}


class TestWhatItSays:
    def test_how_many_were_mapped_in_how_many_batches_and_what_remains(self, cells, cell1_instances):
        cell = cells["cell1"]
        label = f"cell1 ({cell.uuid})"

        first = map_instances(cell, "--max-count", "100")
        rest = map_instances(cell)
        again = map_instances(cell)

        assert first.code == 1
        assert first.out.splitlines() == [
            "Batch 1: 100 instances looked at, 100 mapped",
            f"Mapped 100 instances of cell {label} in 1 batch; more remain: run it again until it exits 0.",
        ]
        assert rest.code == 0
        assert rest.out.splitlines() == [
            "Batch 1: 200 instances looked at, 200 mapped",
            f"Mapped 200 instances of cell {label} in 1 batch.",
        ]
        # A finished run leaves no marker, so the next one looks at everything and maps nothing.
        assert again.code == 0
        assert again.out.splitlines()[-1] == f"Nothing to map: 300 instances of cell {label}, all mapped already."

    def test_instances_mapped_before_are_counted_apart(self, cells, cell1_instances):
        map_instances(cells["cell1"], "--max-count", "30")

        result = map_instances(cells["cell1"], "--reset")

        assert result.code == 0
        assert result.out.splitlines()[-1] == (
            f"Mapped 270 instances of cell cell1 ({cells['cell1'].uuid}) in 1 batch (30 already mapped)."
        )

    def test_an_empty_cell_has_nothing_to_map(self, cells):
        result = map_instances(cells["cell2"])

        assert (result.code, result.err) == (0, "")
        assert result.out == f"Nothing to map: cell cell2 ({cells['cell2'].uuid}) has no instances left to look at.\n"


class TestInterruptedRun:
    def test_a_run_that_crashes_after_a_committed_batch_resumes_and_maps_each_instance_once(
        self, cells, cell1_instances, monkeypatch
    ):
        real_write = services._instance_mappings_write
        batches = []

        def crash_on_second_batch(cell, instances, **kwargs):
            batches.append(len(instances))
            if len(batches) == 2:
                raise RuntimeError("the process died")
            return real_write(cell, instances, **kwargs)

        monkeypatch.setattr(services, "_instance_mappings_write", crash_on_second_batch)
        with pytest.raises(RuntimeError, match="the process died"):
            services.instances_map(cell_uuid=cells["cell1"].uuid, batch_size=50)
        monkeypatch.undo()

        assert batches == [50, 50]
        assert sum(mapped_uuids().values()) == 50
        assert [m.instance_uuid for m in marker_rows()] == [cell1_instances[49].replace("-", " ")]

        result = services.instances_map(cell_uuid=cells["cell1"].uuid, batch_size=50)

        assert result.complete
        assert result.processed == INSTANCES - 50  # resumed after the committed batch
        counts = mapped_uuids()
        assert set(counts) == set(cell1_instances)
        assert set(counts.values()) == {1}
        assert marker_rows() == []

    def test_the_command_finishes_an_interrupted_run(self, cells, cell1_instances, monkeypatch):
        real_write = services._instance_mappings_write
        calls = []

        def crash_on_third_batch(cell, instances, **kwargs):
            calls.append(len(instances))
            if len(calls) == 3:
                raise RuntimeError("the process died")
            return real_write(cell, instances, **kwargs)

        monkeypatch.setattr(services, "_instance_mappings_write", crash_on_third_batch)
        with pytest.raises(RuntimeError):
            services.instances_map(cell_uuid=cells["cell1"].uuid, batch_size=40)
        monkeypatch.undo()
        assert sum(mapped_uuids().values()) == 80

        assert map_instances(cells["cell1"]).code == 0

        counts = mapped_uuids()
        assert set(counts) == set(cell1_instances) and set(counts.values()) == {1}
        assert marker_rows() == []


class TestRunnerLock:
    def test_a_second_runner_exits_3_while_the_lock_is_held_and_maps_nothing(self, cells, cell1_instances):
        with lock_held_by_another_runner("map_instances"):
            result = map_instances(cells["cell1"])

        assert result.code == 3
        assert "already running" in result.err
        assert not InstanceMapping.objects.exists()
        assert map_instances(cells["cell1"]).code == 0
        assert sum(mapped_uuids().values()) == INSTANCES

    def test_the_lock_is_released_after_a_crash(self, cells, cell1_instances, monkeypatch):
        def crash(cell, instances, **kwargs):
            raise RuntimeError("the process died")

        monkeypatch.setattr(services, "_instance_mappings_write", crash)
        with pytest.raises(RuntimeError):
            services.instances_map(cell_uuid=cells["cell1"].uuid)
        monkeypatch.undo()

        acquired = []

        def try_the_lock():
            try:
                with runner_lock("map_instances"):
                    acquired.append(True)
            finally:
                connections.close_all()

        other = threading.Thread(target=try_the_lock)
        other.start()
        other.join(30)
        assert acquired == [True]


class TestBatchesAndStatements:
    def test_a_max_count_above_the_batch_size_commits_each_batch_with_its_marker(
        self, cells, cell1_instances, monkeypatch
    ):
        real_write = services._instance_mappings_write
        batches = []

        def crash_on_third_batch(cell, instances, **kwargs):
            batches.append(len(instances))
            if len(batches) == 3:
                raise RuntimeError("the process died")
            return real_write(cell, instances, **kwargs)

        monkeypatch.setattr(services, "_instance_mappings_write", crash_on_third_batch)
        with pytest.raises(RuntimeError):
            services.instances_map(cell_uuid=cells["cell1"].uuid, max_count=120, batch_size=50)
        monkeypatch.undo()
        assert batches == [50, 50, 20]
        assert sum(mapped_uuids().values()) == 100
        assert [m.instance_uuid for m in marker_rows()] == [cell1_instances[99].replace("-", " ")]

        result = services.instances_map(cell_uuid=cells["cell1"].uuid, max_count=120, batch_size=50)

        assert (result.processed, result.complete) == (120, False)
        assert [m.instance_uuid for m in marker_rows()] == [cell1_instances[219].replace("-", " ")]
        assert set(mapped_uuids()) == set(cell1_instances[:220]) and set(mapped_uuids().values()) == {1}

    def test_a_reset_run_that_stops_where_the_last_one_did_keeps_one_marker(self, cells, cell1_instances):
        assert map_instances(cells["cell1"], "--max-count", "100").code == 1
        assert map_instances(cells["cell1"], "--max-count", "100", "--reset").code == 1

        assert [m.instance_uuid for m in marker_rows()] == [cell1_instances[99].replace("-", " ")]
        assert sum(mapped_uuids().values()) == 100
        assert map_instances(cells["cell1"]).code == 0
        assert marker_rows() == [] and sum(mapped_uuids().values()) == INSTANCES

    def test_a_mapping_added_during_the_write_is_skipped_not_an_error(self, cells):
        # What the write cannot see beforehand (a mapping committed while it runs) is a unique
        # violation; the same instance twice in one statement is the same case.
        instance_uuid, other = str(uuid.uuid4()), str(uuid.uuid4())
        batch = [(1, instance_uuid, "p1", "u1"), (2, instance_uuid, "p1", "u1"), (3, other, None, "u2")]

        mapped = services._instance_mappings_write(cells["cell1"], batch, marker=other)

        assert mapped == 2  # the duplicate and the marker row are not counted
        assert mapped_uuids() == Counter({instance_uuid: 1, other: 1})
        assert InstanceMapping.objects.get(instance_uuid=other).project_id == ""
        assert [m.instance_uuid for m in marker_rows()] == [other.replace("-", " ")]
        assert services._instance_mappings_write(cells["cell1"], batch, marker=other) == 0

    @pytest.mark.parametrize("max_count", [10, 250])
    def test_a_batch_costs_the_same_statements_whatever_its_size(self, cells, cell1_instances, max_count):
        with CaptureQueriesContext(connections["api"]) as api, CaptureQueriesContext(connections["cell1"]) as cell:
            result = services.instances_map(cell_uuid=cells["cell1"].uuid, max_count=max_count)
        assert (result.processed, result.complete) == (max_count, False)
        assert sum(mapped_uuids().values()) == max_count
        # The savepoints are the test's own transaction's (the command runs in autocommit).
        sent = [q["sql"] for q in api.captured_queries if "SAVEPOINT" not in q["sql"]]
        # The cell mapping, the marker, one write (on SQLite a delete and an insert); on PostgreSQL
        # the runner lock is held on a connection of its own. One read in the cell.
        assert len(sent) == (3 if connections["api"].vendor == "postgresql" else 4)
        assert len(cell.captured_queries) == 1

    def test_with_several_markers_the_oldest_is_where_the_run_resumes(self, cells, cell1_instances):
        for position in (49, 99):
            InstanceMapping.objects.create(
                instance_uuid=cell1_instances[position].replace("-", " "),
                project_id=INSTANCE_MIGRATION_MARKER,
                user_id=INSTANCE_MIGRATION_MARKER,
            )

        result = services.instances_map(cell_uuid=cells["cell1"].uuid, max_count=10)

        assert set(mapped_uuids()) == set(cell1_instances[50:60])
        assert [m.instance_uuid for m in marker_rows()] == [cell1_instances[59].replace("-", " ")]
        assert (result.processed, result.complete) == (10, False)


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
class TestTwoWritersOnPostgres:
    """In autocommit, a large batch is written in two halves by two connections at once."""

    @pytest.fixture
    def halves(self, monkeypatch):
        monkeypatch.setattr(services, "SPLIT_WRITE_MIN", 100)
        real = services._mappings_insert_in_thread
        calls = []

        def first_half(rows, now):
            calls.append((threading.current_thread().name, len(rows)))
            if len(calls) == getattr(first_half, "crash_on", 0):
                raise RuntimeError("the process died")
            return real(rows, now)

        monkeypatch.setattr(services, "_mappings_insert_in_thread", first_half)
        return first_half, calls

    def test_each_instance_is_mapped_once_and_the_marker_follows_both_halves(self, cells, halves):
        first_half, calls = halves
        uuids = seed_instances("cell1", 1000)

        result = services.instances_map(cell_uuid=cells["cell1"].uuid, max_count=600, batch_size=300)

        assert (result.processed, result.mapped, result.batches, result.complete) == (600, 600, 2, False)
        assert [name.startswith("instances-map") for name, _ in calls] == [True, True]
        assert [size for _, size in calls] == [150, 150]
        assert set(mapped_uuids()) == set(uuids[:600]) and set(mapped_uuids().values()) == {1}
        assert [m.instance_uuid for m in marker_rows()] == [uuids[599].replace("-", " ")]
        assert instance_mapping_list(cell=cells["cell1"]).count() == 600

        # The other connection's half fails: the marker stays where the last whole batch ended.
        first_half.crash_on = 3
        with pytest.raises(RuntimeError, match="the process died"):
            services.instances_map(cell_uuid=cells["cell1"].uuid, batch_size=300)
        assert [m.instance_uuid for m in marker_rows()] == [uuids[599].replace("-", " ")]
        # A batch is written in uuid order, its first half (the lower uuids) by the other connection.
        assert set(mapped_uuids()) == set(uuids[:600]) | set(sorted(uuids[600:900])[150:])

        first_half.crash_on = 0
        result = services.instances_map(cell_uuid=cells["cell1"].uuid, batch_size=300)

        assert (result.processed, result.complete) == (400, True)
        assert result.mapped == 400 - 150  # the half the crashed run committed was skipped
        assert set(mapped_uuids()) == set(uuids) and set(mapped_uuids().values()) == {1}
        assert marker_rows() == []
