"""The admin's framework: the two sites, and what every app's admin.py shares.

- ``sites``: ``CellsV2AdminSite`` (Django's ``admin.site``: the API database) and
  ``cell_admin_site`` (cell databases, one cell at a time), ``CellModelAdmin``;
- ``base``: read-only bases, filters, how values read in lists;
- ``pagination``: big tables without a full ``COUNT(*)`` per page;
- ``quotas``: the quota engine's own models.

Django builds its default site lazily from ``CellsV2AdminConfig.default_site``
(``cellsv2.admin.sites.CellsV2AdminSite``). Nothing in this package registers a model while it is
imported: importing it is how Django finds the site class, and a model registered then would land
on a site instance Django replaces. ``quotas`` is imported from ``Cellsv2Config.ready()``.
"""

from cellsv2.admin.base import (
    CellListFilter,
    ReadOnlyAdmin,
    ReadOnlyInline,
    SoftDeleteFilter,
    Usage,
    cell_label,
    clipped,
    id_column,
    short_id,
    soft_delete_state,
    state_badge,
    uuid_display,
    when,
)
from cellsv2.admin.pagination import EstimatedCountPaginator, LargeTableAdminMixin
from cellsv2.admin.sites import (
    CellAdminSite,
    CellModelAdmin,
    CellsV2AdminSite,
    cell_admin_site,
    cell_site_url,
    error_line,
    instance_in_cell_url,
    register_cell_admin,
    tier_links,
)
from cellsv2.db import table_row_estimate

__all__ = [
    "CellAdminSite",
    "CellListFilter",
    "CellModelAdmin",
    "CellsV2AdminSite",
    "EstimatedCountPaginator",
    "LargeTableAdminMixin",
    "ReadOnlyAdmin",
    "ReadOnlyInline",
    "SoftDeleteFilter",
    "Usage",
    "cell_admin_site",
    "cell_label",
    "cell_site_url",
    "clipped",
    "error_line",
    "id_column",
    "instance_in_cell_url",
    "register_cell_admin",
    "short_id",
    "soft_delete_state",
    "state_badge",
    "table_row_estimate",
    "tier_links",
    "uuid_display",
    "when",
]
