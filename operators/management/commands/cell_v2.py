"""``manage.py cell_v2 <sub>``: Nova's ``nova-manage cell_v2`` operator commands.

Arguments, messages, tables and exit codes follow nova-manage; README "Operator commands" lists
the codes, including where this product differs (there is no message queue, so transport URLs
are optional, and cells declared in settings stand in for Nova's configuration file).
"""

import argparse

from django.core.management import call_command
from django.db import DatabaseError
from prettytable import PrettyTable

from cellsv2.cells import configured_alias_url, configured_cell_aliases
from cellsv2.dburls import mask_password
from cellsv2.locks import LockHeld
from cellsv2.management.base import OperatorCommand, parse_max_count, quantity
from mappings import selectors
from mappings import services as mapping_services
from mappings.exceptions import (
    Cell0CannotBeDisabled,
    CellHasDeletedInstances,
    CellHasHosts,
    CellHasInstances,
    CellMappingExists,
    CellMappingNotFound,
    HostHasInstances,
    HostInOtherCell,
    HostMappingExists,
    HostMappingNotFound,
    InvalidCellDatabase,
)
from operators import services

UNKNOWN_CELL = 255  # nova-manage: an uncaught CellMappingNotFound
LOCK_HELD = 3


def described(cell) -> str:
    """``cell1 (uuid)``, or the uuid of a nameless cell: how the confirmations name a cell."""
    return f"{cell.name} ({cell.uuid})" if cell.name else cell.uuid


def cell_name(value: str) -> str:
    """--name: at most cell_mappings.name's 255 characters (a longer one is refused by argparse,
    before any database is touched)."""
    if len(value) > 255:
        raise argparse.ArgumentTypeError(f"the name has {len(value)} characters; at most 255 are allowed")
    return value


