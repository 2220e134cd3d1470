"""Nova's fault bodies: every API error is ``{"<faultName>": {"code": N, "message": "..."}}``."""

import json
import logging

from django.db.utils import OperationalError
from django.http import HttpResponse

logger = logging.getLogger("cellsv2.api")

# nova.api.openstack.wsgi.Fault._fault_names; anything else (406, 500, ...) is computeFault.
FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}

NOT_FOUND_MESSAGE = "The resource could not be found."
UNAUTHORIZED_MESSAGE = "The request you have made requires authentication."


def fault_name(code: int) -> str:
    return FAULT_NAMES.get(code, "computeFault")


def fault_body(code: int, message: str) -> dict:
    return {fault_name(code): {"code": code, "message": message}}


def unauthorized_body() -> dict:
    """Keystone's 401 body (keystonemiddleware answers 401 before Nova sees the request)."""
    return {"error": {"code": 401, "title": "Unauthorized", "message": UNAUTHORIZED_MESSAGE}}


def json_response(body: dict, status: int) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


def fault_response(code: int, message: str) -> HttpResponse:
    """A plain Django response with a fault body (for middleware and URL-level errors)."""
    return json_response(fault_body(code, message), code)


class ApiFault(Exception):
    """An error the API answers with a Nova fault; ``message`` is shown to the client as is."""

    code = 500
    default_message = "An unknown error has occurred."

    def __init__(self, message: str | None = None, *, headers: dict | None = None):
        self.message = message or self.default_message
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(ApiFault):
    code = 400
    default_message = "Bad request."


class Unauthorized(ApiFault):
    code = 401
    default_message = UNAUTHORIZED_MESSAGE


class Forbidden(ApiFault):
    code = 403
    default_message = "Forbidden."


class NotFound(ApiFault):
    code = 404
    default_message = NOT_FOUND_MESSAGE


class Conflict(ApiFault):
    code = 409
    default_message = "There was a conflict when trying to complete your request."


class RequestTooLarge(ApiFault):
    code = 413
    default_message = "Request is too large."


class UnsupportedMediaType(ApiFault):
    code = 415
    default_message = "Unsupported Content-Type"


class NotImplementedFault(ApiFault):
    code = 501
    default_message = "The requested functionality is not supported."


class ServiceUnavailable(ApiFault):
    code = 503
    default_message = "The service is unavailable right now."


# --- the one table from domain exception to fault ------------------------------------------------
#
# Apps register how their exceptions answer over HTTP (AppConfig.ready()), so a view lets a
# service's exception through and the exception handler turns it into the fault: the message is
# the exception's own text. A view still catches an exception itself where one call site must
# answer differently (a flavor Nova reports as 400 when it is a server's flavorRef, 404 on its own).
_FAULT_CODES: dict[type[BaseException], int] = {}


def register_faults(codes: dict[type[BaseException], int]) -> None:
    """Add ``{ExceptionType: status code}`` entries to the table (apps call it from ready())."""
    for exc_type, code in codes.items():
        if code not in FAULT_NAMES and code not in (500,):
            raise ValueError(f"{exc_type.__name__}: {code} is not a fault code")
        _FAULT_CODES[exc_type] = code


def fault_code_for(exc: BaseException) -> int | None:
    """The status code registered for ``exc``'s class or its nearest registered base, if any."""
    for klass in type(exc).__mro__:
        code = _FAULT_CODES.get(klass)
        if code is not None:
            return code
    return None


DATABASE_UNAVAILABLE_MESSAGE = (
    "A database refused a connection, did not answer in time or has no connection free; retry later."
)


def database_unavailable(exc: BaseException, request_id: str | None) -> HttpResponse | None:
    """The 503 for an error of a database's operation (unreachable, out of pooled connections,
    a statement cancelled by its timeout), logged on one line; None for any other error.

    Those are the deployment's trouble, not the request's: the client may retry, and the operator
    finds the database and the cause in the log.
    """
    if not isinstance(exc, OperationalError):
        return None
    cause = exc.__cause__ or exc
    logger.warning("Database unavailable (request %s): %s: %s", request_id, type(cause).__name__, exc)
    return fault_response(503, DATABASE_UNAVAILABLE_MESSAGE)


def unexpected_error_message(exc: BaseException, request_id: str | None) -> str:
    """Nova's 500 text, pointing at the log line by request id instead of a traceback."""
    where = f" with request id {request_id}" if request_id else ""
    return (
        "Unexpected API Error. Please report this to the operator of this cloud and give the request id"
        f"{where} so the API log can be found.\n<class '{type(exc).__module__}.{type(exc).__qualname__}'>"
    )
