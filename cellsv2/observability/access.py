"""Who may see the detailed health check and the metrics.

- a staff member logged in to the admin (a Django session of ``/admin/``);
- for the metrics, ``Authorization: Bearer <CELLSV2_METRICS_TOKEN>`` (Prometheus'
  ``authorization`` / ``bearer_token_file``);
- a client whose address is in ``CELLSV2_HEALTHCHECK_ALLOWED_ADDRESSES`` /
  ``CELLSV2_METRICS_ALLOWED_ADDRESSES`` (CIDRs; a bare address is a /32 or /128).

Addresses are those of the TCP peer (``REMOTE_ADDR``), never a header: a request that carries
``Forwarded`` or ``X-Forwarded-For`` came through a proxy, whose own address says nothing about
the client, and is never let in by address (as oslo.middleware's ``ignore_proxied_requests``).
"""

import hmac
import ipaddress
from functools import lru_cache

from django.core.exceptions import ImproperlyConfigured

PROXY_HEADERS = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_X_REAL_IP")


@lru_cache(maxsize=16)
def parse_networks(value: str, setting: str = "allowed addresses") -> tuple:
    """``"10.0.0.0/8, ::1"`` -> networks; ImproperlyConfigured names a bad entry."""
    networks = []
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{setting}: {item!r} is not an address or a CIDR network") from None
    return tuple(networks)


def address_allowed(meta: dict, networks) -> bool:
    """The TCP peer of a request (its WSGI environ / META) is in ``networks``, and no proxy relayed it."""
    if not networks or any(meta.get(h) for h in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address((meta.get("REMOTE_ADDR") or "").split("%", 1)[0])
    except ValueError:
        return False
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return any(address.version == network.version and address in network for network in networks)


def bearer_token_matches(meta: dict, token: str) -> bool:
    """``Authorization: Bearer <token>`` with ``token`` (compared in constant time); never with no token set."""
    if not token:
        return False
    scheme, _, given = (meta.get("HTTP_AUTHORIZATION") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def staff_session(request) -> bool:
    """A staff member logged in to the admin (Django's session and auth middleware ran)."""
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)
