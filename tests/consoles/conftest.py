"""Fixtures of the console tests: token backends, a movable clock, an echo server and a running
console proxy (their helpers are in tests/consoles/helpers.py)."""

import threading
import uuid as uuid_lib

import pytest
from django.core.cache import caches

from consoles import clock
from tests.consoles.helpers import REDIS_URL, Clock, EchoServer, redis_reachable


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


@pytest.fixture
def frozen_clock(monkeypatch):
    """consoles.clock stopped at the current second; ``advance(n)`` moves it."""
    moving = Clock(clock.utcnow_ts())
    monkeypatch.setattr(clock, "utcnow_ts", moving)
    return moving


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
