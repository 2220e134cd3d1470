"""Placement: the scheduler's choice of host, capacity claims, cell0 for no valid host, several
conductors, crash repair, and server-group policies."""

import threading

import pytest
from django.db import DatabaseError, connections, transaction
from django.test.utils import CaptureQueriesContext

from cellsv2.cells import DID_NOT_RESPOND, cells_cache_clear
from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS
from flavors.services import flavor_create
from mappings.models import CellMapping, HostMapping
from servergroups.selectors import servergroup_get
from servergroups.services import servergroup_create
from servers import conductor, scheduler
from servers.models import BuildRequest, ComputeNode, InstanceSystemMetadata, PlacementAttempt
from tests.fixtures.compute import (
    ADMIN,
    OTHER,
    Topology,
    add_node,
    api_rows,
    cells_holding,
    discover,
    faults_of,
    instance_in,
    mapping_of,
    place_all,
)
from tests.support import ALL_DATABASES, CELL_ALIASES, requires_postgres

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def usage(topology: Topology, host: str) -> tuple[int, int, int, int]:
    node = topology.node(host)
    return node.vcpus_used, node.memory_mb_used, node.local_gb_used, node.running_vms


def where(uuid) -> tuple[str, str | None]:
    """(cell alias, host) of a live instance."""
    [alias] = [a for a in CELL_ALIASES if instance_in(a, uuid) is not None]
    return alias, instance_in(alias, uuid).host


def make_topology(cells, spec: dict) -> Topology:
    """spec: {host: (cell alias, {node kwargs})}; discovered."""
    nodes = {host: (alias, add_node(cells, alias, host, **kwargs)) for host, (alias, kwargs) in spec.items()}
    discover()
    return Topology(cells=cells, nodes=nodes)


@pytest.fixture
def flavors():
    return {
        "big_ram": flavor_create(name="big-ram", memory_mb=6000, vcpus=1, root_gb=1, flavorid="big-ram"),
        "many_cpus": flavor_create(name="many-cpus", memory_mb=256, vcpus=8, root_gb=1, flavorid="many-cpus"),
        "big_disk": flavor_create(name="big-disk", memory_mb=256, vcpus=1, root_gb=60, flavorid="big-disk"),
        "ephemeral": flavor_create(
            name="ephemeral", memory_mb=256, vcpus=1, root_gb=30, ephemeral_gb=30, flavorid="ephemeral"
        ),
    }


