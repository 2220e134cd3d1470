"""The operators' admin across tiers.

API-database models are registered on Django's ``admin.site`` as usual. Cell-database models are
registered on ``cell_admin_site`` (mounted at ``/admin/cell/``), whose every view runs inside
``target_cell()`` for the cell the operator picked: the cell switcher at the top of each page, or
``?cell=<uuid or alias>`` on any cell admin URL (remembered in the session). Django's admin opens
its write transactions with ``router.db_for_write``, which the targeted cell answers, so edits
(where a model allows them) commit on the right database.
"""

from functools import update_wrapper

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from cellsv2.cells import CellNotFound, cell_alias, cell_mappings
from cellsv2.context import target_cell

SESSION_KEY = "cellsv2_admin_cell"


def _default_cell():
    cells = cell_mappings()
    real = [c for c in cells if not c.is_cell0]
    return (real or cells or [None])[0]


class CellAdminSite(admin.AdminSite):
    """The admin of cell-database models; every view is targeted at the chosen cell."""

    site_header = "cellsv2 cells"
    site_title = "cellsv2 cells"
    index_title = "Cell databases"

    def current_cell(self, request):
        """The CellMapping the operator is browsing (None when no cell is mapped)."""
        wanted = request.session.get(SESSION_KEY)
        for cell in cell_mappings():
            if wanted in (cell.uuid, cell.name):
                return cell
        return _default_cell()

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def wrapper(request, *args, **kwargs):
            if "cell" in request.GET:
                choice = request.GET["cell"]
                query = request.GET.copy()
                del query["cell"]
                try:
                    cell_alias(choice)
                except (CellNotFound, Exception):
                    messages.error(request, f"There is no cell {choice!r}.")
                else:
                    request.session[SESSION_KEY] = choice
                # The cell is a choice, not a filter: drop it so the changelist does not see it.
                return HttpResponseRedirect(f"{request.path}?{query.urlencode()}" if query else request.path)
            cell = self.current_cell(request)
            if cell is None:
                return inner(request, *args, **kwargs)
            request.cellsv2_cell = cell
            with target_cell(cell):
                response = inner(request, *args, **kwargs)
                # Template responses render lazily: render while the cell is still targeted.
                if hasattr(response, "render") and not response.is_rendered:
                    response.render()
                return response

        return update_wrapper(wrapper, view)

    def each_context(self, request):
        context = super().each_context(request)
        context["cellsv2_cells"] = cell_mappings()
        context["cellsv2_current_cell"] = getattr(request, "cellsv2_cell", None) or self.current_cell(request)
        return context


cell_admin_site = CellAdminSite(name="celladmin")


class CellModelAdmin(admin.ModelAdmin):
    """Base of cell-model admins: read-only unless a subclass allows more."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def register_cell_admin(*models):
    """``@register_cell_admin(Model)``: register a ModelAdmin on the cell admin site."""
    return admin.register(*models, site=cell_admin_site)
