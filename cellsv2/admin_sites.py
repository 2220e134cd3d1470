"""The operators' admin across tiers: the two admin sites and what every app's admin.py shares.

API-database models are registered on Django's ``admin.site`` (``CellsV2AdminSite``, with the cells
dashboard at ``/admin/dashboard/``) as usual. Cell-database models are registered on
``cell_admin_site`` (mounted at ``/admin/cell/``), whose every view runs inside ``target_cell()``
for the cell the operator picked: the cell switcher at the top of each page, or
``?cell=<uuid or name>`` on any cell admin URL (remembered in the session). Django's admin opens its
write transactions with ``atomic(using=router.db_for_write(model))``, which the targeted cell
answers, so edits (where a model allows them) commit on the right database. A cell whose database
cannot be reached gets an error page (503) naming the cell and the error, never a 500.

The admin stays thin: operator actions call the services the ``cell_v2`` and
``online_data_migrations`` commands call, and report their outcome with messages.

Big tables (instance mappings, instances, key pairs, build requests, every cell table) use
``LargeTableAdminMixin``: no full ``COUNT(*)`` per page view (PostgreSQL's planner estimate for an
unfiltered list, a cached count otherwise), no facet counts, no second count of the whole table.
"""

import hashlib
import logging
from functools import update_wrapper
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import DatabaseError, connections
from django.db.models import QuerySet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from cellsv2.cells import CellDatabaseUnusable, cell_mappings
from cellsv2.context import target_cell

logger = logging.getLogger(__name__)

SESSION_KEY = "cellsv2_admin_cell"
# instance_verify asks a cell per instance: an action over more rows than this is refused.
VERIFY_LIMIT = 100


# --- pagination of big tables -------------------------------------------------------------------


