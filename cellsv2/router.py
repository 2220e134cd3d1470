"""The one database router.

Topology: alias ``api`` holds every ``ApiModel`` and Django's own tables (auth, admin log,
sessions, content types); every other alias except the empty ``default`` is a cell database
(``cell0``, ``cell1``, ... from settings, ``cell-<uuid>`` for cells registered at run time) and
holds every ``CellModel``. A cell model used with no cell targeted raises ``NoCellTargeted``:
writing cell rows into the wrong database is the worst bug this project can have.
"""

from django.apps import apps

from cellsv2.context import NoCellTargeted, current_cell_alias
from cellsv2.db import API_ALIAS, DbScope, model_scope

UNUSED_ALIASES = frozenset({"default"})


def is_cell_alias(alias: str | None) -> bool:
    """True for a database alias that holds a cell (anything but ``api`` and ``default``)."""
    return bool(alias) and alias != API_ALIAS and alias not in UNUSED_ALIASES


class CellRouter:
    """Send API models to ``api`` and cell models to the targeted cell."""

    def _db_for(self, model, hints) -> str:
        if model_scope(model) is not DbScope.CELL:
            return API_ALIAS
        # An object loaded from a cell stays in that cell (and so do lookups through it),
        # whatever cell is targeted now.
        instance = hints.get("instance")
        if instance is not None and is_cell_alias(instance._state.db):
            return instance._state.db
        alias = current_cell_alias()
        if alias is None:
            raise NoCellTargeted(
                f"{model._meta.label} ({model._meta.db_table}) lives in a cell database; "
                "wrap the code in target_cell(cell) to choose one"
            )
        return alias

    def db_for_read(self, model, **hints):
        """The database a model is read from."""
        return self._db_for(model, hints)

    def db_for_write(self, model, **hints):
        """The database a model is written to."""
        return self._db_for(model, hints)

    def allow_relation(self, obj1, obj2, **hints):
        """Relations only between objects of the same database: none cross the API/cell boundary."""
        return obj1._state.db == obj2._state.db

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        """API tables only in ``api``, cell tables only in cells, nothing in ``default``."""
        if db in UNUSED_ALIASES:
            return False
        scope = hints.get("scope")
        if scope is None and model_name is not None:
            # allow_migrate receives historical models, which lack db_scope: use the real one.
            try:
                scope = model_scope(apps.get_model(app_label, model_name))
            except LookupError:
                scope = None
        scope = DbScope(scope) if scope is not None else None
        if scope is DbScope.CELL:
            return is_cell_alias(db)
        if scope is DbScope.API or model_name is not None:
            return db == API_ALIAS
        # A RunPython/RunSQL without a scope hint runs where its app's models live; an app with
        # models in both tiers must say which with hints={"scope": ...}.
        scopes = {model_scope(m) for m in apps.get_app_config(app_label).get_models()}
        if DbScope.CELL in scopes and len(scopes) > 1:
            raise NoCellTargeted(f"A {app_label} migration operation needs hints={{'scope': 'api' or 'cell'}}")
        if scopes == {DbScope.CELL}:
            return is_cell_alias(db)
        return db == API_ALIAS
