"""Reads of cell, host and instance mappings (API database).

``instance_mapping_lookup`` (a server's show, update and delete, the metadata service) and
``instance_cell_lookup`` (console token validation) are on the hot path of every request that
names a server: they read with SQL statements written once from the models, not with querysets
built and compiled on every call, and go through the optional instance mapping cache
(``CELLSV2_MAPPING_CACHE_SECONDS``).
"""

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, QuerySet

from cellsv2.cells import cell_mappings
from cellsv2.db import API_ALIAS, RawColumns, sql
from mappings.exceptions import CellMappingNotFound, HostMappingNotFound
from mappings.models import CellMapping, HostMapping, InstanceMapping

# The project_id of map_instances' resume marker row (Nova's INSTANCE_MIGRATION_MARKER).
INSTANCE_MIGRATION_MARKER = "INSTANCE_MIGRATION_MARKER"


def cell_mapping_get(*, uuid: str) -> CellMapping:
    """The cell mapping with this uuid; raises CellMappingNotFound. Reads the API database."""
    mapping = CellMapping.objects.filter(uuid=uuid).first()
    if mapping is None:
        raise CellMappingNotFound(uuid)
    return mapping


def cell_mapping_find(*, ref: str) -> CellMapping:
    """A cell by uuid, else by (unique) name; raises CellMappingNotFound. Reads the API database."""
    mapping = CellMapping.objects.filter(uuid=ref).first()
    if mapping is None:
        named = list(CellMapping.objects.filter(name=ref)[:2])
        if len(named) == 1:
            mapping = named[0]
    if mapping is None:
        raise CellMappingNotFound(ref)
    return mapping


def cell_mapping_list() -> QuerySet[CellMapping]:
    """Every cell mapping ordered by id (Nova's CellMappingList.get_all). Reads the API database."""
    return CellMapping.objects.order_by("id")


def host_mapping_get(*, host: str) -> HostMapping:
    """The host mapping of ``host`` with its cell; raises HostMappingNotFound. Reads the API database."""
    mapping = HostMapping.objects.select_related("cell").filter(host=host).first()
    if mapping is None:
        raise HostMappingNotFound(host)
    return mapping


def host_mapping_list(*, cell: CellMapping | None = None) -> QuerySet[HostMapping]:
    """Host mappings (of one cell, or all) with their cells, ordered by host. Reads the API database."""
    mappings = HostMapping.objects.select_related("cell").order_by("host")
    return mappings.filter(cell=cell) if cell is not None else mappings


def instance_mapping_list(*, cell: CellMapping | None = None) -> QuerySet[InstanceMapping]:
    """Real instance mappings (the map_instances marker row excluded). Reads the API database."""
    mappings = InstanceMapping.objects.exclude(project_id=INSTANCE_MIGRATION_MARKER)
    return mappings.filter(cell=cell) if cell is not None else mappings


def instance_mapping_count_by_cell() -> dict[int | None, int]:
    """How many instance mappings name each cell, by cell id (None: no cell yet); the map_instances
    marker row left out. One grouped query on the API database.
    """
    counts = instance_mapping_list().order_by().values("cell_id").annotate(n=Count("id"))
    return {row["cell_id"]: row["n"] for row in counts}


# --- raw reads ----------------------------------------------------------------------------------


_MAPPING_COLUMNS = RawColumns(InstanceMapping._meta.concrete_fields) + RawColumns(CellMapping._meta.concrete_fields)
_MAPPING_LENGTH = len(InstanceMapping._meta.concrete_fields)
_MAPPING_WIDTH = len(_MAPPING_COLUMNS.fields)
_MAPPING_SQL = (
    f"SELECT {_MAPPING_COLUMNS.sql} "
    'FROM "instance_mappings" LEFT OUTER JOIN "cell_mappings" '
    'ON ("instance_mappings"."cell_id" = "cell_mappings"."id") '
    'WHERE "instance_mappings"."instance_uuid" = %s'
)


def _mapping_cache_key(uuid: str) -> str:
    return f"cellsv2:im:{uuid}"


def mapping_cache_forget(uuid: str) -> None:
    """Drop a cached instance mapping (every change to a mapping calls this). No query."""
    if settings.CELLSV2_MAPPING_CACHE_SECONDS > 0:
        cache.delete(_mapping_cache_key(uuid))


def instance_mapping_read(uuid: str) -> InstanceMapping | None:
    """The instance mapping of ``uuid`` with its cell (None for no row), never from the cache.

    One query on the API database; the objects are those ``select_related("cell")`` gives
    (``mapping.cell`` is loaded, None while the server has no cell).
    """
    row = sql.fetch_one(API_ALIAS, _MAPPING_SQL, (uuid,), columns=_MAPPING_COLUMNS, prepare=True)
    return None if row is None else _mapping_from_row(row)


