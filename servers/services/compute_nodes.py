"""Writes to compute nodes (cell databases)."""

import uuid as uuid_lib

from django.db import IntegrityError, transaction

from cellsv2.context import target_cell
from servers.exceptions import ComputeNodeExists, ComputeNodeNotFound
from servers.models import ComputeNode


def compute_node_create(
    *,
    cell,
    host: str,
    vcpus: int,
    memory_mb: int,
    local_gb: int,
    hypervisor_hostname: str | None = None,
    host_ip: str | None = None,
    cpu_allocation_ratio: float | None = None,
    ram_allocation_ratio: float | None = None,
    disk_allocation_ratio: float | None = None,
) -> ComputeNode:
    """Register a compute node in a cell database (unmapped until discover_hosts maps its host).

    Raises ComputeNodeExists for a live node with the same host and hypervisor hostname.
    """
    with target_cell(cell) as alias:
        try:
            with transaction.atomic(using=alias):
                return ComputeNode.objects.create(
                    uuid=str(uuid_lib.uuid4()),
                    host=host,
                    hypervisor_hostname=hypervisor_hostname or host,
                    vcpus=vcpus,
                    memory_mb=memory_mb,
                    local_gb=local_gb,
                    host_ip=host_ip,
                    cpu_allocation_ratio=cpu_allocation_ratio,
                    ram_allocation_ratio=ram_allocation_ratio,
                    disk_allocation_ratio=disk_allocation_ratio,
                )
        except IntegrityError:
            raise ComputeNodeExists(host, hypervisor_hostname or host) from None


def compute_node_delete(*, cell, host: str) -> int:
    """Soft-delete every live compute node of ``host`` in a cell database; returns how many.

    Raises ComputeNodeNotFound when the host has none.
    """
    with target_cell(cell) as alias, transaction.atomic(using=alias):
        deleted = ComputeNode.objects.live().filter(host=host).soft_delete()
    if not deleted:
        raise ComputeNodeNotFound(host)
    return deleted
