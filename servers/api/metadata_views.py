"""The metadata service over HTTP: Nova's metadata handler as a metadata proxy reaches it.

Mounted at the root next to the compute API (``servers/api/metadata_urls.py``): ``/openstack``
and everything below it, ``/ec2...``, ``/latest...``, ``/1.0...`` and the dated EC2 versions
(``/2009-04-04/meta-data/...``). servers/metadata.py builds the answers.

The instance is identified as Nova does with ``service_metadata_proxy`` on: the proxy in front
of the guests sends ``X-Instance-ID``, ``X-Tenant-ID`` and ``X-Instance-ID-Signature``, the hex
HMAC-SHA256 of the instance id keyed with the shared secret ``CELLSV2_METADATA_SECRET``.

- a missing header: 400, Nova's message, checked in Nova's order (instance id, signature, tenant);
- a signature that does not match (compared in constant time): 403 "Invalid proxy request signature.";
- no instance mapping, not placed yet, no live row in its cell, or another tenant's: 404;
- the instance's cell cannot be read: 500 "An unknown error has occurred. Please try your request again.";
- a path with no data: 404.

**No secret configured: every path answers 404.** Nova without the proxy identifies guests by
their fixed IP address and answers 404 when no instance has the address. There is no networking
here, so without a secret no request can be tied to an instance (an HMAC keyed with an empty
secret proves nothing: anyone can compute it), and 404 is what Nova answers for "no instance
found". 503 would announce a temporary outage, but a missing secret is a configuration that
lasts until an operator sets it, and it is not the guest's business; the operator learns of it
from the warning logged on every refused request.

Answers are Nova's: plain text (``text/plain``), JSON files as ``application/json``, and errors
as webob's plain-text error pages (``404 Not Found\\n\\nThe resource could not be found.``), never
compute API faults. Differences from Nova: ``/`` is the compute API's version document here, so
the EC2 version list is served at ``/ec2`` only; only GET and HEAD are answered (Nova also
answers other methods, but only the password POST, not served here, uses one); there is no
per-instance metadata cache (Nova's 15 s), the instance mapping cache applies when enabled; two
``X-Instance-ID`` headers arrive joined by a comma, so they are not told apart from one (Nova
answers 400).
"""

import hashlib
import hmac
import logging

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_http_methods

from servers.metadata import (
    MIME_TYPE_APPLICATION_JSON,
    InvalidMetadataPath,
    metadata_instance_get,
    metadata_lookup,
)

logger = logging.getLogger(__name__)

REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}
NOT_FOUND = "The resource could not be found."
UNKNOWN_ERROR = "An unknown error has occurred. Please try your request again."
REQUIRED_HEADERS = (
    ("X-Instance-ID", "X-Instance-ID header is missing from request."),
    ("X-Instance-ID-Signature", "X-Instance-ID-Signature header is missing from request."),
    ("X-Tenant-ID", "X-Tenant-ID header is missing from request."),
)


def error(status: int, explanation: str = NOT_FOUND) -> HttpResponse:
    """webob's plain-text error page, as Nova's metadata handler sends it."""
    return HttpResponse(
        f"{status} {REASONS[status]}\n\n{explanation}", status=status, content_type="text/plain; charset=UTF-8"
    )


def instance_id_signature(instance_id: str, secret: str) -> str:
    """The hex HMAC-SHA256 a metadata proxy sends in X-Instance-ID-Signature."""
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


@require_http_methods(["GET", "HEAD"])
def metadata(request):
    """Answer one metadata request (any metadata path; the URL patterns only pick which are ours)."""
    secret = settings.CELLSV2_METADATA_SECRET
    if not secret:
        logger.warning("Metadata request refused: CELLSV2_METADATA_SECRET is not set")
        return error(404)
    headers = request.headers
    for name, message in REQUIRED_HEADERS:
        if headers.get(name) is None:
            return error(400, message)
    instance_id, tenant_id = headers["X-Instance-ID"], headers["X-Tenant-ID"]
    signature = headers["X-Instance-ID-Signature"]
    address = headers.get("X-Forwarded-For")
    expected = instance_id_signature(instance_id, secret)
    if not signature or not hmac.compare_digest(expected.encode(), signature.encode()):
        logger.warning("X-Instance-ID-Signature does not match for id %s; request from %s", instance_id, address)
        return error(403, "Invalid proxy request signature.")
    try:
        source = metadata_instance_get(instance_uuid=instance_id)
    except Exception:
        logger.exception("Failed to get metadata for instance id: %s", instance_id)
        return error(500, UNKNOWN_ERROR)
    if source is None:
        logger.error("Failed to get metadata for instance id: %s", instance_id)
        return error(404)
    if source.project_id != tenant_id:
        logger.warning("Tenant_id %s does not match tenant_id of instance %s.", tenant_id, instance_id)
        return error(404)
    try:
        body, mimetype = metadata_lookup(source, request.path_info, address=address)
    except InvalidMetadataPath:
        return error(404)
    content_type = mimetype if mimetype == MIME_TYPE_APPLICATION_JSON else f"{mimetype}; charset=UTF-8"
    return HttpResponse(body, content_type=content_type)
