"""Compute API routes of the hosts app (Nova's paths, no trailing slashes)."""

from django.urls import path

from hosts.api import views

app_name = "hosts-api"

urlpatterns = [
    path("os-services", views.ServiceCollectionView.as_view(), name="services"),
    path("os-services/<str:service_id>", views.ServiceView.as_view(), name="service"),
    path("os-hypervisors", views.HypervisorCollectionView.as_view(), name="hypervisors"),
    # Before os-hypervisors/<id>, as in Nova's routes.
    path("os-hypervisors/detail", views.HypervisorDetailCollectionView.as_view(), name="hypervisors-detail"),
    path("os-hypervisors/statistics", views.HypervisorStatisticsView.as_view(), name="hypervisors-statistics"),
    path("os-hypervisors/<str:pattern>/search", views.HypervisorSearchView.as_view(), name="hypervisors-search"),
    path("os-hypervisors/<str:pattern>/servers", views.HypervisorServersView.as_view(), name="hypervisors-servers"),
    path("os-hypervisors/<str:hypervisor_id>/uptime", views.HypervisorUptimeView.as_view(), name="hypervisor-uptime"),
    path("os-hypervisors/<str:hypervisor_id>", views.HypervisorView.as_view(), name="hypervisor"),
    path("os-aggregates", views.AggregateCollectionView.as_view(), name="aggregates"),
    path("os-availability-zone", views.AvailabilityZoneView.as_view(), name="availability-zones"),
    path("os-availability-zone/detail", views.AvailabilityZoneDetailView.as_view(), name="availability-zones-detail"),
]