@pytest.mark.usefixtures("worker_mode")
class TestHostChoice:
    def test_the_host_with_enough_ram_is_chosen(self, api, cells, flavors):
        topology = make_topology(
            cells,
            {"small": ("cell1", {"memory_mb": 4096}), "large": ("cell2", {"memory_mb": 8192})},
        )
        uuid = api.create_uuid(flavorRef="big-ram")
        assert place_all() == {"placed": 1}
        assert where(uuid) == ("cell2", "large")
        assert usage(topology, "large") == (1, 6000, 1, 1)
        assert usage(topology, "small") == (0, 0, 0, 0)

    def test_a_batch_reads_the_hosts_once_and_spreads_its_servers(self, api, cells, monkeypatch):
        topology = make_topology(cells, {"a": ("cell1", {"memory_mb": 8192}), "b": ("cell2", {"memory_mb": 8192})})
        reads = []
        real = scheduler.host_states

        def host_states(**kwargs):
            reads.append(kwargs)
            return real(**kwargs)

        monkeypatch.setattr(scheduler, "host_states", host_states)
        uuids = [api.create_uuid(flavorRef="1") for _ in range(4)]
        assert conductor.conductor_run_once() == {"placed": 4}
        assert len(reads) == 1
        # What the batch placed is taken off its states: the most-free-RAM weigher alternates.
        assert sorted(where(u)[1] for u in uuids) == ["a", "a", "b", "b"]
        assert usage(topology, "a") == usage(topology, "b") == (2, 1024, 2, 2)
        # A request for a zone or a host reads them for itself.
        api.create_uuid(flavorRef="1", availability_zone="nova:b", token=ADMIN)
        assert conductor.conductor_run_once() == {"placed": 1}
        assert len(reads) == 2 and reads[1]["destination"]["host"] == "b"

    def test_hosts_are_read_again_before_a_server_is_buried(self, api, cells, monkeypatch):
        # The batch's states are stale (here: no host at all): a fresh read finds the room.
        make_topology(cells, {"a": ("cell1", {"memory_mb": 4096})})
        real = scheduler.host_states
        reads = []

        def host_states(**kwargs):
            reads.append(kwargs)
            return [] if len(reads) == 1 else real(**kwargs)

        monkeypatch.setattr(scheduler, "host_states", host_states)
        uuid = api.create_uuid(flavorRef="1")
        assert conductor.conductor_run_once() == {"placed": 1}
        assert where(uuid) == ("cell1", "a") and len(reads) == 2

    def test_vcpus_count_after_the_cpu_allocation_ratio(self, api, cells, flavors):
        # 8 vCPUs asked: 2 physical x 4.0 (the default ratio) fits; 4 physical x 1.0 does not.
        make_topology(
            cells,
            {
                "no-overcommit": ("cell1", {"vcpus": 4, "memory_mb": 16384, "cpu_allocation_ratio": 1.0}),
                "overcommit": ("cell2", {"vcpus": 2, "memory_mb": 8192}),
            },
        )
        uuid = api.create_uuid(flavorRef="many-cpus")
        place_all()
        assert where(uuid) == ("cell2", "overcommit")

    def test_the_settings_ratio_is_used_when_the_node_has_none(self, api, cells, flavors, settings):
        settings.CELLSV2_ALLOCATION_RATIOS = {"cpu": 1.0, "ram": 1.0, "disk": 1.0}
        make_topology(cells, {"two-cpus": ("cell1", {"vcpus": 2})})
        uuid = api.create_uuid(flavorRef="many-cpus")
        place_all()
        assert where(uuid)[0] == "cell0"

    def test_ram_and_disk_ratios_of_the_node_count(self, api, cells, flavors):
        make_topology(
            cells,
            {
                "ram-overcommit": ("cell1", {"memory_mb": 4096, "ram_allocation_ratio": 1.5, "local_gb": 10}),
                "disk-overcommit": ("cell2", {"memory_mb": 512, "local_gb": 40, "disk_allocation_ratio": 2.0}),
            },
        )
        ram = api.create_uuid(flavorRef="big-ram")  # 6000 MB <= 4096 * 1.5
        disk = api.create_uuid(flavorRef="ephemeral")  # 60 GB <= 40 * 2.0
        place_all()
        assert where(ram) == ("cell1", "ram-overcommit")
        assert where(disk) == ("cell2", "disk-overcommit")

    def test_disk_counts_root_and_ephemeral(self, api, cells, flavors):
        make_topology(
            cells, {"50g": ("cell1", {"local_gb": 50}), "70g": ("cell2", {"local_gb": 70, "memory_mb": 1024})}
        )
        uuid = api.create_uuid(flavorRef="ephemeral")  # 30 + 30 GB
        place_all()
        assert where(uuid) == ("cell2", "70g")

    def test_the_most_free_ram_wins_spreading_servers(self, api, cells):
        topology = make_topology(cells, {"a": ("cell1", {"memory_mb": 2048}), "b": ("cell2", {"memory_mb": 2048})})
        uuids = [api.create_uuid() for _ in range(4)]
        place_all()
        assert sorted(where(u)[1] for u in uuids) == ["a", "a", "b", "b"]
        assert usage(topology, "a")[1] == usage(topology, "b")[1] == 1024

    def test_disabled_cells_are_skipped(self, api, cells):
        make_topology(cells, {"in-disabled": ("cell1", {"memory_mb": 65536}), "in-enabled": ("cell2", {})})
        CellMapping.objects.filter(pk=cells["cell1"].pk).update(disabled=True)
        cells_cache_clear()
        uuids = [api.create_uuid() for _ in range(3)]
        place_all()
        assert {where(u) for u in uuids} == {("cell2", "in-enabled")}

    def test_a_compute_node_in_cell0_is_never_used(self, api, cells):
        add_node(cells, "cell0", "cell0-host", memory_mb=65536)
        HostMapping.objects.create(cell=cells["cell0"], host="cell0-host")
        make_topology(cells, {"real": ("cell1", {})})
        uuid = api.create_uuid()
        place_all()
        assert where(uuid) == ("cell1", "real")
        assert scheduler.host_states() and all(s.host != "cell0-host" for s in scheduler.host_states())

    def test_unmapped_hosts_are_not_candidates(self, api, cells):
        add_node(cells, "cell1", "not-discovered")
        uuid = api.create_uuid()
        place_all()
        assert where(uuid)[0] == "cell0"

    def test_deleted_compute_nodes_are_not_candidates(self, api, cells):
        topology = make_topology(cells, {"gone": ("cell1", {})})
        from servers.services.compute_nodes import compute_node_delete

        compute_node_delete(cell=topology.cells["cell1"], host="gone")
        uuid = api.create_uuid()
        place_all()
        assert where(uuid)[0] == "cell0"

    def test_the_default_availability_zone(self, api, topology):
        uuid = api.create_uuid(availability_zone="nova")
        place_all()
        assert where(uuid)[0] in ("cell1", "cell2")
        assert api.show(uuid).json()["server"]["OS-EXT-AZ:availability_zone"] == "nova"


