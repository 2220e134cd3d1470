"""The data layer's foundations: where each model lives, the API alias, and raw SQL.

- ``models``: ``ApiModel`` / ``CellModel`` (the tier each model declares; the router reads it),
  Nova's timestamps and integer soft delete, UUID columns, Nova's index names;
- ``sql``: the one module that opens cursors by alias for raw SQL, and ``RawColumns`` (raw rows
  converted to the ORM's values).
"""

from cellsv2.db.models import (
    ApiModel,
    CellModel,
    CodePointOrder,
    DbScope,
    NovaIndex,
    SoftDeleteMixin,
    SoftDeleteQuerySet,
    TimestampedModel,
    UUIDCharField,
    model_scope,
    shadow_model,
)
from cellsv2.db.sql import RawColumns, table_row_estimate

# The API database's alias, the one name every module uses (the cells' aliases come from
# settings and from cell_mappings: cellsv2.cells).
API_ALIAS = "api"

__all__ = [
    "API_ALIAS",
    "ApiModel",
    "CellModel",
    "CodePointOrder",
    "DbScope",
    "NovaIndex",
    "RawColumns",
    "SoftDeleteMixin",
    "SoftDeleteQuerySet",
    "TimestampedModel",
    "UUIDCharField",
    "model_scope",
    "shadow_model",
    "table_row_estimate",
]
