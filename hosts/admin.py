"""Admin of services, per cell (cell admin site): the compute services of the cell picked, with
disable and enable as actions that write through hosts/services.py, as the API does.

Hypervisor capacity per cell is the cell site's compute node page (servers/admin.py) and the
cells dashboard (operators/).
"""

from django.contrib import admin, messages

from cellsv2.admin import CellModelAdmin, SoftDeleteFilter, register_cell_admin, soft_delete_state, state_badge
from hosts import selectors, services
from hosts.exceptions import ServiceNotCompute
from hosts.models import Service


@register_cell_admin(Service)
class ServiceAdmin(CellModelAdmin):
    list_display = ("binary", "host", "status", "state", "disabled_reason", "last_report", soft_delete_state)
    list_filter = ("binary", "disabled", "forced_down", SoftDeleteFilter)
    search_fields = ("=host", "=uuid")
    ordering = ("host", "binary")
    actions = ("disable_services", "enable_services")

    @admin.display(description="status", ordering="disabled")
    def status(self, obj):
        return state_badge(not obj.disabled, "enabled", "disabled")

    @admin.display(description="state")
    def state(self, obj):
        return state_badge(selectors.service_is_up(obj), "up", "forced down" if obj.forced_down else "down")

    @admin.display(description="last report")
    def last_report(self, obj):
        return selectors.service_last_report(obj) or obj.created_at

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_change_permission(self, request, obj=None):
        # The actions below are the only writes; the change form itself stays read-only.
        return obj is None and request.user.is_active and request.user.is_superuser

    def _toggle(self, request, queryset, *, disable: bool):
        cell = request.cellsv2_cell
        done = 0
        for service in queryset.filter(deleted=0).order_by("id"):
            try:
                services.service_update(
                    cell=cell,
                    service=service,
                    disabled=disable,
                    disabled_reason=f"Disabled in the admin by {request.user.get_username()}" if disable else None,
                )
                done += 1
            except ServiceNotCompute as exc:
                self.message_user(request, str(exc), messages.WARNING)
        word = "disabled" if disable else "enabled"
        self.message_user(request, f"{done} service(s) {word} in cell {cell.name or cell.uuid}.", messages.SUCCESS)

    @admin.action(description="Disable the selected compute services", permissions=("change",))
    def disable_services(self, request, queryset):
        self._toggle(request, queryset, disable=True)

    @admin.action(description="Enable the selected compute services", permissions=("change",))
    def enable_services(self, request, queryset):
        self._toggle(request, queryset, disable=False)