@pytest.mark.usefixtures("worker_mode")
class TestCapacity:
    @pytest.fixture
    def swappy(self, default_flavors):
        # 1 GB root and 1500 MB swap: 3 GB of disk once the swap is rounded up to whole GB.
        return flavor_create(name="swappy", memory_mb=256, vcpus=1, root_gb=1, swap=1500, flavorid="swappy")

    def test_swap_is_claimed_in_whole_gb_and_released_as_claimed(self, api, cells, swappy):
        topology = make_topology(cells, {"only": ("cell1", {"local_gb": 10})})
        uuid = api.create_uuid(flavorRef="swappy")
        assert place_all() == {"placed": 1}
        assert usage(topology, "only") == (1, 256, 3, 1)
        assert api("delete", f"/servers/{uuid}").status_code == 204
        assert usage(topology, "only") == (0, 0, 0, 0)

    def test_swap_counts_when_the_scheduler_checks_free_disk(self, api, cells, swappy):
        topology = make_topology(cells, {"small": ("cell1", {"local_gb": 2})})
        uuid = api.create_uuid(flavorRef="swappy")
        assert place_all() == {"buried": 1}
        assert where(uuid)[0] == "cell0"
        assert usage(topology, "small") == (0, 0, 0, 0)

    def test_a_server_placed_before_claims_were_recorded_releases_root_and_ephemeral(self, api, cells, swappy):
        # Such a placement claimed root + ephemeral only: releasing its swap too would free disk
        # that was never taken.
        topology = make_topology(cells, {"only": ("cell1", {"local_gb": 10})})
        uuid = api.create_uuid(flavorRef="swappy")
        place_all()
        with target_cell("cell1"):
            InstanceSystemMetadata.objects.filter(instance_id=uuid, key=scheduler.CLAIMED_DISK_KEY).delete()
            ComputeNode.objects.filter(host="only").update(local_gb_used=1)
        assert api("delete", f"/servers/{uuid}").status_code == 204
        assert usage(topology, "only") == (0, 0, 0, 0)

    def test_placement_claims_and_delete_releases(self, api, topology):
        uuids = [api.create_uuid(flavorRef="2") for _ in range(2)]  # m1.small: 1 vCPU, 2048 MB, 20 GB
        place_all()
        hosts = sorted(where(u)[1] for u in uuids)
        assert hosts == ["compute1", "compute2"]
        for host in hosts:
            assert usage(topology, host) == (1, 2048, 20, 1)
        for uuid in uuids:
            assert api("delete", f"/servers/{uuid}").status_code == 204
        for host in hosts:
            assert usage(topology, host) == (0, 0, 0, 0)

    def test_a_full_host_is_not_chosen_and_the_last_one_goes_to_cell0(self, api, cells):
        topology = make_topology(cells, {"only": ("cell1", {"memory_mb": 1024})})
        uuids = [api.create_uuid() for _ in range(3)]  # 512 MB each
        assert place_all() == {"placed": 2, "buried": 1}
        assert [where(u)[0] for u in uuids] == ["cell1", "cell1", "cell0"]
        assert usage(topology, "only") == (2, 1024, 2, 2)
        # A delete frees room for the next one.
        api("delete", f"/servers/{uuids[0]}")
        again = api.create_uuid()
        place_all()
        assert where(again) == ("cell1", "only")

    def test_claim_refuses_what_another_conductor_took_meanwhile(self, cells):
        topology = make_topology(cells, {"only": ("cell1", {"memory_mb": 1024})})
        flavor = {"vcpus": 1, "memory_mb": 1024, "root_gb": 1, "ephemeral_gb": 0}
        [stale] = scheduler.host_states()
        [fresh] = scheduler.host_states()
        from cellsv2.context import target_cell

        with target_cell(stale.cell):
            assert scheduler.claim(fresh, flavor) is True
            assert scheduler.claim(stale, flavor) is False
        assert usage(topology, "only") == (1, 1024, 1, 1)


