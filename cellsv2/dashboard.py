"""What the operators' dashboard shows: the state of every cell and of the work in flight.

Read-only: each function reads and changes nothing. Cells are asked in parallel with a short
timeout, so an unreachable cell is reported (with its error) instead of stalling the page.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Min
from django.utils import timezone

from cellsv2.cells import DID_NOT_RESPOND, CellRaised, cell_mappings, scatter_gather_cells

logger = logging.getLogger(__name__)

DASHBOARD_CELL_TIMEOUT = 5.0


@dataclass
class CellStatus:
    mapping: object
    reachable: bool
    error: str = ""
    instances_by_state: dict = field(default_factory=dict)
    compute_nodes: int = 0
    hosts: int = 0

    @property
    def instances(self) -> int:
        return sum(self.instances_by_state.values())


def _cell_summary(cell):
    from servers.models import ComputeNode, Instance

    states = dict(Instance.objects.live().values_list("vm_state").annotate(n=Count("id")).values_list("vm_state", "n"))
    nodes = ComputeNode.objects.live().count()
    return {"states": {state or "unknown": n for state, n in states.items()}, "nodes": nodes}


def dashboard_cells(*, timeout: float = DASHBOARD_CELL_TIMEOUT) -> list[CellStatus]:
    """Every cell with its state: enabled or not, reachable or not (and why), instances by state, nodes."""
    from mappings.models import HostMapping

    cells = cell_mappings()
    hosts = dict(HostMapping.objects.values_list("cell_id").annotate(n=Count("id")).values_list("cell_id", "n"))
    results = scatter_gather_cells(cells, _cell_summary, timeout=timeout)
    statuses = []
    for cell in cells:
        result = results.get(cell.uuid)
        if result is DID_NOT_RESPOND:
            error = f"did not answer within {timeout:g} s"
            statuses.append(CellStatus(cell, False, error, hosts=hosts.get(cell.id, 0)))
        elif isinstance(result, CellRaised):
            statuses.append(CellStatus(cell, False, str(result), hosts=hosts.get(cell.id, 0)))
        else:
            statuses.append(
                CellStatus(
                    cell,
                    True,
                    instances_by_state=result["states"],
                    compute_nodes=result["nodes"],
                    hosts=hosts.get(cell.id, 0),
                )
            )
    return statuses


@dataclass
class BuildQueue:
    waiting: int
    oldest_age: timedelta | None

    @property
    def oldest_age_display(self) -> str:
        """The oldest wait as "2d 3h 4m 5s" (leading zero units left out), or "-"."""
        if self.oldest_age is None:
            return "-"
        seconds = max(int(self.oldest_age.total_seconds()), 0)
        parts = []
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size or parts:
                parts.append(f"{seconds // size}{unit}")
                seconds %= size
        parts.append(f"{seconds}s")
        return " ".join(parts)


def dashboard_build_queue() -> BuildQueue:
    """Build requests waiting for the conductor and the age of the oldest (API database)."""
    from servers.models import BuildRequest

    summary = BuildRequest.objects.aggregate(n=Count("id"), oldest=Min("created_at"))
    oldest = summary["oldest"]
    return BuildQueue(summary["n"], timezone.now() - oldest if oldest else None)


def dashboard_unmapped_instances() -> int:
    """Instance mappings without a cell (build requests, or placements interrupted) (API database)."""
    from mappings.selectors import instance_mapping_list

    return instance_mapping_list().filter(cell__isnull=True).count()


@dataclass
class PendingMigration:
    name: str
    pending: int | None
    error: str = ""


def dashboard_pending_migrations(*, unreachable: list | tuple = ()) -> list[PendingMigration]:
    """Rows each online data migration still has to move, counted without changing anything.

    The counts need every cell: with ``unreachable`` cells (names or uuids, from
    ``dashboard_cells``) nothing is counted, so the page does not wait on a dead cell again.
    """
    from cellsv2.online_migrations import registered_migrations

    pending = []
    for fn in registered_migrations():
        counter = getattr(fn, "pending", None)
        if counter is None:
            pending.append(PendingMigration(fn.__name__, None, "no pending count for this migration"))
            continue
        if unreachable:
            cells = ", ".join(str(cell) for cell in unreachable)
            pending.append(PendingMigration(fn.__name__, None, f"not counted: cells that did not answer: {cells}"))
            continue
        try:
            pending.append(PendingMigration(fn.__name__, counter()))
        except Exception as exc:
            logger.warning("Pending count of %s failed: %s", fn.__name__, exc)
            pending.append(PendingMigration(fn.__name__, None, f"{type(exc).__name__}: {exc}"))
    return pending
