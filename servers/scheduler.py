"""Choosing a compute host for a server: Nova's filter scheduler, the parts that matter here.

Candidates are the live compute nodes of enabled cells (never cell0) whose host is mapped. Filters:
enough free vCPUs, RAM and disk after allocation ratios (disk: root, ephemeral and swap rounded up to
whole GB, as Nova's placement request counts it, without the root disk of a server booted from a
volume); the requested availability zone and host; server group policies (affinity,
anti-affinity with ``max_server_per_host``). Weighers: the most free RAM first (Nova's default
spreading), and for soft-affinity / soft-anti-affinity the hosts with more / fewer members of the
group first.

Capacity is claimed with a conditional UPDATE on the node row (``... WHERE used + asked <=
capacity``), so two conductors can never both take the last slot of a host.
"""

import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F

from cellsv2.cells import cell_mappings, is_cell_failure, scatter_gather_cells
from hosts.selectors import compute_hosts_unschedulable
from mappings.models import HostMapping
from servers.models import ComputeNode, InstanceSystemMetadata

logger = logging.getLogger(__name__)


class NoValidHost(Exception):
    """No host can take the server; str() is Nova's fault message."""

    def __init__(self, reason: str = ""):
        message = "No valid host was found. " + (reason or "There are not enough hosts available.")
        super().__init__(message)


# instance_system_metadata key holding the disk (GB) a placement claimed on the node, released as
# claimed whatever the flavor says later. Instances placed before it existed claimed root + ephemeral.
CLAIMED_DISK_KEY = "cellsv2_claimed_disk_gb"


def flavor_disk_gb(flavor: dict) -> int:
    """Disk a server of this flavor takes on its node: root and ephemeral disk plus swap (MB)
    rounded up to whole GB, as Nova's placement request counts it."""
    swap_gb = math.ceil((flavor.get("swap") or 0) / 1024)
    return (flavor.get("root_gb") or 0) + (flavor.get("ephemeral_gb") or 0) + swap_gb


def requested_resources(flavor: dict, *, is_bfv: bool = False) -> dict:
    """The flavor as the node is asked for it: a volume-backed server's root disk is a volume, so
    only its ephemeral disk and swap take the node's disk (Nova's resources_from_request_spec)."""
    return {**flavor, "root_gb": 0} if is_bfv else flavor


def claimed_disk_gb(instance) -> int:
    """The disk an instance's placement claimed (reads its cell; call inside target_cell)."""
    value = (
        InstanceSystemMetadata.objects.filter(instance=instance, key=CLAIMED_DISK_KEY, deleted=0)
        .values_list("value", flat=True)
        .first()
    )
    if value is not None and value.isdigit():
        return int(value)
    return (instance.root_gb or 0) + (instance.ephemeral_gb or 0)


@dataclass
class HostState:
    """A compute node as the scheduler sees it (free capacity after allocation ratios)."""

    cell: object
    node_id: int
    host: str
    node: str
    free_vcpus: float
    free_ram_mb: float
    free_disk_gb: float
    group_members: int = 0
    placed: int = 0

    def fits(self, flavor: dict) -> bool:
        disk = flavor_disk_gb(flavor)
        return (
            self.free_vcpus >= flavor["vcpus"]
            and self.free_ram_mb >= flavor["memory_mb"]
            and self.free_disk_gb >= disk
        )

    def consume(self, flavor: dict) -> None:
        self.free_vcpus -= flavor["vcpus"]
        self.free_ram_mb -= flavor["memory_mb"]
        self.free_disk_gb -= flavor_disk_gb(flavor)
        self.placed += 1


def _ratio(value, default: float) -> float:
    return value if value is not None and value > 0 else default


def host_states(*, availability_zone: str | None = None, destination: dict | None = None) -> list[HostState]:
    """The candidate hosts of every enabled cell (cell0 excluded), read in parallel.

    ``destination`` ({"host", "node"}, either may be None) keeps only that host and/or node: a
    requested or forced destination still goes through the capacity filters, since every
    placement is a claim on the node. Hosts whose compute service is disabled or down are left
    out unless the destination is forced. Reads host_mappings (API database), then services and
    compute_nodes of each cell. Cells that do not answer are left out (their hosts cannot be used
    now).
    """
    cells = [c for c in cell_mappings(include_cell0=False) if not c.disabled]
    if not cells:
        return []
    host, node = (destination or {}).get("host"), (destination or {}).get("node")
    mappings = HostMapping.objects.filter(cell__in=cells)
    if host:
        mappings = mappings.filter(host=host)
    mapped = dict(mappings.values_list("host", "cell_id"))
    ratios = settings.CELLSV2_ALLOCATION_RATIOS

    forced = bool((destination or {}).get("forced"))

    def nodes(cell):
        hosts = [h for h, c in mapped.items() if c == cell.id]
        if not forced:
            # Nova's ComputeFilter: no server goes to a host whose compute service is disabled or
            # down; a forced host ("zone:host") skips the filters, as in Nova.
            hosts = sorted(set(hosts) - compute_hosts_unschedulable(hosts))
        nodes = ComputeNode.objects.live().filter(host__in=hosts)
        return list(nodes.filter(hypervisor_hostname=node) if node else nodes)

    states = []
    for uuid, result in scatter_gather_cells(cells, nodes).items():
        if is_cell_failure(result):
            logger.warning("Cell %s is not schedulable now: %s", uuid, result)
            continue
        cell = next(c for c in cells if c.uuid == uuid)
        for node in result:
            states.append(
                HostState(
                    cell=cell,
                    node_id=node.id,
                    host=node.host,
                    node=node.hypervisor_hostname,
                    free_vcpus=node.vcpus * _ratio(node.cpu_allocation_ratio, ratios["cpu"]) - node.vcpus_used,
                    free_ram_mb=node.memory_mb * _ratio(node.ram_allocation_ratio, ratios["ram"])
                    - node.memory_mb_used,
                    free_disk_gb=node.local_gb * _ratio(node.disk_allocation_ratio, ratios["disk"])
                    - node.local_gb_used,
                )
            )
    if availability_zone and availability_zone != settings.CELLSV2_DEFAULT_AVAILABILITY_ZONE:
        # Every host is in the default zone: another zone has no hosts.
        return []
    return states


