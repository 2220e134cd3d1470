"""migrate_instance_groups_to_api_db across cell0, cell1 and cell2: batches, crash and resume, parallel runs."""

import threading
from collections import Counter

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from cellsv2 import online_migrations as registry
from cellsv2.context import current_cell_alias, target_cell
from servergroups import online_migrations, selectors
from servergroups.exceptions import CellsUnavailable
from servergroups.models import (
    InstanceGroup,
    InstanceGroupPolicy,
    LegacyInstanceGroup,
    LegacyInstanceGroupMember,
    LegacyInstanceGroupPolicy,
)
from servergroups.online_migrations import migrate_instance_groups_to_api_db
from servergroups.services import legacy_servergroups_soft_delete
from tests.factories import InstanceGroupFactory, LegacyInstanceGroupFactory, new_uuid
from tests.servergroups.helpers import legacy_rows
from tests.support import ALL_DATABASES, requires_postgres, run_command

CELLS = ("cell0", "cell1", "cell2")


class Crash(Exception):
    """The process died here."""


def seed(per_cell=(3, 4, 2)) -> dict:
    """Legacy groups in every cell, with deleted children, several policies and duplicate members.

    Returns what a complete migration must produce: {uuid: (name, project, user, policies, members)}.
    """
    expected = {}
    for alias, count in zip(CELLS, per_cell, strict=True):
        for i in range(count):
            members = [new_uuid() for _ in range(i)]
            policies = ["anti-affinity", "soft-anti-affinity"] if i == 1 else ["affinity"]
            group = LegacyInstanceGroupFactory(
                cell=alias,
                project_id=f"proj-{alias}",
                user_id=f"user{i}",
                name=f"{alias}-{i}",
                policies=policies,
                members=members + members[:1],  # a duplicate member row, as Nova could leave
                deleted_policies=["soft-affinity"],
                deleted_members=[new_uuid()],
            )
            # Several legacy policies: the first one only, as Nova's migration stores it.
            expected[group.uuid] = (f"{alias}-{i}", f"proj-{alias}", f"user{i}", policies[:1], members)
    # A group deleted before the move stays where it is.
    deleted = LegacyInstanceGroupFactory(cell="cell1", name="deleted before", members=[new_uuid()])
    with target_cell("cell1"):
        legacy_servergroups_soft_delete(group_ids=[deleted.id])
    return expected


def api_state() -> dict:
    """{uuid: (name, project, user, policies, members)} of the API database."""
    state = {}
    for group in InstanceGroup.objects.prefetch_related("policies", "members").order_by("id"):
        state[group.uuid] = (
            group.name,
            group.project_id,
            group.user_id,
            [p.policy for p in sorted(group.policies.all(), key=lambda p: p.id)],
            [m.instance_uuid for m in sorted(group.members.all(), key=lambda m: m.id)],
        )
    return state


def live_legacy_groups() -> int:
    return sum(legacy_rows(alias, LegacyInstanceGroup) for alias in CELLS)


def assert_fully_migrated(expected: dict) -> None:
    assert api_state() == expected
    assert InstanceGroupPolicy.objects.filter(rules__isnull=False).count() == 0
    for alias in CELLS:
        for model in (LegacyInstanceGroup, LegacyInstanceGroupPolicy, LegacyInstanceGroupMember):
            assert legacy_rows(alias, model) == 0, (alias, model.__name__)
    # Nothing is hard-deleted in the cells (cell1 also has one group deleted before the move).
    in_cell1 = sum(1 for value in expected.values() if value[1] == "proj-cell1")
    assert legacy_rows("cell1", LegacyInstanceGroup, live=False) == in_cell1 + 1


