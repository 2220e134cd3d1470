"""The first middleware of every request: its id, its log fields, its metrics and its access line.

- gives the request its id (``req-<uuid4>``; the compute API returns it in
  ``x-openstack-request-id``) before anything logs;
- binds the log fields of the request (cellsv2.observability.context): id, method, then the
  route once Django resolved it, the caller once the compute API authenticated it (or the
  admin's user), status and duration at the end;
- counts and times the request by route pattern, method and status (cellsv2.observability.metrics);
- writes one access line per request on ``cellsv2.access`` (JSON mode: cellsv2.observability.logs).
"""

import logging
import time
import uuid

from django.conf import settings

from cellsv2.observability import metrics
from cellsv2.observability.context import log_fields_bound, log_fields_update
from cellsv2.observability.logs import ACCESS_LOGGER

access_logger = logging.getLogger(ACCESS_LOGGER)

UNMATCHED = "unmatched"
STATIC = "static"


def route_of(request) -> str:
    """The URL pattern Django's resolver matched (``v2.1/servers/<str:server_id>``), ``static`` for
    what WhiteNoise served before any resolving, else ``unmatched``: never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.route or match.view_name or UNMATCHED
    return STATIC if request.path_info.startswith(_static_prefix()) else UNMATCHED


def _static_prefix() -> str:
    return "/" + settings.STATIC_URL.lstrip("/")


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request.request_id = f"req-{uuid.uuid4()}"
        with log_fields_bound(request_id=request.request_id, method=request.method) as fields:
            response = self.get_response(request)
            seconds = time.perf_counter() - started
            route = route_of(request)
            metrics.request_observed(route, request.method, response.status_code, seconds)
            if access_logger.isEnabledFor(logging.INFO):
                fields.update(route=route, status=response.status_code, duration_ms=round(seconds * 1000, 3))
                if "user" not in fields:
                    _admin_user(request, fields)
                access_logger.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={"cellsv2": {"path": request.path, "remote_addr": request.META.get("REMOTE_ADDR")}},
                )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Resolved now: the lines the view logs carry the route.
        log_fields_update(route=route_of(request))


def _admin_user(request, fields: dict) -> None:
    """The admin's logged-in user, when Django's auth middleware ran (not on the compute API)."""
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False) and hasattr(user, "get_username"):
        fields["user"] = user.get_username()
