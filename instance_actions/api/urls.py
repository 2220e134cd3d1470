"""Compute API routes of instance actions (Nova's paths, no trailing slashes)."""

from django.urls import path

from instance_actions.api import views

app_name = "instance-actions-api"

urlpatterns = [
    path("servers/<str:server_id>/os-instance-actions", views.InstanceActionListView.as_view(), name="list"),
    path(
        "servers/<str:server_id>/os-instance-actions/<str:request_id>",
        views.InstanceActionDetailView.as_view(),
        name="detail",
    ),
]
