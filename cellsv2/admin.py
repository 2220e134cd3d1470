"""Admin of this app's models (identity and quotas), and the admin API every app's admin.py uses.

The sites themselves live in ``cellsv2/admin_sites.py`` (re-exported here): Django builds its
default site lazily from ``CellsV2AdminConfig.default_site``, and a module that both defines the
site class and registers models on ``admin.site`` would register them on a site Django then
replaces.
"""

from django import forms
from django.conf import settings
from django.contrib import admin

from cellsv2 import services as identity
from cellsv2.admin_sites import (
    VERIFY_LIMIT,
    CellAdminSite,
    CellListFilter,
    CellModelAdmin,
    CellsV2AdminSite,
    EstimatedCountPaginator,
    LargeTableAdminMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    SoftDeleteFilter,
    cell_admin_site,
    cell_label,
    cell_site_url,
    clipped,
    id_column,
    instance_in_cell_url,
    instance_location_link,
    register_cell_admin,
    report_cell_toggle,
    report_verify,
    short_id,
    soft_delete_state,
    state_badge,
    table_row_estimate,
    uuid_display,
    when,
)
from cellsv2.models import ApiToken, Project, Quota, QuotaLock, RoleAssignment
from cellsv2.quotas import quota_set

__all__ = [
    "VERIFY_LIMIT",
    "CellAdminSite",
    "CellListFilter",
    "CellModelAdmin",
    "CellsV2AdminSite",
    "EstimatedCountPaginator",
    "LargeTableAdminMixin",
    "ReadOnlyAdmin",
    "ReadOnlyInline",
    "SoftDeleteFilter",
    "cell_admin_site",
    "cell_label",
    "cell_site_url",
    "clipped",
    "id_column",
    "instance_in_cell_url",
    "instance_location_link",
    "register_cell_admin",
    "report_cell_toggle",
    "report_verify",
    "short_id",
    "soft_delete_state",
    "state_badge",
    "table_row_estimate",
    "uuid_display",
    "when",
]


# --- identity and quotas of the compute API (API database) ------------------------------------------
# Creates and deletes go through cellsv2/services.py and cellsv2/quotas.py, as `manage.py identity` does.


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ("name", "project_id", "description", "enabled")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "project_id" in self.fields:
            self.fields["project_id"].required = False
            self.fields["project_id"].help_text = "Leave empty for a new 32-hex-digit id (as Keystone makes)."


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm
    list_display = ("name", "project_id", "enabled", "description")
    list_filter = ("enabled",)
    search_fields = ("name", "=project_id")

    def get_readonly_fields(self, request, obj=None):
        # A project's id is what servers, quotas and key pairs refer to: fixed once created.
        return ("project_id",) if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        # Servers and quotas refer to the project id; disable a project instead.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = identity.project_create(
            name=obj.name, project_id=obj.project_id or None, description=obj.description
        )
        if created.enabled != obj.enabled:
            created.enabled = obj.enabled
            created.save(update_fields=["enabled"])
        obj.pk = created.pk
        obj.project_id = created.project_id


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(admin.ModelAdmin):
    list_display = ("user", "project", "role")
    list_filter = ("role",)
    search_fields = ("user__username", "project__name", "=project__project_id")
    list_select_related = ("user", "project")

    def has_change_permission(self, request, obj=None):
        # Give another role or take this one back: an assignment itself does not change.
        return False

    def save_model(self, request, obj, form, change):
        assignment = identity.role_assign(user=obj.user, project=obj.project, role=obj.role)
        obj.pk = assignment.pk

    def delete_model(self, request, obj):
        identity.role_revoke(assignment_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            identity.role_revoke(assignment_id=pk)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens: their first characters only (the hash stays out of sight); revoked by deleting."""

    list_display = ("masked", "user", "project", "description", "expires_at", "created_at")
    search_fields = ("=prefix", "user__username", "project__name")
    list_select_related = ("user", "project")
    fields = ("masked", "user", "project", "description", "expires_at", "created_at")
    readonly_fields = fields

    @admin.display(description="token")
    def masked(self, obj):
        return f"{obj.prefix}…"

    def has_add_permission(self, request):
        # Issued with `manage.py identity token_create`, which prints the token once.
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        identity.token_delete(token_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            identity.token_delete(token_id=pk)


class QuotaForm(forms.ModelForm):
    resource = forms.ChoiceField(choices=())

    class Meta:
        model = Quota
        fields = ("project_id", "resource", "hard_limit")
        help_texts = {"hard_limit": "Empty or -1: unlimited."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "resource" in self.fields:  # read-only once the quota exists
            self.fields["resource"].choices = [(r, r) for r in sorted(settings.CELLSV2_QUOTAS)]


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    """Per-project limits overriding the defaults (settings.CELLSV2_QUOTAS)."""

    form = QuotaForm
    list_display = ("project_id", "resource", "hard_limit")
    list_filter = ("resource",)
    search_fields = ("=project_id",)

    def get_readonly_fields(self, request, obj=None):
        return ("project_id", "resource") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        quota = quota_set(project_id=obj.project_id, resource=obj.resource, hard_limit=obj.hard_limit)
        obj.pk = quota.pk


@admin.register(QuotaLock)
class QuotaLockAdmin(ReadOnlyAdmin):
    """Rows quota checks lock (one per scope); shown for completeness, never changed here."""

    list_display = ("scope", "created_at")
    search_fields = ("scope",)
