"""Admin of the mappings (API database)."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from mappings.models import CellMapping, HostMapping, InstanceMapping


@admin.register(CellMapping)
class CellMappingAdmin(admin.ModelAdmin):
    list_display = ("name", "uuid", "disabled", "transport_url", "masked_database_connection")
    list_filter = ("disabled",)
    search_fields = ("=uuid", "name")
    readonly_fields = ("uuid",)
    fields = ("uuid", "name", "disabled", "transport_url", "database_connection")

    @admin.display(description="database connection")
    def masked_database_connection(self, obj):
        from cellsv2.dburls import mask_password

        return mask_password(obj.database_connection)

    def has_add_permission(self, request):
        # Cells are created with `cell_v2 create_cell`, which checks the database first.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(HostMapping)
class HostMappingAdmin(admin.ModelAdmin):
    list_display = ("host", "cell", "compute_nodes_link")
    list_filter = ("cell",)
    search_fields = ("=host",)
    list_select_related = ("cell",)

    @admin.display(description="compute nodes")
    def compute_nodes_link(self, obj):
        url = reverse("celladmin:servers_computenode_changelist")
        return format_html('<a href="{}?cell={}&q={}">in {}</a>', url, obj.cell.uuid, obj.host, obj.cell.name)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(InstanceMapping)
class InstanceMappingAdmin(admin.ModelAdmin):
    list_display = ("instance_uuid", "project_id", "user_id", "cell", "queued_for_delete", "instance_link")
    list_filter = ("cell", "queued_for_delete")
    search_fields = ("=instance_uuid", "=project_id", "=user_id")
    list_select_related = ("cell",)
    show_full_result_count = False

    @admin.display(description="instance")
    def instance_link(self, obj):
        if obj.cell is None:
            return "not scheduled yet"
        url = reverse("celladmin:servers_instance_changelist")
        return format_html('<a href="{}?cell={}&q={}">in {}</a>', url, obj.cell.uuid, obj.instance_uuid, obj.cell.name)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
