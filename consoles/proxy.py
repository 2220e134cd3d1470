"""The console proxy: WebSocket (browser) to TCP (the instance's console), built on websockify.

One ``ConsoleProxyServer`` per flavour (novnc, serial, spicehtml5), one thread per connection,
websockify's request handler for the WebSocket protocol and the byte relay. Before upgrading a
connection the handler:

1. refuses any path starting with ``//`` (the open redirect of CVE-2021-3654, every slash count);
2. reads the token from the query (``token``), from noVNC's ``path`` parameter holding
   ``?token=...`` or from a ``token`` cookie (a malformed cookie is ignored), and the optional
   ``instance_uuid`` next to it;
3. validates the token (``instance_uuid`` given: only that instance's cell is read and the token
   must be that instance's; otherwise every cell but cell0), checks the console type is this
   flavour's and the instance is still alive;
4. checks ``Origin`` as Nova's proxy does: its host must be the request's ``Host`` or one of
   ``CELLSV2_CONSOLE_ALLOWED_ORIGINS`` (a fresh set per request: settings are never changed,
   LP#2158919), its scheme (or ``X-Forwarded-Proto``) that of the access URL (ws~http, wss~https);
5. for serial consoles, claims the port in the cell database (one connection per port across
   every proxy process; the claim is a lease renewed while the session lasts and released when
   it ends).

6. counts the session against its token: at most ``CELLSV2_CONSOLE_MAX_SESSIONS_PER_TOKEN`` open
   at once per token in this process (429 beyond).

Refusals answer HTTP 403 (409 for a busy serial port, 429 for too many sessions of one token,
400 for ``//``) without upgrading. Then it
connects to the token's host:port (sending ``CONNECT <internal_access_path>`` first when the token
has one, as Nova does), relays bytes both ways, and with ``CELLSV2_CONSOLE_ENFORCE_SESSION_TIMEOUT``
closes the session when the token expires. Every log line goes through ``mask_tokens``.
"""

import hashlib
import logging
import os
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from http import cookies
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import connections
from websockify.websocketproxy import ProxyRequestHandler
from websockify.websocketserver import WebSocketServer
from websockify.websockifyserver import WebSockifyServer

from cellsv2.context import target_cell
from cellsv2.observability import metrics
from consoles import clock, selectors, services
from consoles.backends import ConsoleConnection
from consoles.exceptions import InvalidToken, SerialPortBusy
from servers.models import Instance

logger = logging.getLogger("consoles.proxy")

# flavour -> the console types its tokens may be for (R-CON-3: a token opens one kind of console)
FLAVOURS = {"novnc": ("novnc",), "serial": ("serial",), "spicehtml5": ("spice-html5",)}
DEFAULT_PORTS = {"novnc": 6080, "serial": 6083, "spicehtml5": 6082}

_TOKEN_RE = re.compile(r"(token(?:=|%3D|%253D))(?:(?!%26|%2526)[^&\s'\"#;,])*", re.IGNORECASE)


def mask_tokens(text: str) -> str:
    """``text`` with every token value replaced by ``***`` (LP#1492140)."""
    return _TOKEN_RE.sub(r"\1***", text)


