"""``manage.py flavors create|list|delete``: manage flavors from the operator's shell.

The same services as ``POST``/``GET``/``DELETE /v2.1/flavors`` (API database), acting as an admin.
Each subcommand says what it did (``create --verbose`` prints the new flavor's id alone on
stdout, for scripts, and the confirmation on stderr).
Exit codes: 0 done; 1 bad input (usage errors included) or the name or id is taken; 2 no such flavor.
"""

import sys

from django.core.management.base import CommandError
from prettytable import PrettyTable

from cellsv2.management.base import OperatorCommand, quantity
from flavors import selectors, services
from flavors.exceptions import FlavorExists, FlavorIdExists, FlavorNotFound, InvalidFlavorInput

BAD_INPUT = 1
NOT_FOUND = 2

IS_PUBLIC_CHOICES = {"true": True, "false": False, "none": None}


def _exit_1_on_usage_errors(parser) -> None:
    """A usage error is bad input: exit 1, since argparse's usual 2 means "not found" here."""

    def error(message):
        if parser.called_from_command_line:
            parser.print_usage(sys.stderr)
            parser.exit(BAD_INPUT, f"{parser.prog}: error: {message}\n")
        raise CommandError(f"Error: {message}", returncode=BAD_INPUT)

    parser.error = error


class Command(OperatorCommand):
    help = "Create, list and delete flavors."

    def add_arguments(self, parser):
        _exit_1_on_usage_errors(parser)
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="<subcommand>")

        p = sub.add_parser("create", help="Create a flavor")
        p.add_argument("name", help="Unique flavor name")
        p.add_argument("--id", dest="flavorid", help="Unique flavor id (default: a new uuid)")
        p.add_argument("--ram", required=True, help="Memory in MB (at least 1)")
        p.add_argument("--vcpus", required=True, help="Number of vCPUs (at least 1)")
        p.add_argument("--disk", default="0", help="Root disk in GB (default 0)")
        p.add_argument("--ephemeral", default="0", help="Ephemeral disk in GB (default 0)")
        p.add_argument("--swap", default="0", help="Swap in MB (default 0)")
        p.add_argument("--rxtx-factor", dest="rxtx_factor", default="1.0", help="RX/TX factor (default 1.0)")
        visibility = p.add_mutually_exclusive_group()
        visibility.add_argument("--public", dest="is_public", action="store_true", default=True, help="(default)")
        visibility.add_argument("--private", dest="is_public", action="store_false", help="Only for granted projects")
        p.add_argument("--description", help="Free-text description")
        p.add_argument("--verbose", action="store_true", help="Print the new flavor's id")
        _exit_1_on_usage_errors(p)

        p = sub.add_parser("list", help="List flavors (disabled ones included)")
        p.add_argument(
            "--is-public",
            dest="is_public",
            choices=sorted(IS_PUBLIC_CHOICES),
            default="none",
            help="Public flavors only (true), private ones only (false) or both (none, the default)",
        )
        _exit_1_on_usage_errors(p)

        p = sub.add_parser("delete", help="Delete a flavor (servers keep their copy of it)")
        p.add_argument("flavorid", help="The flavor id")
        _exit_1_on_usage_errors(p)

    def run(self, *args, subcommand, **options):
        return getattr(self, f"do_{subcommand}")(**options)

    def do_create(
        self,
        *,
        name,
        flavorid,
        ram,
        vcpus,
        disk,
        ephemeral,
        swap,
        rxtx_factor,
        is_public,
        description,
        verbose,
        **options,
    ):
        try:
            flavor = services.flavor_create(
                name=name,
                flavorid=flavorid,
                memory_mb=ram,
                vcpus=vcpus,
                root_gb=disk,
                ephemeral_gb=ephemeral,
                swap=swap,
                rxtx_factor=rxtx_factor,
                is_public=is_public,
                description=description,
            )
        except (InvalidFlavorInput, FlavorExists, FlavorIdExists) as exc:
            self.fail(str(exc))
            return BAD_INPUT
        sizes = [quantity(flavor.vcpus, "vCPU"), f"{flavor.memory_mb} MB RAM", f"{flavor.root_gb or 0} GB disk"]
        sizes += [f"{flavor.ephemeral_gb} GB ephemeral"] if flavor.ephemeral_gb else []
        sizes += [f"{flavor.swap} MB swap"] if flavor.swap else []
        visibility = "public" if flavor.is_public else "private"
        done = f"Created {visibility} flavor {flavor.name} (id {flavor.flavorid}): {', '.join(sizes)}"
        if verbose:
            self.say(flavor.flavorid)
            self.note(done)
        else:
            self.say(done)
        return 0

    def do_list(self, *, is_public, **options):
        table = PrettyTable(
            ["ID", "Name", "RAM", "Disk", "Ephemeral", "Swap", "VCPUs", "RXTX Factor", "Is Public", "Disabled"]
        )
        table.align["Name"] = "l"
        for flavor in selectors.flavor_list(is_admin=True, is_public=IS_PUBLIC_CHOICES[is_public]):
            table.add_row(
                [
                    flavor.flavorid,
                    flavor.name,
                    flavor.memory_mb,
                    flavor.root_gb or 0,
                    flavor.ephemeral_gb or 0,
                    flavor.swap or 0,
                    flavor.vcpus,
                    flavor.rxtx_factor,
                    bool(flavor.is_public),
                    bool(flavor.disabled),
                ]
            )
        self.say(str(table))
        return 0

    def do_delete(self, *, flavorid, **options):
        try:
            flavor = services.flavor_delete(flavorid=flavorid)
        except FlavorNotFound as exc:
            self.fail(str(exc))
            return NOT_FOUND
        self.say(f"Deleted flavor {flavor.name} (id {flavor.flavorid})")
        return 0
