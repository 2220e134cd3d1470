"""Compute API routes of the servergroups app (Nova's paths, no trailing slashes)."""

from django.urls import path

from servergroups.api import views

app_name = "servergroups-api"

urlpatterns = [
    path("os-server-groups", views.ServerGroupCollectionView.as_view(), name="server-groups"),
    path("os-server-groups/<str:group_id>", views.ServerGroupView.as_view(), name="server-group"),
]
