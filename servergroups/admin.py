"""Admin of server groups: API-database groups on the admin site, legacy cell copies per cell (read-only).

Groups are created through the API (quota, policy validation), so the admin cannot add one;
renaming and deleting go through the services, so they behave as the API does (a delete also
soft-deletes a legacy copy left in a cell). Policies, rules and members are shown inline and are
read-only: Nova has no way to change a group's policy, and members follow servers. Each member
links to its instance in whichever cell holds it (through its instance mapping), or says it is
still a build request.
"""

from django.contrib import admin
from django.db.models import Count

from cellsv2.admin import (
    CellModelAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    id_column,
    register_cell_admin,
    soft_delete_state,
)
from servergroups import services
from servergroups.models import (
    InstanceGroup,
    InstanceGroupDeletion,
    InstanceGroupMember,
    InstanceGroupPolicy,
    LegacyInstanceGroup,
    LegacyInstanceGroupMember,
    LegacyInstanceGroupPolicy,
)
from servers.admin import instance_location_link


class InstanceGroupPolicyInline(ReadOnlyInline):
    model = InstanceGroupPolicy
    verbose_name_plural = "policies"
    fields = ("policy", "rules")
    readonly_fields = fields
    ordering = ("id",)


class InstanceGroupMemberInline(ReadOnlyInline):
    model = InstanceGroupMember
    fields = ("instance_uuid", "where", "created_at")
    readonly_fields = fields
    ordering = ("id",)

    @admin.display(description="where")
    def where(self, obj):
        # Members are few (a quota caps them): one mapping lookup each.
        return instance_location_link(obj.instance_uuid)


@admin.register(InstanceGroup)
class InstanceGroupAdmin(admin.ModelAdmin):
    list_display = (
        "uuid",
        "name",
        id_column("project_id", "project"),
        id_column("user_id", "user"),
        "policy",
        "member_count",
        "created_at",
    )
    search_fields = ("=uuid", "name", "=project_id", "=user_id")
    fields = ("uuid", "name", "project_id", "user_id", "created_at", "updated_at")
    readonly_fields = ("uuid", "project_id", "user_id", "created_at", "updated_at")
    inlines = (InstanceGroupPolicyInline, InstanceGroupMemberInline)
    ordering = ("-id",)
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members")).prefetch_related("policies")

    @admin.display(description="policy")
    def policy(self, obj):
        policies = sorted(obj.policies.all(), key=lambda p: p.id)
        return policies[0].policy if policies else "-"

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj):
        return obj.member_count

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        services.servergroup_update(uuid=obj.uuid, name=obj.name)

    def delete_model(self, request, obj):
        services.servergroup_delete(uuid=obj.uuid)

    def delete_queryset(self, request, queryset):
        for uuid in queryset.values_list("uuid", flat=True):
            services.servergroup_delete(uuid=uuid)


@admin.register(InstanceGroupDeletion)
class InstanceGroupDeletionAdmin(ReadOnlyAdmin):
    """Groups deleted while a cell did not answer: their legacy copies are hidden and dropped.

    Read-only: removing a record would let a deleted group come back from its cell; the move clears them.
    """

    list_display = ("uuid", "created_at")
    search_fields = ("=uuid",)
    readonly_fields = ("uuid", "created_at", "updated_at")


# --- cells ---------------------------------------------------------------------------------------


class LiveFilter(admin.SimpleListFilter):
    """``deleted`` holds the row id once deleted, so a plain filter would list every id."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("live", "live"), ("deleted", "soft-deleted"))

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(deleted=0)
        if self.value() == "deleted":
            return queryset.exclude(deleted=0)
        return queryset


class LegacyInstanceGroupPolicyInline(ReadOnlyInline):
    model = LegacyInstanceGroupPolicy
    verbose_name_plural = "policies"
    fields = ("policy", "deleted", "deleted_at")
    readonly_fields = fields
    ordering = ("id",)


class LegacyInstanceGroupMemberInline(ReadOnlyInline):
    model = LegacyInstanceGroupMember
    fields = ("instance_id", "where", "deleted", "deleted_at")
    readonly_fields = fields
    ordering = ("id",)

    @admin.display(description="where")
    def where(self, obj):
        return instance_location_link(obj.instance_id)


@register_cell_admin(LegacyInstanceGroup)
class LegacyInstanceGroupAdmin(CellModelAdmin):
    list_display = (
        "uuid",
        "name",
        id_column("project_id", "project"),
        id_column("user_id", "user"),
        "created_at",
        soft_delete_state,
    )
    list_filter = (LiveFilter,)
    search_fields = ("=uuid", "name", "=project_id", "=user_id")
    inlines = (LegacyInstanceGroupPolicyInline, LegacyInstanceGroupMemberInline)
    ordering = ("-id",)
    show_full_result_count = False
