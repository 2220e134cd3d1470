"""Compute API routes of the servers app (Nova's paths, no trailing slashes).

``servers/<id>/action`` dispatches on the body's key to the actions other apps register with
``servers.api.actions.register_server_action`` (consoles: its legacy console actions).
"""

from django.urls import path

from servers.api import actions, views

app_name = "servers-api"

urlpatterns = [
    path("servers", views.ServerCollectionView.as_view(), name="servers"),
    path("servers/detail", views.ServerDetailCollectionView.as_view(), name="servers-detail"),
    path("servers/<str:server_id>", views.ServerItemView.as_view(), name="server"),
    path("servers/<str:server_id>/action", actions.ServerActionView.as_view(), name="server-action"),
]
