"""Flavor response bodies per microversion (nova/api/openstack/compute/views/flavors.py)."""

from cellsv2.api.pagination import next_links, resource_links
from flavors.models import Flavor

DESCRIPTION_VERSION = "2.55"
EXTRA_SPECS_VERSION = "2.61"
INTEGER_SWAP_VERSION = "2.75"


def flavor_basic(request, flavor: Flavor) -> dict:
    """The summary of ``GET /flavors``: id, name, links (+ description from 2.55)."""
    body = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "links": resource_links(request, "flavors", flavor.flavorid),
    }
    if request.api_version >= DESCRIPTION_VERSION:
        body["description"] = flavor.description
    return body


def flavor_detail(request, flavor: Flavor, *, include_description: bool, include_extra_specs: bool) -> dict:
    """The full flavor: ``GET /flavors/detail``, ``GET/PUT /flavors/{id}`` and ``POST /flavors``.

    ``swap`` is "" for no swap before 2.75 and 0 from 2.75; NULL integers read as 0 as in Nova's
    Flavor object.
    """
    body = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "ram": flavor.memory_mb or 0,
        "disk": flavor.root_gb or 0,
        "swap": (flavor.swap or 0) if request.api_version >= INTEGER_SWAP_VERSION else (flavor.swap or ""),
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb or 0,
        "OS-FLV-DISABLED:disabled": bool(flavor.disabled),
        "vcpus": flavor.vcpus or 0,
        "os-flavor-access:is_public": bool(flavor.is_public),
        "rxtx_factor": flavor.rxtx_factor or "",
        "links": resource_links(request, "flavors", flavor.flavorid),
    }
    if include_description:
        body["description"] = flavor.description
    if include_extra_specs:
        body["extra_specs"] = {spec.key: spec.value for spec in sorted(flavor.extra_specs.all(), key=lambda s: s.id)}
    return body


def flavor_list(request, flavors: list[Flavor], *, limit: int) -> dict:
    """``{"flavors": [...]}`` of summaries, with ``flavors_links`` when the page is full."""
    return _with_links(request, "flavors", [flavor_basic(request, f) for f in flavors], flavors, limit)


def flavor_detail_list(request, flavors: list[Flavor], *, limit: int, include_extra_specs: bool) -> dict:
    """``{"flavors": [...]}`` of full flavors, with ``flavors_links`` when the page is full."""
    include_description = request.api_version >= DESCRIPTION_VERSION
    items = [
        flavor_detail(request, f, include_description=include_description, include_extra_specs=include_extra_specs)
        for f in flavors
    ]
    return _with_links(request, "flavors/detail", items, flavors, limit)


def _with_links(request, collection: str, items: list[dict], flavors: list[Flavor], limit: int) -> dict:
    body = {"flavors": items}
    links = next_links(request, collection, flavors, limit, lambda flavor: flavor.flavorid)
    if links:
        body["flavors_links"] = links
    return body