@pytest.mark.django_db(databases=ALL_DATABASES)
@pytest.mark.usefixtures("cells")
class TestMigration:
    def test_batches_move_every_group_with_its_live_children_then_report_nothing_left(self):
        expected = seed()
        results = [migrate_instance_groups_to_api_db(max_count=4) for _ in range(4)]
        assert results == [(4, 4), (4, 4), (1, 1), (0, 0)]
        assert_fully_migrated(expected)

    def test_the_same_uuid_and_timestamps_are_kept(self):
        row = LegacyInstanceGroupFactory(cell="cell2")
        migrate_instance_groups_to_api_db(max_count=10)
        moved = InstanceGroup.objects.get(uuid=row.uuid)
        assert moved.created_at == row.created_at
        assert selectors.servergroup_get(uuid=row.uuid).is_legacy is False

    def test_a_group_with_several_policies_keeps_the_first_as_nova_does_and_says_so(self, caplog):
        row = LegacyInstanceGroupFactory(cell="cell1", policies=["soft-anti-affinity", "affinity"])
        with caplog.at_level("WARNING", logger="servergroups.online_migrations"):
            migrate_instance_groups_to_api_db(max_count=10)
        moved = InstanceGroup.objects.get(uuid=row.uuid)
        assert list(InstanceGroupPolicy.objects.filter(group=moved).values_list("policy", "rules")) == [
            ("soft-anti-affinity", None)
        ]
        group = selectors.servergroup_get(uuid=row.uuid)
        assert (group.policies, group.policy) == (("soft-anti-affinity",), "soft-anti-affinity")
        assert f"Server group {row.uuid} has policies soft-anti-affinity, affinity" in caplog.text

    def test_a_crash_between_the_api_insert_and_the_soft_delete_is_repaired_by_the_next_run(self, monkeypatch):
        expected = seed()
        total = len(expected)
        real = online_migrations._soft_delete_copied

        def crash(group_ids):
            raise Crash()

        monkeypatch.setattr(online_migrations, "_soft_delete_copied", crash)
        with pytest.raises(Crash):
            migrate_instance_groups_to_api_db(max_count=2)
        # The first two groups of cell0 are in the API database AND still live in cell0 ...
        assert InstanceGroup.objects.count() == 2
        assert live_legacy_groups() == total
        # ... and every reader shows each group once, the API copy.
        listed = selectors.servergroup_list()
        assert len(listed) == total and len({g.uuid for g in listed}) == total
        assert sum(1 for g in listed if not g.is_legacy) == 2
        for project in ("proj-cell0", "proj-cell1", "proj-cell2"):
            assert selectors.servergroup_count(project) == sum(1 for v in expected.values() if v[1] == project)

        monkeypatch.setattr(online_migrations, "_soft_delete_copied", real)
        found = done = 0
        while True:
            batch = migrate_instance_groups_to_api_db(max_count=3)
            if batch == (0, 0):
                break
            found, done = found + batch[0], done + batch[1]
        assert (found, done) == (total, total)
        assert_fully_migrated(expected)

    def test_a_crash_in_every_batch_still_converges_without_doubles(self, monkeypatch):
        expected = seed()
        real = online_migrations._soft_delete_copied
        calls = Counter()

        def crash_every_other_time(group_ids):
            calls["n"] += 1
            if calls["n"] % 2:
                raise Crash()
            real(group_ids)

        monkeypatch.setattr(online_migrations, "_soft_delete_copied", crash_every_other_time)
        for _ in range(30):
            try:
                if migrate_instance_groups_to_api_db(max_count=2) == (0, 0):
                    break
            except Crash:
                continue
        assert_fully_migrated(expected)

    def test_members_added_to_the_cell_copy_after_a_crash_are_not_lost(self, monkeypatch):
        row = LegacyInstanceGroupFactory(cell="cell1", members=["m1"])
        monkeypatch.setattr(online_migrations, "_soft_delete_copied", lambda ids: (_ for _ in ()).throw(Crash()))
        with pytest.raises(Crash):
            migrate_instance_groups_to_api_db(max_count=5)
        monkeypatch.undo()
        with target_cell("cell1"):
            LegacyInstanceGroupMember.objects.create(group_id=row.id, instance_id="m2")
        assert migrate_instance_groups_to_api_db(max_count=5) == (1, 1)
        assert api_state()[row.uuid][3:] == (["affinity"], ["m1", "m2"])

    def test_each_batch_is_a_fixed_number_of_queries(self):
        for size in (2, 20):
            for _ in range(size):
                LegacyInstanceGroupFactory(
                    cell="cell1", members=[new_uuid(), new_uuid()], policies=["affinity", "anti-affinity"]
                )
            with (
                CaptureQueriesContext(connections["api"]) as api_queries,
                CaptureQueriesContext(connections["cell1"]) as cell_queries,
            ):
                assert migrate_instance_groups_to_api_db(max_count=size) == (size, size)
            # cell: claim, policies, members, 3 soft-delete UPDATEs (+ savepoint statements)
            assert len([q for q in cell_queries if "SAVEPOINT" not in q["sql"]]) == 6
            # api: recorded deletions, existing uuids, insert groups, read ids, insert policies, insert members
            assert len([q for q in api_queries if "SAVEPOINT" not in q["sql"]]) <= 7

    def test_a_batch_moves_chunk_by_chunk_each_a_fixed_number_of_queries(self, monkeypatch):
        monkeypatch.setattr(online_migrations, "MOVE_CHUNK", 3)
        expected = {}
        for i in range(7):
            row = LegacyInstanceGroupFactory(cell="cell1", name=f"g{i}", members=[f"m{i}a", f"m{i}b"])
            expected[row.uuid] = (f"g{i}", row.project_id, row.user_id, ["affinity"], [f"m{i}a", f"m{i}b"])
        with CaptureQueriesContext(connections["cell1"]) as cell_queries:
            assert migrate_instance_groups_to_api_db(max_count=5) == (5, 5)
        # Chunks of 3 then 2 (the budget), each: claim, policies, members, 3 soft-delete UPDATEs.
        assert len([q for q in cell_queries if "SAVEPOINT" not in q["sql"]]) == 2 * 6
        assert migrate_instance_groups_to_api_db(max_count=5) == (2, 2)
        assert migrate_instance_groups_to_api_db(max_count=5) == (0, 0)
        assert api_state() == expected

    def test_a_chunk_with_some_groups_already_in_the_api_database_moves_the_others_whole(self, monkeypatch):
        # "there": copied by an interrupted run (or another runner), with a member added since.
        there = LegacyInstanceGroupFactory(cell="cell1", name="there", members=["t1", "t2"])
        InstanceGroupFactory(uuid=there.uuid, name="there", policy="affinity", members=["t1", "t0"])
        others = [LegacyInstanceGroupFactory(cell="cell1", name=f"new{i}", members=[f"n{i}"]) for i in range(3)]
        fast = []
        real = online_migrations._api_insert_all
        monkeypatch.setattr(online_migrations, "_api_insert_all", lambda *args: fast.append(real(*args)) or fast[-1])
        assert migrate_instance_groups_to_api_db(max_count=10) == (4, 4)
        # PostgreSQL: the one-statement insert fails as a whole, the general path moves the chunk.
        assert fast == ([False] if connections["api"].vendor == "postgresql" else [])
        state = api_state()
        assert state[there.uuid][3:] == (["affinity"], ["t1", "t0", "t2"])  # its policy kept, members merged
        for i, row in enumerate(others):
            assert state[row.uuid] == (f"new{i}", row.project_id, row.user_id, ["affinity"], [f"n{i}"])
        assert InstanceGroupPolicy.objects.count() == 4
        assert live_legacy_groups() == 0

    def test_a_legacy_policy_without_a_name_and_a_group_without_policy_move_as_they_are(self):
        unnamed = LegacyInstanceGroupFactory(cell="cell2", policies=[None], members=["a"])
        bare = LegacyInstanceGroupFactory(cell="cell2", policies=[], members=["b", "b"])
        assert migrate_instance_groups_to_api_db(max_count=10) == (2, 2)
        state = api_state()
        assert state[unnamed.uuid][3:] == ([None], ["a"])
        assert state[bare.uuid][3:] == ([], ["b"])

    def test_an_unreachable_cell_is_skipped_and_reported_when_nothing_moved(self, cells):
        from mappings.models import CellMapping

        CellMapping.objects.create(uuid=new_uuid(), name="broken", transport_url="none:///", database_connection="")
        LegacyInstanceGroupFactory(cell="cell2")
        assert migrate_instance_groups_to_api_db(max_count=10) == (1, 1)
        with pytest.raises(CellsUnavailable):
            migrate_instance_groups_to_api_db(max_count=10)

    def test_it_is_registered_and_runs_from_the_command(self):
        assert migrate_instance_groups_to_api_db in registry.registered_migrations()
        expected = seed((1, 2, 1))
        result = run_command("online_data_migrations")
        assert result.code == 0, result.err
        assert "migrate_instance_groups_to_api_db" in result.out
        assert_fully_migrated(expected)


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_two_concurrent_runners_move_everything_exactly_once(cells):
    expected = seed((12, 15, 9))
    results: dict[str, list] = {"a": [], "b": []}
    errors = []
    barrier = threading.Barrier(2)

    def runner(name):
        try:
            barrier.wait(timeout=10)
            while True:
                batch = migrate_instance_groups_to_api_db(max_count=4)
                results[name].append(batch)
                if batch == (0, 0):
                    break
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(name,)) for name in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    # The runner that stops last sees nothing left; a final run proves it.
    assert migrate_instance_groups_to_api_db(max_count=50) == (0, 0)
    done = sum(batch[1] for batches in results.values() for batch in batches)
    assert done == len(expected)  # each group claimed and moved by exactly one runner
    assert all(results.values()), "both runners ran"
    assert_fully_migrated(expected)


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_a_runner_skips_the_groups_another_runner_is_moving(cells, monkeypatch):
    expected = seed()
    real = online_migrations._soft_delete_copied
    holding, release = threading.Event(), threading.Event()

    def hold_in_runner_a(group_ids):
        # Runner A has claimed its groups and committed them to the API database: the worst moment.
        if threading.current_thread().name == "runner-a":
            holding.set()
            assert release.wait(timeout=30)
        real(group_ids)

    monkeypatch.setattr(online_migrations, "_soft_delete_copied", hold_in_runner_a)
    outcome = {}

    def runner_a():
        try:
            outcome["a"] = migrate_instance_groups_to_api_db(max_count=2)
        finally:
            connections.close_all()

    thread = threading.Thread(target=runner_a, name="runner-a")
    thread.start()
    try:
        assert holding.wait(timeout=30)
        # Runner B moves everything else and never touches A's two groups.
        assert migrate_instance_groups_to_api_db(max_count=100) == (len(expected) - 2, len(expected) - 2)
        assert migrate_instance_groups_to_api_db(max_count=100) == (0, 0)
        assert live_legacy_groups() == 2
    finally:
        release.set()
        thread.join(timeout=30)
    assert outcome["a"] == (2, 2)
    assert_fully_migrated(expected)


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_two_lanes_move_a_cell_together_each_group_once(cells, monkeypatch):
    monkeypatch.setattr(online_migrations, "MOVE_CHUNK", 2)
    expected = seed((4, 11, 3))
    real = online_migrations._soft_delete_copied
    deleted_by: dict[str, list[tuple[str, int]]] = {}
    both_in = threading.Barrier(2)

    def soft_delete(group_ids):
        # Each lane waits (once) for the other: the two really run at the same time.
        if threading.current_thread().name not in deleted_by:
            try:
                both_in.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
        alias = current_cell_alias()
        deleted_by.setdefault(threading.current_thread().name, []).extend((alias, i) for i in group_ids)
        real(group_ids)

    monkeypatch.setattr(online_migrations, "_soft_delete_copied", soft_delete)
    assert migrate_instance_groups_to_api_db(max_count=100) == (len(expected), len(expected))
    assert len(deleted_by) == 2 and any(name.startswith("servergroups-move") for name in deleted_by)
    ids = [row for rows in deleted_by.values() for row in rows]
    assert len(ids) == len(set(ids)) == len(expected)
    assert_fully_migrated(expected)


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_a_crash_in_the_second_lane_between_the_api_write_and_the_soft_delete_then_a_rerun(cells, monkeypatch):
    monkeypatch.setattr(online_migrations, "MOVE_CHUNK", 2)
    expected = seed((4, 11, 3))
    real = online_migrations._soft_delete_copied

    def crash_in_the_second_lane(group_ids):
        if threading.current_thread().name.startswith("servergroups-move"):
            raise Crash()
        real(group_ids)

    monkeypatch.setattr(online_migrations, "_soft_delete_copied", crash_in_the_second_lane)
    with pytest.raises(Crash):
        migrate_instance_groups_to_api_db(max_count=100)
    # The crashed chunk is in the API database and still live in its cell.
    assert InstanceGroup.objects.count() > len(expected) - live_legacy_groups()
    monkeypatch.setattr(online_migrations, "_soft_delete_copied", real)
    left = live_legacy_groups()
    assert migrate_instance_groups_to_api_db(max_count=100) == (left, left)
    assert migrate_instance_groups_to_api_db(max_count=100) == (0, 0)
    assert_fully_migrated(expected)