def select_host(states: list[HostState], flavor: dict, group: dict | None = None) -> HostState:
    """The best host for one server, or NoValidHost. ``group`` is {policy, rules, hosts: {host: members}}."""
    candidates = [s for s in states if s.fits(flavor)]
    if not candidates:
        raise NoValidHost()
    if group:
        policy = group.get("policy")
        members = dict(group.get("hosts", {}))
        for host, count in group.get("_placed", {}).items():
            members[host] = members.get(host, 0) + count
        for state in candidates:
            state.group_members = members.get(state.host, 0)
        if policy == "affinity" and any(members.values()):
            # Once the group has a member, every other member goes to a host that has one.
            candidates = [s for s in candidates if s.group_members]
        elif policy == "anti-affinity":
            limit = int((group.get("rules") or {}).get("max_server_per_host", 1))
            candidates = [s for s in candidates if s.group_members < limit]
        if not candidates:
            raise NoValidHost(f"The server group policy {policy} cannot be satisfied.")
        # The group weigher first; among hosts with as many members, the RAM weigher as usual.
        if policy == "soft-affinity":
            candidates.sort(key=lambda s: (-s.group_members, -s.free_ram_mb, s.host))
            return candidates[0]
        if policy == "soft-anti-affinity":
            candidates.sort(key=lambda s: (s.group_members, -s.free_ram_mb, s.host))
            return candidates[0]
    candidates.sort(key=lambda s: (-s.free_ram_mb, s.host))
    return candidates[0]


def record_placement(state: HostState, flavor: dict, group: dict | None) -> None:
    """Account for a server placed on ``state`` in this scheduling round (multi-create, groups)."""
    state.consume(flavor)
    if group is not None:
        placed = group.setdefault("_placed", {})
        placed[state.host] = placed.get(state.host, 0) + 1


def claim(state: HostState, flavor: dict) -> bool:
    """Take the flavor's resources on the node row in its cell; False if someone else took them first.

    Call inside target_cell(state.cell) and a transaction on that cell.
    """
    ratios = settings.CELLSV2_ALLOCATION_RATIOS
    node = ComputeNode.objects.filter(pk=state.node_id).only(
        "vcpus", "memory_mb", "local_gb", "cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio"
    )
    node = node.first()
    if node is None:
        return False
    disk = flavor_disk_gb(flavor)
    updated = ComputeNode.objects.filter(
        pk=state.node_id,
        deleted=0,
        vcpus_used__lte=node.vcpus * _ratio(node.cpu_allocation_ratio, ratios["cpu"]) - flavor["vcpus"],
        memory_mb_used__lte=node.memory_mb * _ratio(node.ram_allocation_ratio, ratios["ram"]) - flavor["memory_mb"],
        local_gb_used__lte=node.local_gb * _ratio(node.disk_allocation_ratio, ratios["disk"]) - disk,
    ).update(
        vcpus_used=F("vcpus_used") + flavor["vcpus"],
        memory_mb_used=F("memory_mb_used") + flavor["memory_mb"],
        local_gb_used=F("local_gb_used") + disk,
        running_vms=F("running_vms") + 1,
    )
    return updated == 1


def release(*, host: str | None, node: str | None, vcpus: int, memory_mb: int, disk_gb: int) -> None:
    """Give back an instance's resources on its node (inside target_cell of its cell)."""
    if not host:
        return
    ComputeNode.objects.live().filter(host=host, hypervisor_hostname=node or host).update(
        vcpus_used=F("vcpus_used") - vcpus,
        memory_mb_used=F("memory_mb_used") - memory_mb,
        local_gb_used=F("local_gb_used") - disk_gb,
        running_vms=F("running_vms") - 1,
    )
