"""The checks of ``manage.py status upgrade check`` (Nova's ``nova-status upgrade check``).

Each check reads (never changes) the API database and the cells and returns a ``Result``: Success,
Warning (look at it, the deployment may still be fine) or Failure (fix it before going on), with
details that say what was found and the command that fixes it. Counts, never lists: a check
stays cheap on a cell of millions of instances (one grouped query per cell).

Checks run in order and each is independent: one that cannot reach a cell database reports that
and the others still run. Without the API database no check can run: as in Nova (where the
exception leaves oslo.upgradecheck's checks and the command exits 255, "unexpected error"), the
run stops with ``UpgradeChecksCannotRun``.
"""

import enum
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone

from cellsv2.cells import CELL0_UUID, CellDatabaseUnusable, cell_mappings, cells_answering
from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS, sql
from cellsv2.db.schema import pending_migrations
from cellsv2.online_migrations import registered_migrations
from consoles.models import ConsoleAuthToken
from keypairs.models import KeyPairConflict
from mappings.models import CellMapping, HostMapping, InstanceMapping
from servers.models import BuildRequest, ComputeNode, Instance


class Code(enum.IntEnum):
    """oslo.upgradecheck's codes (and the command's exit codes)."""

    SUCCESS = 0
    WARNING = 1
    FAILURE = 2


LABELS = {Code.SUCCESS: "Success", Code.WARNING: "Warning", Code.FAILURE: "Failure"}


@dataclass
class Result:
    code: Code
    details: str | None = None


class UpgradeChecksCannotRun(Exception):
    """The API database cannot be opened or read, so no check can run (str(): one line)."""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _name(cell) -> str:
    return cell.name or cell.uuid


def check_cells_v2() -> Result:
    """Nova's "Cells v2" check: cell0 and at least one cell are mapped; hosts are mapped once nodes exist."""
    mappings = list(CellMapping.objects.all())
    if len(mappings) < 2:
        return Result(
            Code.FAILURE,
            "There needs to be at least two cell mappings, one for cell0 and one for your first cell. "
            "Run command 'manage.py cell_v2 simple_cell_setup' and then retry.",
        )
    if not any(m.uuid == CELL0_UUID for m in mappings):
        return Result(
            Code.FAILURE, "No cell0 mapping found. Run command 'manage.py cell_v2 simple_cell_setup' and then retry."
        )
    if HostMapping.objects.exists():
        return Result(Code.SUCCESS)
    counts, failed = cells_answering(
        lambda cell: ComputeNode.objects.live().count(),
        what="compute nodes",
        cells=[m for m in cell_mappings() if not m.is_cell0],
    )
    if sum(count for _, count in counts) > 0:
        return Result(
            Code.FAILURE,
            "No host mappings found but there are compute nodes. Run command "
            "'manage.py cell_v2 simple_cell_setup' and then retry.",
        )
    note = f" (cells that did not answer: {', '.join(failed)})" if failed else ""
    return Result(
        Code.SUCCESS,
        "No host mappings or compute nodes were found. Remember to run command "
        f"'manage.py cell_v2 discover_hosts' when new compute hosts are deployed.{note}",
    )


def check_cell_databases() -> Result:
    """Every cell's database answers and its schema is at the latest migration."""
    problems = []
    for cell in cell_mappings():
        try:
            with target_cell(cell) as alias:
                started = time.monotonic()
                pending = pending_migrations(alias)
                elapsed = time.monotonic() - started
        except (DatabaseError, CellDatabaseUnusable) as exc:
            problems.append((Code.FAILURE, f"cell {_name(cell)} cannot be reached: {_one_line(exc)}"))
            continue
        if pending:
            problems.append(
                (
                    Code.FAILURE,
                    f"cell {_name(cell)} has {pending} unapplied migration(s): run 'manage.py migrate'",
                )
            )
        elif elapsed > settings.CELLSV2_SCATTER_GATHER_TIMEOUT:
            problems.append((Code.WARNING, f"cell {_name(cell)} took {elapsed:.1f} s to answer"))
    if not problems:
        return Result(Code.SUCCESS)
    return Result(max(code for code, _ in problems), "; ".join(text for _, text in problems) + ".")


def check_unmapped_hosts() -> Result:
    """Compute nodes whose host has no host mapping: the scheduler never places anything there."""
    mapped = set(HostMapping.objects.values_list("host", flat=True))
    hosts, failed = cells_answering(
        lambda cell: set(ComputeNode.objects.live().values_list("host", flat=True)),
        what="compute nodes",
        cells=[m for m in cell_mappings() if not m.is_cell0],
    )
    unmapped = {_name(cell): sorted(found - mapped) for cell, found in hosts if found - mapped}
    notes = []
    if unmapped:
        total = sum(len(h) for h in unmapped.values())
        where = ", ".join(f"{cell}: {len(h)}" for cell, h in sorted(unmapped.items()))
        notes.append(
            f"{total} compute host(s) have no host mapping ({where}). "
            "Run command 'manage.py cell_v2 discover_hosts' to map them."
        )
    if failed:
        notes.append(f"Cells that did not answer: {', '.join(failed)}.")
    return Result(Code.WARNING if notes else Code.SUCCESS, " ".join(notes) or None)


