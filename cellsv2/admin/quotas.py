"""Admin of the quota engine's models (API database): per-project limits and the lock rows."""

from django import forms
from django.conf import settings
from django.contrib import admin

from cellsv2.admin.base import ReadOnlyAdmin
from cellsv2.models import Quota, QuotaLock
from cellsv2.quotas import quota_set

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
