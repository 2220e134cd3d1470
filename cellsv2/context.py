"""``target_cell()``: the only way to aim cell models at a cell database.

The current cell is a ContextVar, so it is per thread and per asyncio task: two threads that
target different cells never see each other's choice. Nesting restores the outer cell on exit.
Like Nova's ``nova.context.target_cell`` it yields what the caller needs to use the cell (here,
the connection alias).
"""

from contextlib import contextmanager
from contextvars import ContextVar

_current_cell: ContextVar[str | None] = ContextVar("cellsv2_current_cell", default=None)


class NoCellTargeted(RuntimeError):
    """A cell model was used outside target_cell()."""


def current_cell_alias() -> str | None:
    """The database alias of the targeted cell, or None outside target_cell()."""
    return _current_cell.get()


@contextmanager
def target_cell(cell):
    """Route cell models to ``cell`` (a CellMapping, a cell uuid or a database alias) inside the block.

    Usable as a decorator too (``@target_cell("cell1")``). Yields the database alias.
    """
    # cellsv2.cells imports this module (its scatter-gather targets cells): imported here, no cycle.
    from cellsv2.cells import cell_alias

    token = _current_cell.set(cell_alias(cell))
    try:
        yield _current_cell.get()
    finally:
        _current_cell.reset(token)