def table_row_estimate(alias: str, table: str) -> int | None:
    """PostgreSQL's planner estimate of a table's rows (pg_class.reltuples), None elsewhere or unknown.

    Costs one catalog lookup whatever the table's size; -1 (never analysed) reads as unknown.
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


class EstimatedCountPaginator(Paginator):
    """A paginator that does not count a big table on every page view.

    - An unfiltered list on PostgreSQL uses the planner's estimate (``reltuples``) once it is at
      least ``estimate_threshold`` rows: one catalog lookup instead of a scan of 100k rows.
    - Any other list counts exactly, and a count of at least ``estimate_threshold`` rows is cached
      for ``cache_seconds`` (keyed by database and query), so paging through a big filtered list
      counts it once. Small counts are cheap and never cached, so they are never stale.

    ``is_estimate`` says when the count shown is an estimate or possibly stale (the pagination
    template then says "about").
    """

    estimate_threshold = 10_000
    cache_seconds = 300

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, unfiltered=False):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.unfiltered = unfiltered
        self.is_estimate = False

    @staticmethod
    def _cache_key(queryset: QuerySet) -> str:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
        digest = hashlib.sha256(repr((sql, params)).encode()).hexdigest()
        return f"cellsv2:admin-count:{queryset.db}:{digest}"

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if self.unfiltered:
            estimate = table_row_estimate(queryset.db, queryset.model._meta.db_table)
            if estimate is not None and estimate >= self.estimate_threshold:
                self.is_estimate = True
                return estimate
        key = self._cache_key(queryset)
        cached = cache.get(key)
        if cached is not None:
            self.is_estimate = True
            return cached
        count = queryset.count()
        if count >= self.estimate_threshold:
            cache.set(key, count, self.cache_seconds)
        return count


class LargeTableAdminMixin:
    """ModelAdmin settings for tables that may hold 100k rows or more."""

    paginator = EstimatedCountPaginator
    # Django's "N results (M total)" would count the whole table on every filtered view.
    show_full_result_count = False
    # Facets count every filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        # Unfiltered: the changelist added no condition (search, filter) to the admin's own queryset.
        unfiltered = queryset.query.where == self.get_queryset(request).query.where
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, unfiltered=unfiltered)


class SoftDeleteFilter(admin.SimpleListFilter):
    """Live or soft-deleted rows (``deleted`` holds the row's id once deleted: no DISTINCT over it)."""

    title = "state"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return (("no", "live"), ("only", "soft-deleted"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(deleted=0)
        if self.value() == "only":
            return queryset.exclude(deleted=0)
        return queryset


# --- how values read in lists ----------------------------------------------------------------------
# Lists must fit a 1400 px screen beside the navigation and filter sidebars: a uuid is shown whole
# in one monospace line (the static CSS styles its span), long ids that are not the row's own
# (project, user, cell) by their first characters with the whole in a tooltip, free text cut with
# an ellipsis, and states as coloured words rather than Django's tick and cross icons.


def uuid_display(value):
    """A uuid, whole, monospace, on one line ("-" when empty)."""
    if not value:
        return "-"
    return format_html('<span class="cellsv2-uuid">{}</span>', value)


def short_id(value, length: int = 8):
    """A long id cut to its first ``length`` characters; the whole id in a tooltip ("-" when empty)."""
    if not value:
        return "-"
    value = str(value)
    if len(value) <= length + 1:
        return format_html('<span class="cellsv2-id">{}</span>', value)
    return format_html('<span class="cellsv2-id" title="{}">{}…</span>', value, value[:length])


def clipped(value, width_em: int = 16):
    """Free text on one line, cut with an ellipsis past ``width_em``; the whole text in a tooltip."""
    if value in (None, ""):
        return "-"
    return format_html(
        '<span class="cellsv2-clip" style="max-width:{}em" title="{}">{}</span>', width_em, value, value
    )


def state_badge(good: bool, good_label: str, bad_label: str, *, bad_is_error: bool = False):
    """A state as an operator reads it: a green word when good, grey (or red) otherwise."""
    if good:
        return format_html('<span class="cellsv2-badge cellsv2-good">{}</span>', good_label)
    kind = "cellsv2-bad" if bad_is_error else "cellsv2-off"
    return format_html('<span class="cellsv2-badge {}">{}</span>', kind, bad_label)


def cell_label(cell):
    """A cell by its name (its uuid in a tooltip), or by its short uuid when it has no name."""
    if cell is None:
        return "-"
    if cell.name:
        return format_html('<span class="cellsv2-cell" title="{}">{}</span>', cell.uuid, cell.name)
    return short_id(cell.uuid)


def when(value):
    """A date and time in the operator's time zone, short and on one line ("2026-11-22 04:51")."""
    if value is None:
        return "-"
    return format_html(
        '<span class="cellsv2-nowrap" title="{}">{}</span>',
        value.isoformat(),
        timezone.localtime(value).strftime("%Y-%m-%d %H:%M"),
    )


def id_column(field: str, description: str | None = None, *, length: int = 8):
    """A list_display column showing ``field`` with :func:`short_id` (sortable by the field)."""

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(obj):
        return short_id(getattr(obj, field), length)

    column.__name__ = f"{field}_short"
    return column


@admin.display(description="state", ordering="deleted")
def soft_delete_state(obj):
    """A soft-deletable row's state: live, or soft-deleted (``deleted`` holds the row id then)."""
    return state_badge(not obj.deleted, "live", "deleted")


class CellListFilter(admin.RelatedFieldListFilter):
    """Filter by cell, each named as an operator reads it ("cell1 d02ad10b…", the uuid in a tooltip).

    Django's default labels are ``str(cell)``, Nova's ``uuid(name)`` identity: long and hard to
    scan in a sidebar.
    """

    def field_choices(self, field, request, model_admin):
        cells = field.related_model._default_manager.order_by("id")
        return [
            (cell.pk, format_html("{} {}", cell.name, short_id(cell.uuid)) if cell.name else short_id(cell.uuid))
            for cell in cells
        ]


# --- links across tiers ---------------------------------------------------------------------------


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


def instance_location_link(instance_uuid: str):
    """Where an instance is, as HTML: a link to it in its cell, to its build request, or why neither.

    Reads the API database only (its mapping, else its build request): one or two queries.
    """
    from mappings.models import InstanceMapping
    from servers.models import BuildRequest

    mapping = InstanceMapping.objects.select_related("cell").filter(instance_uuid=instance_uuid).first()
    if mapping is not None and mapping.cell is not None:
        return format_html(
            '<a class="instance-link" href="{}">in {}</a>',
            instance_in_cell_url(mapping.cell, instance_uuid),
            mapping.cell.name or mapping.cell.uuid,
        )
    build = BuildRequest.objects.filter(instance_uuid=instance_uuid).values_list("pk", flat=True).first()
    if build is not None:
        return format_html(
            '<a href="{}">still a build request</a>', reverse("admin:servers_buildrequest_change", args=[build])
        )
    if mapping is not None:
        return "mapped to no cell, and no build request (an interrupted build: verify it)"
    return "no instance mapping (deleted and archived, or never mapped)"


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


def _error_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


# --- the main site: API database, dashboard, operator actions --------------------------------------


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
                "dashboard/run-migrations/", self.admin_view(self.run_migrations_view), name="cellsv2_run_migrations"
            ),
            path(
                "dashboard/discover-hosts/", self.admin_view(self.discover_hosts_view), name="cellsv2_discover_hosts"
            ),
            path(
                "dashboard/verify-instance/",
                self.admin_view(self.verify_instance_view),
                name="cellsv2_verify_instance",
            ),
            path(
                "dashboard/cells/<str:cell_uuid>/toggle/",
                self.admin_view(self.toggle_cell_view),
                name="cellsv2_toggle_cell",
            ),
        ]
        return urls + super().get_urls()

    # Who may do what: the dashboard is for every staff user; each action needs the permission an
    # operator would need to make the same change through the model pages.
    @staticmethod
    def can_toggle_cells(request) -> bool:
        return request.user.has_perm("mappings.change_cellmapping")

    @staticmethod
    def can_discover_hosts(request) -> bool:
        return request.user.has_perm("mappings.add_hostmapping")

    @staticmethod
    def can_verify_instances(request) -> bool:
        return request.user.has_perm("mappings.view_instancemapping")

    @staticmethod
    def can_run_migrations(request) -> bool:
        return request.user.is_superuser

    def each_context(self, request):
        context = super().each_context(request)
        if self.has_permission(request):
            context["cellsv2_links"] = tier_links()
            context["cellsv2_tier"] = "api"
        return context

    def dashboard_view(self, request):
        """Every cell's state, the build queue and the online data migrations still pending."""
        from cellsv2 import dashboard

        cells = dashboard.dashboard_cells()
        unreachable = [status.mapping.name or status.mapping.uuid for status in cells if not status.reachable]
        context = {
            **self.each_context(request),
            "title": "Cells dashboard",
            "cellsv2_tier": "dashboard",
            # Ten columns per cell: the page takes the whole width (the index links to every model).
            "is_nav_sidebar_enabled": False,
            "cells": cells,
            "capacity_total": dashboard.dashboard_capacity_total(cells),
            "cells_unreachable": unreachable,
            "build_queue": dashboard.dashboard_build_queue(),
            "unmapped": dashboard.dashboard_unmapped_instances(),
            "migrations": dashboard.dashboard_pending_migrations(unreachable=unreachable),
            "can_toggle_cells": self.can_toggle_cells(request),
            "can_discover_hosts": self.can_discover_hosts(request),
            "can_verify_instances": self.can_verify_instances(request),
            "can_run_migrations": self.can_run_migrations(request),
        }
        return TemplateResponse(request, "admin/cellsv2_dashboard.html", context)

    def _refused(self, request, allowed: bool):
        """A response refusing the request (not a POST, or not allowed), or None to go on."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not allowed:
            messages.error(request, "You are not allowed to run this operator action.")
            return redirect("admin:cellsv2_dashboard")
        return None

    def run_migrations_view(self, request):
        """Run one batch of online data migrations (the same runner, batch size and lock as the command)."""
        refused = self._refused(request, self.can_run_migrations(request))
        if refused:
            return refused
        from cellsv2.locks import LockHeld, runner_lock
        from cellsv2.online_migrations import BATCH_SIZE, online_migrations_run_batch, registered_migrations

        try:
            with runner_lock("online_data_migrations"):
                batch = online_migrations_run_batch(registered_migrations(), BATCH_SIZE)
        except LockHeld:
            messages.warning(request, "online_data_migrations is already running elsewhere; try again later.")
            return redirect("admin:cellsv2_dashboard")
        summary = ", ".join(f"{name}: {t.done}/{t.found}" for name, t in batch.totals.items() if t.found)
        messages.add_message(
            request,
            messages.ERROR if batch.failed else messages.SUCCESS,
            f"One batch ran (migrated/found): {summary}." if summary else "One batch ran: nothing left to migrate.",
        )
        for name in batch.failed:
            messages.error(request, f"{name} failed; see the log.")
        conflicts = sum(t.conflicts for t in batch.totals.values())
        if conflicts:
            messages.warning(
                request, f"{conflicts} row(s) set aside as conflicts wait for an operator to resolve them."
            )
        return redirect("admin:cellsv2_dashboard")

    def discover_hosts_view(self, request):
        """Map unmapped compute hosts in every cell (cell_v2 discover_hosts)."""
        refused = self._refused(request, self.can_discover_hosts(request))
        if refused:
            return refused
        from mappings.exceptions import HostMappingExists
        from operators import services

        try:
            result = services.hosts_discover()
        except HostMappingExists as exc:
            messages.error(request, f"Another discovery mapped the same host at the same time: {exc}")
        else:
            if result.created:
                hosts = ", ".join(f"{m.host} ({m.cell.name or m.cell.uuid})" for m in result.created)
                messages.success(request, f"Mapped {len(result.created)} new host(s): {hosts}.")
            else:
                messages.success(request, "Discovered hosts: none (every compute host is mapped).")
            for uuid, error in result.failed_cells.items():
                messages.error(request, f"Cell {uuid} could not be reached: {error}")
        return redirect("admin:cellsv2_dashboard")

    def verify_instance_view(self, request):
        """Say which cell an instance is in (cell_v2 verify_instance)."""
        refused = self._refused(request, self.can_verify_instances(request))
        if refused:
            return refused
        uuid = request.POST.get("uuid", "").strip()
        if not uuid:
            messages.error(request, "Give the uuid of the instance to verify.")
        else:
            report_verify(request, uuid)
        return redirect("admin:cellsv2_dashboard")

    def toggle_cell_view(self, request, cell_uuid):
        """Enable or disable a cell for scheduling (cell_v2 update_cell --enable/--disable)."""
        refused = self._refused(request, self.can_toggle_cells(request))
        if refused:
            return refused
        report_cell_toggle(request, cell_uuid, disable=request.POST.get("disable") == "1")
        return redirect("admin:cellsv2_dashboard")


def report_cell_toggle(request, cell_uuid: str, *, disable: bool) -> bool:
    """Enable or disable one cell through the service and say what happened; True when it worked."""
    from mappings import services
    from mappings.exceptions import MappingError

    try:
        result = services.cell_mapping_update(uuid=cell_uuid, disabled=disable)
    except MappingError as exc:
        messages.error(request, str(exc))
        return False
    for note in result.notes:
        messages.info(request, note)
    if not result.notes:
        messages.success(request, f"Cell {result.mapping.identity} {'disabled' if disable else 'enabled'}.")
    return True


def report_verify(request, uuid: str) -> int:
    """Run instance_verify for one instance and report its answer; returns its exit code."""
    from operators.services import instance_verify

    try:
        result = instance_verify(uuid=uuid)
    except (DatabaseError, CellDatabaseUnusable) as exc:
        messages.error(request, f"Instance {uuid}: its cell could not be reached: {_error_line(exc)}")
        return -1
    level = messages.SUCCESS if result.code == 0 else messages.WARNING
    messages.add_message(request, level, " ".join(result.messages))
    return result.code


# --- the cell site: cell databases, one cell at a time ---------------------------------------------


class CellAdminSite(admin.AdminSite):
    """The admin of cell-database models; every view is targeted at the chosen cell."""

    site_header = "cellsv2 cells"
    site_title = "cellsv2 cells"
    index_title = "Cell databases"
    index_template = "admin/cellsv2_cell_index.html"

    def get_urls(self):
        urls = [
            path(
                "go/instance/<str:instance_uuid>/",
                self.admin_view(self.instance_by_uuid_view),
                name="instance_by_uuid",
            ),
        ]
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
            "error": _error_line(exc),
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

    def instance_by_uuid_view(self, request, instance_uuid):
        """Redirect to an instance's change page in the targeted cell, found by its uuid."""
        from servers.models import Instance

        pk = Instance.objects.filter(uuid=instance_uuid).values_list("pk", flat=True).first()
        if pk is None:
            cell = request.cellsv2_cell
            messages.warning(
                request,
                f"Cell {cell.name or cell.uuid} has no instance {instance_uuid} "
                "(archived, or its instance mapping names the wrong cell: verify it).",
            )
            return redirect(f"{reverse('celladmin:servers_instance_changelist')}?{urlencode({'q': instance_uuid})}")
        return redirect("celladmin:servers_instance_change", pk)


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


class ReadOnlyAdmin(admin.ModelAdmin):
    """A ModelAdmin that only shows rows: none is added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """An inline that only shows rows."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def register_cell_admin(*models):
    """``@register_cell_admin(Model)``: register a ModelAdmin on the cell admin site."""
    return admin.register(*models, site=cell_admin_site)
