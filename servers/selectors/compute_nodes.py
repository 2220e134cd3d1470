"""Reads of compute nodes and instance counts (cell databases) and of availability zones."""

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum

from cellsv2.cells import cell_mappings, cells_answering
from cellsv2.context import target_cell
from mappings.models import HostMapping
from servers.models import ComputeNode, Instance


def compute_node_list() -> QuerySet[ComputeNode]:
    """Live compute nodes of the targeted cell, by host. Call inside target_cell()."""
    return ComputeNode.objects.live().order_by("host", "hypervisor_hostname")


def compute_node_capacity() -> dict[str, int]:
    """The targeted cell's live compute nodes added up, as Nova's hypervisor statistics are.

    Returns ``nodes`` and the totals ``vcpus``, ``memory_mb``, ``local_gb`` with what is in use of
    each (``vcpus_used``, ``memory_mb_used``, ``local_gb_used``); zeros for a cell with no node.
    One aggregate query on the cell database: call inside target_cell().
    """
    columns = ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb", "local_gb_used")
    totals = ComputeNode.objects.live().aggregate(nodes=Count("id"), **{name: Sum(name) for name in columns})
    return {name: value or 0 for name, value in totals.items()}


def instance_count_by_state() -> tuple[dict[str, int], int]:
    """The targeted cell's live instances by ``vm_state`` ("unknown" for none), and its instance
    rows in all, soft-deleted ones included (map_instances maps those too).

    One grouped query on the cell database: call inside target_cell().
    """
    rows = (
        Instance.objects.order_by()
        .values("vm_state")
        .annotate(live=Count("id", filter=Q(deleted=0)), rows=Count("id"))
        .values_list("vm_state", "live", "rows")
    )
    by_state: dict[str, int] = {}
    total = 0
    for state, live, count in rows:
        total += count
        if live:
            key = state or "unknown"
            by_state[key] = by_state.get(key, 0) + live
    return by_state, total


def availability_zones_available() -> set[str]:
    """The zones a server can be asked into (Nova: the zones of the enabled compute services).

    Every compute host is in the default zone (CELLSV2_DEFAULT_AVAILABILITY_ZONE); it is
    available once some host is mapped. One query on the API database.
    """
    return {settings.CELLSV2_DEFAULT_AVAILABILITY_ZONE} if HostMapping.objects.exists() else set()


def compute_host_exists(*, host: str | None = None, node: str | None = None) -> bool:
    """Whether a mapped compute host (and/or a live node of that name) exists, as Nova checks a
    requested destination: a host by its host mapping (API database), then the node in that
    host's cell; a node alone in every enabled cell (cell0 holds none). A cell that does not
    answer cannot confirm the node.
    """
    if host:
        mapping = HostMapping.objects.select_related("cell").filter(host=host).first()
        if mapping is None:
            return False
        if not node:
            return True
        with target_cell(mapping.cell):
            return ComputeNode.objects.live().filter(host=host, hypervisor_hostname=node).exists()
    if not node:
        return False
    answered, _ = cells_answering(
        lambda cell: ComputeNode.objects.live().filter(hypervisor_hostname=node).exists(),
        what="compute nodes",
        cells=cell_mappings(include_cell0=False),
    )
    return any(found for _, found in answered)
