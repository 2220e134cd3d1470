"""``manage.py db archive_deleted_rows|purge|version``: Nova's ``nova-manage db`` commands for the cells.

``version [--cell CELL ...]`` prints each cell database's schema: one line per app, ``<cell> <app>
<latest applied migration>`` (Nova prints its one alembic revision; Django keeps one per app).
Exit 1 when a cell cannot be reached (the others are still printed). ``manage.py api_db version``
does the same for the API database.

``archive_deleted_rows [--max_rows N] [--before DATE] [--verbose] [--until-complete] [--purge]
(--all-cells | --cell CELL ...)`` moves soft-deleted servers and their rows into the shadow tables
of their cell and deletes their instance mappings, request specs and server-group memberships
from the API database (operators/archive.py has the order and why it is safe to interrupt). With
``--verbose`` it prints Nova's table (``<cell>.<table>`` and ``API_DB.<table>`` rows). Exit codes,
as Nova's: 0 nothing was archived; 1 some rows were archived (run it again until it returns 0,
or use ``--until-complete``); 2 invalid ``--max_rows``; 3 the API database cannot be reached;
4 invalid ``--before``; 255 an unexpected error.

``purge (--before DATE | --all) (--all-cells | --cell CELL ...) [--verbose]`` deletes rows from
the shadow tables. Exit codes, as Nova's: 0 rows were deleted; 1 neither ``--before`` nor
``--all``; 2 invalid ``--before``; 3 nothing was deleted; 4 the API database cannot be reached.

Where this differs from Nova, and why:

- Nova without ``--all-cells`` works on the one cell database of its nova.conf. There is no such
  "local" cell here, so one of ``--all-cells`` or ``--cell <uuid or name>`` (repeatable) is
  required; without one, or with an unknown cell, archive exits 2 and purge 1 (their codes for
  bad arguments: 1 would tell an archive loop to run again).
- ``--before`` takes ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM[:SS]``, ISO 8601 with or without an
  offset, and the default output of ``date`` (``Tue Mar  4 10:00:00 UTC 2025``); Nova's fuzzy
  dateutil parsing also accepts other spellings. Dates without an offset are UTC.
- A cell whose database fails is reported on stderr and skipped; the other cells are still
  archived (or purged), the table still printed, and the exit code is 255. Nova stops at the
  first failing cell with 255.
- A re-run finishes the API-side cleanup of a run interrupted between a cell and the API
  database (Nova leaves those mappings behind); those rows count in the table and exit code.
- No ``--task-log`` or ``--sleep``: there is no task_log table, and batches are short.
"""

import re
from datetime import UTC, datetime

from django.db import DatabaseError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from prettytable import PrettyTable

from cellsv2.admin.sites import error_line
from cellsv2.cells import CellDatabaseUnusable
from cellsv2.context import target_cell
from cellsv2.db.schema import migration_heads
from cellsv2.management.base import OperatorCommand, quantity
from mappings.exceptions import CellMappingNotFound
from mappings.selectors import cell_mapping_find, cell_mapping_list
from operators import archive

MAX_INT = 0x7FFFFFFF  # nova/db/constants.py

ARCHIVED_NOTHING, ARCHIVED_SOME, INVALID_MAX_ROWS, API_DB_UNREACHABLE, INVALID_BEFORE = 0, 1, 2, 3, 4
PURGED_SOME, PURGE_NEEDS_SCOPE, PURGE_INVALID_BEFORE, PURGED_NOTHING, PURGE_NO_CELL_LIST = 0, 1, 2, 3, 4
CELL_FAILED = 255

API_DB_UNREACHABLE_MESSAGE = (
    "Failed to connect to API DB so aborting this archival attempt. Please check your configuration to make "
    "sure that CELLSV2_API_DATABASE_URL is set and run this command again."
)
DATE_COMMAND_FORMATS = ("%a %b %d %H:%M:%S %Z %Y", "%a %b %d %H:%M:%S %Y")


class InvalidDate(ValueError):
    pass


def parse_before(value: str) -> datetime:
    """A --before value as an aware datetime (UTC when the text has no offset); raises InvalidDate."""
    text = re.sub(r"\s+", " ", value.strip())
    try:
        parsed = parse_datetime(text)
        if parsed is None and (day := parse_date(text)) is not None:
            parsed = datetime(day.year, day.month, day.day)
    except ValueError as exc:  # well-formed but impossible, e.g. 2024-02-30
        raise InvalidDate(str(exc)) from None
    for fmt in DATE_COMMAND_FORMATS:
        if parsed is not None:
            break
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
    if parsed is None:
        raise InvalidDate(f"Unknown string format: {value}")
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


