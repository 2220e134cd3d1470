"""``manage.py keypair_conflicts list|resolve``: key pairs the move to the API database set aside.

When a cell holds a key pair whose user and name match a *different* key in the API database,
``migrate_keypairs_to_api_db`` keeps the API key and quarantines the cell copy here;
``online_data_migrations`` exits 4 until every conflict is resolved.
Exit codes: 0 done; 1 nothing to resolve with that id, or it cannot be resolved that way.
"""

from prettytable import PrettyTable

from cellsv2.management.base import OperatorCommand
from keypairs import services
from keypairs.exceptions import ConflictNotFound, ConflictUnresolvable
from keypairs.models import KeyPair, KeyPairConflict


class Command(OperatorCommand):
    help = "List and resolve key pair conflicts found while moving key pairs to the API database."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="<subcommand>")
        p = sub.add_parser("list", help="Unresolved conflicts (--all for resolved ones too)")
        p.add_argument("--all", action="store_true")
        p = sub.add_parser("resolve", help="Resolve one conflict")
        p.add_argument("id", type=int)
        p.add_argument("--keep", choices=["api", "cell"], required=True, help="Which copy becomes the key pair")

    def run(self, *args, subcommand, **options):
        return getattr(self, f"do_{subcommand}")(**options)

    def do_list(self, *, all, **options):
        conflicts = KeyPairConflict.objects.order_by("id")
        if not all:
            conflicts = conflicts.filter(resolved_at=None)
        table = PrettyTable(["Id", "User", "Name", "Cell", "Cell fingerprint", "API fingerprint", "Resolution"])
        for conflict in conflicts:
            api = KeyPair.objects.filter(user_id=conflict.user_id, name=conflict.name).first()
            table.add_row(
                [
                    conflict.id,
                    conflict.user_id,
                    conflict.name,
                    conflict.cell_uuid,
                    conflict.fingerprint,
                    api.fingerprint if api else "-",
                    conflict.resolution or "unresolved",
                ]
            )
        self.say(str(table))
        return 0

    def do_resolve(self, *, id, keep, **options):
        try:
            services.keypair_conflict_resolve(conflict_id=id, keep=keep)
        except (ConflictNotFound, ConflictUnresolvable) as exc:
            self.fail(str(exc))
            return 1
        self.say(f"Conflict {id} resolved: kept the {keep} copy.")
        return 0
