"""``manage.py migrate``: with no ``--database``, the API database and then every cell database.

The cells are those declared in settings plus those registered in ``cell_mappings`` (read once
the API database is current). Each database gets one summary line; ``-v 2`` shows Django's own
output. ``--database X`` is Django's migrate, unchanged.
"""

import sys
from contextlib import contextmanager

from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import DatabaseError, transaction
from django.db.migrations.executor import MigrationExecutor

from cellsv2.cells import alias_for_mapping, cell_mapping_model, cells_cache_clear, configured_cell_aliases
from cellsv2.db import API_ALIAS, sql
from cellsv2.management.databases import database_alias


class Command(DjangoMigrateCommand):
    help = "Migrate the API database and every cell database (or only --database X)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        for action in parser._actions:
            if action.dest == "database":
                action.default = None
                action.choices = None  # a cell by name or uuid too (resolved in handle)
                action.help = "Only this database: api, or a cell by alias, name or uuid (default: all)."

    def get_check_kwargs(self, options):
        kwargs = super().get_check_kwargs(options)
        if options["database"] is None:
            kwargs["databases"] = [API_ALIAS]
        return kwargs

    def handle(self, *args, **options):
        if options["database"] is not None:
            alias = database_alias(options["database"])
            with self._without_statement_timeout(alias):
                return super().handle(*args, **{**options, "database": alias})
        verbosity = options["verbosity"]
        failed = []
        for alias in self._aliases(failed):
            if alias is None:
                continue
            try:
                with self._without_statement_timeout(alias):
                    pending = self._pending(alias, options)
                    super().handle(*args, **{**options, "database": alias, "verbosity": max(verbosity - 1, 0)})
            except (DatabaseError, OSError) as exc:
                failed.append(alias)
                self.stderr.write(f"{alias}: failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
                continue
            if verbosity:
                if pending:
                    self.stdout.write(f"{alias}: applied {pending} migration{'s' if pending != 1 else ''}")
                else:
                    self.stdout.write(f"{alias}: up to date")
        if failed:
            self.stderr.write(f"Could not migrate: {', '.join(failed)}")
            sys.exit(1)
        return None

    def _aliases(self, failed: list[str]):
        """api first, then settings cells, then cells only known from cell_mappings.

        A cell that cannot be listed or resolved is added to ``failed`` (the run then exits 1).
        """
        done = set()
        for alias in [API_ALIAS, *configured_cell_aliases()]:
            done.add(alias)
            yield alias
        cells_cache_clear()
        try:
            mappings = list(cell_mapping_model().objects.order_by("id"))
        except DatabaseError as exc:
            self.stderr.write(f"Could not read cell_mappings: {exc}")
            failed.append("cell_mappings")
            return
        for mapping in mappings:
            try:
                alias = alias_for_mapping(mapping)
            except Exception as exc:
                self.stderr.write(f"cell {mapping.identity}: not migrated: {exc}")
                failed.append(mapping.identity)
                continue
            if alias not in done:
                done.add(alias)
                yield alias

    @staticmethod
    @contextmanager
    def _without_statement_timeout(alias: str):
        """A schema change may run longer than CELLSV2_CELL_QUERY_TIMEOUT allows a cell query.

        The session's own timeout comes back afterwards: a pooled connection goes back to the pool
        with it, and the next query on it must have the cell's deadline again. Behind PgBouncer in
        transaction mode a session setting would stay on whichever server connection ran it (and
        reach the next client there), so the database's whole migration runs in one transaction
        with ``SET LOCAL`` instead (PostgreSQL's schema changes are transactional)."""
        if not sql.is_postgresql(alias):
            yield
            return
        if settings.CELLSV2_DATABASE_LIMITS["pooler"]:
            with transaction.atomic(using=alias):
                sql.execute(alias, "SET LOCAL statement_timeout = 0")
                yield
            return
        sql.execute(alias, "SET statement_timeout = 0")
        try:
            yield
        finally:
            try:
                sql.execute(alias, "RESET statement_timeout")
            except DatabaseError:
                pass  # the connection broke (the error being raised says why); it is not reused

    def _pending(self, alias: str, options) -> int:
        if options.get("migration_name") or options.get("plan") or options.get("check_unapplied"):
            return 0
        connection = sql.connection(alias)
        executor = MigrationExecutor(connection)
        targets = executor.loader.graph.leaf_nodes()
        return len(executor.migration_plan(targets))
