"""The compute API's cross-cutting HTTP rules, applied to every ``/v2.1`` request.

- negotiates the microversion (400 for a malformed value, 406 for an unsupported one) and puts it
  on ``request.api_version``;
- gives each request an id (``req-<uuid4>``) and returns it in ``x-openstack-request-id`` and
  ``x-compute-request-id``;
- echoes the version in both version headers with ``Vary`` on every response, errors included;
- refuses bodies above ``CELLSV2_MAX_REQUEST_BODY_SIZE`` with 413;
- turns anything that is not already a fault (Django's 404 page for an unknown route, an
  exception that escaped a view) into Nova's fault body, never a traceback.
"""

import logging
import uuid

from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.utils.cache import patch_vary_headers

from cellsv2.api import microversions
from cellsv2.api.faults import NOT_FOUND_MESSAGE, database_unavailable, fault_response, unexpected_error_message

logger = logging.getLogger("cellsv2.api")

API_PREFIX = "/v2.1"
GENERIC_MESSAGES = {400: "Bad request.", 403: "Forbidden.", 500: "Unexpected API Error."}


def is_api_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def add_version_headers(response, version) -> None:
    response[microversions.NEW_HEADER] = f"compute {version}"
    response[microversions.LEGACY_HEADER] = str(version)
    patch_vary_headers(response, (microversions.NEW_HEADER, microversions.LEGACY_HEADER))


class ComputeApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_api_path(request.path_info):
            return self.get_response(request)
        # cellsv2.observability's middleware, first in the chain, already gave the request its id.
        request.request_id = getattr(request, "request_id", None) or f"req-{uuid.uuid4()}"
        response = self._handle(request)
        response["x-openstack-request-id"] = request.request_id
        response["x-compute-request-id"] = request.request_id
        return response

    def _handle(self, request):
        try:
            request.api_version = microversions.requested_version(request.headers)
        except microversions.InvalidVersionFormat as exc:
            # Nova sends no version headers after a malformed version.
            return fault_response(400, str(exc))
        except microversions.VersionNotSupported as exc:
            response = fault_response(406, str(exc))
            add_version_headers(response, exc.version)
            return response

        response = self._checked_size(request) or self._checked_nul(request) or self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            response = self._as_fault(response)
        add_version_headers(response, request.api_version)
        return response

    @staticmethod
    def _as_fault(response):
        """Django's own error pages (unknown route, bad Host, ...) must not leak into the API."""
        if response.status_code in (404, 405):
            # Nova's router has no 405: a method it does not route is a 404.
            return fault_response(404, NOT_FOUND_MESSAGE)
        return fault_response(response.status_code, GENERIC_MESSAGES.get(response.status_code, "Request failed."))

    @staticmethod
    def _checked_nul(request):
        """A NUL character can be in no name, id or filter we store, and PostgreSQL refuses it in a
        query: a path holding one names nothing (404), a query string holding one is malformed (400)."""
        if "\x00" in request.path_info:
            return fault_response(404, NOT_FOUND_MESSAGE)
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            return fault_response(400, "Invalid query string: parameters may not contain NUL characters.")
        return None

    def _checked_size(self, request):
        limit = settings.CELLSV2_MAX_REQUEST_BODY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return fault_response(400, "Invalid Content-Length header.")
        if length > limit:
            return fault_response(413, "Request is too large.")
        return None

    def process_exception(self, request, exception):
        if not is_api_path(request.path_info):
            return None
        request_id = getattr(request, "request_id", None)
        unavailable = database_unavailable(exception, request_id)
        if unavailable is not None:
            return unavailable
        logger.error("Unexpected API error (%s)", request_id, exc_info=exception)
        return fault_response(500, unexpected_error_message(exception, request_id))


# --- the admin's middleware, skipped on the compute API ---------------------------------------------
#
# Sessions, the logged-in user and messages serve the browser pages (the admin). A compute API
# request authenticates with a token or identity headers and answers JSON: it needs none of them.
# Each is Django's own middleware with one rule added, so the admin's system checks still find
# them and the admin gets exactly Django's behaviour. (CSRF and the clickjacking header stay as
# Django ships them: the deployment checks look for them by name, and the API's DRF views are
# csrf-exempt, so CSRF costs little there.)


class _NotOnComputeApi:
    def __call__(self, request):
        if is_api_path(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_NotOnComputeApi, sessions_middleware.SessionMiddleware):
    """django.contrib.sessions' middleware, except on /v2.1."""


class AuthenticationMiddleware(_NotOnComputeApi, auth_middleware.AuthenticationMiddleware):
    """django.contrib.auth's middleware (request.user for the admin), except on /v2.1."""


class MessageMiddleware(_NotOnComputeApi, messages_middleware.MessageMiddleware):
    """django.contrib.messages' middleware, except on /v2.1."""
