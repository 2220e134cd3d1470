"""Compute API routes of limits and quotas (Nova's paths, no trailing slashes)."""

from django.urls import path

from quotas.api import views

app_name = "quotas-api"

urlpatterns = [
    path("limits", views.LimitsView.as_view(), name="limits"),
    path("os-quota-sets/<str:project_id>", views.QuotaSetView.as_view(), name="quota-set"),
    path("os-quota-sets/<str:project_id>/detail", views.QuotaSetDetailView.as_view(), name="quota-set-detail"),
    path("os-quota-sets/<str:project_id>/defaults", views.QuotaSetDefaultsView.as_view(), name="quota-set-defaults"),
    path("os-quota-class-sets/<str:class_name>", views.QuotaClassSetView.as_view(), name="quota-class-set"),
]