@pytest.mark.usefixtures("worker_mode")
class TestNoValidHost:
    def test_no_host_buries_the_server_in_cell0_in_error(self, api, cells):
        uuid = api.create_uuid(name="doomed", metadata={"k": "v"})
        assert place_all() == {"buried": 1}
        assert cells_holding(uuid) == ["cell0"]
        assert mapping_of(uuid).cell.uuid == cells["cell0"].uuid
        assert api_rows(uuid) == {"build_requests": 0, "request_specs": 1, "instance_mappings": 1}
        row = instance_in("cell0", uuid)
        assert (row.vm_state, row.task_state, row.power_state, row.host) == ("error", None, 0, None)
        [fault] = faults_of("cell0", uuid)
        assert fault.code == 500
        assert fault.message.startswith("No valid host was found.")

        shown = api.show(uuid).json()["server"]
        assert shown["status"] == "ERROR"
        assert (shown["OS-EXT-STS:vm_state"], shown["OS-EXT-STS:task_state"]) == ("error", None)
        assert shown["hostId"] == ""
        assert shown["metadata"] == {"k": "v"}
        assert "progress" not in shown
        assert set(shown["fault"]) == {"code", "created", "message"}
        assert shown["fault"]["code"] == 500
        assert shown["fault"]["message"].startswith("No valid host was found.")
        admin = api.show(uuid, token=ADMIN).json()["server"]
        assert set(admin["fault"]) == {"code", "created", "message", "details"}
        assert admin["fault"]["message"] == shown["fault"]["message"]

        listed = api("get", "/servers/detail").json()["servers"]
        assert [(s["id"], s["status"]) for s in listed] == [(uuid, "ERROR")]
        assert "fault" in listed[0]

    def test_a_server_in_cell0_can_be_deleted(self, api, cells):
        uuid = api.create_uuid()
        place_all()
        assert api("delete", f"/servers/{uuid}").status_code == 204
        assert api.show(uuid).status_code == 404
        assert instance_in("cell0", uuid) is None
        assert mapping_of(uuid).queued_for_delete is True

    def test_a_flavor_too_big_for_every_host(self, api, topology):
        uuid = api.create_uuid(flavorRef="5")  # 16384 MB, 8192 MB hosts
        place_all()
        assert where(uuid)[0] == "cell0"
        assert usage(topology, "compute1") == usage(topology, "compute2") == (0, 0, 0, 0)

    def test_every_cell_disabled(self, api, topology):
        CellMapping.objects.exclude(uuid=CellMapping.CELL0_UUID).update(disabled=True)
        cells_cache_clear()
        uuid = api.create_uuid()
        place_all()
        assert where(uuid)[0] == "cell0"


# --- several conductors, crashes ------------------------------------------------------------------


@requires_postgres
@pytest.mark.usefixtures("worker_mode", "default_flavors")
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
class TestConcurrentConductors:
    def run_in_threads(self, count, fn):
        barrier = threading.Barrier(count)
        results, errors = [None] * count, []

        def worker(index):
            try:
                barrier.wait(10)
                results[index] = fn()
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        return results

    def test_two_conductors_never_place_a_build_request_twice(self, api, cells, settings):
        settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "instances": -1, "cores": -1, "ram": -1}
        topology = make_topology(cells, {"a": ("cell1", {"memory_mb": 65536}), "b": ("cell2", {"memory_mb": 65536})})
        uuids = [api.create_uuid(name=f"s{n}") for n in range(16)]

        def drain():
            counts = {}
            while True:
                batch = conductor.conductor_run_once(limit=4)
                if not batch:
                    return counts
                for key, value in batch.items():
                    counts[key] = counts.get(key, 0) + value
                if BuildRequest.objects.count() == 0:
                    return counts

        results = self.run_in_threads(2, drain)
        assert sum(r.get("placed", 0) for r in results) == 16
        assert BuildRequest.objects.count() == 0
        for uuid in uuids:
            holders = cells_holding(uuid)
            assert len(holders) == 1 and holders[0] in ("cell1", "cell2"), (uuid, holders)
            assert mapping_of(uuid).cell.name == holders[0]
        used = usage(topology, "a")[3] + usage(topology, "b")[3]
        assert used == 16
        assert usage(topology, "a")[1] + usage(topology, "b")[1] == 16 * 512

    def test_two_conductors_on_the_same_build_request(self, api, topology):
        for _ in range(5):
            uuid = api.create_uuid()
            outcomes = self.run_in_threads(2, lambda u=uuid: conductor.build_request_place(u))
            assert sorted(outcomes) == ["placed", "skipped"]
            assert len(cells_holding(uuid)) == 1

    def test_a_build_request_another_conductor_holds_is_passed_over_in_one_statement(self, api, topology):
        uuid = api.create_uuid()
        holding, release = threading.Event(), threading.Event()

        def hold():
            try:
                with transaction.atomic(using=API_ALIAS):
                    BuildRequest.objects.select_for_update().get(instance_uuid=uuid)
                    holding.set()
                    release.wait(30)
            finally:
                connections.close_all()

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert holding.wait(30)
            with CaptureQueriesContext(connections[API_ALIAS]) as api_queries:
                assert conductor.build_request_place(uuid) == "skipped"
        finally:
            release.set()
            holder.join(30)
        # No attempt row written, no transaction opened: only the probe.
        assert len(api_queries) == 1, [q["sql"] for q in api_queries]
        assert PlacementAttempt.objects.count() == 0
        assert conductor.build_request_place(uuid) == "placed"

    def test_the_last_slot_of_a_host_is_taken_once(self, api, cells):
        topology = make_topology(cells, {"tiny": ("cell1", {"memory_mb": 512})})
        uuids = [api.create_uuid() for _ in range(2)]
        outcomes = self.run_in_threads(2, lambda: [conductor.build_request_place(u) for u in uuids])
        placed = [where(u)[0] for u in uuids]
        assert sorted(placed) == ["cell0", "cell1"], outcomes
        assert usage(topology, "tiny") == (1, 512, 1, 1)


