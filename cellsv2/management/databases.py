"""Django's own database commands with the API database as their default.

Django's commands default ``--database`` to ``default``, which holds nothing here (DESIGN §2). The
commands below are Django's, with two changes: no ``--database`` means ``api`` (where users,
sessions and the admin log live), and ``--database`` also takes a cell by name or uuid
(``cell1``, ``cell-<uuid>``, a cell mapping's name), so an operator reaches a cell registered at
run time without knowing its alias.
"""

from django.core.management.base import CommandError
from django.db import DatabaseError, connections

from cellsv2.cells import CellDatabaseUnusable, alias_for_mapping, cell_mappings
from cellsv2.db import API_ALIAS, sql
from cellsv2.router import UNUSED_ALIASES


def database_alias(ref: str) -> str:
    """The connection alias for ``ref``: an alias from settings, or a cell mapping's name or uuid."""
    if ref in connections.settings and ref not in UNUSED_ALIASES:
        return ref
    try:
        mappings = cell_mappings()
    except DatabaseError as exc:
        raise CommandError(
            f"Unknown database {ref!r}; the API database, which names the cells, failed: {exc}"
        ) from None
    matches = [m for m in mappings if ref in (m.uuid, m.name)]
    if len(matches) > 1:
        raise CommandError(f"More than one cell is named {ref!r}: give its uuid")
    if not matches:
        known = sorted({API_ALIAS, *(m.name or m.uuid for m in mappings)})
        raise CommandError(f"Unknown database {ref!r}: use one of {', '.join(known)}")
    try:
        return alias_for_mapping(matches[0])
    except CellDatabaseUnusable as exc:
        raise CommandError(str(exc)) from None


class ApiDatabaseByDefault:
    """Mixin for a Django command with a ``--database`` option (dest ``database``)."""

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(database=API_ALIAS)
        for action in parser._actions:
            if action.dest == "database":
                # Django lists the settings aliases as choices; cells registered at run time and
                # cell names are resolved in execute() instead.
                action.choices = None
                action.help = "The database: api (default), or a cell by alias, name or uuid."

    def execute(self, *args, **options):
        options["database"] = self._database = database_alias(options.get("database") or API_ALIAS)
        return super().execute(*args, **options)

    def check_migrations(self):
        """Django's "unapplied migrations" warning, about the database this command uses."""
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(sql.connection(self._database))
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            self.stdout.write(
                self.style.NOTICE(
                    f"\nThe {self._database} database has {len(plan)} unapplied migration(s); "
                    "run 'python manage.py migrate' first."
                )
            )
