"""Reads of cell, host and instance mappings (API database)."""

from django.db.models import QuerySet

from mappings.exceptions import CellMappingNotFound, HostMappingNotFound, InstanceMappingNotFound
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


def instance_mapping_get(*, instance_uuid: str) -> InstanceMapping:
    """The instance mapping of an instance with its cell; raises InstanceMappingNotFound. API database."""
    mapping = InstanceMapping.objects.select_related("cell").filter(instance_uuid=instance_uuid).first()
    if mapping is None:
        raise InstanceMappingNotFound(instance_uuid)
    return mapping


def instance_mapping_list(*, cell: CellMapping | None = None) -> QuerySet[InstanceMapping]:
    """Real instance mappings (the map_instances marker row excluded). Reads the API database."""
    mappings = InstanceMapping.objects.exclude(project_id=INSTANCE_MIGRATION_MARKER)
    return mappings.filter(cell=cell) if cell is not None else mappings
