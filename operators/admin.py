"""Admin of the mappings (API database): cells, hosts and instances, with links into each cell.

Writes go through ``mappings.services`` and ``operators.services`` (the services behind
``cell_v2``): a cell is renamed, enabled or disabled with ``cell_mapping_update``, a host mapping deleted with
``host_mapping_delete``. Instance mappings are read-only (Nova has no edit path); the "verify"
action runs ``instance_verify`` as ``cell_v2 verify_instance`` does.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.db import DatabaseError
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from cellsv2.admin import (
    CellListFilter,
    LargeTableAdminMixin,
    cell_label,
    cell_site_url,
    clipped,
    error_line,
    id_column,
    instance_in_cell_url,
    state_badge,
    uuid_display,
    when,
)
from cellsv2.cells import CellDatabaseUnusable
from cellsv2.dburls import mask_password
from cellsv2.locks import LockHeld, runner_lock
from cellsv2.online_migrations import BATCH_SIZE, online_migrations_run_batch, registered_migrations
from mappings import selectors
from mappings import services as mapping_services
from mappings.exceptions import HostMappingExists, MappingError
from mappings.models import CellMapping, HostMapping, InstanceMapping
from operators import dashboard, services
from servers.models import BuildRequest

# instance_verify asks a cell per instance: an action over more rows than this is refused.
VERIFY_LIMIT = 100


class CellMappingForm(forms.ModelForm):
    class Meta:
        model = CellMapping
        fields = ("name", "disabled")
        help_texts = {
            "disabled": "A disabled cell gets no new servers (cell_v2 update_cell --disable); cell0 cannot be."
        }

    def clean_disabled(self):
        disabled = self.cleaned_data.get("disabled")
        if disabled and self.instance.is_cell0:
            raise forms.ValidationError("cell0 cannot be disabled.")
        return disabled


@admin.register(CellMapping)
class CellMappingAdmin(admin.ModelAdmin):
    form = CellMappingForm
    # Cells are few: no filter sidebar, so the uuid and the connection fit on one line each.
    list_display = ("name", "uuid_column", "state", "masked_database_column", "masked_transport_column", "browse_link")
    search_fields = ("=uuid", "name")
    # The database URL may hold a password: shown masked, changed with `cell_v2 update_cell`
    # (which checks the new database first). So may the transport URL (a message queue's).
    readonly_fields = ("uuid", "masked_transport_url", "masked_database_connection", "browse_link")
    fields = ("uuid", "name", "disabled", "masked_transport_url", "masked_database_connection", "browse_link")
    actions = ("enable_cells", "disable_cells")
    ordering = ("id",)

    @admin.display(description="uuid", ordering="uuid")
    def uuid_column(self, obj):
        return uuid_display(obj.uuid)

    @admin.display(description="state", ordering="disabled")
    def state(self, obj):
        """Enabled (green) or disabled: whether the scheduler may place new servers in the cell."""
        return state_badge(not obj.disabled, "enabled", "disabled")

    @admin.display(description="database connection")
    def masked_database_connection(self, obj):
        return mask_password(obj.database_connection or "")

    @admin.display(description="database connection")
    def masked_database_column(self, obj):
        return clipped(self.masked_database_connection(obj), 24)

    @admin.display(description="transport url")
    def masked_transport_url(self, obj):
        return mask_password(obj.transport_url or "")

    @admin.display(description="transport url")
    def masked_transport_column(self, obj):
        return clipped(self.masked_transport_url(obj), 12)

    @admin.display(description="browse")
    def browse_link(self, obj):
        return format_html('<a class="cellsv2-nowrap" href="{}">cell database</a>', cell_site_url("index", obj))

    def has_add_permission(self, request):
        # Cells are created with `cell_v2 create_cell`, which checks the database first.
        return False

    def has_delete_permission(self, request, obj=None):
        # `cell_v2 delete_cell` refuses a cell that still has hosts or instances.
        return False

    def save_model(self, request, obj, form, change):
        result = mapping_services.cell_mapping_update(uuid=obj.uuid, name=obj.name, disabled=bool(obj.disabled))
        for note in result.notes:
            messages.info(request, note)

    def _toggle(self, request, queryset, *, disable: bool):
        for cell in queryset.order_by("id"):
            if disable and cell.is_cell0:
                self.message_user(request, "cell0 cannot be disabled.", messages.WARNING)
                continue
            report_cell_toggle(request, cell.uuid, disable=disable)

    @admin.action(description="Enable the selected cells (cell_v2 update_cell --enable)", permissions=("change",))
    def enable_cells(self, request, queryset):
        self._toggle(request, queryset, disable=False)

    @admin.action(description="Disable the selected cells (cell_v2 update_cell --disable)", permissions=("change",))
    def disable_cells(self, request, queryset):
        self._toggle(request, queryset, disable=True)


@admin.register(HostMapping)
class HostMappingAdmin(admin.ModelAdmin):
    list_display = ("host", "cell_column", "compute_nodes_link")
    list_filter = (("cell", CellListFilter),)
    search_fields = ("=host",)
    list_select_related = ("cell",)
    fields = ("host", "cell", "compute_nodes_link", "created_at")
    readonly_fields = fields
    actions = ("delete_hosts",)
    ordering = ("host",)

    @admin.display(description="cell", ordering="cell__name")
    def cell_column(self, obj):
        return cell_label(obj.cell)

    @admin.display(description="compute nodes")
    def compute_nodes_link(self, obj):
        url = cell_site_url("servers_computenode_changelist", obj.cell, query={"q": obj.host})
        return format_html('<a href="{}">in {}</a>', url, obj.cell.name or obj.cell.uuid)

    def has_add_permission(self, request):
        # Hosts are mapped by discovery (the dashboard's "Discover hosts", `cell_v2 discover_hosts`).
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleted with the action below, which goes through the service (as `cell_v2 delete_host`).
        return False

    def has_delete_host_permission(self, request):
        return request.user.has_perm("mappings.delete_hostmapping")

    @admin.action(description="Delete the selected host mappings (cell_v2 delete_host)", permissions=("delete_host",))
    def delete_hosts(self, request, queryset):
        for mapping in queryset.select_related("cell"):
            try:
                services.host_mapping_delete(cell_uuid=mapping.cell.uuid, host=mapping.host)
            except MappingError as exc:
                self.message_user(request, f"Host {mapping.host}: {exc}", messages.ERROR)
            except Exception as exc:  # the cell may be unreachable
                self.message_user(request, f"Host {mapping.host}: {type(exc).__name__}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"Host {mapping.host} is no longer mapped.", messages.SUCCESS)


@admin.register(InstanceMapping)
class InstanceMappingAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    # The instance's own uuid whole; the project's and user's (32 hex digits in Keystone) cut short.
    list_display = (
        "instance_uuid_column",
        id_column("project_id", "project"),
        id_column("user_id", "user"),
        "where",
        "state",
        "created",
    )
    list_display_links = ("instance_uuid_column",)
    list_filter = (("cell", CellListFilter), "queued_for_delete")
    search_fields = ("=instance_uuid", "=project_id", "=user_id")
    list_select_related = ("cell",)
    fields = (
        "instance_uuid",
        "project_id",
        "user_id",
        "cell",
        "state",
        "created_at",
        "updated_at",
        "instance_link",
        "request_spec_link",
    )
    readonly_fields = fields
    actions = ("verify_instances",)

    def get_queryset(self, request):
        # map_instances' resume marker is not an instance.
        return selectors.instance_mapping_list()

    @admin.display(description="instance uuid", ordering="instance_uuid")
    def instance_uuid_column(self, obj):
        return uuid_display(obj.instance_uuid)

    # Not sortable, nor is the state: a sort on either (a join, a boolean) sorts every mapping for each
    # page (10 million: seconds); the list filters by cell and by state instead.
    @admin.display(description="cell")
    def where(self, obj):
        """The list's column: the cell, linking to the instance in it, with no query per row."""
        if obj.cell is None:
            url = reverse("admin:servers_buildrequest_changelist")
            return format_html(
                '<a class="cellsv2-nowrap" href="{}?{}">no cell yet</a>', url, urlencode({"q": obj.instance_uuid})
            )
        return format_html(
            '<a class="instance-link" href="{}">{}</a>',
            instance_in_cell_url(obj.cell, obj.instance_uuid),
            cell_label(obj.cell),
        )

    @admin.display(description="state")
    def state(self, obj):
        """Live, or deleted by its user and queued for deletion (archiving removes it)."""
        return state_badge(not obj.queued_for_delete, "live", "queued for delete")

    # created_at has no index: sorted by id, the order mappings are made in.
    @admin.display(description="created", ordering="id")
    def created(self, obj):
        return when(obj.created_at)

    @admin.display(description="instance")
    def instance_link(self, obj):
        if obj.cell is None:
            build = BuildRequest.objects.filter(instance_uuid=obj.instance_uuid).values_list("pk", flat=True).first()
            if build is None:
                return "no cell and no build request (interrupted or deleted: verify it)"
            return format_html(
                '<a href="{}">still a build request</a>', reverse("admin:servers_buildrequest_change", args=[build])
            )
        return format_html(
            '<a class="instance-link" href="{}">in {}</a>',
            instance_in_cell_url(obj.cell, obj.instance_uuid),
            obj.cell.name or obj.cell.uuid,
        )

    @admin.display(description="request spec")
    def request_spec_link(self, obj):
        url = reverse("admin:servers_requestspec_changelist")
        return format_html('<a href="{}?{}">request spec</a>', url, urlencode({"q": obj.instance_uuid}))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Verify the selected instances (cell_v2 verify_instance)", permissions=("view",))
    def verify_instances(self, request, queryset):
        uuids = list(queryset.order_by("id").values_list("instance_uuid", flat=True)[: VERIFY_LIMIT + 1])
        if len(uuids) > VERIFY_LIMIT:
            self.message_user(
                request,
                f"Select at most {VERIFY_LIMIT} instances to verify (each asks its cell).",
                messages.ERROR,
            )
            return
        for uuid in uuids:
            report_verify(request, uuid)


