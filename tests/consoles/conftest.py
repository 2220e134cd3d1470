"""Fixtures of the console tests: token backends, a movable clock, instances, an echo server and
a running console proxy."""

import socket
import threading
import uuid as uuid_lib

import pytest
from django.core.cache import caches

from consoles import clock
from tests.factories import InstanceFactory

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_reachable() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture(params=["database", "cache", "redis"])
def backend(request, settings):
    """Each token backend: the cell databases, the cache (locmem) and the cache on a real Redis."""
    settings.CONSOLE_TOKENS_BACKEND = "database" if request.param == "database" else "cache"
    if request.param == "redis":
        if not redis_reachable():
            pytest.skip("no Redis at 127.0.0.1:6379")
        settings.CACHES = {
            **settings.CACHES,
            "consoles": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                # Other test runs may share the server: a prefix of our own.
                "KEY_PREFIX": f"cellsv2-test-{uuid_lib.uuid4().hex}",
            },
        }
        settings.CONSOLE_TOKENS_CACHE = "consoles"
    else:
        settings.CONSOLE_TOKENS_CACHE = "default"
    if request.param != "redis":
        caches[settings.CONSOLE_TOKENS_CACHE].clear()  # locmem is per process: ours alone
    yield request.param
    if request.param == "redis":
        cache = caches["consoles"]
        client = cache._cache.get_client(write=True)
        for key in client.scan_iter(f"{settings.CACHES['consoles']['KEY_PREFIX']}:*"):
            client.delete(key)


class Clock:
    def __init__(self, now: int):
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds


@pytest.fixture
def frozen_clock(monkeypatch):
    """consoles.clock stopped at the current second; ``advance(n)`` moves it."""
    moving = Clock(clock.utcnow_ts())
    monkeypatch.setattr(clock, "utcnow_ts", moving)
    return moving


def make_instance(cells, alias: str = "cell1", *, host: str | None = "compute1", project_id: str = "proj1") -> str:
    """A live instance in a cell with its instance mapping (no API, no conductor)."""
    return InstanceFactory(cell=cells[alias], mapped=True, host=host, node=host, project_id=project_id).uuid


class EchoServer:
    """A TCP server on 127.0.0.1 standing in for a VNC or serial console: it echoes every byte,
    prefixed by a greeting so a client can tell it reached the console."""

    GREETING = b"console> "

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn):
        conn.settimeout(10)
        with conn:
            try:
                conn.sendall(self.GREETING)
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def stop(self):
        self.stopped.set()
        self.sock.close()
        self.thread.join(2)


@pytest.fixture
def echo_server():
    server = EchoServer()
    yield server
    server.stop()


@pytest.fixture
def start_proxy():
    """``start_proxy(flavour)`` runs a ConsoleProxyServer on 127.0.0.1 in a thread; returns its ws:// base."""
    from consoles.proxy import ConsoleProxyServer

    servers = []

    def start(flavour: str = "novnc", **kwargs):
        server = ConsoleProxyServer(("127.0.0.1", 0), flavour=flavour, **kwargs)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server, f"ws://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)
