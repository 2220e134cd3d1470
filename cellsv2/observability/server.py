"""``CELLSV2_METRICS_LISTEN``: /metrics and /healthcheck for processes that serve no Django requests.

The conductor (``manage.py conductor``) and the console proxies (``manage.py consoleproxy``) call
``metrics_server_start()`` as they start: with ``CELLSV2_METRICS_LISTEN=HOST:PORT`` set (per
unit: each process needs its own port), a daemon thread serves

- ``/metrics``: this process's metrics (placements, console sessions, its scatter-gathers),
  without the scrape-time ones the API's /metrics already serves (cells up, build queue, online
  migrations), under the same rules: the bearer token or an allowed address;
- ``/healthcheck``: the same checks and bodies as the API's (the detailed body to allowed addresses).

Off when the variable is empty (the default). ``manage.py healthcheck`` runs the same checks
without any port, for probes that run a command.
"""

import logging
import socket
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.db import connections

from cellsv2.observability import access, health, metrics

logger = logging.getLogger(__name__)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        logger.debug("%s - %s", self.client_address[0], format % args)


def listen_address(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[v6]:PORT`` -> (host, port); ValueError otherwise."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"CELLSV2_METRICS_LISTEN must be HOST:PORT, not {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _text(start_response, status: str, body: str, content_type: str = "text/plain; charset=UTF-8", headers=()):
    data = body.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))), *headers])
    return [data]


def application(environ, start_response):
    """The WSGI app of the metrics port."""
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
    if method not in ("GET", "HEAD"):
        allow = [("Allow", "GET, HEAD")]
        return _text(start_response, "405 Method Not Allowed", "Method Not Allowed\n", headers=allow)
    try:
        if path == "/metrics":
            allowed = access.bearer_token_matches(environ, settings.CELLSV2_METRICS_TOKEN) or access.address_allowed(
                environ, settings.CELLSV2_METRICS_ALLOWED_ADDRESSES
            )
            if not allowed:
                return _text(start_response, "403 Forbidden", "Forbidden\n")
            body = metrics.exposition(scrape_sources=False).decode()
            return _text(start_response, "200 OK", body, metrics.CONTENT_TYPE)
        if path == "/healthcheck":
            report = health.health_report()
            status = "200 OK" if report.healthy else "503 Service Unavailable"
            if method == "HEAD":
                return _text(start_response, "204 No Content" if report.healthy else status, "")
            content_type = health.negotiate(environ.get("HTTP_ACCEPT"))
            detailed = access.address_allowed(environ, settings.CELLSV2_HEALTHCHECK_ALLOWED_ADDRESSES)
            body = health.render(report, content_type, detailed=detailed)
            return _text(start_response, status, body, f"{content_type}; charset=UTF-8")
        return _text(start_response, "404 Not Found", "Not Found\n")
    finally:
        connections.close_all()  # each request has a thread of its own: its connections end with it


def metrics_server_start(listen: str | None = None):
    """Serve /metrics and /healthcheck on ``listen`` (default CELLSV2_METRICS_LISTEN) in a daemon
    thread; returns the server (``server_address``, ``shutdown()``), or None when not configured."""
    listen = settings.CELLSV2_METRICS_LISTEN if listen is None else listen
    if not listen:
        return None
    host, port = listen_address(listen)
    server_class = _Server6 if ":" in host else _Server
    server = make_server(host, port, application, server_class=server_class, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="cellsv2-metrics", daemon=True)
    thread.start()
    logger.info("Serving /metrics and /healthcheck on %s:%s", *server.server_address[:2])
    return server
