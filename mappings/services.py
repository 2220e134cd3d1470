"""Writes to cell, host and instance mappings: the operator tasks behind ``cell_v2`` and the admin.

Every function names the databases it touches. Writes that span the API database and a cell
write the API side in its own transaction and are safe to re-run after a crash at any point.
"""

import logging
import uuid as uuid_lib
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from cellsv2.cells import (
    CELL0_UUID,
    cells_cache_clear,
    configured_alias_for_url,
    configured_alias_url,
    configured_cell_aliases,
    database_url_check,
)
from cellsv2.db import API_ALIAS, sql
from cellsv2.dburls import InvalidDatabaseUrl, url_identity
from mappings.exceptions import (
    Cell0CannotBeDisabled,
    CellMappingExists,
    InvalidCellDatabase,
)
from mappings.models import CellMapping
from mappings.selectors import cell_mapping_get, cell_mapping_list

logger = logging.getLogger(__name__)

# Cells have no message queue in this product; Nova's "no RPC" transport marks that.
NO_TRANSPORT_URL = "none:///"


def _noop(message: str) -> None:
    return None


def cell_database_validate(url: str, *, check_connection: bool = True) -> None:
    """Raise InvalidCellDatabase unless ``url`` parses and (optionally) accepts a connection."""
    try:
        url_identity(url)
    except InvalidDatabaseUrl as exc:
        raise InvalidCellDatabase(str(exc)) from None
    if check_connection:
        try:
            alias = configured_alias_for_url(url)
            if alias is not None:
                # A mapping with this URL will use the database configured in settings
                # (alias_for_mapping), so that is the connection to check.
                sql.connection(alias).ensure_connection()
            else:
                database_url_check(url)
        except Exception as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidCellDatabase(f"Unable to connect to the cell database: {message}") from None


def _duplicate_of(*, database_connection: str | None, transport_url: str | None, exclude_uuid: str | None):
    """The uuid of another cell using the same database (or the same real transport URL), if any."""
    identity = url_identity(database_connection) if database_connection else None
    for cell in cell_mapping_list():
        if cell.uuid == exclude_uuid:
            continue
        if transport_url and transport_url != NO_TRANSPORT_URL and cell.transport_url == transport_url:
            return cell.uuid
        if identity is None or not cell.database_connection:
            continue
        try:
            if url_identity(cell.database_connection) == identity:
                return cell.uuid
        except InvalidDatabaseUrl:
            continue
    return None


def cell_mapping_create(
    *,
    name: str | None,
    database_connection: str,
    transport_url: str | None = None,
    disabled: bool = False,
    uuid: str | None = None,
    check_connection: bool = True,
) -> CellMapping:
    """Create a cell mapping in the API database after checking its database URL.

    Raises InvalidCellDatabase (malformed or unreachable) or CellMappingExists (another cell uses
    the same database or transport URL). Nothing is written when it raises.
    """
    cell_database_validate(database_connection, check_connection=check_connection)
    transport_url = transport_url or NO_TRANSPORT_URL
    with transaction.atomic(using=API_ALIAS):
        other = _duplicate_of(database_connection=database_connection, transport_url=transport_url, exclude_uuid=None)
        if other is not None:
            raise CellMappingExists(other)
        mapping = CellMapping.objects.create(
            uuid=uuid or str(uuid_lib.uuid4()),
            name=name,
            transport_url=transport_url,
            database_connection=database_connection,
            disabled=disabled,
        )
    cells_cache_clear()
    return mapping


def cell0_map(*, database_connection: str | None = None) -> tuple[CellMapping, bool]:
    """Create the cell0 mapping (API database) unless it exists; returns (mapping, created).

    Without a URL, cell0 uses the database configured as ``cell0`` in settings.
    """
    existing = CellMapping.objects.filter(uuid=CELL0_UUID).first()
    if existing is not None:
        return existing, False
    url = database_connection or configured_alias_url("cell0")
    try:
        mapping = cell_mapping_create(
            name="cell0", database_connection=url, transport_url=NO_TRANSPORT_URL, uuid=CELL0_UUID
        )
    except IntegrityError:
        # A concurrent map_cell0 won the race: that is "already set up" too.
        return CellMapping.objects.get(uuid=CELL0_UUID), False
    return mapping, True


def settings_cells_map(*, status_fn: Callable[[str], None] = _noop) -> list[CellMapping]:
    """Map every cell database declared in settings (except cell0) that no mapping uses yet.

    Each gets a cell mapping named after its alias. Returns the mappings, new or existing, in
    settings order. Reads and writes the API database.
    """
    mappings = []
    for alias in configured_cell_aliases():
        if alias == "cell0":
            continue
        url = configured_alias_url(alias)
        other = _duplicate_of(database_connection=url, transport_url=None, exclude_uuid=None)
        if other is not None:
            status_fn(f"Cell {alias} is already mapped as {other}")
            mappings.append(CellMapping.objects.get(uuid=other))
            continue
        mapping = cell_mapping_create(name=alias, database_connection=url)
        status_fn(f"Created cell {mapping.identity}")
        mappings.append(mapping)
    return mappings


@dataclass
class CellUpdate:
    mapping: CellMapping
    notes: list[str] = field(default_factory=list)


def cell_mapping_update(
    *,
    uuid: str,
    name: str | None = None,
    transport_url: str | None = None,
    database_connection: str | None = None,
    disabled: bool | None = None,
    check_connection: bool = True,
) -> CellUpdate:
    """Change a cell mapping in the API database; only the values given change.

    Raises CellMappingNotFound, InvalidCellDatabase, CellMappingExists or Cell0CannotBeDisabled;
    nothing is written when it raises.
    """
    with transaction.atomic(using=API_ALIAS):
        mapping = cell_mapping_get(uuid=uuid)
        result = CellUpdate(mapping=mapping)
        if database_connection:
            cell_database_validate(database_connection, check_connection=check_connection)
        other = _duplicate_of(
            database_connection=database_connection, transport_url=transport_url, exclude_uuid=mapping.uuid
        )
        if other is not None:
            raise CellMappingExists(other)
        if disabled is not None:
            if mapping.is_cell0:
                raise Cell0CannotBeDisabled()
            if bool(mapping.disabled) == disabled:
                result.notes.append(f"Cell {mapping.uuid} is already {'disabled' if disabled else 'enabled'}")
            mapping.disabled = disabled
        if name:
            mapping.name = name
        if transport_url:
            mapping.transport_url = transport_url
        if database_connection:
            mapping.database_connection = database_connection
        mapping.save()
    cells_cache_clear()
    return result
