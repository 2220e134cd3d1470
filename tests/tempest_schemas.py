"""Check a response against tempest's compute response schemas (the bodies clients rely on)."""

import importlib

from tempest.lib.common.rest_client import RestClient


class _Response(dict):
    """What tempest's validate_response reads: the status and the headers."""

    def __init__(self, status: int, headers: dict):
        super().__init__({k.lower(): v for k, v in headers.items()})
        self.status = status


def tempest_schema(version_dir: str, module: str, name: str) -> dict:
    """``tempest_schema("v2_57", "quotas", "get_quota_set")``."""
    return getattr(importlib.import_module(f"tempest.lib.api_schema.response.compute.{version_dir}.{module}"), name)


def assert_matches_tempest(response, version_dir: str, module: str, name: str) -> None:
    """Raise tempest's InvalidHTTPResponseBody (or a status mismatch) as a tempest run would."""
    body = response.json() if response.content else ""
    RestClient.validate_response(tempest_schema(version_dir, module, name), _Response(response.status_code, {}), body)
