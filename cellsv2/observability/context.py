"""The fields every log line carries while a request (or a conductor placement) is in flight.

One ContextVar holds a dict: the request middleware sets a fresh one per request (request id,
method, route) and fills in the caller (user, project) once the compute API has authenticated
it, then status and duration for the access line. scatter-gather runs each cell's work in a copy
of the caller's context (cellsv2.cells), so lines logged by pool threads carry the same fields.
"""

from contextlib import contextmanager
from contextvars import ContextVar

_fields: ContextVar[dict | None] = ContextVar("cellsv2_log_fields", default=None)

# The order fields appear in a JSON line (anything else follows in the order it was set).
FIELDS = ("request_id", "user", "project", "method", "route", "status", "duration_ms", "instance_uuid")


def log_fields() -> dict:
    """The fields of what is in flight in this context (empty outside a request or placement)."""
    return _fields.get() or {}


def log_fields_update(**fields) -> None:
    """Add fields to what is in flight (no-op outside a request or placement)."""
    current = _fields.get()
    if current is not None:
        current.update(fields)


@contextmanager
def log_fields_bound(**fields):
    """Inside the block every log line of this context (and of scatter-gather threads) carries
    ``fields`` on top of the outer ones; yields the dict, which the block may add to."""
    bound = {**log_fields(), **fields}
    token = _fields.set(bound)
    try:
        yield bound
    finally:
        _fields.reset(token)
