"""``manage.py compute_nodes add|list|delete``: registering the compute nodes of a cell by hand."""

import pytest

from cellsv2.context import target_cell
from servers.models import ComputeNode
from tests.support import ALL_DATABASES, CELL_ALIASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

UNKNOWN_CELL_UUID = "deadbeef-0000-4000-8000-000000000000"


def nodes_in(alias: str) -> list[ComputeNode]:
    with target_cell(alias):
        return list(ComputeNode.objects.order_by("id"))


def node_count_everywhere() -> int:
    return sum(len(nodes_in(alias)) for alias in CELL_ALIASES)


def add(cell: str, host: str, *extra: str):
    return run_command(
        "compute_nodes", "add", "--cell", cell, "--host", host, "--vcpus", "8", "--memory-mb", "4096", *extra
    )


class TestAdd:
    def test_a_node_is_registered_unmapped_in_the_named_cell_only(self, cells):
        result = add(cells["cell1"].uuid, "compute-1", "--local-gb", "40", "--host-ip", "10.0.0.5")

        assert result.code == 0, result.err
        [node] = nodes_in("cell1")
        assert (node.host, node.hypervisor_hostname) == ("compute-1", "compute-1")
        assert (node.vcpus, node.memory_mb, node.local_gb, node.host_ip) == (8, 4096, 40, "10.0.0.5")
        assert node.mapped == 0
        assert node.deleted == 0
        assert nodes_in("cell0") == [] and nodes_in("cell2") == []

    def test_the_cell_can_be_named_instead_of_given_by_uuid(self, cells):
        assert add("cell2", "compute-2").code == 0
        assert [n.host for n in nodes_in("cell2")] == ["compute-2"]

    def test_verbose_prints_the_uuid_of_the_new_node(self, cells):
        result = add("cell1", "compute-1", "--verbose")

        assert result.code == 0
        [node] = nodes_in("cell1")
        assert result.out.strip() == node.uuid
        # The uuid alone on stdout, for scripts; the confirmation on stderr.
        assert result.err.startswith("Added compute node compute-1 (host compute-1) to cell cell1: 8 vCPUs")

    def test_without_verbose_it_says_what_it_added(self, cells):
        result = add("cell1", "compute-1")
        assert result.code == 0
        assert result.out.splitlines() == [
            "Added compute node compute-1 (host compute-1) to cell cell1: 8 vCPUs, 4096 MB RAM, 0 GB disk; "
            "map its host with `cell_v2 discover_hosts`"
        ]

    def test_if_cell_empty_adds_only_the_first_node(self, cells):
        first = add("cell1", "compute-1", "--if-cell-empty")
        assert first.code == 0 and first.out.startswith("Added compute node compute-1")
        second = add("cell1", "compute-2", "--if-cell-empty")
        assert (second.code, second.out) == (0, "Cell cell1 already has compute nodes: none added.\n")
        assert [n.host for n in nodes_in("cell1")] == ["compute-1"]

    def test_a_second_node_of_the_same_host_needs_its_own_hypervisor_hostname(self, cells):
        assert add("cell1", "compute-1", "--hypervisor-hostname", "node-a").code == 0
        assert add("cell1", "compute-1", "--hypervisor-hostname", "node-b").code == 0
        assert sorted(n.hypervisor_hostname for n in nodes_in("cell1")) == ["node-a", "node-b"]

    def test_adding_an_existing_node_again_exits_2_and_writes_nothing(self, cells):
        assert add("cell1", "compute-1").code == 0

        result = add("cell1", "compute-1")

        assert result.code == 2
        assert "already exists" in result.err
        assert len(nodes_in("cell1")) == 1

    def test_the_same_host_may_exist_in_two_different_cells(self, cells):
        # Only discover_hosts decides which cell a host belongs to.
        assert add("cell1", "compute-1").code == 0
        assert add("cell2", "compute-1").code == 0
        assert len(nodes_in("cell1")) == len(nodes_in("cell2")) == 1

    def test_a_deleted_node_can_be_registered_again(self, cells):
        assert add("cell1", "compute-1").code == 0
        assert run_command("compute_nodes", "delete", "--cell", "cell1", "--host", "compute-1").code == 0

        assert add("cell1", "compute-1").code == 0

        nodes = nodes_in("cell1")
        assert len(nodes) == 2
        assert sum(1 for n in nodes if n.deleted == 0) == 1

    def test_an_unknown_cell_exits_1_and_writes_nothing(self, cells):
        result = add(UNKNOWN_CELL_UUID, "compute-1")

        assert result.code == 1
        assert UNKNOWN_CELL_UUID in result.err
        assert node_count_everywhere() == 0

    @pytest.mark.parametrize(
        ("option", "value", "reason"),
        [
            ("--vcpus", "-1", "must not be negative"),
            ("--vcpus", "eight", "is not a whole number"),
            ("--vcpus", "1.5", "is not a whole number"),
            ("--memory-mb", "-512", "must not be negative"),
            ("--local-gb", "lots", "is not a whole number"),
        ],
    )
    def test_negative_or_non_numeric_sizes_are_refused_and_nothing_is_written(self, cells, option, value, reason):
        sizes = {"--vcpus": "8", "--memory-mb": "4096", "--local-gb": "10", option: value}
        args = [arg for pair in sizes.items() for arg in pair]

        result = run_command("compute_nodes", "add", "--cell", "cell1", "--host", "compute-1", *args)

        assert result.code != 0
        assert option in result.err and reason in result.err
        assert node_count_everywhere() == 0

    def test_zero_sized_nodes_are_allowed(self, cells):
        result = run_command(
            "compute_nodes", "add", "--cell", "cell1", "--host", "empty", "--vcpus", "0", "--memory-mb", "0"
        )
        assert result.code == 0, result.err
        [node] = nodes_in("cell1")
        assert (node.vcpus, node.memory_mb, node.local_gb) == (0, 0, 0)

    def test_vcpus_and_memory_are_required(self, cells):
        result = run_command("compute_nodes", "add", "--cell", "cell1", "--host", "compute-1", "--vcpus", "4")
        assert result.code != 0
        assert "--memory-mb" in result.err
        assert node_count_everywhere() == 0


