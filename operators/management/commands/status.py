"""``manage.py status upgrade check [--json]``: Nova's ``nova-status upgrade check``.

Prints oslo.upgradecheck's table (or its JSON with ``--json``) of every check in
operators/upgrade_checks.py. Exit codes as Nova's: 0 every check passed, 1 a warning, 2 a
failure, 255 the checks themselves could not run (the API database cannot be read: oslo.upgradecheck
prints ``Error:`` and the traceback on stdout; here ``Error:`` and one line). ``upgrade_check`` is
accepted for ``upgrade check``.
"""

import json
import textwrap

from prettytable import HRuleStyle, PrettyTable

from cellsv2.management.base import UNEXPECTED_ERROR, OperatorCommand
from operators.upgrade_checks import LABELS, Code, UpgradeChecksCannotRun, upgrade_checks_run

TITLE = "Upgrade Check Results"


def _details(result) -> str | None:
    # oslo.upgradecheck wraps the details at 60 characters, later lines indented.
    if result.details is None:
        return None
    return "\n".join(textwrap.wrap(result.details, 60, subsequent_indent="  "))


class Command(OperatorCommand):
    help = "Check the deployment the way nova-status upgrade check does (exit 0 / 1 warning / 2 failure)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="category", required=True, metavar="<category>")
        upgrade = sub.add_parser("upgrade", help="Checks to run before an upgrade (and any time)")
        upgrade.add_argument("action", choices=["check"], help="check")
        upgrade.add_argument("--json", action="store_true", help="Print the results as JSON")
        checks = sub.add_parser("upgrade_check", help="The same as 'upgrade check'")
        checks.add_argument("--json", action="store_true", help="Print the results as JSON")

    def run(self, *args, json: bool = False, **options):  # noqa: A002 - the option's name
        try:
            results = upgrade_checks_run()
        except UpgradeChecksCannotRun as exc:
            self.say(f"Error: {exc}")
            return UNEXPECTED_ERROR
        code = max((result.code for _, result in results), default=Code.SUCCESS)
        if json:
            self.say(self._json(results))
        else:
            self.say(self._table(results))
        return int(code)

    @staticmethod
    def _json(results) -> str:
        checks = [{"check": name, "result": int(r.code), "details": r.details} for name, r in results]
        return json.dumps({"name": TITLE, "checks": checks})

    @staticmethod
    def _table(results) -> str:
        table = PrettyTable([TITLE], hrules=HRuleStyle.ALL)
        table.align = "l"
        for name, result in results:
            table.add_row([f"Check: {name}\nResult: {LABELS[result.code]}\nDetails: {_details(result)}"])
        return str(table)
