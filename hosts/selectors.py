"""Reads of services and hypervisors (compute nodes) across every cell database.

Services and compute nodes live in the cells; every listing is one scatter-gather over the cells
(``cellsv2.cells.cells_answering``), so a cell that is down or slow costs the others nothing and
is reported to the caller, who shows it as Nova does. Host mappings come from the API database.
"""

import uuid as uuid_lib
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from cellsv2.cells import cell_mappings, cells_answering
from cellsv2.context import target_cell
from hosts.exceptions import (
    HostBinaryNotFound,
    HypervisorMarkerNotFound,
    HypervisorNotFound,
    HypervisorPatternNotFound,
    ServiceNotFound,
    ServiceNotUnique,
)
from hosts.models import COMPUTE_BINARY, Service
from mappings.exceptions import HostMappingNotFound
from mappings.models import HostMapping
from servers.models import ComputeNode, Instance


@dataclass
class CellService:
    """A service and the cell it lives in; ``down`` for a compute host of a cell that did not
    answer (only ``host`` and ``binary`` are known, from its host mapping)."""

    cell: object
    service: Service
    down: bool = False


@dataclass
class ServiceListing:
    services: list[CellService]
    down_cells: list[str] = field(default_factory=list)


@dataclass
class Hypervisor:
    """A compute node, its cell, its compute service and (when asked) the servers on its host."""

    cell: object
    node: ComputeNode
    service: Service
    servers: list[dict] | None = None


def is_uuid_like(value: str) -> bool:
    try:
        return str(uuid_lib.UUID(value)) == value.lower()
    except (TypeError, ValueError, AttributeError):
        return False


def service_zone(service: Service) -> str:
    """Nova's zone of a service: compute hosts are in the default availability zone (no host
    aggregates here), every other service in the internal zone."""
    if service.binary == COMPUTE_BINARY:
        return settings.CELLSV2_DEFAULT_AVAILABILITY_ZONE
    return settings.CELLSV2_INTERNAL_AVAILABILITY_ZONE


def service_last_report(service: Service):
    """When the service last reported (Nova's DB servicegroup driver: the later of
    ``updated_at`` and ``last_seen_up``, else ``created_at``)."""
    candidates = [t for t in (service.updated_at, service.last_seen_up) if t is not None]
    return max(candidates) if candidates else None


def service_is_up(service: Service) -> bool:
    """Nova's servicegroup answer: a forced-down service is down; a service that reports (the
    conductor workers) is down once its last report is older than CELLSV2_SERVICE_DOWN_TIME. A
    service that never reported (a compute host: no agent here) is up."""
    if service.forced_down:
        return False
    if not service.report_count:
        return True
    last = service_last_report(service) or service.created_at
    return last is not None and timezone.now() - last <= timedelta(seconds=settings.CELLSV2_SERVICE_DOWN_TIME)


def _live_services():
    return list(Service.objects.live().order_by("id"))


def service_list(*, host: str | None = None, binary: str | None = None, down_cell_records: bool) -> ServiceListing:
    """Every live service of every cell (cell0 included, as Nova's all-cells read), in cell order
    then id, filtered by exact ``host`` and ``binary``.

    A cell that does not answer is listed in ``down_cells``; with ``down_cell_records`` its compute
    hosts (from the API database's host mappings) come back as ``down`` records, as Nova answers
    from 2.69.
    """
    answered, failed = cells_answering(lambda cell: _live_services(), what="services")
    services = [CellService(cell, service) for cell, rows in answered for service in rows]
    if failed and down_cell_records:
        by_uuid = {cell.uuid: cell for cell in cell_mappings()}
        for mapping in HostMapping.objects.filter(cell__uuid__in=failed).select_related("cell").order_by("id"):
            stub = Service(host=mapping.host, binary=COMPUTE_BINARY)
            services.append(CellService(by_uuid.get(mapping.cell.uuid, mapping.cell), stub, down=True))
    if host:
        services = [s for s in services if s.service.host == host]
    if binary:
        services = [s for s in services if s.service.binary == binary]
    return ServiceListing(services=services, down_cells=failed)