def names(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join(filter(None, [", ".join(items[:-1]), items[-1]])) if items else ""


class Command(OperatorCommand):
    help = "Cells v2 operator commands (nova-manage cell_v2)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="<subcommand>")

        p = sub.add_parser("simple_cell_setup", help="Map cell0 and every cell declared in settings, hosts, instances")
        p.add_argument("--transport-url", dest="transport_url", help="The transport url for the cell message queue")
        p.add_argument("--verbose", action="store_true", help="Say what is mapped")

        p = sub.add_parser("map_cell_and_hosts", help="Map a cell database's hosts (and its cell)")
        p.add_argument(
            "--database_connection",
            dest="database_connection",
            help="The cell database's URL (default: the database configured as cell1)",
        )
        p.add_argument("--transport-url", dest="transport_url", help="The transport url of a new cell")
        p.add_argument("--name", type=cell_name, help="The name of a new cell")
        p.add_argument("--verbose", action="store_true", help="Say what is mapped and print the cell's uuid")

        p = sub.add_parser("map_cell0", help="Create the cell0 mapping")
        p.add_argument(
            "--database_connection",
            dest="database_connection",
            help="The database connection url for cell0. Optional: the cell0 database from settings by default.",
        )

        p = sub.add_parser("create_cell", help="Add a new cell to the API database; prints its uuid with --verbose")
        p.add_argument("--name", type=cell_name, help="The name of the cell")
        p.add_argument("--database_connection", dest="database_connection", help="The database url for the cell")
        p.add_argument("--transport-url", dest="transport_url", help="The transport url for the cell message queue")
        p.add_argument("--verbose", action="store_true", help="Output the uuid of the created cell")
        p.add_argument("--disabled", action="store_true", help="To create a pre-disabled cell.")

        p = sub.add_parser("list_cells", help="List cells")
        p.add_argument("--verbose", action="store_true", help="Show sensitive details, such as passwords")

        p = sub.add_parser("update_cell", help="Update a cell")
        p.add_argument("--cell_uuid", dest="cell_uuid", required=True, help="The uuid of the cell to update.")
        p.add_argument("--name", type=cell_name, help="Set the cell name.")
        p.add_argument("--transport-url", dest="transport_url", help="Set the cell transport_url.")
        p.add_argument("--database_connection", dest="database_connection", help="Set the cell database_connection.")
        p.add_argument("--disable", action="store_true", help="Disables the cell: nothing is scheduled to it.")
        p.add_argument("--enable", action="store_true", help="Enables the cell for scheduling.")

        p = sub.add_parser("delete_cell", help="Delete an empty cell")
        p.add_argument("--cell_uuid", dest="cell_uuid", required=True, help="The uuid of the cell to delete.")
        p.add_argument(
            "--force", action="store_true", help="Delete hosts and instance_mappings that belong to the cell as well."
        )

        p = sub.add_parser("discover_hosts", help="Map compute hosts that are not mapped yet")
        p.add_argument(
            "--cell_uuid", dest="cell_uuid", help="If provided only this cell will be searched for new hosts to map."
        )
        p.add_argument("--verbose", action="store_true", help="Provide detailed output when discovering hosts.")
        p.add_argument(
            "--strict",
            action="store_true",
            help="Considered successful (exit code 0) only when an unmapped host is discovered.",
        )
        p.add_argument(
            "--by-service",
            dest="by_service",
            action="store_true",
            help="Discover hosts by their nova-compute services rather than by unmapped compute nodes.",
        )

        p = sub.add_parser("list_hosts", help="List host mappings")
        p.add_argument("--cell_uuid", dest="cell_uuid", help="The uuid of the cell.")

        p = sub.add_parser("delete_host", help="Delete a host mapping")
        p.add_argument("--cell_uuid", dest="cell_uuid", required=True, help="The uuid of the cell.")
        p.add_argument("--host", required=True, help="The host to delete.")

        p = sub.add_parser("map_instances", help="Create instance mappings for a cell's instances")
        p.add_argument(
            "--cell_uuid",
            dest="cell_uuid",
            required=True,
            help="Unmigrated instances will be mapped to the cell with the uuid provided.",
        )
        p.add_argument(
            "--max-count",
            dest="max_count",
            help="Maximum number of instances to map. If not set, all instances in the cell are mapped in batches.",
        )
        p.add_argument(
            "--reset",
            dest="reset_marker",
            action="store_true",
            help="Start from the beginning instead of where the last run finished.",
        )

        p = sub.add_parser("verify_instance", help="Say which cell an instance is in")
        p.add_argument("--uuid", required=True, help="The instance UUID to verify")
        p.add_argument("--quiet", action="store_true", help="Do not print anything")

    def run(self, *args, subcommand, **options):
        return getattr(self, f"do_{subcommand}")(**options)

    # --- cells ---------------------------------------------------------------------------------

    def do_simple_cell_setup(self, *, verbose, **options):
        status = self.say if verbose else (lambda message: None)
        try:
            cell0, created = mapping_services.cell0_map()
        except InvalidCellDatabase as exc:
            self.fail(f"Invalid database connection for cell0: {exc}")
            return 1
        if not created:
            self.say("Cell0 is already setup")
        for alias in configured_cell_aliases():
            try:
                call_command("migrate", database=alias, verbosity=0, interactive=False)
            except Exception as exc:
                self.fail(f"Unable to sync {alias} schema: {exc}")
                if alias == "cell0":
                    continue
                return 1
        try:
            cells = mapping_services.settings_cells_map(status_fn=status)
        except (InvalidCellDatabase, CellMappingExists) as exc:
            self.fail(str(exc))
            return 1
        discovered = services.hosts_discover(status_fn=status)
        for uuid, error in discovered.failed_cells.items():
            self.fail(f"Unable to reach cell {uuid}: {error}")
        instances = sum(services.instances_map(cell_uuid=cell.uuid).mapped for cell in cells)
        if not any(h for h in selectors.host_mapping_list()):
            # Nova exits 1 here because its computes register themselves before the setup; ours are
            # registered by the operator into a cell, so the cell must exist first.
            self.say(
                "No hosts found to map to cell yet: add compute nodes with `manage.py compute_nodes add` "
                "and run `manage.py cell_v2 discover_hosts`."
            )
        if discovered.failed_cells:
            return 1
        self.say(
            f"Cells {names(['cell0', *(cell.name or cell.uuid for cell in cells)])} are mapped; "
            f"newly mapped: {quantity(len(discovered.created), 'host')} and {quantity(instances, 'instance')}."
        )
        return 0

    def do_map_cell_and_hosts(self, *, database_connection, transport_url, name, verbose, **options):
        if not database_connection:
            if "cell1" not in configured_cell_aliases():
                self.fail("Must specify --database_connection (no cell database named cell1 is configured).")
                return 1
            database_connection = configured_alias_url("cell1")
        try:
            result = services.cell_and_hosts_map(
                database_connection=database_connection, name=name, transport_url=transport_url
            )
        except InvalidCellDatabase as exc:
            self.fail(f"Invalid database connection: {exc}")
            return 1
        except CellMappingExists as exc:
            self.fail(str(exc))
            return 1
        if result.no_hosts:
            self.say("No hosts found to map to cell, exiting.")
            return 1
        if verbose:
            for host, cell_uuid in result.already_mapped:
                self.say(f"Host {host} is already mapped to cell {cell_uuid}")
        if not result.mapped:
            self.say("All hosts are already mapped to cell(s).")
            return 0
        if verbose:
            # Nova's contract: the cell's uuid last on stdout.
            self.say(result.cell.uuid)
        else:
            made = "created cell" if result.created_cell else "cell"
            self.say(
                f"Mapped {quantity(len(result.mapped), 'host')} ({', '.join(result.mapped)}) to {made} "
                f"{described(result.cell)}."
            )
        return 0

    def do_map_cell0(self, *, database_connection, **options):
        try:
            cell0, created = mapping_services.cell0_map(database_connection=database_connection)
        except InvalidCellDatabase as exc:
            self.fail(f"Invalid database connection: {exc}")
            return 1
        if not created:
            self.say("Cell0 is already setup")
        else:
            self.say(f"Created the cell0 mapping ({cell0.uuid}) for {mask_password(cell0.database_connection)}")
        return 0

    def do_create_cell(self, *, name, database_connection, transport_url, verbose, disabled, **options):
        if not database_connection:
            if name and name in configured_cell_aliases():
                database_connection = configured_alias_url(name)
                self.say(
                    "--database_connection not provided in the command line, using the database "
                    f"configured as {name} in settings"
                )
            else:
                self.fail(
                    "Must specify --database_connection if no cell database named --name is configured "
                    "in CELLSV2_CELL_DATABASE_URLS."
                )
                return 1
        try:
            mapping = mapping_services.cell_mapping_create(
                name=name, database_connection=database_connection, transport_url=transport_url, disabled=disabled
            )
        except InvalidCellDatabase as exc:
            self.fail(f"Invalid database connection: {exc}")
            return 1
        except CellMappingExists as exc:
            self.fail(str(exc))
            return 2
        done = f"Created {'disabled ' if mapping.disabled else ''}cell {described(mapping)}"
        if verbose:
            # Nova's contract: the uuid alone on stdout, for `uuid=$(... create_cell --verbose)`.
            self.say(mapping.uuid)
            self.note(done)
        else:
            self.say(done)
        return 0

    def do_list_cells(self, *, verbose, **options):
        table = PrettyTable(["Name", "UUID", "Transport URL", "Database Connection", "Disabled"])
        for cell in sorted(selectors.cell_mapping_list(), key=lambda c: c.name or ""):
            show = (lambda url: url) if verbose else mask_password
            table.add_row(
                [cell.name or "", cell.uuid, show(cell.transport_url), show(cell.database_connection), cell.disabled]
            )
        self.say(str(table))
        return 0

    def do_update_cell(self, *, cell_uuid, name, transport_url, database_connection, disable, enable, **options):
        if disable and enable:
            self.fail("Cell cannot be disabled and enabled at the same time.")
            return 4
        disabled = True if disable else (False if enable else None)
        try:
            result = mapping_services.cell_mapping_update(
                uuid=cell_uuid,
                name=name,
                transport_url=transport_url,
                database_connection=database_connection,
                disabled=disabled,
            )
        except CellMappingNotFound as exc:
            self.fail(str(exc))
            return 1
        except CellMappingExists as exc:
            self.fail(str(exc))
            return 3
        except Cell0CannotBeDisabled as exc:
            self.fail(str(exc))
            return 5
        except (InvalidCellDatabase, DatabaseError) as exc:
            self.fail(f"Unable to update CellMapping: {exc}")
            return 2
        for note in result.notes:
            self.say(note)
        changed = [
            what
            for what, given in (
                (f"name {name}", name),
                ("transport URL", transport_url),
                ("database connection", database_connection),
                # A note says the cell already was: nothing changed there.
                ("disabled" if disable else "enabled", (disable or enable) and not result.notes),
            )
            if given
        ]
        if changed:
            self.say(f"Updated cell {described(result.mapping)}: {', '.join(changed)}")
        else:
            self.say(f"Nothing to change in cell {described(result.mapping)}")
        return 0

    def _exit_code_of(self, call, codes: dict) -> int:
        """Run ``call()``: 0, or the exit code ``codes`` gives the exception it raised (message printed)."""
        try:
            call()
        except tuple(codes) as exc:
            self.fail(str(exc))
            return next(code for kind, code in codes.items() if isinstance(exc, kind))
        return 0

    def do_delete_cell(self, *, cell_uuid, force, **options):
        cell = selectors.cell_mapping_list().filter(uuid=cell_uuid).first()
        code = self._exit_code_of(
            lambda: services.cell_mapping_delete(uuid=cell_uuid, force=force),
            {CellMappingNotFound: 1, CellHasHosts: 2, CellHasInstances: 3, CellHasDeletedInstances: 4},
        )
        if code == 0:
            with_force = " with its host and instance mappings" if force else ""
            self.say(f"Deleted cell {described(cell) if cell else cell_uuid}{with_force}")
        return code

    # --- hosts ---------------------------------------------------------------------------------

    def do_discover_hosts(self, *, cell_uuid, verbose, strict, by_service, **options):
        try:
            # With --verbose, Nova's status lines are the plain progress.
            with self.progress(desc="Discovering hosts", unit="cells", lines=not verbose) as progress:

                def on_cell(cell, mapped):
                    found = "could not be searched" if mapped is None else quantity(mapped, "new host mapping")
                    progress.advance(line=f"{cell.name or cell.uuid}: {found}")

                result = services.hosts_discover(
                    cell_uuid=cell_uuid,
                    status_fn=progress.message if verbose else (lambda message: None),
                    on_start=progress.set_total,
                    on_cell=on_cell,
                    by_service=by_service,
                )
        except CellMappingNotFound as exc:
            self.fail(str(exc))
            return UNKNOWN_CELL
        except HostMappingExists as exc:
            self.fail(
                "ERROR: Duplicate host mapping was encountered. This command should be run once after all "
                "compute hosts have been deployed and should not be run in parallel. When run in parallel, "
                "the commands will collide with each other trying to map the same hosts in the database at "
                f"the same time. Error: {exc}"
            )
            return 2
        self.say(self._discover_summary(result))
        for uuid, error in result.failed_cells.items():
            self.fail(f"Unable to reach cell {uuid}: {error}")
        if result.failed_cells:
            return 3
        if strict:
            return 0 if result.created else 1
        return 0

    @staticmethod
    def _discover_summary(result) -> str:
        if not result.created:
            return "No unmapped compute hosts found: nothing to map."
        by_cell = {}
        for mapping in result.created:
            by_cell.setdefault(mapping.cell.name or mapping.cell.uuid, []).append(mapping.host)
        cells = "; ".join(f"{cell}: {', '.join(hosts)}" for cell, hosts in by_cell.items())
        if len(result.created) > 20:  # thousands of names help nobody: the count per cell
            cells = "; ".join(f"{cell}: {len(hosts)}" for cell, hosts in by_cell.items())
        mapped = quantity(len(result.created), "new compute host")
        return f"Mapped {mapped} in {quantity(len(by_cell), 'cell')} ({cells})"

    def do_list_hosts(self, *, cell_uuid, **options):
        cell = None
        if cell_uuid:
            try:
                cell = selectors.cell_mapping_get(uuid=cell_uuid)
            except CellMappingNotFound as exc:
                self.fail(str(exc))
                return 1
        table = PrettyTable(["Cell Name", "Cell UUID", "Hostname"])
        for host in selectors.host_mapping_list(cell=cell):
            table.add_row([host.cell.name or "", host.cell.uuid, host.host])
        self.say(str(table))
        return 0

    def do_delete_host(self, *, cell_uuid, host, **options):
        code = self._exit_code_of(
            lambda: services.host_mapping_delete(cell_uuid=cell_uuid, host=host),
            {CellMappingNotFound: 1, HostMappingNotFound: 2, HostInOtherCell: 3, HostHasInstances: 4},
        )
        if code == 0:
            cell = selectors.cell_mapping_get(uuid=cell_uuid)
            self.say(f"Deleted the host mapping of {host} from cell {described(cell)}")
        return code

    # --- instances -----------------------------------------------------------------------------

    def do_map_instances(self, *, cell_uuid, max_count, reset_marker, **options):
        try:
            max_count = parse_max_count(max_count)
        except ValueError:
            self.fail("Must supply a positive value for max-count")
            return 127
        try:
            cell = selectors.cell_mapping_get(uuid=cell_uuid)
            with self.progress(desc="Mapping instances", unit="instances") as progress:
                batches = 0

                def on_batch(looked_at: int, mapped: int) -> None:
                    nonlocal batches
                    batches += 1
                    line = f"Batch {batches}: {quantity(looked_at, 'instance')} looked at, {mapped} mapped"
                    progress.advance(looked_at, line=line)

                result = services.instances_map(
                    cell_uuid=cell_uuid,
                    max_count=max_count,
                    reset=reset_marker,
                    # Counting what is left costs a query: only for the bar's percentage.
                    on_start=progress.set_total if progress.on_terminal else None,
                    on_batch=on_batch,
                )
        except CellMappingNotFound as exc:
            self.fail(str(exc))
            return UNKNOWN_CELL
        except LockHeld:
            self.fail("Another map_instances is already running; try again when it has finished.")
            return LOCK_HELD
        self.say(self._map_summary(result, cell))
        return 0 if result.complete else 1

    @staticmethod
    def _map_summary(result, cell) -> str:
        label = described(cell)
        if not result.processed:
            return f"Nothing to map: cell {label} has no instances left to look at."
        if not result.mapped and result.complete:
            return f"Nothing to map: {quantity(result.processed, 'instance')} of cell {label}, all mapped already."
        line = (
            f"Mapped {quantity(result.mapped, 'instance')} of cell {label} "
            f"in {quantity(result.batches, 'batch', 'batches')}"
        )
        if result.processed > result.mapped:
            line += f" ({result.processed - result.mapped} already mapped)"
        return f"{line}; more remain: run it again until it exits 0." if not result.complete else f"{line}."

    def do_verify_instance(self, *, uuid, quiet, **options):
        result = services.instance_verify(uuid=uuid)
        if not quiet:
            for message in result.messages:
                self.say(message)
        return result.code