# --- the cells dashboard and its operator actions (pages of the main admin site) ------------------
# Who may do what: the dashboard is for every staff user; each action needs the permission an
# operator would need to make the same change through the model pages.


def can_toggle_cells(request) -> bool:
    return request.user.has_perm("mappings.change_cellmapping")


def can_discover_hosts(request) -> bool:
    return request.user.has_perm("mappings.add_hostmapping")


def can_verify_instances(request) -> bool:
    return request.user.has_perm("mappings.view_instancemapping")


def can_run_migrations(request) -> bool:
    return request.user.is_superuser


def dashboard_view(request):
    """Every cell's state, the build queue and the online data migrations still pending."""
    cells = dashboard.dashboard_cells()
    unreachable = [status.mapping.name or status.mapping.uuid for status in cells if not status.reachable]
    context = {
        **admin.site.each_context(request),
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
        "can_toggle_cells": can_toggle_cells(request),
        "can_discover_hosts": can_discover_hosts(request),
        "can_verify_instances": can_verify_instances(request),
        "can_run_migrations": can_run_migrations(request),
    }
    return TemplateResponse(request, "admin/cellsv2_dashboard.html", context)


def _refused(request, allowed: bool):
    """A response refusing the request (not a POST, or not allowed), or None to go on."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not allowed:
        messages.error(request, "You are not allowed to run this operator action.")
        return redirect("admin:cellsv2_dashboard")
    return None


def run_migrations_view(request):
    """Run one batch of online data migrations (the same runner, batch size and lock as the command)."""
    refused = _refused(request, can_run_migrations(request))
    if refused:
        return refused

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
        messages.warning(request, f"{conflicts} row(s) set aside as conflicts wait for an operator to resolve them.")
    return redirect("admin:cellsv2_dashboard")


def discover_hosts_view(request):
    """Map unmapped compute hosts in every cell (cell_v2 discover_hosts)."""
    refused = _refused(request, can_discover_hosts(request))
    if refused:
        return refused
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


def verify_instance_view(request):
    """Say which cell an instance is in (cell_v2 verify_instance)."""
    refused = _refused(request, can_verify_instances(request))
    if refused:
        return refused
    uuid = request.POST.get("uuid", "").strip()
    if not uuid:
        messages.error(request, "Give the uuid of the instance to verify.")
    else:
        report_verify(request, uuid)
    return redirect("admin:cellsv2_dashboard")


def toggle_cell_view(request, cell_uuid):
    """Enable or disable a cell for scheduling (cell_v2 update_cell --enable/--disable)."""
    refused = _refused(request, can_toggle_cells(request))
    if refused:
        return refused
    report_cell_toggle(request, cell_uuid, disable=request.POST.get("disable") == "1")
    return redirect("admin:cellsv2_dashboard")


def report_cell_toggle(request, cell_uuid: str, *, disable: bool) -> bool:
    """Enable or disable one cell through the service and say what happened; True when it worked."""
    try:
        result = mapping_services.cell_mapping_update(uuid=cell_uuid, disabled=disable)
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
    try:
        result = services.instance_verify(uuid=uuid)
    except (DatabaseError, CellDatabaseUnusable) as exc:
        messages.error(request, f"Instance {uuid}: its cell could not be reached: {error_line(exc)}")
        return -1
    level = messages.SUCCESS if result.code == 0 else messages.WARNING
    messages.add_message(request, level, " ".join(result.messages))
    return result.code


admin.site.register_view("dashboard/", dashboard_view, "cellsv2_dashboard")
admin.site.register_view("dashboard/run-migrations/", run_migrations_view, "cellsv2_run_migrations")
admin.site.register_view("dashboard/discover-hosts/", discover_hosts_view, "cellsv2_discover_hosts")
admin.site.register_view("dashboard/verify-instance/", verify_instance_view, "cellsv2_verify_instance")
admin.site.register_view("dashboard/cells/<str:cell_uuid>/toggle/", toggle_cell_view, "cellsv2_toggle_cell")