class ConsoleRefused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def _last(query: dict, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def connection_credentials(path: str, headers) -> tuple[str | None, str | None]:
    """(token, instance_uuid) from a WebSocket request: query, noVNC's path form, or cookie."""
    query = parse_qs(urlsplit(path).query)
    token, instance_uuid = _last(query, "token"), _last(query, "instance_uuid")
    inner = _last(query, "path")
    if not token and inner:
        nested = parse_qs(urlsplit(inner).query)
        token = _last(nested, "token")
        instance_uuid = instance_uuid or _last(nested, "instance_uuid")
    if not token:
        for part in (headers.get("Cookie") or "").split(";"):
            jar = cookies.SimpleCookie()
            try:
                jar.load(part.strip())
            except cookies.CookieError:
                logger.warning("Ignoring a malformed cookie")  # never its content
                continue
            if "token" in jar:
                token = jar["token"].value
    return token or None, instance_uuid or None


def _host_of(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.split(":", 1)[0] if host_header.count(":") == 1 else host_header


def check_origin(headers, connection: ConsoleConnection, allowed_origins) -> None:
    """Nova's origin check; a request without Origin (not a browser) passes. Raises ConsoleRefused."""
    origin = headers.get("Origin")
    if origin is None:
        return
    expected = {h.lower() for h in allowed_origins} | {_host_of(headers.get("Host") or "").lower()}
    parsed = urlsplit(origin)
    hostname = (parsed.hostname or "").lower()
    scheme = (headers.get("X-Forwarded-Proto") or parsed.scheme or "").lower()
    if not hostname or not scheme:
        raise ConsoleRefused(403, "Origin header not valid.")
    if hostname not in expected:
        raise ConsoleRefused(403, "Origin header does not match this host.")
    if not connection.access_url_base:
        raise ConsoleRefused(403, "No access_url_base in connect_info. Cannot validate protocol")
    schemes = {urlsplit(connection.access_url_base).scheme.lower()}
    schemes |= {"http"} if "ws" in schemes else set()
    schemes |= {"https"} if "wss" in schemes else set()
    if scheme not in schemes:
        raise ConsoleRefused(403, "Origin header protocol does not match this host.")


def _instance_host(connection: ConsoleConnection) -> str | None:
    """The compute host of the token's instance, None once it is deleted (its tokens are dead)."""
    if connection.cell_uuid is None:
        return None
    with target_cell(connection.cell_uuid):
        row = Instance.objects.live().filter(uuid=connection.instance_uuid).values("host").first()
    return row["host"] if row is not None and row["host"] else None


@dataclass
class ConsoleSession:
    connection: ConsoleConnection
    compute_host: str
    serial_holder: str | None = None
    counted_as: str | None = None  # SessionCounter key while the session counts against its token
    expired: threading.Event = field(default_factory=threading.Event)


class SessionCounter:
    """Open sessions per console token in this process, capped (CELLSV2_CONSOLE_MAX_SESSIONS_PER_TOKEN).

    Keyed by the token's SHA-256: the raw token is never kept.
    """

    def __init__(self):
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, token: str, limit: int) -> str | None:
        """Count one more session of ``token``; the key to release, or None when at the limit."""
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            if limit and self._open.get(key, 0) >= limit:
                return None
            self._open[key] = self._open.get(key, 0) + 1
        return key

    def release(self, key: str) -> None:
        with self._lock:
            left = self._open.get(key, 0) - 1
            if left > 0:
                self._open[key] = left
            else:
                self._open.pop(key, None)


class LeaseKeeper:
    """Renews the serial port leases of this process's live sessions (one thread per server)."""

    def __init__(self, lease: int):
        self.lease = lease
        self.held: dict[str, str] = {}  # holder -> cell uuid
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="console-leases", daemon=True)
        self.thread.start()

    def add(self, holder: str, cell_uuid: str) -> None:
        with self.lock:
            self.held[holder] = cell_uuid

    def remove(self, holder: str) -> None:
        with self.lock:
            self.held.pop(holder, None)

    def _run(self) -> None:
        while not self.stopped.wait(max(self.lease / 3, 0.2)):
            with self.lock:
                by_cell: dict[str, list[str]] = {}
                for holder, cell in self.held.items():
                    by_cell.setdefault(cell, []).append(holder)
            try:
                for cell, holders in by_cell.items():
                    services.serial_port_leases_renew(cell=cell, holders=holders, lease=self.lease)
            except Exception:
                logger.warning("Renewing serial console leases failed", exc_info=True)
            finally:
                connections.close_all()

    def stop(self) -> None:
        self.stopped.set()


