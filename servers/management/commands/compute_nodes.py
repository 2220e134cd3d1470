"""``manage.py compute_nodes add|list|delete``: register the compute nodes of a cell.

Operators of this product have no hypervisor agents reporting in, so nodes are registered by
hand (or by provisioning tooling); ``cell_v2 discover_hosts`` then maps their hosts.
Each subcommand says what it did (``add --verbose`` prints the new node's uuid alone on stdout,
for scripts, and the confirmation on stderr).
Exit codes: 0 done; 1 unknown cell; 2 the node exists (add) or the host has none (delete).
"""

from prettytable import PrettyTable

from cellsv2.context import target_cell
from cellsv2.management.base import OperatorCommand, quantity
from mappings.exceptions import CellMappingNotFound
from mappings.selectors import cell_mapping_find
from servers.exceptions import ComputeNodeExists, ComputeNodeNotFound
from servers.selectors.compute_nodes import compute_node_list
from servers.services.compute_nodes import compute_node_create, compute_node_delete


def positive_int(value):
    import argparse

    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must not be negative")
    return number


class Command(OperatorCommand):
    help = "Register, list and remove compute nodes in a cell."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="<subcommand>")
        p = sub.add_parser("add", help="Register a compute node in a cell")
        p.add_argument("--cell", required=True, help="The uuid or name of the cell")
        p.add_argument("--host", required=True, help="The compute host name")
        p.add_argument("--hypervisor-hostname", dest="hypervisor_hostname", help="Node name (default: the host)")
        p.add_argument("--vcpus", type=positive_int, required=True)
        p.add_argument("--memory-mb", dest="memory_mb", type=positive_int, required=True)
        p.add_argument("--local-gb", dest="local_gb", type=positive_int, default=0)
        p.add_argument("--host-ip", dest="host_ip")
        p.add_argument("--verbose", action="store_true", help="Print the new node's uuid")
        p.add_argument(
            "--if-cell-empty",
            dest="if_cell_empty",
            action="store_true",
            help="Add the node only when the cell has no compute node yet (development set-ups; exit 0 either way)",
        )
        p = sub.add_parser("list", help="List the compute nodes of a cell")
        p.add_argument("--cell", required=True, help="The uuid or name of the cell")
        p = sub.add_parser("delete", help="Remove the compute nodes of a host from a cell")
        p.add_argument("--cell", required=True, help="The uuid or name of the cell")
        p.add_argument("--host", required=True)

    def run(self, *args, subcommand, cell, **options):
        try:
            mapping = cell_mapping_find(ref=cell)
        except CellMappingNotFound as exc:
            self.fail(str(exc))
            return 1
        return getattr(self, f"do_{subcommand}")(mapping, **options)

    def do_add(
        self,
        cell,
        *,
        host,
        hypervisor_hostname,
        vcpus,
        memory_mb,
        local_gb,
        host_ip,
        verbose,
        if_cell_empty,
        **options,
    ):
        if if_cell_empty:
            with target_cell(cell):
                if compute_node_list().exists():
                    self.say(f"Cell {cell.name or cell.uuid} already has compute nodes: none added.")
                    return 0
        try:
            node = compute_node_create(
                cell=cell,
                host=host,
                hypervisor_hostname=hypervisor_hostname,
                vcpus=vcpus,
                memory_mb=memory_mb,
                local_gb=local_gb,
                host_ip=host_ip,
            )
        except ComputeNodeExists as exc:
            self.fail(str(exc))
            return 2
        done = (
            f"Added compute node {node.hypervisor_hostname} (host {node.host}) to cell {cell.name or cell.uuid}: "
            f"{quantity(node.vcpus, 'vCPU')}, {node.memory_mb} MB RAM, {node.local_gb} GB disk; "
            "map its host with `cell_v2 discover_hosts`"
        )
        if verbose:
            # Only the uuid on stdout, for scripts that capture it.
            self.say(node.uuid)
            self.note(done)
        else:
            self.say(done)
        return 0

    def do_list(self, cell, **options):
        table = PrettyTable(["UUID", "Host", "Hypervisor Hostname", "VCPUs", "Memory MB", "Local GB", "Mapped"])
        with target_cell(cell):
            for node in compute_node_list():
                table.add_row(
                    [
                        node.uuid,
                        node.host,
                        node.hypervisor_hostname,
                        node.vcpus,
                        node.memory_mb,
                        node.local_gb,
                        node.mapped,
                    ]
                )
        self.say(str(table))
        return 0

    def do_delete(self, cell, *, host, **options):
        try:
            deleted = compute_node_delete(cell=cell, host=host)
        except ComputeNodeNotFound as exc:
            self.fail(str(exc))
            return 2
        self.say(f"Deleted {quantity(deleted, 'compute node')} of host {host} from cell {cell.name or cell.uuid}")
        return 0
