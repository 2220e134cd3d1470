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
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from cellsv2.cells import CellNotFound, cell_alias, cell_mappings
from cellsv2.context import target_cell

SESSION_KEY = "cellsv2_admin_cell"


def _default_cell():
    cells = cell_mappings()
    real = [c for c in cells if not c.is_cell0]
    return (real or cells or [None])[0]


class CellsV2AdminSite(admin.AdminSite):
    """The main admin (API database) with the cells dashboard and its operator actions."""

    site_header = "cellsv2 operators"
    site_title = "cellsv2"
    index_title = "API database"
    index_template = "admin/cellsv2_index.html"

    def get_urls(self):
        urls = [
            path("dashboard/", self.admin_view(self.dashboard_view), name="cellsv2_dashboard"),
            path(
                "dashboard/run-migrations/",
                self.admin_view(self.run_migrations_view),
                name="cellsv2_run_migrations",
            ),
            path(
                "dashboard/discover-hosts/",
                self.admin_view(self.discover_hosts_view),
                name="cellsv2_discover_hosts",
            ),
            path(
                "dashboard/cells/<str:cell_uuid>/toggle/",
                self.admin_view(self.toggle_cell_view),
                name="cellsv2_toggle_cell",
            ),
        ]
        return urls + super().get_urls()

    def dashboard_view(self, request):
        """Every cell's state, the build queue and the online data migrations still pending."""
        from cellsv2 import dashboard

        context = {
            **self.each_context(request),
            "title": "Cells dashboard",
            "cells": dashboard.dashboard_cells(),
            "build_queue": dashboard.dashboard_build_queue(),
            "unmapped": dashboard.dashboard_unmapped_instances(),
            "migrations": dashboard.dashboard_pending_migrations(),
        }
        return TemplateResponse(request, "admin/cellsv2_dashboard.html", context)

    def _post_only(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.is_superuser:
            messages.error(request, "Only superusers may run operator actions.")
            return HttpResponseRedirect(reverse("admin:cellsv2_dashboard"))
        return None

    def run_migrations_view(self, request):
        """Run one batch of online data migrations (the same runner and lock as the command)."""
        refused = self._post_only(request)
        if refused:
            return refused
        from cellsv2.locks import LockHeld, runner_lock
        from cellsv2.online_migrations import online_migrations_run_batch, registered_migrations

        try:
            with runner_lock("online_data_migrations"):
                batch = online_migrations_run_batch(registered_migrations(), 1000)
        except LockHeld:
            messages.warning(request, "online_data_migrations is already running elsewhere.")
        else:
            summary = ", ".join(f"{n}: {t.done}/{t.found}" for n, t in batch.totals.items()) or "nothing to do"
            level = messages.ERROR if batch.failed else messages.SUCCESS
            messages.add_message(request, level, f"One batch ran (migrated/found): {summary}.")
            for name in batch.failed:
                messages.error(request, f"{name} failed; see the log.")
        return HttpResponseRedirect(reverse("admin:cellsv2_dashboard"))

    def discover_hosts_view(self, request):
        """Map unmapped compute hosts in every cell (cell_v2 discover_hosts)."""
        refused = self._post_only(request)
        if refused:
            return refused
        from mappings import services
        from mappings.exceptions import HostMappingExists

        try:
            result = services.hosts_discover()
        except HostMappingExists as exc:
            messages.error(request, f"Another discovery mapped the same host at the same time: {exc}")
        else:
            hosts = ", ".join(m.host for m in result.created) or "none"
            messages.success(request, f"Discovered hosts: {hosts}.")
            for uuid, error in result.failed_cells.items():
                messages.error(request, f"Cell {uuid} could not be reached: {error}")
        return HttpResponseRedirect(reverse("admin:cellsv2_dashboard"))

    def toggle_cell_view(self, request, cell_uuid):
        """Enable or disable a cell for scheduling (cell_v2 update_cell --enable/--disable)."""
        refused = self._post_only(request)
        if refused:
            return refused
        from mappings import services
        from mappings.exceptions import MappingError

        disable = request.POST.get("disable") == "1"
        try:
            result = services.cell_mapping_update(uuid=cell_uuid, disabled=disable)
        except MappingError as exc:
            messages.error(request, str(exc))
        else:
            for note in result.notes:
                messages.info(request, note)
            messages.success(request, f"Cell {result.mapping.identity} {'disabled' if disable else 'enabled'}.")
        return HttpResponseRedirect(reverse("admin:cellsv2_dashboard"))


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
