"""``manage.py consoleproxy --flavour novnc|serial|spicehtml5 --listen HOST:PORT [--web DIR]``.

Runs a console proxy (Nova's nova-novncproxy, nova-serialproxy, nova-spicehtml5proxy): browsers
open WebSockets here with the token of an access URL; the proxy validates the token against the
cell databases and relays bytes to the console of the instance. Run one or more per flavour
behind the base URLs of CELLSV2_CONSOLE_BASE_URLS; several processes agree on connected serial
ports through the cell databases. ``--web`` serves static files (noVNC, spice-html5) too.
"""

import argparse
import logging

from cellsv2.management.base import OperatorCommand
from cellsv2.observability.logs import TEXT_FORMAT
from cellsv2.observability.server import metrics_server_start
from consoles.proxy import DEFAULT_PORTS, FLAVOURS, ConsoleProxyServer


def listen_address(value: str) -> tuple[str, int | None]:
    """HOST:PORT, [IPv6]:PORT, HOST or :PORT."""
    host, port = value, None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        host, port = value.split(":")
    try:
        number = int(port) if port not in (None, "") else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT") from None
    if number is not None and not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: the port must be between 0 and 65535")
    return host or "0.0.0.0", number


def verbose_logging() -> None:
    """--verbose: the proxy's INFO lines (every request, refused connections) go to stderr.

    In text mode only the ``cellsv2`` loggers have a handler (settings.LOGGING); the proxy's
    logger gets one here, in this process's log format.
    """
    proxy_logger = logging.getLogger("consoles")
    proxy_logger.setLevel(logging.INFO)
    if not proxy_logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        proxy_logger.addHandler(handler)


class Command(OperatorCommand):
    help = "Run a WebSocket console proxy (novnc, serial or spicehtml5) that validates console tokens."

    server: ConsoleProxyServer | None = None

    def add_arguments(self, parser):
        parser.add_argument("--flavour", choices=sorted(FLAVOURS), default="novnc")
        parser.add_argument(
            "--listen", type=listen_address, default=None, help="HOST:PORT (default 0.0.0.0 and the flavour's port)"
        )
        parser.add_argument("--web", help="Serve static files (e.g. /usr/share/novnc) from this directory")
        parser.add_argument("--verbose", action="store_true", help="Log every request (tokens masked)")

    def run(self, *args, flavour, listen, web, verbose, **options):
        host, port = listen or ("0.0.0.0", None)
        port = DEFAULT_PORTS[flavour] if port is None else port
        if verbose:
            verbose_logging()
        try:
            self.server = ConsoleProxyServer((host, port), flavour=flavour, web=web, verbose=verbose)
        except OSError as exc:  # unknown host, address in use, port not allowed
            self.fail(f"Cannot listen on {host}:{port}: {exc.strerror or exc}")
            return 1
        bound_host, bound_port = self.server.server_address[:2]
        metrics_server_start()  # CELLSV2_METRICS_LISTEN: /metrics and /healthcheck of this proxy
        try:
            # Ctrl-C as soon as the address shows is a normal stop too, not a traceback.
            self.say(f"Console proxy ({flavour}) listening on {bound_host}:{bound_port}")
            self.stdout.flush()
            self.server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.server.server_close()
        return 0
