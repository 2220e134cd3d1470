"""Which migrations a database has applied: its schema version as the operator commands report it."""

from django.apps import apps
from django.db import router
from django.db.migrations.executor import MigrationExecutor

from cellsv2.db.sql import connection


def migration_heads(alias: str) -> dict[str, str]:
    """``{app label: the latest applied migration}`` of the database ``alias``, for the apps that have
    tables there (Django records every app's migrations in every database; a cell's schema is its
    cell apps'). Apps with none applied are left out.

    "Latest" is the leaf of the applied part of each app's migration graph. Reads the database's
    ``django_migrations`` table (one query) and the migration files.
    """
    executor = MigrationExecutor(connection(alias))
    applied = executor.loader.applied_migrations
    heads = {}
    graph = executor.loader.graph
    here = {
        config.label
        for config in apps.get_app_configs()
        if any(router.allow_migrate_model(alias, model) for model in config.get_models())
    }
    for app_label, name in applied:
        if app_label not in here:
            continue
        if (app_label, name) not in graph.nodes:
            continue  # applied once, squashed or removed since
        children = {child for child in graph.node_map[(app_label, name)].children if child.key[0] == app_label}
        if not any(child.key in applied for child in children):
            heads[app_label] = name
    return dict(sorted(heads.items()))


def pending_migrations(alias: str) -> int:
    """How many migrations the database ``alias`` has still to apply (reads its django_migrations)."""
    executor = MigrationExecutor(connection(alias))
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