def service_get(*, service_id: str) -> CellService:
    """The live service with this uuid, or this integer id (ids repeat across cells: Nova's
    ServiceNotUnique when more than one cell has it). Cells that do not answer are skipped.

    Raises ServiceNotFound or ServiceNotUnique.
    """
    if is_uuid_like(service_id):
        lookup = {"uuid": service_id}
    else:
        try:
            lookup = {"pk": int(service_id)}
        except ValueError:
            raise ServiceNotFound(service_id) from None
    answered, _ = cells_answering(lambda cell: list(Service.objects.live().filter(**lookup)), what="a service")
    found = [CellService(cell, service) for cell, rows in answered for service in rows]
    if not found:
        raise ServiceNotFound(service_id)
    if len(found) > 1:
        raise ServiceNotUnique(service_id)
    return found[0]


def service_get_by_host_and_binary(*, host: str, binary: str) -> CellService:
    """The live service ``binary`` of ``host``, in the cell its host mapping names (Nova's
    service_update_by_host_and_binary lookup). Raises HostMappingNotFound or HostBinaryNotFound."""
    mapping = HostMapping.objects.select_related("cell").filter(host=host).first()
    if mapping is None:
        raise HostMappingNotFound(host)
    with target_cell(mapping.cell):
        service = Service.objects.live().filter(host=host, binary=binary).first()
    if service is None:
        raise HostBinaryNotFound(host, binary)
    return CellService(mapping.cell, service)


def compute_service_counts() -> dict[str, int]:
    """The targeted cell's live nova-compute services: how many, how many disabled, how many
    forced down (one aggregate query; call inside target_cell())."""
    return (
        Service.objects.live()
        .filter(binary=COMPUTE_BINARY)
        .aggregate(
            services=Count("id"),
            disabled=Count("id", filter=Q(disabled=True)),
            forced_down=Count("id", filter=Q(forced_down=True)),
        )
    )


def compute_hosts_unschedulable(hosts) -> set[str]:
    """Of ``hosts``, those whose nova-compute service in the targeted cell is disabled, forced
    down or down (Nova's ComputeFilter). A host without a service row is not refused here. One
    query; call inside target_cell()."""
    services = Service.objects.live().filter(binary=COMPUTE_BINARY, host__in=list(hosts))
    return {s.host for s in services if s.disabled or not service_is_up(s)}


# --- hypervisors ------------------------------------------------------------------------------


def _servers_on(hosts: list[str]) -> dict[str, list[dict]]:
    rows = Instance.objects.live().filter(host__in=hosts).order_by("id").values("host", "display_name", "uuid")
    by_host: dict[str, list[dict]] = {}
    for row in rows:
        by_host.setdefault(row["host"], []).append({"name": row["display_name"], "uuid": row["uuid"]})
    return by_host


def _cell_hypervisors(cell, *, pattern: str | None, lookup: dict | None, with_servers: bool) -> list[tuple]:
    """(node, service, servers) of the targeted cell's live nodes that have a compute service."""
    nodes = ComputeNode.objects.live().order_by("id")
    if pattern is not None:
        nodes = nodes.filter(hypervisor_hostname__icontains=pattern)
    if lookup:
        nodes = nodes.filter(**lookup)
    nodes = list(nodes)
    hosts = sorted({node.host for node in nodes})
    services = {s.host: s for s in Service.objects.live().filter(binary=COMPUTE_BINARY, host__in=hosts)}
    servers = _servers_on(hosts) if with_servers else {}
    return [(node, services[node.host], servers.get(node.host, [])) for node in nodes if node.host in services]


def _hypervisors(*, pattern=None, lookup=None, with_servers=False) -> list[Hypervisor]:
    """Nova's compute_node_get_all over every cell but cell0 (which holds no node): nodes whose
    host is mapped and has a compute service, in cell order then id; cells that do not answer are
    skipped, as Nova skips them."""
    answered, _ = cells_answering(
        lambda cell: _cell_hypervisors(cell, pattern=pattern, lookup=lookup, with_servers=with_servers),
        what="compute nodes",
        cells=cell_mappings(include_cell0=False),
    )
    found = [(cell, row) for cell, rows in answered for row in rows]
    mapped = set(HostMapping.objects.filter(host__in={row[0].host for _, row in found}).values_list("host", flat=True))
    return [
        Hypervisor(cell, node, service, servers if with_servers else None)
        for cell, (node, service, servers) in found
        if node.host in mapped
    ]


