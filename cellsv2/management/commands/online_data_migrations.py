"""``manage.py online_data_migrations [--max-count N]``: Nova's ``nova-manage db online_data_migrations``.

Exit codes: 0 all done; 1 more work remains (only with --max-count); 2 a migration raised
(in the last batch, when it did no work or the run was unlimited); 3 another runner is active;
4 rows were set aside as conflicts an operator must resolve; 127 a bad --max-count.
"""

from prettytable import PrettyTable

from cellsv2 import online_migrations
from cellsv2.locks import LockHeld, runner_lock
from cellsv2.management.base import OperatorCommand, parse_max_count

BATCH_SIZE = online_migrations.BATCH_SIZE


def _pending(migrations) -> int:
    """Rows still to migrate, for the progress bar: each migration's read-only ``pending`` count.

    Raises (no total then) when a migration cannot count, or a cell does not answer.
    """
    counts = [fn.pending for fn in migrations]
    return sum(count() for count in counts)


class Command(OperatorCommand):
    help = "Run the online data migrations in batches until done (or one batch of --max-count)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-count", dest="max_count", metavar="<number>", help="Maximum number of objects to consider"
        )

    def run(self, *args, max_count=None, **options):
        try:
            max_count = parse_max_count(max_count)
        except ValueError:
            self.fail("Must supply a positive value for max_number")
            return 127
        migrations = online_migrations.registered_migrations()
        try:
            with runner_lock("online_data_migrations"):
                return self._run(migrations, max_count)
        except LockHeld:
            self.fail("online_data_migrations is already running elsewhere; try again when it has finished.")
            return 3

    def _run(self, migrations, max_count):
        unlimited = max_count is None
        if unlimited:
            max_count = BATCH_SIZE
            self.say(f"Running batches of {max_count} until complete")
        totals: dict[str, online_migrations.MigrationTotals] = {}
        expected = (lambda: _pending(migrations)) if unlimited else (lambda: min(_pending(migrations), max_count))
        with self.progress(desc="Migrating", unit="rows", total=expected) as progress:
            while True:
                batch = online_migrations.online_migrations_run_batch(migrations, max_count)
                # Nova's per-batch lines ("N rows matched query X, M migrated") are the plain progress.
                for message in batch.messages:
                    progress.message(message)
                for name, t in batch.totals.items():
                    total = totals.setdefault(name, online_migrations.MigrationTotals())
                    total.found += t.found
                    total.done += t.done
                    # Each run reports the conflicts still unresolved: the latest answer is the truth.
                    total.conflicts = t.conflicts
                progress.advance(batch.done)
                if not unlimited or batch.done == 0:
                    break
        self._print_table(migrations, totals)
        conflicts = sum(t.conflicts for t in totals.values())
        if batch.failed and (unlimited or not batch.done):
            self.fail("Some migrations failed unexpectedly. Check log for details.")
            return 2
        if conflicts:
            self.fail(f"{conflicts} rows were set aside as conflicts; resolve them, then run again.")
            return 4
        return 1 if batch.done else 0

    def _print_table(self, migrations, totals):
        with_conflicts = any(t.conflicts for t in totals.values())
        columns = ["Migration", "Total Needed", "Completed"] + (["Conflicts"] if with_conflicts else [])
        table = PrettyTable(columns)
        for name in sorted(fn.__name__ for fn in migrations):
            t = totals.get(name, online_migrations.MigrationTotals())
            table.add_row([name, t.found, t.done] + ([t.conflicts] if with_conflicts else []))
        self.say(str(table))