class ConsoleProxyRequestHandler(ProxyRequestHandler):
    """websockify's proxy handler with cellsv2 token validation in front of the upgrade."""

    session: ConsoleSession | None = None

    # --- logging: websockify prints paths (tokens included); everything is masked here
    def log_message(self, format, *args):
        client = self.client_address[0] if self.client_address else "-"
        self.logger.info("%s - %s", client, mask_tokens(format % args if args else format))

    def _log(self, level, msg, *args):
        self.logger.log(level, "%s", mask_tokens(msg % args if args else msg))

    def msg(self, msg, *args, **kwargs):
        self._log(logging.INFO, msg, *args)

    def vmsg(self, msg, *args, **kwargs):
        self._log(logging.DEBUG, msg, *args)

    def warn(self, msg, *args, **kwargs):
        self._log(logging.WARNING, msg, *args)

    # --- HTTP
    def parse_request(self):
        if not super().parse_request():
            return False
        # Python >= 3.11.4 quietly turns a leading "//" into "/" (gh-87389); the original request
        # line still has it, and such a request is refused outright (CVE-2021-3654, R-CON-6).
        words = self.requestline.split()
        if len(words) >= 2 and words[1].startswith("//"):
            self.send_error(400, "URI must not start with //")
            return False
        return True

    def translate_path(self, path):
        # SimpleHTTPRequestHandler serves the working directory; serve the --web directory instead.
        self.directory = self.server.web
        return super().translate_path(path)

    # --- WebSocket
    def handle_upgrade(self):
        flavour = self.server.flavour
        try:
            self.session = self._authorize()
        except ConsoleRefused as exc:
            self.log_message("Console connection refused: %s", exc.reason)
            self.send_error(exc.status, exc.reason)
            metrics.console_session_refused(flavour, exc.status)
            return
        except Exception:
            # A cell or the API database failing must not kill the thread silently.
            logger.exception("Cannot authorize a console connection")
            self.send_error(503, "The console service is unavailable; try again later")
            metrics.console_session_refused(flavour, 503)
            return
        finally:
            connections.close_all()
        try:
            with metrics.console_session(flavour):
                super().handle_upgrade()  # the handshake, then new_websocket_client()
        finally:
            self._end_session()

    def _authorize(self) -> ConsoleSession:
        token, instance_uuid = connection_credentials(self.path, self.headers)
        if not token:
            raise ConsoleRefused(403, "No console token")
        try:
            connection = selectors.console_auth_token_validate(token=token, instance_uuid=instance_uuid)
        except InvalidToken:
            raise ConsoleRefused(403, "The console token is invalid or has expired") from None
        if connection.console_type not in self.server.console_types:
            raise ConsoleRefused(403, f"This proxy does not serve {connection.console_type} consoles")
        compute_host = _instance_host(connection)
        if compute_host is None:
            raise ConsoleRefused(403, "The console token is invalid or has expired")
        check_origin(self.headers, connection, settings.CELLSV2_CONSOLE_ALLOWED_ORIGINS)
        session = ConsoleSession(connection=connection, compute_host=compute_host)
        session.counted_as = self.server.sessions.acquire(token, settings.CELLSV2_CONSOLE_MAX_SESSIONS_PER_TOKEN)
        if session.counted_as is None:
            raise ConsoleRefused(429, "Too many open sessions for this console token")
        try:
            self._claim_serial_port(session)
        except BaseException:
            self.server.sessions.release(session.counted_as)
            raise
        self.log_message(
            "Console connection to %s:%s authorized for instance %s",
            connection.host,
            connection.port,
            connection.instance_uuid,
        )
        return session

    def _claim_serial_port(self, session: ConsoleSession) -> None:
        """For a serial console, claim its port in the cell database (SerialPortBusy: 409)."""
        connection, compute_host = session.connection, session.compute_host
        if connection.console_type == "serial":
            holder = f"{self.server.proxy_id}/{secrets.token_hex(6)}"
            try:
                # The port must be assigned to this instance on the host it is on now.
                services.serial_port_connect(
                    cell=connection.cell_uuid,
                    host=compute_host,
                    port=connection.port,
                    instance_uuid=connection.instance_uuid,
                    holder=holder,
                    lease=self.server.leases.lease,
                )
            except SerialPortBusy:
                raise ConsoleRefused(409, f"Serial console port {connection.port} is already connected") from None
            session.serial_holder = holder
            self.server.leases.add(holder, connection.cell_uuid)

    def _end_session(self) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        if session.counted_as is not None:
            self.server.sessions.release(session.counted_as)
        if session.serial_holder is None:
            return
        self.server.leases.remove(session.serial_holder)
        c = session.connection
        try:
            services.serial_port_release(
                cell=c.cell_uuid, host=session.compute_host, port=c.port, holder=session.serial_holder
            )
        except Exception:
            # The lease runs out by itself; nobody waits longer than CELLSV2_CONSOLE_SERIAL_LEASE_SECONDS.
            logger.warning("Releasing serial port %s:%s failed", c.host, c.port, exc_info=True)
        finally:
            connections.close_all()

    def new_websocket_client(self):
        session = self.session
        c = session.connection
        try:
            target = WebSockifyServer.socket(c.host, c.port, connect=True)
        except OSError as exc:
            self.log_message("Cannot connect to console %s:%s: %s", c.host, c.port, exc)
            raise self.CClose(1011, "Failed to connect to the console") from None
        timer = None
        try:
            if c.internal_access_path:
                self._connect_handshake(target, c.internal_access_path)
            if settings.CELLSV2_CONSOLE_ENFORCE_SESSION_TIMEOUT:
                timer = threading.Timer(max(c.expires - clock.utcnow_ts(), 0), self._expire, (session, target))
                timer.daemon = True
                timer.start()
            try:
                self.do_proxy(target)
            except self.CClose:
                if session.expired.is_set():
                    raise self.CClose(1000, "Console session expired") from None
                raise
        finally:
            if timer is not None:
                timer.cancel()
            try:
                target.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            target.close()

    def _expire(self, session: ConsoleSession, target) -> None:
        session.expired.set()
        try:
            target.shutdown(socket.SHUT_RDWR)  # do_proxy sees the target close and ends the session
        except OSError:
            pass

    def _connect_handshake(self, target, path: str) -> None:
        """Nova's internal_access_path: ``CONNECT <path>`` and a 200 before any console byte."""
        target.sendall(f"CONNECT {path} HTTP/1.1\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = target.recv(4096)
            if not chunk or len(data) > 65536:
                raise self.CClose(1011, "Invalid console connection info")
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        if b"200" not in head.split(b"\r\n", 1)[0]:
            raise self.CClose(1011, "Invalid console connection info")
        if rest:
            self.send_frames([rest])


class ConsoleProxyServer(ThreadingMixIn, WebSocketServer):
    """A console proxy listening on ``address`` for one flavour of console."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, *, flavour: str, web: str | None = None, verbose: bool = False):
        if flavour not in FLAVOURS:
            raise ValueError(f"Unknown console proxy flavour {flavour!r}")
        self.flavour = flavour
        self.console_types = FLAVOURS[flavour]
        # The attributes websockify's request handler reads from its server.
        self.web = os.path.abspath(web) if web else None
        self.only_upgrade = not web
        self.file_only = True
        self.verbose = verbose
        self.traffic = self.record = self.run_once = self.daemon = self.web_auth = self.host_token = False
        self.handler_id = 0
        self.heartbeat = None
        self.logger = logger
        self.unix_listen = self.unix_target = self.wrap_cmd = self.token_plugin = self.auth_plugin = None
        self.ssl_target = False
        self.target_host = self.target_port = None
        self.proxy_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.leases = LeaseKeeper(settings.CELLSV2_CONSOLE_SERIAL_LEASE_SECONDS)
        self.sessions = SessionCounter()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        try:
            super().__init__(address, ConsoleProxyRequestHandler)
        except Exception:
            self.leases.stop()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            connections.close_all()  # each connection thread opened its own database connections

    def handle_error(self, request, client_address):
        logger.info("Console connection from %s ended with an error", client_address[0], exc_info=True)

    def server_close(self):
        self.leases.stop()
        super().server_close()
