"""marker/limit and offset/limit pagination with Nova's messages and ``*_links`` next links."""

from urllib.parse import urlencode

from django.conf import settings

from cellsv2.api.faults import BadRequest

MAX_OFFSET = 2**62


def max_limit() -> int:
    return settings.CELLSV2_API_MAX_LIMIT


def _non_negative(request, name: str) -> int | None:
    value = request.query_params.getlist(name)
    if not value:
        return None
    raw = value[-1]
    try:
        number = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} param must be an integer") from None
    if number < 0:
        raise BadRequest(f"{name} param must be positive")
    return number


def limit_and_marker(request) -> tuple[int, str | None]:
    """Nova's get_limit_and_marker: the page size (capped at max_limit) and the marker, if any."""
    limit = _non_negative(request, "limit")
    limit = min(max_limit(), max_limit() if limit is None else limit)
    markers = request.query_params.getlist("marker")
    return limit, (markers[-1] if markers else None)


def offset_and_limit(request) -> tuple[int, int]:
    """Nova's get_pagination_params for offset paging: (offset, limit capped at max_limit)."""
    offset = _non_negative(request, "offset") or 0
    limit = _non_negative(request, "limit")
    # Nova slices the list in Python: an offset past the end is an empty page, however large.
    # Databases take 64-bit offsets only; no table holds 2**62 rows.
    return min(offset, MAX_OFFSET), min(max_limit(), limit or max_limit())


def link_prefix(request) -> str:
    """The base URL links are built from: CELLSV2_COMPUTE_LINK_PREFIX, else the request's host."""
    configured = getattr(settings, "CELLSV2_COMPUTE_LINK_PREFIX", "")
    if configured:
        return configured.rstrip("/")
    # A response builds several links: the host is worked out once per request.
    prefix = getattr(request, "_link_prefix", None)
    if prefix is None:
        prefix = request._link_prefix = request.build_absolute_uri("/").rstrip("/")
    return prefix


def resource_links(request, collection: str, identifier: str) -> list[dict]:
    """Nova's self and bookmark links of one resource."""
    prefix = link_prefix(request)
    return [
        {"rel": "self", "href": f"{prefix}/v2.1/{collection}/{identifier}"},
        {"rel": "bookmark", "href": f"{prefix}/{collection}/{identifier}"},
    ]


def next_links(request, collection: str, items: list, limit: int, marker_of) -> list[dict]:
    """``[{"rel": "next", ...}]`` when the page is full (Nova's _get_collection_links), else []."""
    if not items or len(items) != limit:
        return []
    # Nova: the request's parameters sorted by name (last value of each), marker set or replaced.
    params = {key: request.query_params.getlist(key)[-1] for key in sorted(request.query_params)}
    params["marker"] = marker_of(items[-1])
    return [{"rel": "next", "href": f"{link_prefix(request)}/v2.1/{collection}?{urlencode(params)}"}]
