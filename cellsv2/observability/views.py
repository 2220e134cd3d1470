"""``/healthcheck`` (oslo.middleware's healthcheck) and ``/metrics`` (Prometheus' text format).

Neither is part of the compute API: no token, no microversion, no Nova fault bodies.
"""

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from cellsv2.observability import access, health, metrics


def detail_allowed(request) -> bool:
    return access.staff_session(request) or access.address_allowed(
        request.META, settings.CELLSV2_HEALTHCHECK_ALLOWED_ADDRESSES
    )


@never_cache
@require_safe  # GET and HEAD
def healthcheck(request):
    """200 (HEAD: 204) when healthy, 503 when not; text/plain unless Accept prefers HTML or JSON.

    Checks the API database, every cell and the cache (cellsv2.observability.health); the
    detailed body only for a staff session or an allowed address.
    """
    report = health.health_report()
    if request.method == "HEAD":
        return HttpResponse(status=204 if report.healthy else 503, content_type="text/plain; charset=UTF-8")
    content_type = health.negotiate(request.headers.get("Accept"))
    body = health.render(report, content_type, detailed=detail_allowed(request))
    response = HttpResponse(body, status=200 if report.healthy else 503, content_type=f"{content_type}; charset=UTF-8")
    response["Vary"] = "Accept"
    return response


@never_cache
@require_safe
def metrics_view(request):
    """Every ``cellsv2_*`` metric in Prometheus' text format (401/403 unless allowed: cellsv2.observability.access)."""
    allowed = (
        access.bearer_token_matches(request.META, settings.CELLSV2_METRICS_TOKEN)
        or access.address_allowed(request.META, settings.CELLSV2_METRICS_ALLOWED_ADDRESSES)
        or access.staff_session(request)
    )
    if not allowed:
        if settings.CELLSV2_METRICS_TOKEN:
            response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain; charset=UTF-8")
            response["WWW-Authenticate"] = 'Bearer realm="cellsv2-metrics"'
            return response
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain; charset=UTF-8")
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
