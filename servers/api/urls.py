"""Compute API routes of the servers app (Nova's paths, no trailing slashes).

``servers/<id>/action`` dispatches on the body's key to the actions registered with
``servers.api.actions.register_server_action``: this app's own (reboot, stop / start, pause,
suspend, lock, rebuild: api/action_views.py) and other apps' (consoles: its legacy console
actions). ``servers/<id>/metadata`` is the server's user metadata (api/server_metadata_views.py);
``servers/<id>/tags`` its tags and ``servers/<id>/os-server-password`` its password
(api/server_tags_views.py).
"""

from django.urls import path

from servers.api import actions, server_metadata_views, server_tags_views, views

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
    path("servers/<str:server_id>/tags", server_tags_views.ServerTagsView.as_view(), name="server-tags"),
    path("servers/<str:server_id>/tags/<path:tag>", server_tags_views.ServerTagItemView.as_view(), name="server-tag"),
    path(
        "servers/<str:server_id>/os-server-password",
        server_tags_views.ServerPasswordView.as_view(),
        name="server-password",
    ),
]