def check_unmapped_instances() -> Result:
    """Instances of each cell without an instance mapping: the API does not see them.

    Counted as the cell's instance rows (soft-deleted included: map_instances maps them too) minus
    the mappings naming the cell, as the cells dashboard counts them: one grouped count per side.
    """
    mapped = dict(InstanceMapping.objects.values_list("cell_id").annotate(n=Count("id")).values_list("cell_id", "n"))
    counts, failed = cells_answering(lambda cell: Instance.objects.count(), what="instances", cells=cell_mappings())
    missing = {cell: count - mapped.get(cell.id, 0) for cell, count in counts}
    missing = {cell: n for cell, n in missing.items() if n > 0}
    notes = [
        f"Cell {_name(cell)} has {n} instance(s) with no instance mapping: run "
        f"'manage.py cell_v2 map_instances --cell_uuid {cell.uuid}'."
        for cell, n in missing.items()
    ]
    if failed:
        notes.append(f"Cells that did not answer: {', '.join(failed)}.")
    return Result(Code.WARNING if notes else Code.SUCCESS, " ".join(notes) or None)


def check_online_migrations() -> Result:
    """Rows the online data migrations still have to move (key pairs, server groups, instance_extra)."""
    left, errors = [], []
    for fn in registered_migrations():
        counter = getattr(fn, "pending", None)
        if counter is None:
            continue
        try:
            pending = counter()
        except Exception as exc:
            errors.append(f"{fn.__name__} could not be counted: {_one_line(exc)}")
            continue
        if pending:
            left.append(f"{fn.__name__}: {pending}")
    if errors:
        return Result(Code.WARNING, "; ".join(errors) + ".")
    if left:
        return Result(
            Code.WARNING,
            f"Online data migrations have rows left ({', '.join(left)}). "
            "Run command 'manage.py online_data_migrations' until it exits 0.",
        )
    return Result(Code.SUCCESS)


def check_keypair_conflicts() -> Result:
    """Key pairs set aside by the move to the API database, waiting for an operator's decision."""
    waiting = KeyPairConflict.objects.filter(resolved_at__isnull=True).count()
    if not waiting:
        return Result(Code.SUCCESS)
    return Result(
        Code.WARNING,
        f"{waiting} key pair conflict(s) wait for a decision: "
        "'manage.py keypair_conflicts list', then 'keypair_conflicts resolve ID --keep api|cell'.",
    )


def check_build_requests() -> Result:
    """Build requests waiting longer than CELLSV2_BUILD_REQUEST_MAX_AGE: is a conductor running?"""
    limit = settings.CELLSV2_BUILD_REQUEST_MAX_AGE
    cutoff = timezone.now() - timezone.timedelta(seconds=limit)
    old = BuildRequest.objects.filter(created_at__lt=cutoff).aggregate(n=Count("id"), oldest=Min("created_at"))
    if not old["n"]:
        return Result(Code.SUCCESS)
    age = int((timezone.now() - old["oldest"]).total_seconds())
    return Result(
        Code.WARNING,
        f"{old['n']} build request(s) have waited more than {limit} s (the oldest {age} s). "
        "Check that a conductor runs ('manage.py conductor', or CELLSV2_CONDUCTOR_MODE=inline) "
        "and that the cells it places into answer.",
    )


def check_console_tokens() -> Result:
    """Expired console tokens still stored: nobody runs the cleanup."""
    now = int(time.time())
    counts, failed = cells_answering(
        lambda cell: ConsoleAuthToken.objects.filter(expires__lt=now).count(),
        what="console tokens",
        cells=cell_mappings(),
    )
    expired = {_name(cell): n for cell, n in counts if n}
    notes = []
    if expired:
        where = ", ".join(f"{cell}: {n}" for cell, n in sorted(expired.items()))
        notes.append(
            f"Expired console tokens are still stored ({where}). "
            "Schedule 'manage.py console_tokens clean_expired' (deploy/ has a timer)."
        )
    if failed:
        notes.append(f"Cells that did not answer: {', '.join(failed)}.")
    return Result(Code.WARNING if notes else Code.SUCCESS, " ".join(notes) or None)


# Ordered: each with the release that added it.
UPGRADE_CHECKS = (
    # Added in 0.1
    ("Cells v2", check_cells_v2),
    # Added in 0.2
    ("Cell databases", check_cell_databases),
    # Added in 0.2
    ("Compute host mappings", check_unmapped_hosts),
    # Added in 0.2
    ("Instance mappings", check_unmapped_instances),
    # Added in 0.2
    ("Online data migrations", check_online_migrations),
    # Added in 0.2
    ("Key pair conflicts", check_keypair_conflicts),
    # Added in 0.2
    ("Build requests", check_build_requests),
    # Added in 0.2
    ("Console auths", check_console_tokens),
)


def upgrade_checks_run() -> list[tuple[str, Result]]:
    """Every check, in order; a check that raises counts as a Failure naming the error.

    Reads the API database's cell mappings first: when that fails, raises UpgradeChecksCannotRun.
    """
    try:
        sql.connection_probe(API_ALIAS)
        CellMapping.objects.exists()
    except DatabaseError as exc:
        raise UpgradeChecksCannotRun(f"The API database cannot be read: {_one_line(exc)}") from exc
    results = []
    for name, check in UPGRADE_CHECKS:
        try:
            result = check()
        except (DatabaseError, CellDatabaseUnusable) as exc:
            result = Result(Code.FAILURE, f"The check could not read a database: {_one_line(exc)}")
        results.append((name, result))
    return results
