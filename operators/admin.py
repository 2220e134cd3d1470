"""Admin of the mappings (API database): cells, hosts and instances, with links into each cell.

Writes go through ``mappings.services`` and ``operators.services`` (the services behind
``cell_v2``): a cell is renamed, enabled or disabled with ``cell_mapping_update``, a host mapping deleted with
``host_mapping_delete``. Instance mappings are read-only (Nova has no edit path); the "verify"
action runs ``instance_verify`` as ``cell_v2 verify_instance`` does.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from cellsv2.admin import (
    VERIFY_LIMIT,
    CellListFilter,
    LargeTableAdminMixin,
    cell_label,
    cell_site_url,
    clipped,
    id_column,
    instance_in_cell_url,
    report_cell_toggle,
    report_verify,
    state_badge,
    uuid_display,
    when,
)
from mappings import selectors
from mappings import services as mapping_services
from mappings.exceptions import MappingError
from mappings.models import CellMapping, HostMapping, InstanceMapping
from operators import services


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
        from cellsv2.dburls import mask_password

        return mask_password(obj.database_connection or "")

    @admin.display(description="database connection")
    def masked_database_column(self, obj):
        return clipped(self.masked_database_connection(obj), 24)

    @admin.display(description="transport url")
    def masked_transport_url(self, obj):
        from cellsv2.dburls import mask_password

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

    @admin.display(description="cell", ordering="cell__name")
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

    @admin.display(description="state", ordering="queued_for_delete")
    def state(self, obj):
        """Live, or deleted by its user and queued for deletion (archiving removes it)."""
        return state_badge(not obj.queued_for_delete, "live", "queued for delete")

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return when(obj.created_at)

    @admin.display(description="instance")
    def instance_link(self, obj):
        if obj.cell is None:
            from servers.models import BuildRequest

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