class Command(OperatorCommand):
    help = "Archive deleted rows into shadow tables and purge them (nova-manage db)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="<subcommand>")

        p = sub.add_parser("archive_deleted_rows", help="Move deleted rows from production tables to shadow tables")
        p.add_argument(
            "--max_rows",
            dest="max_rows",
            default="1000",
            metavar="<number>",
            help="Maximum number of deleted rows to archive. Defaults to 1000. Note that this number does not "
            "include the corresponding rows, if any, that are removed from the API database for deleted instances.",
        )
        p.add_argument(
            "--before",
            metavar="<date>",
            help="Archive rows that have been deleted before this date (YYYY-MM-DD [HH:MM:SS], ISO 8601 or the "
            "output of `date`).",
        )
        p.add_argument("--verbose", action="store_true", help="Print how many rows were archived per table.")
        p.add_argument(
            "--until-complete",
            dest="until_complete",
            action="store_true",
            help="Run continuously until all deleted rows are archived. Use max_rows as a batch size for each "
            "iteration.",
        )
        p.add_argument(
            "--purge", action="store_true", help="Purge all data from shadow tables after archive completes"
        )
        self._add_cell_arguments(p)

        p = sub.add_parser("purge", help="Delete rows from the shadow tables")
        p.add_argument(
            "--before",
            metavar="<before>",
            help="Purge rows from shadow tables that are older than this (same formats as archive_deleted_rows).",
        )
        p.add_argument("--all", dest="purge_all", action="store_true", help="Purge all rows in the shadow tables")
        p.add_argument("--verbose", action="store_true", help="Print information about purged records")
        self._add_cell_arguments(p)

        p = sub.add_parser("version", help="Print the schema version of the cell databases")
        p.add_argument("--all-cells", dest="all_cells", action="store_true", help="Every cell (the default).")
        p.add_argument(
            "--cell", dest="cell_refs", action="append", default=[], metavar="<cell>", help="Only this cell"
        )

    @staticmethod
    def _add_cell_arguments(parser):
        parser.add_argument("--all-cells", dest="all_cells", action="store_true", help="Run command across all cells.")
        parser.add_argument(
            "--cell",
            dest="cell_refs",
            action="append",
            default=[],
            metavar="<cell uuid or name>",
            help="Run command in this cell (repeatable). One of --all-cells or --cell is required.",
        )

    def run(self, *args, subcommand, **options):
        return getattr(self, f"do_{subcommand}")(**options)

    def do_version(self, *, all_cells, cell_refs, **_):
        """Each cell's schema: one line per app, ``<cell> <app> <latest applied migration>``."""
        try:
            cells = self._cells(all_cells=all_cells or not cell_refs, cell_refs=cell_refs)
        except ValueError as exc:
            self.fail(str(exc))
            return 1
        failed = 0
        for cell in cells:
            label = cell.name or cell.uuid
            try:
                with target_cell(cell) as alias:
                    heads = migration_heads(alias)
            except (DatabaseError, CellDatabaseUnusable) as exc:
                self.fail(f"{label}: cannot be reached: {error_line(exc)}")
                failed += 1
                continue
            if not heads:
                self.say(f"{label} (no migrations applied: run manage.py migrate)")
            for app, name in heads.items():
                self.say(f"{label} {app} {name}")
        return 1 if failed else 0

    def _cells(self, *, all_cells: bool, cell_refs: list[str]) -> list:
        """The cells to work on; raises ValueError (bad choice) or DatabaseError (API database)."""
        if all_cells == bool(cell_refs):
            raise ValueError("Exactly one of --all-cells or --cell is required.")
        if all_cells:
            return list(cell_mapping_list())
        try:
            return list({cell.uuid: cell for cell in (cell_mapping_find(ref=ref) for ref in cell_refs)}.values())
        except CellMappingNotFound as exc:
            raise ValueError(str(exc)) from None

    # --- archive -------------------------------------------------------------------------------

    def do_archive_deleted_rows(self, *, max_rows, before, verbose, until_complete, purge, all_cells, cell_refs, **_):
        try:
            max_rows = int(max_rows)
        except (TypeError, ValueError):
            max_rows = -1
        if max_rows < 0:
            self.say("Must supply a positive value for max_rows")
            return INVALID_MAX_ROWS
        if max_rows > MAX_INT:
            self.say(f"max rows must be <= {MAX_INT}")
            return INVALID_MAX_ROWS
        try:
            cells = self._cells(all_cells=all_cells, cell_refs=cell_refs)
        except ValueError as exc:
            self.fail(str(exc))
            return INVALID_MAX_ROWS
        except DatabaseError:
            self.say(API_DB_UNREACHABLE_MESSAGE)
            return API_DB_UNREACHABLE
        before_date = None
        if before:
            try:
                before_date = parse_before(before)
            except InvalidDate as exc:
                self.say(f"Invalid value for --before: {exc}")
                return INVALID_BEFORE

        # Nova's progress for --verbose --until-complete ("Archiving.." and a dot per batch, then
        # ".complete") is kept for pipes and logs; a terminal gets the bar and then Nova's line.
        nova_dots = verbose and until_complete
        batches = 0
        with self.progress(desc="Archiving", unit="rows", lines=not nova_dots) as progress:
            dots_live = nova_dots and not progress.on_terminal
            if dots_live:
                self._write_now("Archiving..")

            def on_batch(label: str, rows: int) -> None:
                nonlocal batches
                batches += 1
                progress.advance(rows, line=f"{label}: archived {quantity(rows, 'row')}")
                if dots_live:
                    self._write_now(".")

            result = archive.deleted_rows_archive(
                cells=cells, max_rows=max_rows, before=before_date, until_complete=until_complete, on_batch=on_batch
            )
        if nova_dots:
            ending = ".stopped" if result.interrupted else ".complete"
            self.say(ending if dots_live else "Archiving.." + "." * batches + ending)
        if verbose:
            if result.rows:
                self.say(self._table(result.rows))
            else:
                self.say("Nothing was archived.")
        else:
            self.say(self._archive_summary(result.rows, again=not until_complete))
        for label, exc in result.failed_cells.items():
            self.fail(f"Cell {label} could not be archived: {type(exc).__name__}: {exc}")
        if result.rows and purge:
            if verbose:
                self.say("Rows were archived, running purge...")
            deleted, _ = self._purge(cells, before=None, verbose=verbose)
            self.say(self._purge_summary(deleted, len(cells)))
        if result.failed_cells:
            return CELL_FAILED
        return ARCHIVED_SOME if result.rows else ARCHIVED_NOTHING

    def _write_now(self, text: str) -> None:
        """Part of a line, shown at once (Nova's dots reach a log as each batch ends)."""
        self.stdout.write(text, ending="")
        self.stdout.flush()

    @staticmethod
    def _archive_summary(rows: dict[str, int], *, again: bool) -> str:
        """One line for a run without --verbose: how many rows moved, from how many cells."""
        if not rows:
            return "Nothing was archived."
        cell_rows = sum(count for key, count in rows.items() if not key.startswith(f"{archive.API_DB}."))
        api_rows = sum(count for key, count in rows.items() if key.startswith(f"{archive.API_DB}."))
        cells = len({key.split(".", 1)[0] for key in rows if not key.startswith(f"{archive.API_DB}.")})
        line = (
            f"Archived {quantity(cell_rows, 'row')} from {quantity(cells, 'cell')} "
            f"and deleted {quantity(api_rows, 'row')} from the API database"
        )
        return f"{line}; run it again until it exits 0 (or use --until-complete)." if again else f"{line}."

    @staticmethod
    def _table(rows: dict[str, int]) -> str:
        """Nova's two-column table, sorted by cell then table (API_DB sorts before lower-case cell names)."""
        table = PrettyTable(["Table", "Number of Rows Archived"])
        table.align = "l"
        table.header_align = "l"
        for key, count in sorted(rows.items(), key=lambda item: tuple(item[0].split(".", 1))):
            table.add_row([key, count])
        return table.get_string()

    # --- purge ---------------------------------------------------------------------------------

    def do_purge(self, *, before, purge_all, verbose, all_cells, cell_refs, **_):
        if before is None and not purge_all:
            self.say("Either --before or --all is required")
            return PURGE_NEEDS_SCOPE
        before_date = None
        if before:
            try:
                before_date = parse_before(before)
            except InvalidDate as exc:
                self.say(f"Invalid value for --before: {exc}")
                return PURGE_INVALID_BEFORE
        try:
            cells = self._cells(all_cells=all_cells, cell_refs=cell_refs)
        except ValueError as exc:
            self.fail(str(exc))
            return PURGE_NEEDS_SCOPE
        except DatabaseError:
            self.say("Unable to get cell list from API DB. Is it configured?")
            return PURGE_NO_CELL_LIST
        deleted, failed = self._purge(cells, before=before_date, verbose=verbose)
        self.say(self._purge_summary(deleted, len(cells)))
        if failed:
            return CELL_FAILED
        return PURGED_SOME if deleted else PURGED_NOTHING

    @staticmethod
    def _purge_summary(deleted: int, cells: int) -> str:
        if not deleted:
            return "Nothing was purged."
        return f"Purged {quantity(deleted, 'row')} from the shadow tables of {quantity(cells, 'cell')}."

    def _purge(self, cells, *, before, verbose) -> tuple[int, bool]:
        deleted, failed = 0, False
        for cell in cells:
            identity = f"Cell {cell.identity}"

            def status(message, identity=identity):
                if verbose:
                    self.say(f"{identity}: {message}")

            try:
                deleted += archive.shadow_tables_purge(cell=cell, before=before, status=status)
            except (DatabaseError, CellDatabaseUnusable) as exc:
                self.fail(f"{identity} could not be purged: {type(exc).__name__}: {exc}")
                failed = True
        return deleted, failed
