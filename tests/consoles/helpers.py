"""Helpers of the console tests: instances, tokens, a movable clock, an echo server and Redis."""

import socket
import threading

from cellsv2.context import target_cell
from consoles import services
from consoles.models import ConsoleAuthToken
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


class Clock:
    """A stand-in for consoles.clock.utcnow_ts that moves only when told."""

    def __init__(self, now: int):
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds


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


def authorize(cells, alias, uuid, *, host="compute1", expires=None):
    """A noVNC token for an instance, written to its cell."""
    return services.console_auth_token_authorize(
        cell=cells[alias],
        instance_uuid=uuid,
        console_type="novnc",
        host=host,
        port=5900,
        access_url_base="http://127.0.0.1:6080/vnc_auto.html",
        expires=expires,
    )


def count(alias):
    """How many console tokens a cell holds."""
    with target_cell(alias):
        return ConsoleAuthToken.objects.count()
