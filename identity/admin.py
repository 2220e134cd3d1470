"""Admin of projects, role assignments and API tokens (API database), on the default admin site.

Creates and deletes go through identity/services.py, as ``manage.py identity`` does.
"""

from django import forms
from django.contrib import admin

from identity import services
from identity.models import ApiToken, Project, RoleAssignment


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
        created = services.project_create(
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
        assignment = services.role_assign(user=obj.user, project=obj.project, role=obj.role)
        obj.pk = assignment.pk

    def delete_model(self, request, obj):
        services.role_revoke(assignment_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            services.role_revoke(assignment_id=pk)


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
        services.token_delete(token_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            services.token_delete(token_id=pk)