@pytest.mark.django_db(databases=ALL_DATABASES)
class TestDeletedWhileACellIsDown:
    """A group deleted while a cell holding a legacy copy did not answer never comes back."""

    def silence(self, monkeypatch, alias):
        from cellsv2.cells import DID_NOT_RESPOND, cell_mappings, scatter_gather_cells
        from servergroups import services

        def scatter_gather(fn, *args, **kwargs):
            others = [c for c in cell_mappings() if c.name != alias]
            silent = next(c for c in cell_mappings() if c.name == alias)
            return {**scatter_gather_cells(others, fn, *args, **kwargs), silent.uuid: DID_NOT_RESPOND}

        monkeypatch.setattr(services, "scatter_gather_all_cells", scatter_gather)

    def test_the_legacy_copy_is_hidden_then_dropped_by_the_move(self, cells, monkeypatch):
        from servergroups.exceptions import ServerGroupNotFound
        from servergroups.models import InstanceGroupDeletion
        from servergroups.services import servergroup_delete

        # "gone": copied to the API, its cell copy left by an interrupted move; "kept": not moved yet.
        gone = InstanceGroupFactory(name="gone")
        LegacyInstanceGroupFactory(cell="cell1", uuid=gone.uuid, name="gone")
        kept = LegacyInstanceGroupFactory(cell="cell2", name="kept")
        self.silence(monkeypatch, "cell1")
        servergroup_delete(uuid=gone.uuid)
        assert list(InstanceGroupDeletion.objects.values_list("uuid", flat=True)) == [gone.uuid]

        monkeypatch.undo()  # cell1 is back, with its copy
        with pytest.raises(ServerGroupNotFound):
            selectors.servergroup_get(uuid=gone.uuid)
        with pytest.raises(ServerGroupNotFound):
            selectors.servergroup_get_by_name(name="gone")
        assert [g.uuid for g in selectors.servergroup_list(project_id="proj1")] == [kept.uuid]
        assert selectors.servergroup_count("proj1") == 1

        assert migrate_instance_groups_to_api_db(max_count=10) == (2, 2)
        assert list(InstanceGroup.objects.values_list("uuid", flat=True)) == [kept.uuid]
        with target_cell("cell1"):
            assert not LegacyInstanceGroup.objects.live().exists()
        assert migrate_instance_groups_to_api_db(max_count=10) == (0, 0)
        assert not InstanceGroupDeletion.objects.exists()

    def test_a_group_found_nowhere_that_answered_is_404_and_not_recorded(self, cells, monkeypatch):
        from servergroups.exceptions import ServerGroupNotFound
        from servergroups.models import InstanceGroupDeletion
        from servergroups.services import servergroup_delete

        only_there = LegacyInstanceGroupFactory(cell="cell1")
        self.silence(monkeypatch, "cell1")
        with pytest.raises(ServerGroupNotFound):
            servergroup_delete(uuid=only_there.uuid)
        assert not InstanceGroupDeletion.objects.exists()
        monkeypatch.undo()
        assert selectors.servergroup_get(uuid=only_there.uuid).uuid == only_there.uuid
