"""Compute API routes of the servers app (Nova's paths, no trailing slashes)."""

from django.urls import path

from servers.api import server_views, views

app_name = "servers-api"

urlpatterns = [
    path("flavors", views.FlavorCollectionView.as_view(), name="flavors"),
    # Before flavors/<id>, as in Nova: no flavor can be reached by the id "detail".
    path("flavors/detail", views.FlavorDetailCollectionView.as_view(), name="flavors-detail"),
    path("flavors/<str:flavor_id>", views.FlavorView.as_view(), name="flavor"),
    path("servers", server_views.ServerCollectionView.as_view(), name="servers"),
    path("servers/detail", server_views.ServerDetailCollectionView.as_view(), name="servers-detail"),
    path("servers/<str:server_id>", server_views.ServerItemView.as_view(), name="server"),
]
