"""The console proxy end to end: a real WebSocket client, the proxy in a thread, a TCP echo server
standing in for the VNC or serial console of an instance."""

import http.client
import logging
import socket
import threading
import time
from urllib.parse import quote, urlencode

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from cellsv2.context import target_cell
from consoles import clock, services
from consoles.models import ConsoleSerialPort
from consoles.proxy import ConsoleRefused, check_origin, connection_credentials, mask_tokens
from servers.models import Instance
from tests.consoles.helpers import EchoServer, make_instance
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)

NOVNC_BASE = "http://127.0.0.1:6080/vnc_auto.html"
SERIAL_BASE = "ws://127.0.0.1:6083/"


def ws(url, **kwargs):
    return connect(url, proxy=None, open_timeout=5, close_timeout=2, compression=None, **kwargs)


def exchange(connection, payload: bytes) -> bytes:
    """Send payload, read until the echo of it has come back (after the console's greeting)."""
    connection.send(payload)
    received = b""
    deadline = time.monotonic() + 5
    while not received.endswith(payload) and time.monotonic() < deadline:
        received += connection.recv(timeout=5)
    return received


def refused(url, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as raised:
        ws(url, **kwargs)
    return raised.value.response.status_code


def authorize(cells, uuid, port, *, console_type="novnc", base=NOVNC_BASE, **kwargs):
    return services.console_auth_token_authorize(
        cell=cells["cell1"],
        instance_uuid=uuid,
        console_type=console_type,
        host="127.0.0.1",
        port=port,
        access_url_base=base,
        **kwargs,
    )


def query(**params) -> str:
    return "/?" + urlencode(params)


class TestNoVNC:
    def test_a_valid_token_gets_bytes_through_both_ways(self, cells, echo_server, start_proxy, caplog):
        caplog.set_level(logging.DEBUG)
        uuid = make_instance(cells)
        console = authorize(cells, uuid, echo_server.port)
        _, base = start_proxy("novnc")
        with ws(base + query(token=console.token, instance_uuid=uuid)) as connection:
            assert exchange(connection, b"hello vnc") == EchoServer.GREETING + b"hello vnc"
            assert exchange(connection, bytes(range(256)) * 64).endswith(bytes(range(256)) * 64)
        # Tokens are multi-use until they expire (noVNC reconnects), and the uuid is optional.
        with ws(base + query(token=console.token)) as connection:
            assert exchange(connection, b"again").endswith(b"again")
        for record in caplog.records:
            if not record.name.startswith("websockets"):  # the test's own client logs its request line
                assert console.token not in record.getMessage() + (record.exc_text or "")

    def test_open_sessions_per_token_are_capped(self, cells, echo_server, start_proxy, settings):
        settings.CELLSV2_CONSOLE_MAX_SESSIONS_PER_TOKEN = 2
        uuid = make_instance(cells)
        console, other = authorize(cells, uuid, echo_server.port), authorize(cells, uuid, echo_server.port)
        _, base = start_proxy("novnc")
        url = base + query(token=console.token)
        with ws(url) as first, ws(url) as second:
            assert exchange(first, b"one").endswith(b"one") and exchange(second, b"two").endswith(b"two")
            assert refused(url) == 429
            # The limit is per token: another URL for the same console still opens.
            with ws(base + query(token=other.token)) as third:
                assert exchange(third, b"three").endswith(b"three")
        # Closed sessions stop counting (the proxy's thread ends just after the client's close).
        deadline = time.monotonic() + 5
        while True:
            try:
                with ws(url) as again, ws(url) as and_again:
                    assert exchange(again, b"4").endswith(b"4") and exchange(and_again, b"5").endswith(b"5")
                break
            except InvalidStatus as exc:
                assert exc.response.status_code == 429 and time.monotonic() < deadline
                time.sleep(0.05)

    def test_the_access_url_forms_novnc_and_tempest_use(self, cells, echo_server, start_proxy):
        uuid = make_instance(cells)
        console = authorize(cells, uuid, echo_server.port)
        _, base = start_proxy("novnc")
        inner = console.url.split("path=", 1)[1]  # what noVNC appends to its WebSocket URL
        from urllib.parse import unquote

        with ws(base + "/" + unquote(inner)) as connection:
            assert exchange(connection, b"via path").endswith(b"via path")
        with ws(base + "/?path=" + inner) as connection:  # the path parameter itself
            assert exchange(connection, b"via path param").endswith(b"via path param")

    def test_a_token_cookie_works_and_a_malformed_cookie_is_ignored(self, cells, echo_server, start_proxy):
        uuid = make_instance(cells)
        console = authorize(cells, uuid, echo_server.port)
        _, base = start_proxy("novnc")
        cookie = f'bad"cookie=\\x; token={console.token}'
        with ws(base + "/", additional_headers={"Cookie": cookie}) as connection:
            assert exchange(connection, b"cookie").endswith(b"cookie")
        assert refused(base + "/", additional_headers={"Cookie": 'token="unterminated'}) == 403

    @pytest.mark.parametrize("token", ["", "bad", "A" * 10240, "bad" + "x" * 40])
    def test_forged_tokens_are_refused_before_the_upgrade(self, cells, echo_server, start_proxy, token):
        uuid = make_instance(cells)
        authorize(cells, uuid, echo_server.port)
        _, base = start_proxy("novnc")
        assert refused(base + query(token=token)) == 403
        assert refused(base + query(token=token, instance_uuid=uuid)) == 403
        assert echo_server.connections == 0

    def test_an_expired_token_is_refused(self, cells, echo_server, start_proxy, frozen_clock):
        uuid = make_instance(cells)
        console = authorize(cells, uuid, echo_server.port)
        _, base = start_proxy("novnc")
        frozen_clock.advance(600)
        assert refused(base + query(token=console.token, instance_uuid=uuid)) == 403
        assert echo_server.connections == 0

    def test_a_token_reused_for_another_instance_is_refused(self, cells, echo_server, start_proxy):
        a, b = make_instance(cells), make_instance(cells)
        console = authorize(cells, a, echo_server.port)
        _, base = start_proxy("novnc")
        assert refused(base + query(token=console.token, instance_uuid=b)) == 403
        assert refused(base + query(token=console.token, instance_uuid="nonsense")) == 403
        assert echo_server.connections == 0

    def test_a_token_of_a_deleted_instance_is_refused(self, cells, echo_server, start_proxy, settings):
        settings.CONSOLE_TOKENS_BACKEND = "cache"  # whose keys outlive the instance
        uuid = make_instance(cells)
        console = authorize(cells, uuid, echo_server.port)
        with target_cell("cell1"):
            Instance.objects.filter(uuid=uuid).soft_delete()
        _, base = start_proxy("novnc")
        assert refused(base + query(token=console.token)) == 403

    def test_a_serial_token_does_not_open_a_vnc_proxy(self, cells, echo_server, start_proxy):
        uuid = make_instance(cells)
        console = authorize(cells, uuid, echo_server.port, console_type="serial", base=SERIAL_BASE)
        _, base = start_proxy("novnc")
        assert refused(base + query(token=console.token)) == 403

    def test_an_unreachable_console_closes_the_websocket(self, cells, start_proxy):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        uuid = make_instance(cells)
        console = authorize(cells, uuid, closed_port)
        _, base = start_proxy("novnc")
        with ws(base + query(token=console.token)) as connection, pytest.raises(ConnectionClosed) as raised:
            connection.recv(timeout=5)
        assert raised.value.rcvd.code == 1011

    def test_the_session_closes_when_the_token_expires(self, cells, echo_server, start_proxy, settings):
        settings.CELLSV2_CONSOLE_ENFORCE_SESSION_TIMEOUT = True
        uuid = make_instance(cells)
        console = authorize(cells, uuid, echo_server.port, expires=clock.utcnow_ts() + 2)
        _, base = start_proxy("novnc")
        with ws(base + query(token=console.token)) as connection:
            assert exchange(connection, b"before").endswith(b"before")
            with pytest.raises(ConnectionClosed) as raised:
                while True:
                    connection.recv(timeout=5)
        assert raised.value.rcvd.reason == "Console session expired"

    def test_internal_access_path_is_sent_as_connect(self, cells, start_proxy):
        seen = []
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def gateway():
            conn, _ = listener.accept()
            with conn:
                seen.append(conn.recv(4096))
                conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nRFB 003.008\n")
                time.sleep(1)

        threading.Thread(target=gateway, daemon=True).start()
        uuid = make_instance(cells)
        console = authorize(cells, uuid, listener.getsockname()[1], internal_access_path="vm-42")
        _, base = start_proxy("novnc")
        with ws(base + query(token=console.token)) as connection:
            assert connection.recv(timeout=5) == b"RFB 003.008\n"
        listener.close()
        assert seen == [b"CONNECT vm-42 HTTP/1.1\r\n\r\n"]


class TestSerial:
    def test_one_connection_per_serial_port(self, cells, echo_server, start_proxy, settings):
        settings.CELLSV2_CONSOLE_SERIAL_PORT_RANGES = {"compute1": f"{echo_server.port}:{echo_server.port}"}
        uuid = make_instance(cells)
        expires = clock.utcnow_ts() + 600
        port = services.serial_port_assign(cell=cells["cell1"], host="compute1", instance_uuid=uuid, until=expires)
        assert port == echo_server.port
        console = authorize(cells, uuid, port, console_type="serial", base=SERIAL_BASE, expires=expires)
        assert console.url.startswith(f"{SERIAL_BASE}?token=")
        _, base = start_proxy("serial")
        # A second proxy process (another server, its own id) must agree on the connected port.
        _, other_base = start_proxy("serial")
        url = base + query(token=console.token, instance_uuid=uuid)
        with ws(url) as first:
            assert exchange(first, b"ls\n").endswith(b"ls\n")
            assert refused(url) == 409
            assert refused(other_base + query(token=console.token, instance_uuid=uuid)) == 409
            with target_cell("cell1"):
                assert ConsoleSerialPort.objects.get(port=port).connected_by is not None
        # Released on disconnect: the next connection gets through.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with target_cell("cell1"):
                if ConsoleSerialPort.objects.get(port=port).connected_by is None:
                    break
            time.sleep(0.05)
        with ws(other_base + query(token=console.token)) as again:
            assert exchange(again, b"pwd\n").endswith(b"pwd\n")

    def test_a_port_handed_to_another_instance_cannot_be_reached(self, cells, echo_server, start_proxy):
        a, b = make_instance(cells), make_instance(cells)
        expires = clock.utcnow_ts() + 600
        port_a = services.serial_port_assign(cell=cells["cell1"], host="compute1", instance_uuid=a, until=expires)
        # A token of b that points at a's port (a stale or forged row) is refused by the port binding.
        console = authorize(cells, b, port_a, console_type="serial", base=SERIAL_BASE)
        _, base = start_proxy("serial")
        assert refused(base + query(token=console.token)) == 409
        assert echo_server.connections == 0


class TestOrigin:
    def test_origin_must_match_the_host_or_the_allowed_origins(self, cells, echo_server, start_proxy, settings):
        uuid = make_instance(cells)
        console = authorize(cells, uuid, echo_server.port)
        _, base = start_proxy("novnc")
        url = base + query(token=console.token)
        with ws(url, origin="http://127.0.0.1:6080") as connection:
            assert exchange(connection, b"same host").endswith(b"same host")
        assert refused(url, origin="http://evil.example") == 403
        assert refused(url, origin="https://127.0.0.1") == 403  # the access URL is http
        assert refused(url, origin="null") == 403
        settings.CELLSV2_CONSOLE_ALLOWED_ORIGINS = ["console.example"]
        with ws(url, origin="http://console.example") as connection:
            assert exchange(connection, b"allowed").endswith(b"allowed")

    def test_a_previous_host_header_never_widens_the_check(self, settings):
        """LP#2158919: the Host of one request must not be added to the allowed origins."""
        from consoles.backends import ConsoleConnection

        settings.CELLSV2_CONSOLE_ALLOWED_ORIGINS = ["console.example"]
        connection = ConsoleConnection("u", "novnc", "h", 1, 0, access_url_base=NOVNC_BASE)
        check_origin({"Host": "evil.example", "Origin": "http://evil.example"}, connection, ["console.example"])
        with pytest.raises(ConsoleRefused):
            check_origin({"Host": "proxy.example", "Origin": "http://evil.example"}, connection, ["console.example"])
        assert settings.CELLSV2_CONSOLE_ALLOWED_ORIGINS == ["console.example"]

    def test_schemes_follow_the_access_url_and_x_forwarded_proto(self):
        from consoles.backends import ConsoleConnection

        serial = ConsoleConnection("u", "serial", "h", 1, 0, access_url_base="wss://proxy.example/")
        check_origin({"Host": "proxy.example", "Origin": "https://proxy.example"}, serial, [])
        check_origin({"Host": "proxy.example", "Origin": "wss://proxy.example"}, serial, [])
        with pytest.raises(ConsoleRefused):
            check_origin({"Host": "proxy.example", "Origin": "http://proxy.example"}, serial, [])
        check_origin(
            {"Host": "proxy.example", "Origin": "http://proxy.example", "X-Forwarded-Proto": "https"}, serial, []
        )
        check_origin({"Host": "[::1]:6083", "Origin": "https://[::1]"}, serial, [])
        check_origin({"Host": "proxy.example"}, serial, [])  # no Origin: not a browser


class TestHttp:
    @pytest.mark.parametrize("path", ["//evil.example/%2F..", "///evil.example/", "////x"])
    def test_paths_starting_with_two_slashes_are_400(self, start_proxy, tmp_path, path):
        (tmp_path / "vnc_auto.html").write_text("<html>noVNC</html>")
        server, _ = start_proxy("novnc", web=str(tmp_path))
        plain = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        plain.request("GET", path)
        assert plain.getresponse().status == 400
        plain.close()
        upgrade = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        upgrade.request(
            "GET", path, headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
        )
        assert upgrade.getresponse().status == 400
        upgrade.close()

    def test_static_files_are_served_from_web_and_nothing_without_it(self, start_proxy, tmp_path):
        (tmp_path / "vnc_auto.html").write_text("<html>noVNC</html>")
        server, _ = start_proxy("novnc", web=str(tmp_path))
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        conn.request("GET", "/vnc_auto.html?path=%3Ftoken%3Dabc")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"<html>noVNC</html>")
        conn.close()
        bare, _ = start_proxy("novnc")
        conn = http.client.HTTPConnection("127.0.0.1", bare.server_address[1], timeout=5)
        conn.request("GET", "/vnc_auto.html")
        assert conn.getresponse().status == 405
        conn.close()


