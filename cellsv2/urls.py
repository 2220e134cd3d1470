"""URL configuration: version discovery, the compute API under /v2.1, the operators' admin, and the
health check and metrics of cellsv2.observability."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView

from cellsv2.admin import cell_admin_site
from cellsv2.api import versions
from cellsv2.observability.views import healthcheck, metrics_view

urlpatterns = [
    path("", versions.versions_index, name="versions"),
    re_path(r"^v2/?$", versions.version_v2, name="version-v2"),
    re_path(r"^v2\.1/?$", versions.version_v21, name="version-v2.1"),
    path("v2.1/", include("flavors.api.urls")),
    path("v2.1/", include("servers.api.urls")),
    path("v2.1/", include("consoles.api.urls")),
    path("v2.1/", include("keypairs.api.urls")),
    path("v2.1/", include("servergroups.api.urls")),
    path("v2.1/", include("hosts.api.urls")),
    path("v2.1/", include("quotas.api.urls")),
    path("v2.1/", include("instance_actions.api.urls")),
    path("", include("servers.api.metadata_urls")),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs/", SpectacularRedocView.as_view(url_name="openapi"), name="api-docs"),
    path("admin/cell/", cell_admin_site.urls),
    path("admin/", admin.site.urls),
    path("healthcheck", healthcheck, name="healthcheck"),
    path("metrics", metrics_view, name="metrics"),
]
