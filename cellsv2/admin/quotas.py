"""Admin of the quota engine's models (API database): the default class, per-project and per-user
limits, the lock rows, and a page of each project's limits against its use."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse

from cellsv2.admin.base import ReadOnlyAdmin
from cellsv2.models import ProjectUserQuota, Quota, QuotaClass, QuotaLock
from cellsv2.quotas import quota_class_update, quota_project_limits, quota_project_usages, quota_set

# --- quotas of the compute API (API database) --------------------------------------------------------
# Writes go through cellsv2/quotas.py (quota_set), as the API's quota checks expect.


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


@admin.register(ProjectUserQuota)
class ProjectUserQuotaAdmin(admin.ModelAdmin):
    """Per-user limits inside a project (os-quota-sets with ``?user_id=``)."""

    form = QuotaForm
    list_display = ("project_id", "user_id", "resource", "hard_limit")
    list_filter = ("resource",)
    search_fields = ("=project_id", "=user_id")

    def get_form(self, request, obj=None, **kwargs):
        kwargs["fields"] = ("project_id", "user_id", "resource", "hard_limit")
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ("project_id", "user_id", "resource") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        quota = quota_set(
            project_id=obj.project_id, user_id=obj.user_id, resource=obj.resource, hard_limit=obj.hard_limit
        )
        obj.pk = quota.pk


@admin.register(QuotaClass)
class QuotaClassAdmin(admin.ModelAdmin):
    """The ``default`` class's limits, over the CELLSV2_QUOTA_* settings for every project."""

    list_display = ("class_name", "resource", "hard_limit")
    list_filter = ("class_name",)
    readonly_fields = ("class_name",)
    fields = ("class_name", "resource", "hard_limit")

    def has_add_permission(self, request):
        # Rows are made by os-quota-class-sets (or the usage page); here they are edited.
        return False

    def save_model(self, request, obj, form, change):
        quota_class_update(class_name=obj.class_name, limits={obj.resource: obj.hard_limit})


def quota_usage_view(request):
    """Limits and use of every resource for one project (and optionally one user of it)."""
    project_id = request.GET.get("project_id", "").strip()
    user_id = request.GET.get("user_id", "").strip() or None
    rows = []
    if project_id:
        limits = quota_project_limits(project_id=project_id, user_id=user_id)
        usages = quota_project_usages(project_id=project_id, user_id=user_id)
        rows = [
            (resource, limits[resource], usages.get(resource, "—"))
            for resource in sorted(settings.CELLSV2_QUOTAS)
            if resource in limits
        ]
    projects = sorted(set(Quota.objects.values_list("project_id", flat=True).distinct()))
    context = {
        **admin.site.each_context(request),
        "title": "Quota use per project",
        "project_id": project_id,
        "user_id": user_id or "",
        "rows": rows,
        "projects": projects,
    }
    return TemplateResponse(request, "admin/cellsv2_quota_usage.html", context)


admin.site.register_view("quotas/usage/", quota_usage_view, "cellsv2_quota_usage")