@pytest.mark.usefixtures("worker_mode", "default_flavors")
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
class TestCrashRepair:
    def crash_after_cell_commit(self, monkeypatch):
        """Make the conductor fail right after the cell transaction committed, before the API commit."""
        real = conductor._write_instance

        def write_then_crash(cell, instance, spec, **kwargs):
            real(cell, instance, spec, **kwargs)

            def crash():
                raise DatabaseError("simulated crash after the cell commit")

            from cellsv2.context import current_cell_alias

            transaction.on_commit(crash, using=current_cell_alias())

        monkeypatch.setattr(conductor, "_write_instance", write_then_crash)

    def test_the_next_run_adopts_the_instance_written_before_the_crash(self, api, topology, monkeypatch):
        uuid = api.create_uuid()
        self.crash_after_cell_commit(monkeypatch)
        with pytest.raises(DatabaseError, match="simulated crash"):
            conductor.build_request_place(uuid)
        # The cell has it, the API database does not know yet.
        [alias] = cells_holding(uuid)
        assert mapping_of(uuid).cell is None
        assert BuildRequest.objects.filter(instance_uuid=uuid).exists()
        host = instance_in(alias, uuid).host

        monkeypatch.undo()
        assert conductor.conductor_run_once() == {"adopted": 1}
        assert cells_holding(uuid) == [alias]
        assert mapping_of(uuid).cell.name == alias
        assert api_rows(uuid)["build_requests"] == 0
        assert usage(topology, host) == (1, 512, 1, 1)
        assert api.show(uuid).json()["server"]["status"] == "ACTIVE"

    def test_the_conductor_loop_survives_the_crash(self, api, topology, monkeypatch):
        uuid = api.create_uuid()
        self.crash_after_cell_commit(monkeypatch)
        assert conductor.conductor_run_once() == {"failed": 1}
        monkeypatch.undo()
        assert conductor.conductor_run_once() == {"adopted": 1}
        assert len(cells_holding(uuid)) == 1

    def cell_stops_answering(self, monkeypatch, alias):
        """The conductor hears nothing from ``alias`` (as from a cell that is down or too slow)."""
        real = conductor.scatter_gather_cells
        silent = topology_cell_uuid(alias)

        def scatter_gather(cell_list, fn, *args, **kwargs):
            results = real(cell_list, fn, *args, **kwargs)
            return {uuid: DID_NOT_RESPOND if uuid == silent else result for uuid, result in results.items()}

        monkeypatch.setattr(conductor, "scatter_gather_cells", scatter_gather)

    def test_after_a_crash_the_build_waits_for_the_cell_that_may_hold_it(self, api, topology, monkeypatch):
        # The crash left the instance in one cell; that cell is down at the next attempt. Placing
        # it in the other cell would make two servers of one: the build request waits instead.
        uuid = api.create_uuid()
        self.crash_after_cell_commit(monkeypatch)
        assert conductor.conductor_run_once() == {"failed": 1}
        monkeypatch.undo()
        [alias] = cells_holding(uuid)
        self.cell_stops_answering(monkeypatch, alias)
        assert conductor.conductor_run_once() == {"deferred": 1}
        assert conductor.conductor_run_once() == {"deferred": 1}
        assert cells_holding(uuid) == [alias]
        assert mapping_of(uuid).cell is None and api_rows(uuid)["build_requests"] == 1

        monkeypatch.undo()
        assert conductor.conductor_run_once() == {"adopted": 1}
        assert cells_holding(uuid) == [alias] and mapping_of(uuid).cell.name == alias
        assert not PlacementAttempt.objects.filter(instance_uuid=uuid).exists()

    def test_a_first_attempt_does_not_wait_for_a_cell_that_does_not_answer(self, api, topology, monkeypatch):
        self.cell_stops_answering(monkeypatch, "cell1")
        uuid = api.create_uuid()
        assert conductor.conductor_run_once() == {"placed": 1}
        assert len(cells_holding(uuid)) == 1
        assert PlacementAttempt.objects.count() == 0

    def test_a_first_attempt_asks_no_cell_for_an_earlier_copy(self, api, topology, monkeypatch):
        # Only an attempt writes into a cell, after committing its row: without an earlier row
        # there is nothing to adopt, and the lookup across every cell is not made.
        def lookup(*args, **kwargs):
            raise AssertionError("a first attempt looked for an earlier copy")

        monkeypatch.setattr(conductor, "_find_existing", lookup)
        uuid = api.create_uuid()
        assert conductor.conductor_run_once() == {"placed": 1}
        assert len(cells_holding(uuid)) == 1

    def test_a_build_request_placed_already_is_skipped_in_one_statement(self, api, topology):
        uuid = api.create_uuid()
        assert conductor.build_request_place(uuid) == "placed"
        with CaptureQueriesContext(connections[API_ALIAS]) as api_queries:
            assert conductor.build_request_place(uuid) == "skipped"
        assert len(api_queries) == 1, [q["sql"] for q in api_queries]
        assert PlacementAttempt.objects.count() == 0

    def test_a_waiting_build_request_does_not_hold_up_new_ones(self, api, topology, monkeypatch):
        waiting = api.create_uuid()
        self.crash_after_cell_commit(monkeypatch)
        assert conductor.conductor_run_once() == {"failed": 1}
        monkeypatch.undo()
        self.cell_stops_answering(monkeypatch, cells_holding(waiting)[0])
        fresh = api.create_uuid()
        # One build request per run: the new one goes first although the waiting one is older.
        assert conductor.conductor_run_once(limit=1) == {"placed": 1}
        assert len(cells_holding(fresh)) == 1
        assert conductor.conductor_run_once(limit=1) == {"deferred": 1}

    def test_a_server_deleted_after_a_crash_is_removed_from_its_cell(self, api, topology, monkeypatch):
        # Nothing points at the copy the crash left: the user's delete cancelled the build request.
        uuid = api.create_uuid()
        self.crash_after_cell_commit(monkeypatch)
        assert conductor.conductor_run_once() == {"failed": 1}
        monkeypatch.undo()
        [alias] = cells_holding(uuid)
        host = instance_in(alias, uuid).host
        assert usage(topology, host) == (1, 512, 1, 1)
        assert api("delete", f"/servers/{uuid}").status_code == 204
        assert api.show(uuid).status_code == 404

        self.cell_stops_answering(monkeypatch, alias)
        assert conductor.conductor_run_once() == {}
        assert cells_holding(uuid) == [alias]
        monkeypatch.undo()
        assert conductor.conductor_run_once() == {"reaped": 1}
        assert cells_holding(uuid) == [] and instance_in(alias, uuid, deleted=True) is None
        assert usage(topology, host) == (0, 0, 0, 0)
        assert PlacementAttempt.objects.count() == 0
        assert conductor.conductor_run_once() == {}

    def test_a_crash_while_burying_in_cell0_is_adopted_too(self, api, cells, monkeypatch):
        uuid = api.create_uuid()
        self.crash_after_cell_commit(monkeypatch)
        assert conductor.conductor_run_once() == {"failed": 1}
        monkeypatch.undo()
        assert conductor.conductor_run_once() == {"adopted": 1}
        assert cells_holding(uuid) == ["cell0"]
        assert len(faults_of("cell0", uuid)) == 1


