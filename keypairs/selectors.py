"""Reads of key pairs: the API database first, then the live legacy rows of every cell.

While the move to the API database is under way a key can be in either place (or, after a crash
between the copy and the soft delete, in both: the API copy wins and the key is listed once).
A cell that cannot be reached is skipped with a warning: a down cell must not break key pairs.
Once no cell holds a live legacy key pair (``legacy_keypairs_present``) the cells are not asked.
A legacy row of a name its user deleted while its cell did not answer (``key_pair_deletions``)
is never shown again.
"""

from cellsv2.cells import CellRowsPresence, cells_answering
from cellsv2.db import API_ALIAS, CodePointOrder, sql
from keypairs.exceptions import KeypairNotFound, MarkerNotFound
from keypairs.models import KeyPair, KeyPairDeletion, LegacyKeyPair

_COUNT_SQL = f"SELECT COUNT(*) FROM {KeyPair._meta.db_table} WHERE user_id = %s"
# A show reads one row by its unique (user_id, name): plain SQL, since the ORM's query building
# cost more than the statement (cellsv2.db.sql).
_KEYPAIR_COLUMNS = sql.RawColumns(KeyPair._meta.concrete_fields)
_KEYPAIR_SQL = (
    f'SELECT {_KEYPAIR_COLUMNS.sql} FROM "{KeyPair._meta.db_table}" '
    f'WHERE "{KeyPair._meta.db_table}"."user_id" = %s AND "{KeyPair._meta.db_table}"."name" = %s'
)
# New key pairs only ever go to the API database and the online migration only takes rows out of
# the cells, so "none left" can only stop being true when a cell database joins.
legacy_keypairs_present = CellRowsPresence(
    lambda: LegacyKeyPair.objects.live().exists(), what="whether legacy key pairs remain"
)


def keypair_deleted_names(*, user_id: str) -> set[str]:
    """Names of the user's key pairs deleted while a cell did not answer (API database)."""
    return set(KeyPairDeletion.objects.filter(user_id=user_id).values_list("name", flat=True))


def _in_cells(user_id: str, fn, *, what: str) -> list:
    """``fn(legacy)`` in every cell that answered, in cell order, ``legacy`` being the user's live
    legacy rows but those of deleted names; none while no legacy key is left. One API query
    (the deleted names) and one per cell.
    """
    if not legacy_keypairs_present():
        return []
    deleted = keypair_deleted_names(user_id=user_id)

    def in_cell(cell):
        legacy = LegacyKeyPair.objects.live().filter(user_id=user_id)
        return fn(legacy.exclude(name__in=deleted) if deleted else legacy)

    return [result for _, result in cells_answering(in_cell, what=what)[0]]


def keypair_get(*, user_id: str, name: str) -> KeyPair | LegacyKeyPair:
    """A user's key pair by name: API database (one query), else a live legacy row in a cell;
    KeypairNotFound."""
    row = sql.fetch_one(API_ALIAS, _KEYPAIR_SQL, (user_id, name), columns=_KEYPAIR_COLUMNS, prepare=True)
    if row is not None:
        return KeyPair.from_db(API_ALIAS, None, row)
    for legacy in _in_cells(
        user_id, lambda rows: rows.filter(name=name).first(), what=f"key pair {name} of {user_id}"
    ):
        if legacy is not None:
            return legacy
    raise KeypairNotFound(name, user_id)


def keypair_list(*, user_id: str, limit: int | None = None, marker: str | None = None) -> list:
    """A user's key pairs sorted by name, API and legacy merged without duplicates.

    ``marker`` is a key name that must exist in either place (MarkerNotFound); the page holds the
    ``limit`` names after it. Each database is asked for at most ``limit`` rows.
    """
    # Every database pages in code point order, the order of the merge below (CodePointOrder).
    api = KeyPair.objects.filter(user_id=user_id).alias(sort_name=CodePointOrder("name")).order_by("sort_name")
    marker_found = marker is None or KeyPair.objects.filter(user_id=user_id, name=marker).exists()
    if marker is not None:
        api = api.filter(sort_name__gt=marker)
    if limit is not None:
        api = api[:limit]

    def in_cell(legacy):
        rows = legacy.alias(sort_name=CodePointOrder("name")).order_by("sort_name")
        seen_marker = False
        if marker is not None:
            seen_marker = legacy.filter(name=marker).exists()
            rows = rows.filter(sort_name__gt=marker)
        return list(rows[:limit] if limit is not None else rows), seen_marker

    by_name = {k.name: k for k in api}
    for rows, seen_marker in _in_cells(user_id, in_cell, what=f"the key pairs of {user_id}"):
        marker_found = marker_found or seen_marker
        for row in rows:
            by_name.setdefault(row.name, row)
    if not marker_found:
        raise MarkerNotFound(marker)
    merged = [by_name[name] for name in sorted(by_name)]
    return merged[:limit] if limit is not None else merged


def keypair_names(*, user_id: str) -> set[str]:
    """Every key name of a user in the API database and in the cells."""
    names = set(KeyPair.objects.filter(user_id=user_id).values_list("name", flat=True))

    def in_cell(legacy):
        return set(legacy.values_list("name", flat=True))

    for cell_names in _in_cells(user_id, in_cell, what=f"the key names of {user_id}"):
        names |= cell_names
    return names


def keypair_exists_in_cells(*, user_id: str, name: str) -> bool:
    """True when a live legacy key of that name (not deleted) exists in any cell that answers."""
    return any(
        _in_cells(user_id, lambda legacy: legacy.filter(name=name).exists(), what=f"key pair {name} of {user_id}")
    )


def keypair_count_in_api(*, user_id: str) -> int:
    """How many key pairs a user has in the API database (one query)."""
    # Counted by every import: one plain statement, without the ORM's query building.
    return sql.fetch_value(API_ALIAS, _COUNT_SQL, [user_id])


# The key_pairs quota counter, registered by KeypairsConfig.ready().
def keypair_count(project_id: str, user_id: str | None) -> int:
    """Quota usage of key_pairs: distinct key names of the user across the API database and cells.

    One ``COUNT`` in the API database once no cell holds legacy key pairs.
    """
    if not legacy_keypairs_present():
        return keypair_count_in_api(user_id=user_id)
    return len(keypair_names(user_id=user_id))
