"""Compute API routes of the servers app (Nova's paths, no trailing slashes).

``servers/<id>/action`` dispatches on the body's key to the actions registered with
``servers.api.actions.register_server_action``: this app's own (reboot, stop / start, pause,
suspend, lock, rebuild: api/action_views.py) and other apps' (consoles: its legacy console
actions). ``servers/<id>/metadata`` is the server's user metadata (api/server_metadata_views.py).
"""

from django.urls import path

from servers.api import actions, server_metadata_views, views

app_name = "servers-api"

urlpatterns = [
    path("servers", views.ServerCollectionView.as_view(), name="servers"),
    path("servers/detail", views.ServerDetailCollectionView.as_view(), name="servers-detail"),
    path("servers/<str:server_id>", views.ServerItemView.as_view(), name="server"),
    path("servers/<str:server_id>/action", actions.ServerActionView.as_view(), name="server-action"),
    path(
        "servers/<str:server_id>/metadata",
        server_metadata_views.ServerMetadataView.as_view(),
        name="server-metadata",
    ),
    # <path:> so that any key (Nova's allow spaces, dots and colons) reaches the view.
    path(
        "servers/<str:server_id>/metadata/<path:key>",
        server_metadata_views.ServerMetadataItemView.as_view(),
        name="server-metadata-item",
    ),
]