def topology_cell_uuid(alias: str) -> str:
    return CellMapping.objects.get(name=alias).uuid


# --- server groups ---------------------------------------------------------------------------------


def group(policy, rules=None, project="proj1", user="alice"):
    return servergroup_create(project_id=project, user_id=user, name=f"g-{policy}", policy=policy, rules=rules)


@pytest.fixture
def four_hosts(cells):
    """Two hosts in each of cell1 and cell2; 'a1' has the most RAM, then 'b1', 'a2', 'b2'."""
    return make_topology(
        cells,
        {
            "a1": ("cell1", {"memory_mb": 16384}),
            "a2": ("cell1", {"memory_mb": 12288}),
            "b1": ("cell2", {"memory_mb": 14336}),
            "b2": ("cell2", {"memory_mb": 10240}),
        },
    )


@pytest.mark.usefixtures("worker_mode")
class TestServerGroupPolicies:
    @pytest.mark.parametrize("hints_key", ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"])
    def test_affinity_puts_every_member_on_the_first_members_host(self, api, four_hosts, hints_key):
        g = group("affinity")
        uuids = []
        for _ in range(4):
            uuids.append(api.create_uuid(hints={"group": g.uuid}, hints_key=hints_key))
            place_all()
        assert {where(u)[1] for u in uuids} == {"a1"}
        assert set(servergroup_get(uuid=g.uuid).members) == set(uuids)

    def test_affinity_with_a_full_host_goes_to_cell0(self, api, cells):
        make_topology(cells, {"small": ("cell1", {"memory_mb": 512}), "other": ("cell2", {"memory_mb": 8192})})
        g = group("affinity")
        first = api.create_uuid(hints={"group": g.uuid}, flavorRef="1")
        place_all()
        assert where(first)[1] == "other"
        # Fill 'other' up to the last 512 MB with a server outside the group, then ask for two more.
        filler = flavor_create(name="filler", memory_mb=7168, vcpus=1, root_gb=1, flavorid="filler")
        api.create_uuid(flavorRef=filler.flavorid)
        place_all()
        second = api.create_uuid(hints={"group": g.uuid})
        third = api.create_uuid(hints={"group": g.uuid})
        place_all()
        assert where(second)[1] == "other"
        alias, _ = where(third)
        assert alias == "cell0"
        [fault] = faults_of("cell0", third)
        assert fault.message.startswith("No valid host was found.")

    @pytest.mark.parametrize("hints_key", ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"])
    def test_anti_affinity_one_per_host_then_no_valid_host(self, api, four_hosts, hints_key):
        g = group("anti-affinity")
        uuids = []
        for _ in range(5):
            uuids.append(api.create_uuid(hints={"group": g.uuid}, hints_key=hints_key))
            place_all()
        hosts = [where(u)[1] for u in uuids]
        assert sorted(hosts[:4]) == ["a1", "a2", "b1", "b2"]
        assert where(uuids[4]) == ("cell0", None)
        assert api.show(uuids[4]).json()["server"]["fault"]["message"].startswith("No valid host was found.")

    def test_anti_affinity_in_one_multi_create(self, api, four_hosts):
        g = group("anti-affinity")
        api.create(hints={"group": g.uuid}, min_count=4, max_count=4)
        place_all()
        members = servergroup_get(uuid=g.uuid).members
        assert len(members) == 4
        assert sorted(where(u)[1] for u in members) == ["a1", "a2", "b1", "b2"]

    def test_max_server_per_host(self, api, cells):
        make_topology(cells, {"a": ("cell1", {"memory_mb": 16384}), "b": ("cell2", {"memory_mb": 8192})})
        g = group("anti-affinity", rules={"max_server_per_host": 2})
        uuids = []
        for _ in range(5):
            uuids.append(api.create_uuid(hints={"group": g.uuid}))
            place_all()
        hosts = [where(u)[1] for u in uuids]
        assert sorted(hosts[:4]) == ["a", "a", "b", "b"]
        assert hosts[4] is None and where(uuids[4])[0] == "cell0"

    def test_soft_anti_affinity_spreads_and_never_fails(self, api, cells):
        make_topology(cells, {"a": ("cell1", {"memory_mb": 16384}), "b": ("cell2", {"memory_mb": 4096})})
        g = group("soft-anti-affinity")
        uuids = []
        for _ in range(5):
            uuids.append(api.create_uuid(hints={"group": g.uuid}))
            place_all()
        hosts = [where(u)[1] for u in uuids]
        # Fewest members first, however much more RAM the other host has.
        assert hosts[:4].count("a") == 2 and hosts[:4].count("b") == 2
        assert hosts[4] in ("a", "b")

    def test_soft_affinity_stacks_even_when_another_host_has_more_ram(self, api, cells):
        make_topology(cells, {"a": ("cell1", {"memory_mb": 2048}), "b": ("cell2", {"memory_mb": 16384})})
        g = group("soft-affinity")
        plain = api.create_uuid()
        place_all()
        assert where(plain)[1] == "b"
        uuids = []
        for _ in range(6):
            uuids.append(api.create_uuid(hints={"group": g.uuid}))
            place_all()
        assert {where(u)[1] for u in uuids} == {"b"}

    def test_soft_affinity_moves_on_when_the_host_is_full(self, api, cells):
        make_topology(cells, {"a": ("cell1", {"memory_mb": 1024}), "b": ("cell2", {"memory_mb": 512})})
        g = group("soft-affinity")
        uuids = []
        for _ in range(3):
            uuids.append(api.create_uuid(hints={"group": g.uuid}))
            place_all()
        assert [where(u)[1] for u in uuids] == ["a", "a", "b"]

    def test_deleted_members_do_not_count(self, api, cells):
        make_topology(cells, {"a": ("cell1", {}), "b": ("cell2", {})})
        g = group("anti-affinity")
        first = api.create_uuid(hints={"group": g.uuid})
        second = api.create_uuid(hints={"group": g.uuid})
        place_all()
        api("delete", f"/servers/{first}")
        third = api.create_uuid(hints={"group": g.uuid})
        place_all()
        assert where(third)[1] != where(second)[1]
        assert where(third)[0] in ("cell1", "cell2")

    def test_membership_and_server_groups_field(self, api, topology):
        g = group("affinity")
        uuid = api.create_uuid(hints={"group": [g.uuid]})
        assert uuid in servergroup_get(uuid=g.uuid).members
        assert api.show(uuid, version="2.71").json()["server"]["server_groups"] == [g.uuid]
        place_all()
        assert api.show(uuid, version="2.71").json()["server"]["server_groups"] == [g.uuid]
        assert "server_groups" not in api("get", "/servers/detail", version="2.71").json()["servers"][0]

    def test_cancelling_a_build_request_leaves_the_group(self, api, topology):
        g = group("anti-affinity")
        uuid = api.create_uuid(hints={"group": g.uuid})
        api("delete", f"/servers/{uuid}")
        assert uuid not in servergroup_get(uuid=g.uuid).members

    def test_another_projects_group_is_not_found(self, api, topology):
        g = group("affinity", project="proj2", user="bob")
        response = api.create(hints={"group": g.uuid})
        assert response.status_code == 400
        assert response.json()["badRequest"]["message"] == f"Instance group {g.uuid} could not be found."
        assert api_rows() == {"build_requests": 0, "request_specs": 0, "instance_mappings": 0}
        assert api.create(token=OTHER, hints={"group": g.uuid}).status_code == 202


class TestSelectHost:
    """servers.scheduler.select_host on its own, with a group dict."""

    @staticmethod
    def states(*specs):
        return [
            scheduler.HostState(cell=None, node_id=i, host=h, node=h, free_vcpus=8, free_ram_mb=ram, free_disk_gb=100)
            for i, (h, ram) in enumerate(specs)
        ]

    FLAVOR = {"vcpus": 1, "memory_mb": 512, "root_gb": 1, "ephemeral_gb": 0}

    def test_most_free_ram_then_host_name(self):
        assert scheduler.select_host(self.states(("b", 1024), ("a", 1024), ("c", 512)), self.FLAVOR).host == "a"

    def test_no_group_member_yet_affinity_is_free(self):
        group_dict = {"policy": "affinity", "rules": {}, "hosts": {}}
        assert scheduler.select_host(self.states(("a", 1024), ("b", 2048)), self.FLAVOR, group_dict).host == "b"

    def test_affinity_follows_members(self):
        group_dict = {"policy": "affinity", "rules": {}, "hosts": {"a": 1}}
        assert scheduler.select_host(self.states(("a", 1024), ("b", 2048)), self.FLAVOR, group_dict).host == "a"

    def test_anti_affinity_and_its_limit(self):
        group_dict = {"policy": "anti-affinity", "rules": {"max_server_per_host": 2}, "hosts": {"b": 2, "a": 1}}
        assert scheduler.select_host(self.states(("a", 1024), ("b", 2048)), self.FLAVOR, group_dict).host == "a"
        group_dict["hosts"]["a"] = 2
        with pytest.raises(scheduler.NoValidHost, match=r"^No valid host was found\."):
            scheduler.select_host(self.states(("a", 1024), ("b", 2048)), self.FLAVOR, group_dict)

    def test_record_placement_counts_within_one_round(self):
        states = self.states(("a", 4096), ("b", 4096))
        group_dict = {"policy": "anti-affinity", "rules": {}, "hosts": {}}
        first = scheduler.select_host(states, self.FLAVOR, group_dict)
        scheduler.record_placement(first, self.FLAVOR, group_dict)
        second = scheduler.select_host(states, self.FLAVOR, group_dict)
        assert {first.host, second.host} == {"a", "b"}

    def test_nothing_fits(self):
        with pytest.raises(scheduler.NoValidHost) as raised:
            scheduler.select_host(self.states(("a", 256)), self.FLAVOR)
        assert str(raised.value) == "No valid host was found. There are not enough hosts available."