def hypervisor_list(
    *,
    uuid_ids: bool,
    limit: int | None = None,
    marker: str | None = None,
    pattern: str | None = None,
    with_servers: bool = False,
) -> list[Hypervisor]:
    """One page of hypervisors of every cell (``limit`` after ``marker``: a node uuid when
    ``uuid_ids``, else an integer id), or every one whose hypervisor hostname contains ``pattern``.

    Raises HypervisorMarkerNotFound, HypervisorPatternNotFound (a pattern that matches nothing).
    """
    hypervisors = _hypervisors(pattern=pattern, with_servers=with_servers)
    if pattern is not None and not hypervisors:
        raise HypervisorPatternNotFound(pattern)
    if marker is not None:
        ids = [str(h.node.uuid if uuid_ids else h.node.id) for h in hypervisors]
        if marker not in ids:
            raise HypervisorMarkerNotFound(marker)
        hypervisors = hypervisors[ids.index(marker) + 1 :]
    return hypervisors if limit is None else hypervisors[:limit]


def hypervisor_get(*, hypervisor_id: str, uuid_ids: bool, with_servers: bool = False) -> Hypervisor:
    """The hypervisor with this node uuid (``uuid_ids``) or integer id (the first cell that has
    it, as Nova's compute_node_get). Raises HypervisorNotFound."""
    lookup = {"uuid": hypervisor_id} if uuid_ids else {"pk": int(hypervisor_id)}
    found = _hypervisors(lookup=lookup, with_servers=with_servers)
    if not found:
        raise HypervisorNotFound(hypervisor_id)
    return found[0]


def hypervisor_statistics() -> dict[str, int]:
    """Nova's hypervisor statistics: every answering cell's live nodes added up."""
    columns = ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb", "local_gb_used", "running_vms")

    def totals(cell):
        row = ComputeNode.objects.live().aggregate(count=Count("id"), **{c: Sum(c) for c in columns})
        return {name: value or 0 for name, value in row.items()}

    answered, _ = cells_answering(totals, what="compute nodes", cells=cell_mappings(include_cell0=False))
    stats = dict.fromkeys(("count", *columns), 0)
    for _, row in answered:
        for name in stats:
            stats[name] += row[name]
    stats["free_ram_mb"] = stats["memory_mb"] - stats["memory_mb_used"]
    stats["free_disk_gb"] = stats["local_gb"] - stats["local_gb_used"]
    stats["current_workload"] = 0
    stats["disk_available_least"] = stats["free_disk_gb"]
    return stats


# --- availability zones -----------------------------------------------------------------------


def availability_zones_available() -> set[str]:
    """The zones a server can be asked into: those of the enabled compute services of every cell
    that answers (Nova's get_availability_zones with get_only_available)."""
    return {zone["name"] for zone in availability_zone_list(with_hosts=False) if zone["available"]}


def availability_zone_list(*, with_hosts: bool) -> list[dict]:
    """Nova's get_availability_zones: zones of enabled services are available, zones with only
    disabled services are not; the internal zone is hidden unless ``with_hosts``. With
    ``with_hosts``, each available zone maps host -> binary -> state, as the detail view shows.
    """
    listing = service_list(down_cell_records=False)
    services = [s.service for s in listing.services if s.service.binary not in ("nova-osapi_compute", "nova-metadata")]
    available: dict[str, dict] = {}
    for service in services:
        if not service.disabled:
            hosts = available.setdefault(service_zone(service), {})
            hosts.setdefault(service.host, {})[service.binary] = {
                "available": service_is_up(service),
                "active": True,
                "updated_at": service_last_report(service),
            }
    unavailable = sorted({service_zone(s) for s in services if s.disabled} - set(available))
    internal = settings.CELLSV2_INTERNAL_AVAILABILITY_ZONE
    zones = []
    for name in sorted(available):
        if name == internal and not with_hosts:
            continue
        zones.append({"name": name, "available": True, "hosts": available[name] if with_hosts else None})
    for name in unavailable:
        if name == internal and not with_hosts:
            continue
        zones.append({"name": name, "available": False, "hosts": None})
    return zones
