"""Reads of key pairs: the API database first, then the live legacy rows of every cell.

While the move to the API database is under way a key can be in either place (or, after a crash
between the copy and the soft delete, in both: the API copy wins and the key is listed once).
A cell that cannot be reached is skipped with a warning: a down cell must not break key pairs.
"""

import logging

from cellsv2.cells import is_cell_failure, scatter_gather_all_cells
from cellsv2.quotas import quota_counter
from keypairs.exceptions import KeypairNotFound, MarkerNotFound
from keypairs.models import KeyPair, LegacyKeyPair

logger = logging.getLogger(__name__)


def _cell_results(fn) -> list[tuple[object, object]]:
    """[(cell mapping uuid, result)] of the cells that answered, in cell order."""
    answers = []
    for uuid, result in scatter_gather_all_cells(fn).items():
        if is_cell_failure(result):
            logger.warning("Key pairs of cell %s are not visible: %s", uuid, result)
            continue
        answers.append((uuid, result))
    return answers


def keypair_get(*, user_id: str, name: str) -> KeyPair | LegacyKeyPair:
    """A user's key pair by name: API database, else a live legacy row in a cell; KeypairNotFound."""
    keypair = KeyPair.objects.filter(user_id=user_id, name=name).first()
    if keypair is not None:
        return keypair

    def in_cell(cell):
        return LegacyKeyPair.objects.live().filter(user_id=user_id, name=name).first()

    for _, legacy in _cell_results(in_cell):
        if legacy is not None:
            return legacy
    raise KeypairNotFound(name, user_id)


def keypair_list(*, user_id: str, limit: int | None = None, marker: str | None = None) -> list:
    """A user's key pairs sorted by name, API and legacy merged without duplicates.

    ``marker`` is a key name that must exist in either place (MarkerNotFound); the page holds the
    ``limit`` names after it. Each database is asked for at most ``limit`` rows.
    """
    api = KeyPair.objects.filter(user_id=user_id).order_by("name")
    marker_found = marker is None or KeyPair.objects.filter(user_id=user_id, name=marker).exists()
    if marker is not None:
        api = api.filter(name__gt=marker)
    if limit is not None:
        api = api[:limit]

    def in_cell(cell):
        rows = LegacyKeyPair.objects.live().filter(user_id=user_id).order_by("name")
        seen_marker = False
        if marker is not None:
            seen_marker = LegacyKeyPair.objects.live().filter(user_id=user_id, name=marker).exists()
            rows = rows.filter(name__gt=marker)
        return list(rows[:limit] if limit is not None else rows), seen_marker

    by_name = {k.name: k for k in api}
    for _, (rows, seen_marker) in _cell_results(in_cell):
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

    def in_cell(cell):
        return set(LegacyKeyPair.objects.live().filter(user_id=user_id).values_list("name", flat=True))

    for _, cell_names in _cell_results(in_cell):
        names |= cell_names
    return names


def keypair_exists_in_cells(*, user_id: str, name: str) -> bool:
    """True when a live legacy key of that name exists in any cell that answers."""

    def in_cell(cell):
        return LegacyKeyPair.objects.live().filter(user_id=user_id, name=name).exists()

    return any(found for _, found in _cell_results(in_cell))


@quota_counter("key_pairs")
def keypair_count(project_id: str, user_id: str | None) -> int:
    """Quota usage of key_pairs: distinct key names of the user across the API database and cells."""
    return len(keypair_names(user_id=user_id))