class TestCredentials:
    def test_token_sources_in_order(self):
        assert connection_credentials("/?token=q&instance_uuid=u", {}) == ("q", "u")
        assert connection_credentials("/?path=" + quote("?token=p&instance_uuid=u"), {}) == ("p", "u")
        assert connection_credentials("/websockify", {"Cookie": "a=b; token=c"}) == ("c", None)
        assert connection_credentials("/", {"Cookie": 'x="; token'}) == (None, None)

    def test_mask_tokens(self):
        line = 'GET /?token=abc&instance_uuid=u "path=%3Ftoken%3Ddef%26x" token%253Dghi'
        assert mask_tokens(line) == 'GET /?token=***&instance_uuid=u "path=%3Ftoken%3D***%26x" token%253D***'


def test_the_command_runs_a_proxy(cells, echo_server):
    from django.core.management import get_commands, load_command_class

    command = load_command_class(get_commands()["consoleproxy"], "consoleproxy")
    uuid = make_instance(cells)
    console = authorize(cells, uuid, echo_server.port)
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    thread = threading.Thread(
        target=call_command,
        args=(command, "--flavour", "novnc", "--listen", "127.0.0.1:0"),
        kwargs={"stdout": out},
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 5
    while command.server is None and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        port = command.server.server_address[1]
        with ws(f"ws://127.0.0.1:{port}" + query(token=console.token)) as connection:
            assert exchange(connection, b"cmd").endswith(b"cmd")
    finally:
        command.server.shutdown()
        thread.join(5)
    assert f"Console proxy (novnc) listening on 127.0.0.1:{port}" in out.getvalue()


def test_a_failing_database_is_503_not_a_dropped_connection(cells, start_proxy, monkeypatch):
    from consoles import selectors

    def broken(**kwargs):
        raise RuntimeError("the API database is down")

    monkeypatch.setattr(selectors, "console_auth_token_validate", broken)
    _, base = start_proxy("novnc")
    assert refused(base + query(token="whatever")) == 503


class TestMetrics:
    """The proxy's sessions on /metrics (cellsv2.observability.metrics): counted as they open,
    are refused, and close."""

    @staticmethod
    def value(name, **labels) -> float:
        from prometheus_client import REGISTRY

        return REGISTRY.get_sample_value(name, labels) or 0.0

    def test_sessions_opened_refused_and_open(self, cells, echo_server, start_proxy):
        uuid = make_instance(cells)
        console = authorize(cells, uuid, echo_server.port)
        _, base = start_proxy("novnc")
        opened = self.value("cellsv2_console_sessions_total", flavour="novnc", outcome="opened")
        refusals = self.value("cellsv2_console_sessions_total", flavour="novnc", outcome="refused")
        with ws(base + query(token=console.token)) as connection:
            assert exchange(connection, b"counted").endswith(b"counted")
            assert self.value("cellsv2_console_sessions_open", flavour="novnc") == 1
        assert refused(base + query(token="not-a-token")) == 403
        assert self.value("cellsv2_console_sessions_total", flavour="novnc", outcome="opened") == opened + 1
        assert self.value("cellsv2_console_sessions_total", flavour="novnc", outcome="refused") == refusals + 1
        deadline = time.monotonic() + 5
        while self.value("cellsv2_console_sessions_open", flavour="novnc") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.value("cellsv2_console_sessions_open", flavour="novnc") == 0
