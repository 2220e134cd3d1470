"""``manage.py api_db version``: Nova's ``nova-manage api_db version``, for the API database.

Prints the API database's schema: one line per app, ``<app> <latest applied migration>`` (Nova
prints its one alembic revision; Django keeps one per app). ``api_db sync`` is ``manage.py migrate
--database api``. Exit 1 when the API database cannot be reached.
"""

from django.db import DatabaseError

from cellsv2.admin.sites import error_line
from cellsv2.db import API_ALIAS
from cellsv2.db.schema import migration_heads
from cellsv2.management.base import OperatorCommand


class Command(OperatorCommand):
    help = "The API database's schema version (nova-manage api_db)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="<subcommand>")
        sub.add_parser("version", help="Print the API database's schema version")

    def run(self, *args, subcommand, **options):
        try:
            heads = migration_heads(API_ALIAS)
        except DatabaseError as exc:
            self.fail(f"The API database cannot be reached: {error_line(exc)}")
            return 1
        if not heads:
            self.say("(no migrations applied: run manage.py migrate)")
        for app, name in heads.items():
            self.say(f"{app} {name}")
        return 0
