"""``manage.py console_tokens clean_expired [--host H] [--cell C]``: delete expired console tokens.

Nova's compute hosts clean their expired tokens in a periodic task; here an operator schedules
this command (cron, a systemd timer). It deletes, in every cell (or one), the tokens whose expiry
has passed, of one compute host or of all, and the serial port assignments that expired with
them, and prints how many rows went per cell. A cell that fails is reported and the others are
still cleaned.
Exit codes: 0 done; 1 a cell failed or the cell is unknown.
"""

from django.conf import settings
from prettytable import PrettyTable

from cellsv2.cells import cell_mappings
from cellsv2.management.base import OperatorCommand
from consoles import services
from mappings.exceptions import CellMappingNotFound
from mappings.selectors import cell_mapping_find


class Command(OperatorCommand):
    help = "Delete expired console tokens (and expired serial port assignments) from the cell databases."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="<subcommand>")
        p = sub.add_parser("clean_expired", help="Delete expired console tokens, per cell")
        p.add_argument("--host", help="Only the tokens of this compute host")
        p.add_argument("--cell", help="Only this cell (uuid or name); default: every cell")

    def run(self, *args, subcommand, **options):
        return getattr(self, f"do_{subcommand}")(**options)

    def do_clean_expired(self, *, host, cell, **options):
        if cell is not None:
            try:
                cells = [cell_mapping_find(ref=cell)]
            except CellMappingNotFound as exc:
                self.fail(str(exc))
                return 1
        else:
            cells = cell_mappings()
        if settings.CONSOLE_TOKENS_BACKEND == "cache":
            self.say("Console tokens are in the cache (deprecated backend), which expires them by itself.")
        table = PrettyTable(["Cell", "Expired tokens removed", "Serial port assignments freed"])
        failed = 0
        total = 0
        for mapping in cells:
            try:
                tokens = services.console_auth_tokens_delete_expired(cell=mapping, host=host)
                ports = services.serial_ports_delete_expired(cell=mapping, host=host)
            except Exception as exc:
                failed += 1
                table.add_row([mapping.identity, f"failed: {type(exc).__name__}", "-"])
                continue
            total += tokens
            table.add_row([mapping.identity, tokens, ports])
        self.say(str(table))
        where = f" of host {host}" if host else ""
        self.say(f"Removed {total} expired console token(s){where}.")
        if failed:
            self.fail(f"{failed} cell(s) could not be cleaned.")
            return 1
        return 0