class TestList:
    def test_lists_the_live_nodes_of_one_cell_with_their_mapped_flag(self, cells):
        add("cell1", "compute-b")
        add("cell1", "compute-a")
        add("cell1", "gone")
        add("cell2", "elsewhere")
        run_command("compute_nodes", "delete", "--cell", "cell1", "--host", "gone")
        with target_cell("cell1"):
            ComputeNode.objects.filter(host="compute-b").update(mapped=1)

        result = run_command("compute_nodes", "list", "--cell", cells["cell1"].uuid)

        assert result.code == 0
        header = next(line for line in result.out.splitlines() if "UUID" in line)
        assert [c.strip() for c in header.strip("|").split("|")] == [
            "UUID",
            "Host",
            "Hypervisor Hostname",
            "VCPUs",
            "Memory MB",
            "Local GB",
            "Mapped",
        ]
        rows = [
            [c.strip() for c in line.strip("|").split("|")]
            for line in result.out.splitlines()
            if line.startswith("|") and "UUID" not in line
        ]
        assert [(r[1], r[6]) for r in rows] == [("compute-a", "0"), ("compute-b", "1")]
        assert "gone" not in result.out and "elsewhere" not in result.out

    def test_an_empty_cell_lists_an_empty_table(self, cells):
        result = run_command("compute_nodes", "list", "--cell", "cell2")
        assert result.code == 0
        assert "Hypervisor Hostname" in result.out
        assert sum(1 for line in result.out.splitlines() if line.startswith("|")) == 1

    def test_an_unknown_cell_exits_1(self, cells):
        result = run_command("compute_nodes", "list", "--cell", "no-such-cell")
        assert result.code == 1
        assert "no-such-cell" in result.err


class TestDelete:
    def test_soft_deletes_every_node_of_the_host_in_that_cell(self, cells):
        add("cell1", "compute-1", "--hypervisor-hostname", "node-a")
        add("cell1", "compute-1", "--hypervisor-hostname", "node-b")
        add("cell1", "compute-2")
        add("cell2", "compute-1")

        result = run_command("compute_nodes", "delete", "--cell", "cell1", "--host", "compute-1")

        assert result.code == 0, result.err
        with target_cell("cell1"):
            assert list(ComputeNode.objects.live().values_list("host", flat=True)) == ["compute-2"]
            deleted = list(ComputeNode.objects.only_deleted())
        assert len(deleted) == 2
        assert all(node.deleted == node.id and node.deleted_at is not None for node in deleted)
        with target_cell("cell2"):
            assert ComputeNode.objects.live().filter(host="compute-1").count() == 1

    def test_a_host_without_live_nodes_exits_2(self, cells):
        add("cell1", "compute-1")
        assert run_command("compute_nodes", "delete", "--cell", "cell1", "--host", "compute-1").code == 0

        again = run_command("compute_nodes", "delete", "--cell", "cell1", "--host", "compute-1")
        unknown = run_command("compute_nodes", "delete", "--cell", "cell1", "--host", "never-added")

        assert again.code == 2 and "compute-1" in again.err
        assert unknown.code == 2 and "never-added" in unknown.err

    def test_a_host_of_another_cell_is_not_found_and_left_alone(self, cells):
        add("cell2", "compute-1")

        result = run_command("compute_nodes", "delete", "--cell", "cell1", "--host", "compute-1")

        assert result.code == 2
        with target_cell("cell2"):
            assert ComputeNode.objects.live().count() == 1

    def test_an_unknown_cell_exits_1(self, cells):
        add("cell1", "compute-1")
        result = run_command("compute_nodes", "delete", "--cell", UNKNOWN_CELL_UUID, "--host", "compute-1")
        assert result.code == 1
        with target_cell("cell1"):
            assert ComputeNode.objects.live().count() == 1
