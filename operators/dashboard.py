"""What the operators' dashboard shows: the state of every cell and of the work in flight.

Read-only: each function reads and changes nothing. Cells are asked in parallel with a short
timeout, so an unreachable cell is reported (with its error) instead of stalling the page.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Min
from django.utils import timezone

from cellsv2.admin.base import Usage
from cellsv2.cells import DID_NOT_RESPOND, CellRaised, cell_mappings, scatter_gather_cells
from cellsv2.db import API_ALIAS, table_row_estimate
from cellsv2.online_migrations import registered_migrations
from hosts.selectors import compute_service_counts
from mappings.models import HostMapping, InstanceMapping
from mappings.selectors import instance_mapping_count_by_cell, instance_mapping_list
from servers.models import BuildRequest
from servers.selectors.compute_nodes import compute_node_capacity, instance_count_by_state

logger = logging.getLogger(__name__)

DASHBOARD_CELL_TIMEOUT = 5.0
# Past this many instance mappings (PostgreSQL's planner estimate) the page does not count them per
# cell: that count reads the whole table on every view (10 million mappings: 2.4 s of a 2.9 s page
# on 2 cores). The cells' "unmapped" figure then reads "not counted".
DASHBOARD_MAPPING_COUNT_LIMIT = 1_000_000


@dataclass
class Capacity:
    """A cell's live compute nodes added up (compute_nodes of the cell database)."""

    nodes: int = 0
    vcpus: Usage = field(default_factory=lambda: Usage(0, 0))
    memory_mb: Usage = field(default_factory=lambda: Usage(0, 0))
    local_gb: Usage = field(default_factory=lambda: Usage(0, 0))

    @classmethod
    def from_totals(cls, totals: dict) -> "Capacity":
        return cls(
            nodes=totals["nodes"],
            vcpus=Usage(totals["vcpus_used"], totals["vcpus"]),
            memory_mb=Usage(totals["memory_mb_used"], totals["memory_mb"]),
            local_gb=Usage(totals["local_gb_used"], totals["local_gb"]),
        )

    @property
    def figures(self) -> list[dict]:
        """vCPUs, RAM and disk as the dashboard shows them: a key, the text and the Usage."""
        return [
            {"key": "vcpus", "text": self.vcpus.display(), "usage": self.vcpus},
            {"key": "ram", "text": self.memory_mb.display("GiB", 1024), "usage": self.memory_mb},
            {"key": "disk", "text": self.local_gb.display("GB"), "usage": self.local_gb},
        ]

    def __add__(self, other: "Capacity") -> "Capacity":
        def add(a: Usage, b: Usage) -> Usage:
            return Usage(a.used + b.used, a.total + b.total)

        return Capacity(
            self.nodes + other.nodes,
            add(self.vcpus, other.vcpus),
            add(self.memory_mb, other.memory_mb),
            add(self.local_gb, other.local_gb),
        )


@dataclass
class CellStatus:
    mapping: object
    reachable: bool
    error: str = ""
    instances_by_state: dict = field(default_factory=dict)
    hosts: int = 0
    capacity: Capacity | None = None
    # Instances of the cell (soft-deleted too) with no instance mapping; None when not counted
    # (the cell did not answer, or the API database holds too many mappings to count on each view).
    unmapped: int | None = None
    # The cell's compute services: {"services", "disabled", "forced_down"}; None when not counted.
    services: dict | None = None

    @property
    def instances(self) -> int:
        return sum(self.instances_by_state.values())

    @property
    def compute_nodes(self) -> int:
        return self.capacity.nodes if self.capacity else 0


def _cell_summary(cell):
    """What the dashboard needs of one cell, read in that cell: three queries."""
    by_state, rows = instance_count_by_state()
    return {
        "states": by_state,
        "rows": rows,
        "capacity": compute_node_capacity(),
        "services": compute_service_counts(),
    }


def dashboard_mapping_counts() -> dict[int | None, int] | None:
    """Instance mappings per cell id (``instance_mapping_count_by_cell``), or None when the API
    database holds more than ``DASHBOARD_MAPPING_COUNT_LIMIT`` of them (PostgreSQL's estimate, one
    catalog read; other databases are always counted)."""
    estimate = table_row_estimate(API_ALIAS, InstanceMapping._meta.db_table)
    if estimate is not None and estimate > DASHBOARD_MAPPING_COUNT_LIMIT:
        return None
    return instance_mapping_count_by_cell()


def dashboard_cells(*, timeout: float = DASHBOARD_CELL_TIMEOUT) -> list[CellStatus]:
    """Every cell with its state: enabled or not, reachable or not (and why), live instances by
    state, its compute nodes' capacity and use, and how many of its instances have no mapping.

    Three queries per cell (in parallel, each cell with ``timeout``) and three on the API database
    (hosts, the mappings' estimate, instance mappings per cell). A cell that does not answer is
    reported with its error and counts nothing. Past ``DASHBOARD_MAPPING_COUNT_LIMIT`` mappings
    they are not counted and no cell's unmapped instances are (``unmapped`` is None).

    Instances with no mapping live in one database and mappings in another, with no join between
    them. Rather than page through every uuid of a big cell (a round trip per page on both sides),
    the count is the cell's instance rows (soft-deleted included: map_instances maps them too)
    minus the mappings naming the cell: one grouped COUNT on each side, whatever the cell's size.
    Archiving removes an instance's mapping with its rows, so the two match once every instance
    is mapped. A mapping naming the wrong cell counts against that cell instead of its own
    (``cell_v2 verify_instance`` finds such a mapping); a negative difference reads as 0.
    """
    cells = cell_mappings()
    hosts = dict(HostMapping.objects.values_list("cell_id").annotate(n=Count("id")).values_list("cell_id", "n"))
    results = scatter_gather_cells(cells, _cell_summary, timeout=timeout)
    # Read after the cells answered: a mapping created meanwhile (its instance already counted
    # above) then lowers the figure rather than leaving an instance counted as unmapped.
    mapped = dashboard_mapping_counts()
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
                    hosts=hosts.get(cell.id, 0),
                    capacity=Capacity.from_totals(result["capacity"]),
                    unmapped=None if mapped is None else max(result["rows"] - mapped.get(cell.id, 0), 0),
                    services=result["services"],
                )
            )
    return statuses


def dashboard_capacity_total(statuses: list[CellStatus]) -> Capacity:
    """The capacity of the cells that answered, added up (the page says which did not)."""
    total = Capacity()
    for status in statuses:
        if status.capacity is not None:
            total = total + status.capacity
    return total


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
    summary = BuildRequest.objects.aggregate(n=Count("id"), oldest=Min("created_at"))
    oldest = summary["oldest"]
    return BuildQueue(summary["n"], timezone.now() - oldest if oldest else None)


def dashboard_unmapped_instances() -> int:
    """Instance mappings without a cell (build requests, or placements interrupted) (API database)."""
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
