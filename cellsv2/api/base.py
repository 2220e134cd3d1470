"""The base view of every compute API resource and the DRF exception handler.

``ComputeAPIView`` authenticates with the configured mode, always answers JSON, parses request
bodies the way Nova does (accepted content types, 400 for malformed JSON, None for an empty body)
and turns every error into a Nova fault. Handlers read the caller from ``self.context`` and the
negotiated microversion from ``request.api_version``.
"""

import json
import logging
import re

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from cellsv2.api import authentication, validation
from cellsv2.api.faults import (
    NOT_FOUND_MESSAGE,
    ApiFault,
    BadRequest,
    NotFound,
    RequestTooLarge,
    UnsupportedMediaType,
    fault_body,
    fault_code_for,
    unauthorized_body,
    unexpected_error_message,
)
from cellsv2.observability.context import log_fields_update
from cellsv2.quotas import OverQuota

logger = logging.getLogger("cellsv2.api")

ACCEPTED_CONTENT_TYPES = ("application/json", "application/vnd.openstack.compute+json", "text/plain", "")


class JSONOnlyNegotiation(BaseContentNegotiation):
    """The compute API answers JSON whatever the Accept header says (as Nova does)."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ComputeJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code == 204:
            return b""
        return super().render(data, accepted_media_type, renderer_context)


class IsAuthenticatedContext:
    """Every compute API call needs a caller (401 otherwise)."""

    def has_permission(self, request, view):
        return isinstance(request.auth, authentication.ComputeContext)

    def has_object_permission(self, request, view, obj):
        return True


def _message(detail) -> str:
    if isinstance(detail, list):
        return "; ".join(_message(d) for d in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_message(v)}" for k, v in detail.items())
    return str(detail)


def compute_exception_handler(exc, context):
    """DRF exception handler: every error becomes a Nova fault (never DRF's own shapes)."""
    request = context.get("request")
    if isinstance(exc, ApiFault):
        if exc.code == 401:
            return _unauthorized(context)
        return Response(fault_body(exc.code, exc.message), status=exc.code, headers=exc.headers)
    code = fault_code_for(exc)
    if code is not None:
        return Response(fault_body(code, str(exc)), status=code)
    if isinstance(exc, OverQuota):
        # Nova's controllers turn OverQuota (413 inside Nova) into 403.
        return Response(fault_body(403, str(exc)), status=403)
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        return _unauthorized(context)
    if isinstance(exc, Http404 | drf_exceptions.NotFound | drf_exceptions.MethodNotAllowed):
        return Response(fault_body(404, NOT_FOUND_MESSAGE), status=404)
    if isinstance(exc, PermissionDenied | drf_exceptions.PermissionDenied):
        return Response(fault_body(403, _message(getattr(exc, "detail", "Forbidden."))), status=403)
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return Response(fault_body(415, "Unsupported Content-Type"), status=415)
    if isinstance(exc, drf_exceptions.ParseError):
        return Response(fault_body(400, "Malformed request body"), status=400)
    if isinstance(exc, drf_exceptions.Throttled):
        return Response(fault_body(429, "This request was rate-limited."), status=429)
    if isinstance(exc, drf_exceptions.APIException):
        return Response(fault_body(exc.status_code, _message(exc.detail)), status=exc.status_code)
    request_id = getattr(getattr(request, "_request", request), "request_id", None)
    logger.error("Unexpected API error (%s)", request_id, exc_info=exc)
    return Response(fault_body(500, unexpected_error_message(exc, request_id)), status=500)


def _unauthorized(context) -> Response:
    view, request = context.get("view"), context.get("request")
    headers = {}
    if view is not None and request is not None:
        header = view.get_authenticate_header(request)
        if header:
            headers["WWW-Authenticate"] = header
    return Response(unauthorized_body(), status=401, headers=headers)


class ComputeAPIView(APIView):
    """Base class of the compute API's views."""

    permission_classes = [IsAuthenticatedContext]
    renderer_classes = [ComputeJSONRenderer]
    parser_classes = []
    content_negotiation_class = JSONOnlyNegotiation
    throttle_classes = []

    def get_authenticators(self):
        return [cls() for cls in authentication.authentication_classes()]

    def get_exception_handler(self):
        return compute_exception_handler

    def perform_authentication(self, request):
        super().perform_authentication(request)
        if isinstance(request.auth, authentication.ComputeContext):
            # Every log line of the request from here on names its caller.
            log_fields_update(user=request.auth.user_id, project=request.auth.project_id)

    @property
    def context(self) -> authentication.ComputeContext:
        return self.request.auth

    @property
    def api_version(self):
        return self.request._request.api_version

    def require_version(self, min_version: str | None = None, max_version: str | None = None) -> None:
        """404 outside [min_version, max_version]: a method that does not exist at this microversion."""
        if not self.request._request.api_version.matches(min_version, max_version):
            raise NotFound()

    def body(self):
        """The JSON body (None when empty), with Nova's 415 and 400 answers."""
        request = self.request._request
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type not in ACCEPTED_CONTENT_TYPES:
            raise UnsupportedMediaType()
        try:
            raw = request.body
        except RequestDataTooBig:
            raise RequestTooLarge() from None
        if len(raw) > settings.CELLSV2_MAX_REQUEST_BODY_SIZE:
            raise RequestTooLarge()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise BadRequest("Malformed request body") from None

    def validated_body(self, schema: dict):
        body = self.body()
        validation.validate_body(schema, body)
        return body

    def validated_query(self, schema: dict | None) -> dict[str, list[str]]:
        """The query string validated against ``schema``; parameters it does not name are dropped.

        Nova's query schemas before 2.75 allow unknown parameters and then strip them from the
        request, so that nothing downstream (filters, ``*_links`` next links) sees them.
        """
        params = validation.query_params(self.request)
        if schema is None:
            return params
        validation.validate_query(schema, params)
        if schema.get("additionalProperties", True) is not False:
            known = schema.get("properties", {})
            patterns = [re.compile(pattern) for pattern in schema.get("patternProperties", {})]
            unknown = [name for name in params if name not in known and not any(p.search(name) for p in patterns)]
            if unknown:
                params = {name: values for name, values in params.items() if name not in unknown}
                query = self.request._request.GET.copy()
                for name in unknown:
                    del query[name]
                query._mutable = False
                self.request._request.GET = query
        return params
