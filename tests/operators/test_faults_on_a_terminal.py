"""Routine failures as an operator meets them on a terminal: a cell down, numbers out of range,
an address the console proxy cannot take. One line each and Nova's exit code, never a traceback."""

import socket
import threading
import time

import pytest

from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


def no_traceback(result) -> None:
    assert "Traceback" not in result.raw and 'File "' not in result.raw, result.raw


class TestACellDown:
    def test_map_instances_in_a_cell_that_cannot_be_opened(self, manage_py, down_cell):
        result = manage_py.terminal("cell_v2", "map_instances", "--cell_uuid", down_cell.uuid)
        no_traceback(result)
        assert result.code == 255, result.raw
        assert [line for line in result.lines if line.strip()] == [
            "An error has occurred: OperationalError: unable to open database file"
        ]

    def test_online_data_migrations_name_each_failure_on_one_line(self, manage_py, down_cell):
        result = manage_py.terminal("online_data_migrations")
        no_traceback(result)
        assert result.code == 2, result.raw
        errors = [line for line in result.lines if line.startswith("Error attempting to run")]
        assert errors and all(down_cell.uuid in line or "unable to open" in line for line in errors), result.raw
        assert result.lines[-1] == "Some migrations failed unexpectedly. Check log for details."

    def test_archive_reports_the_cell_it_could_not_archive(self, manage_py, down_cell):
        result = manage_py.terminal("db", "archive_deleted_rows", "--all-cells", "--until-complete")
        no_traceback(result)
        assert result.code not in (0, 1), result.raw


class TestNumbers:
    def test_a_max_count_beyond_64_bits_is_just_a_large_batch(self, manage_py, cells):
        result = manage_py.terminal("online_data_migrations", "--max-count", str(10**30))
        no_traceback(result)
        assert result.code == 0, result.raw

    def test_an_over_long_cell_name_is_refused_before_any_database_is_touched(self, manage_py, cells):
        for args in (
            ["create_cell", "--database_connection", "sqlite:////nonexistent/x.sqlite3"],
            ["update_cell", "--cell_uuid", cells["cell1"].uuid],
        ):
            result = manage_py.terminal("cell_v2", *args, "--name", "n" * 256)
            no_traceback(result)
            assert result.code == 2, result.raw
            assert result.lines[-1].endswith("the name has 256 characters; at most 255 are allowed"), result.raw


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestConsoleProxyListen:
    def test_a_host_that_does_not_resolve(self, manage_py):
        result = manage_py.terminal("consoleproxy", "--listen", "no-such-host.invalid:6080")
        no_traceback(result)
        assert result.code == 1, result.raw
        assert result.lines[0].startswith("Cannot listen on no-such-host.invalid:6080: "), result.raw

    def test_an_address_in_use(self, manage_py):
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            result = manage_py.terminal("consoleproxy", "--listen", f"127.0.0.1:{port}")
        no_traceback(result)
        assert result.code == 1, result.raw
        assert result.lines == [f"Cannot listen on 127.0.0.1:{port}: Address already in use"], result.raw

    def test_a_port_out_of_range(self, manage_py):
        result = manage_py.terminal("consoleproxy", "--listen", "127.0.0.1:99999")
        no_traceback(result)
        assert result.code == 2, result.raw
        assert result.lines[-1].endswith("'127.0.0.1:99999': the port must be between 0 and 65535"), result.raw


def test_consoleproxy_verbose_logs_a_refused_connection_with_its_token_masked(manage_py, cells):
    port = _free_port()
    answered = []

    def knock():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(
                        b"GET /?token=s3cr3t-token HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        b"Sec-WebSocket-Version: 13\r\n\r\n"
                    )
                    answered.append(sock.recv(200))
                return
            except OSError:
                time.sleep(0.2)

    knocker = threading.Thread(target=knock, daemon=True)
    knocker.start()
    result = manage_py.terminal(
        "consoleproxy", "--listen", f"127.0.0.1:{port}", "--verbose", interrupt_when="Console connection refused"
    )
    knocker.join(5)
    assert result.code == 0, result.raw
    assert answered and answered[0].split()[1] in (b"401", b"403", b"404"), answered
    assert any("Console connection refused" in line for line in result.lines), result.raw
    assert "s3cr3t-token" not in result.raw
