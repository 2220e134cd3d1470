"""Reads of servers and compute nodes (cell databases)."""

from django.db.models import QuerySet

from servers.models import ComputeNode


def compute_node_list() -> QuerySet[ComputeNode]:
    """Live compute nodes of the targeted cell, by host. Call inside target_cell()."""
    return ComputeNode.objects.live().order_by("host", "hypervisor_hostname")
