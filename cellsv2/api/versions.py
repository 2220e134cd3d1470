"""Version discovery documents (no authentication): ``/``, ``/v2/`` and ``/v2.1/``."""

from django.views.decorators.http import require_GET

from cellsv2.api import microversions
from cellsv2.api.faults import json_response
from cellsv2.api.pagination import link_prefix

V20 = {
    "id": "v2.0",
    "status": "DEPRECATED",
    "version": "",
    "min_version": "",
    "updated": "2025-07-04T12:00:00Z",
    "media_type": "application/vnd.openstack.compute+json;version=2",
    "path": "v2/",
}
V21 = {
    "id": "v2.1",
    "status": "CURRENT",
    "version": microversions.MAX_VERSION_STRING,
    "min_version": microversions.MIN_VERSION_STRING,
    "updated": "2013-07-23T11:33:21Z",
    "media_type": "application/vnd.openstack.compute+json;version=2.1",
    "path": "v2.1/",
}
SUMMARY_KEYS = ("id", "status", "version", "min_version", "updated")


def _summary(request, version: dict) -> dict:
    return {
        **{key: version[key] for key in SUMMARY_KEYS},
        "links": [{"rel": "self", "href": f"{link_prefix(request)}/{version['path']}"}],
    }


def _document(request, version: dict) -> dict:
    return {
        "version": {
            **{key: version[key] for key in SUMMARY_KEYS},
            "links": [
                {"rel": "self", "href": f"{link_prefix(request)}/{version['path']}"},
                {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
            ],
            "media-types": [{"base": "application/json", "type": version["media_type"]}],
        }
    }


@require_GET
def versions_index(request):
    """GET / : every API version, v2.0 first (tempest checks the order)."""
    return json_response({"versions": [_summary(request, V20), _summary(request, V21)]}, 200)


@require_GET
def version_v2(request):
    """GET /v2 and /v2/ : the deprecated v2.0 document."""
    return json_response(_document(request, V20), 200)


@require_GET
def version_v21(request):
    """GET /v2.1 and /v2.1/ : the v2.1 document with the microversion range, no redirect."""
    return json_response(_document(request, V21), 200)
