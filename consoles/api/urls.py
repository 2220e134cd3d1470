"""Compute API routes of consoles (Nova's paths, no trailing slashes).

The legacy console actions (``POST /servers/{id}/action``, 2.1-2.5) are not routes here: they
are registered with the servers app's action dispatch from ``ConsolesConfig.ready()``.
"""

from django.urls import path

from consoles.api import views

app_name = "consoles-api"

urlpatterns = [
    path("servers/<str:server_id>/remote-consoles", views.RemoteConsoleView.as_view(), name="server-remote-consoles"),
    # <path:> so that no token, whatever it holds, falls through to Django's logged 404.
    path("os-console-auth-tokens/<path:token>", views.ConsoleAuthTokenView.as_view(), name="console-token"),
]
