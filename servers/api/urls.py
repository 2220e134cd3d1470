"""Compute API routes of the servers app (Nova's paths, no trailing slashes)."""

from django.urls import path

from consoles.api import server_actions
from consoles.api import views as console_views  # registers the console server actions
from servers.api import server_views

app_name = "servers-api"

urlpatterns = [
    path("servers", server_views.ServerCollectionView.as_view(), name="servers"),
    path("servers/detail", server_views.ServerDetailCollectionView.as_view(), name="servers-detail"),
    path("servers/<str:server_id>", server_views.ServerItemView.as_view(), name="server"),
    # Nova's one action URL; the handler is picked by the body's key (consoles.api.server_actions).
    path("servers/<str:server_id>/action", server_actions.ServerActionView.as_view(), name="server-action"),
    path(
        "servers/<str:server_id>/remote-consoles",
        console_views.RemoteConsoleView.as_view(),
        name="server-remote-consoles",
    ),
    # <path:> so that no token, whatever it holds, falls through to Django's logged 404.
    path("os-console-auth-tokens/<path:token>", console_views.ConsoleAuthTokenView.as_view(), name="console-token"),
]