class MappingJoin:
    """A read of one instance mapping (with its cell) and, in the same statement, columns of the
    caller's from API tables joined to it: ``select`` (SQL expressions, comma-separated) over
    ``joins`` (``LEFT OUTER JOIN ...`` clauses, which may name ``"instance_mappings"``). Build it
    once (module level): the statement is written at construction.
    """

    def __init__(self, *, select: str, joins: str = ""):
        self.statement = (
            f"SELECT {_MAPPING_COLUMNS.sql}, {select} "
            'FROM "instance_mappings" LEFT OUTER JOIN "cell_mappings" '
            f'ON ("instance_mappings"."cell_id" = "cell_mappings"."id") {joins} '
            'WHERE "instance_mappings"."instance_uuid" = %s'
        )

    def read(self, uuid: str) -> tuple[InstanceMapping | None, tuple]:
        """``(mapping, the caller's columns)``, or ``(None, ())`` without a mapping; never from the
        cache. One query on the API database."""
        # The mapping's columns come first: converting the row converts those, and leaves the rest.
        row = sql.fetch_one(API_ALIAS, self.statement, (uuid,), columns=_MAPPING_COLUMNS, prepare=True)
        if row is None:
            return None, ()
        return _mapping_from_row(row), tuple(row[_MAPPING_WIDTH:])


def _mapping_from_row(row) -> InstanceMapping:
    """An InstanceMapping with its cell (or None) cached, from a converted _MAPPING_COLUMNS row."""
    mapping = InstanceMapping.from_db(API_ALIAS, None, row[:_MAPPING_LENGTH])
    cell = None
    if mapping.cell_id is not None:
        cell = CellMapping.from_db(API_ALIAS, None, row[_MAPPING_LENGTH:_MAPPING_WIDTH])
    InstanceMapping.cell.field.set_cached_value(mapping, cell)
    return mapping


def instance_mapping_lookup(uuid: str) -> InstanceMapping | None:
    """The instance mapping with its cell; through the optional cache for placed servers.

    At most one query on the API database (none on a cache hit).
    """
    cached = _mapping_cached(uuid)
    if cached is not None:
        return cached
    return _mapping_cache_set(instance_mapping_read(uuid))


def instance_mapping_lookup_joined(uuid: str, join: MappingJoin) -> tuple[InstanceMapping | None, tuple | None]:
    """``instance_mapping_lookup`` with ``join``'s columns read in the same query: ``(mapping,
    columns)``; the columns are None when the mapping came from the cache (nothing was read), and
    ``()`` when there is no mapping. At most one query on the API database.
    """
    cached = _mapping_cached(uuid)
    if cached is not None:
        return cached, None
    mapping, columns = join.read(uuid)
    return _mapping_cache_set(mapping), columns


def _mapping_cached(uuid: str) -> InstanceMapping | None:
    if settings.CELLSV2_MAPPING_CACHE_SECONDS > 0:
        return cache.get(_mapping_cache_key(uuid))
    return None


def _mapping_cache_set(mapping: InstanceMapping | None) -> InstanceMapping | None:
    """Cache ``mapping`` if the cache is on and it may be cached; returns it."""
    ttl = settings.CELLSV2_MAPPING_CACHE_SECONDS
    # Only placed, live mappings are cached: a build request's mapping changes when it is placed.
    if ttl > 0 and mapping is not None and mapping.cell_id is not None and not mapping.queued_for_delete:
        cache.set(_mapping_cache_key(mapping.instance_uuid), mapping, ttl)
    return mapping


_CELL_ID_SQL = 'SELECT "cell_id" FROM "instance_mappings" WHERE "instance_uuid" = %s'


def instance_cell_lookup(instance_uuid: str) -> CellMapping | None:
    """The cell of an instance, or None (no instance mapping, or no cell yet).

    With the instance mapping cache on, through ``instance_mapping_lookup`` (no query on a hit).
    Otherwise one query on the API database for the mapping's cell id alone; the CellMapping is
    then the process's cell registry's (``cell_mappings()``, which every scatter-gather and the
    cell alias resolution already rely on), or, for a cell the registry does not know yet, read
    again with the mapping.
    """
    if settings.CELLSV2_MAPPING_CACHE_SECONDS > 0:
        mapping = instance_mapping_lookup(instance_uuid)
        return mapping.cell if mapping is not None else None
    row = sql.fetch_one(API_ALIAS, _CELL_ID_SQL, (instance_uuid,), prepare=True)
    if row is None or row[0] is None:
        return None
    for cell in cell_mappings():
        if cell.id == row[0]:
            return cell
    mapping = instance_mapping_read(instance_uuid)
    return mapping.cell if mapping is not None else None
