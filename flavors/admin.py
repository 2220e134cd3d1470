"""Admin of flavors (API database, Django's admin site).

Flavors change through flavors/services.py, as in the API: only the description (Nova's only
mutable field), and delete. Extra specs and project access are shown, not edited here.
"""

from django.contrib import admin, messages

from cellsv2.admin import ReadOnlyInline, state_badge
from flavors import services
from flavors.exceptions import FlavorNotFound
from flavors.models import Flavor, FlavorExtraSpec, FlavorProject


class FlavorExtraSpecInline(ReadOnlyInline):
    model = FlavorExtraSpec
    fields = ("key", "value")
    readonly_fields = fields
    ordering = ("key",)


class FlavorProjectInline(ReadOnlyInline):
    model = FlavorProject
    fields = ("project_id",)
    readonly_fields = fields
    ordering = ("project_id",)


@admin.register(Flavor)
class FlavorAdmin(admin.ModelAdmin):
    """Flavors: created with `manage.py flavors` or the API; here the description changes and flavors go."""

    list_display = (
        "name",
        "flavorid",
        "vcpus",
        "memory_mb",
        "root_gb",
        "ephemeral_gb",
        "swap",
        "is_public",
        "state",
    )
    list_filter = ("is_public", "disabled")
    search_fields = ("name", "=flavorid")
    fields = (
        "name",
        "flavorid",
        "vcpus",
        "memory_mb",
        "root_gb",
        "ephemeral_gb",
        "swap",
        "rxtx_factor",
        "vcpu_weight",
        "is_public",
        "disabled",
        "description",
    )
    readonly_fields = tuple(f for f in fields if f != "description")
    inlines = (FlavorExtraSpecInline, FlavorProjectInline)
    ordering = ("id",)

    @admin.display(description="state", ordering="disabled")
    def state(self, obj):
        return state_badge(not obj.disabled, "enabled", "disabled")

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        services.flavor_update_description(flavorid=obj.flavorid, description=obj.description or None)

    def save_related(self, request, form, formsets, change):
        # The inlines are read-only: nothing to save.
        return None

    def delete_model(self, request, obj):
        try:
            services.flavor_delete(flavorid=obj.flavorid)
        except FlavorNotFound:
            messages.warning(request, f"Flavor {obj.flavorid} was already deleted.")

    def delete_queryset(self, request, queryset):
        for flavorid in queryset.values_list("flavorid", flat=True):
            try:
                services.flavor_delete(flavorid=flavorid)
            except FlavorNotFound:
                continue
