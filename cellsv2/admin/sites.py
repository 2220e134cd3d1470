"""The operators' admin across tiers: the two admin sites.

API-database models are registered on Django's ``admin.site`` (``CellsV2AdminSite``) as usual.
Cell-database models are registered on ``cell_admin_site`` (mounted at ``/admin/cell/``), whose
every view runs inside ``target_cell()`` for the cell the operator picked: the cell switcher at
the top of each page, or ``?cell=<uuid or name>`` on any cell admin URL (remembered in the
session). Django's admin opens its write transactions with
``atomic(using=router.db_for_write(model))``, which the targeted cell answers, so edits (where a
model allows them) commit on the right database. A cell whose database cannot be reached gets an
error page (503) naming the cell and the error, never a 500.

Apps add pages with ``register_view`` (the operators' dashboard and actions, the cell site's
"instance by uuid" redirect); the framework knows none of them.
"""

import logging
from functools import update_wrapper
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db import DatabaseError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from cellsv2.admin.pagination import LargeTableAdminMixin
from cellsv2.cells import CellDatabaseUnusable, cell_mappings
from cellsv2.context import target_cell

logger = logging.getLogger(__name__)

SESSION_KEY = "cellsv2_admin_cell"


def error_line(exc: BaseException) -> str:
    """An exception as one line for an operator: its type and the first line of its text."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def cell_site_url(name: str, cell=None, *, args=(), query: dict | None = None) -> str:
    """The URL of a cell admin page (``celladmin:<name>``), switching to ``cell`` when given."""
    params = dict(query or {})
    if cell is not None:
        params = {"cell": getattr(cell, "uuid", cell), **params}
    url = reverse(f"celladmin:{name}", args=args)
    return f"{url}?{urlencode(params)}" if params else url


def instance_in_cell_url(cell, instance_uuid: str) -> str:
    """The change page of an instance in its cell (through a redirect that looks up its id there)."""
    return cell_site_url("instance_by_uuid", cell, args=[instance_uuid])


def tier_links() -> dict:
    """Links between the two sites for templates: ``{% url 'admin:...' %}`` on the cell site would
    resolve to the cell site (both are instances of the "admin" namespace), so these are reversed here.
    """
    return {
        "api_index": reverse("admin:index"),
        "dashboard": reverse("admin:cellsv2_dashboard"),
        "cell_index": reverse("celladmin:index"),
        "cell_mappings": reverse("admin:mappings_cellmapping_changelist"),
    }


class CellsV2AdminSite(admin.AdminSite):
    """The main admin (API database); apps add pages to it (the operators' dashboard and actions)."""

    site_header = "cellsv2 operators"
    site_title = "cellsv2"
    index_title = "API database"
    index_template = "admin/cellsv2_index.html"

    def __init__(self, name="admin"):
        super().__init__(name)
        self._extra_views = []

    def register_view(self, route: str, view, name: str) -> None:
        """Serve ``view(request, **kwargs)`` at ``route`` as a page of this site (staff only)."""
        self._extra_views.append((route, view, name))

    def get_urls(self):
        urls = [path(route, self.admin_view(view), name=name) for route, view, name in self._extra_views]
        return urls + super().get_urls()

    def each_context(self, request):
        context = super().each_context(request)
        if self.has_permission(request):
            context["cellsv2_links"] = tier_links()
            context["cellsv2_tier"] = "api"
        return context


class CellAdminSite(admin.AdminSite):
    """The admin of cell-database models; every view is targeted at the chosen cell."""

    site_header = "cellsv2 cells"
    site_title = "cellsv2 cells"
    index_title = "Cell databases"
    index_template = "admin/cellsv2_cell_index.html"

    def __init__(self, name="admin"):
        super().__init__(name)
        self._extra_views = []

    def register_view(self, route: str, view, name: str) -> None:
        """Serve ``view(request, **kwargs)`` at ``route`` as an admin page of this site (in the cell)."""
        self._extra_views.append((route, view, name))

    def get_urls(self):
        urls = [path(route, self.admin_view(view), name=name) for route, view, name in self._extra_views]
        return urls + super().get_urls()

    @staticmethod
    def find_cell(choice: str):
        """The CellMapping whose uuid or name is ``choice``, or None."""
        cells = cell_mappings()
        for cell in cells:
            if choice == cell.uuid:
                return cell
        named = [cell for cell in cells if cell.name == choice]
        return named[0] if len(named) == 1 else None

    def current_cell(self, request):
        """The CellMapping the operator is browsing (None when no cell is mapped)."""
        wanted = request.session.get(SESSION_KEY)
        if wanted:
            cell = self.find_cell(wanted)
            if cell is not None:
                return cell
        cells = cell_mappings()
        real = [c for c in cells if not c.is_cell0]
        return (real or cells or [None])[0]

    def _switch_cell(self, request):
        choice = request.GET["cell"]
        query = request.GET.copy()
        del query["cell"]
        cell = self.find_cell(choice)
        if cell is None:
            messages.error(request, f"There is no cell {choice!r}.")
        else:
            request.session[SESSION_KEY] = cell.uuid
        # The cell is a choice, not a filter: drop it so the changelist does not see it.
        return HttpResponseRedirect(f"{request.path}?{query.urlencode()}" if query else request.path)

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def wrapper(request, *args, **kwargs):
            if not self.has_permission(request):
                # The login redirect (for anonymous and non-staff users alike): no cell is read.
                return inner(request, *args, **kwargs)
            if "cell" in request.GET and request.method in ("GET", "HEAD"):
                return self._switch_cell(request)
            cell = self.current_cell(request)
            if cell is None:
                return inner(request, *args, **kwargs)
            request.cellsv2_cell = cell
            try:
                with target_cell(cell) as alias:
                    request.cellsv2_alias = alias
                    response = inner(request, *args, **kwargs)
                    # Template responses render lazily: render while the cell is still targeted.
                    if hasattr(response, "render") and not response.is_rendered:
                        response.render()
                    return response
            except (DatabaseError, CellDatabaseUnusable) as exc:
                logger.warning("Cell admin: cell %s failed: %s", cell.identity, exc)
                return self.cell_error_response(request, cell, exc)

        return update_wrapper(wrapper, view)

    def cell_error_response(self, request, cell, exc):
        """The page shown instead of a 500 when the chosen cell's database cannot be used."""
        context = {
            **self.each_context(request),
            "title": f"Cell {cell.name or cell.uuid} cannot be reached",
            "cell": cell,
            "error": error_line(exc),
        }
        response = TemplateResponse(request, "admin/cellsv2_cell_error.html", context, status=503)
        return response.render()

    def each_context(self, request):
        context = super().each_context(request)
        if self.has_permission(request):
            # Only staff see which cells exist (the login page shows nothing).
            context["cellsv2_links"] = tier_links()
            context["cellsv2_tier"] = "cell"
            context["cellsv2_cells"] = cell_mappings()
            context["cellsv2_current_cell"] = getattr(request, "cellsv2_cell", None) or self.current_cell(request)
        return context


cell_admin_site = CellAdminSite(name="celladmin")


class CellModelAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """Base of cell-model admins: read-only unless a subclass allows more; big-table pagination.

    Queries, saves, deletes and choice lists name the targeted cell's database explicitly too (as
    Django's MultiDBModelAdmin does; STYLE E11): the router answers the same, and Django's own
    write transaction, opened with ``router.db_for_write``, is on that database as well.
    """

    @staticmethod
    def cell_alias(request) -> str | None:
        return getattr(request, "cellsv2_alias", None)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        alias = self.cell_alias(request)
        return queryset.using(alias) if alias else queryset

    def save_model(self, request, obj, form, change):
        obj.save(using=self.cell_alias(request))

    def delete_model(self, request, obj):
        obj.delete(using=self.cell_alias(request))

    def delete_queryset(self, request, queryset):
        queryset.delete()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(db_field, request, using=self.cell_alias(request), **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return super().formfield_for_manytomany(db_field, request, using=self.cell_alias(request), **kwargs)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def register_cell_admin(*models):
    """``@register_cell_admin(Model)``: register a ModelAdmin on the cell admin site."""
    return admin.register(*models, site=cell_admin_site)
