"""Admin of instance actions: browsable per cell, read-only (they record what the API did)."""

from cellsv2.admin import CellModelAdmin, ReadOnlyInline, register_cell_admin
from instance_actions.models import (
    InstanceAction,
    InstanceActionEvent,
    ShadowInstanceAction,
    ShadowInstanceActionEvent,
)


class InstanceActionEventInline(ReadOnlyInline):
    model = InstanceActionEvent
    fields = ("event", "start_time", "finish_time", "result", "host", "details")


@register_cell_admin(InstanceAction)
class InstanceActionAdmin(CellModelAdmin):
    list_display = ("action", "instance_uuid", "request_id", "project_id", "user_id", "start_time", "message")
    list_filter = ("action",)
    search_fields = ("=instance_uuid", "=request_id", "=project_id")
    inlines = (InstanceActionEventInline,)
    ordering = ("-id",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@register_cell_admin(ShadowInstanceAction)
class ShadowInstanceActionAdmin(CellModelAdmin):
    """Actions `manage.py db archive_deleted_rows` moved out with their instance."""

    list_display = ("id", "action", "instance_uuid", "request_id", "created_at")
    search_fields = ("=instance_uuid", "=request_id")
    ordering = ("-id",)


@register_cell_admin(ShadowInstanceActionEvent)
class ShadowInstanceActionEventAdmin(CellModelAdmin):
    """Events of archived actions (``action_id`` is the id in shadow_instance_actions)."""

    list_display = ("id", "event", "action_id", "result", "created_at")
    search_fields = ("=action_id",)
    ordering = ("-id",)
