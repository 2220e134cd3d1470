"""Console tokens on every backend: authorize -> validate -> expire -> clean, hashes only, revocation."""

import hashlib
import pickle
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import caches
from django.db import connections

from cellsv2.context import target_cell
from consoles import selectors, services
from consoles.exceptions import InvalidToken
from consoles.models import ConsoleAuthToken
from tests.consoles.helpers import make_instance
from tests.support import ALL_DATABASES, CELL_ALIASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

BASE = "http://console.example:6080/vnc_auto.html"


def authorize(cells, uuid, alias="cell1", **overrides):
    values = dict(
        cell=cells[alias],
        instance_uuid=uuid,
        console_type="novnc",
        host="192.0.2.10",
        port=5900,
        access_url_base=BASE,
    )
    values.update(overrides)
    return services.console_auth_token_authorize(**values)


def token_rows(alias="cell1"):
    with target_cell(alias):
        return list(ConsoleAuthToken.objects.values())


class TestLifecycle:
    def test_authorize_validate_expire_clean(self, cells, backend, frozen_clock, settings):
        settings.CELLSV2_CONSOLE_TOKEN_TTL = 600
        uuid = make_instance(cells)
        console = authorize(cells, uuid)

        connection = selectors.console_auth_token_validate(token=console.token)
        assert (connection.instance_uuid, connection.host, connection.port) == (uuid, "192.0.2.10", 5900)
        assert connection.console_type == "novnc" and connection.access_url_base == BASE
        assert connection.expires == frozen_clock.now + 600
        # Multi-use until it expires (noVNC reconnects): a second validation works too.
        assert selectors.console_auth_token_validate(token=console.token, instance_uuid=uuid) == connection

        frozen_clock.advance(599)
        selectors.console_auth_token_validate(token=console.token)
        frozen_clock.advance(1)  # expires > now is strict: at the expiry second it is gone
        with pytest.raises(InvalidToken):
            selectors.console_auth_token_validate(token=console.token)

        removed = services.console_auth_tokens_delete_expired(cell=cells["cell1"])
        assert removed == (1 if backend == "database" else 0)
        assert token_rows() == []

    def test_only_the_sha256_of_the_token_is_stored(self, cells, backend):
        uuid = make_instance(cells)
        console = authorize(cells, uuid)
        digest = hashlib.sha256(console.token.encode()).hexdigest()
        if backend == "database":
            [row] = token_rows()
            assert row["token_hash"] == digest
            assert console.token not in repr(row)
        else:
            cache = caches["consoles" if backend == "redis" else "default"]
            stored = cache.get(f"cellsv2:console:token:{digest}")
            assert stored["instance_uuid"] == uuid
            assert console.token.encode() not in pickle.dumps(stored)
            assert token_rows() == []  # nothing in the database with the cache backend

    def test_tokens_are_long_random_and_url_safe(self, cells, backend):
        uuid = make_instance(cells)
        tokens = {authorize(cells, uuid).token for _ in range(20)}
        assert len(tokens) == 20
        # secrets.token_urlsafe(32): 256 bits, 43 characters of [A-Za-z0-9_-]
        assert all(len(t) == 43 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)

    def test_a_forged_token_is_invalid(self, cells, backend):
        authorize(cells, make_instance(cells))
        for forged in ("", "x", "bad" + "A" * 40, "00000000-0000-0000-0000-000000000000"):
            with pytest.raises(InvalidToken) as raised:
                selectors.console_auth_token_validate(token=forged)
            assert "***" in str(raised.value)

    def test_a_10kb_token_is_invalid_without_any_query(self, cells, backend, django_assert_num_queries):
        with django_assert_num_queries(0, using="api"), pytest.raises(InvalidToken):
            selectors.console_auth_token_validate(token="A" * 10240)

    def test_instance_a_token_with_instance_b_uuid_is_invalid(self, cells, backend):
        a, b = make_instance(cells), make_instance(cells, "cell2", host="compute2")
        console = authorize(cells, a)
        with pytest.raises(InvalidToken):
            selectors.console_auth_token_validate(token=console.token, instance_uuid=b)
        with pytest.raises(InvalidToken):
            selectors.console_auth_token_validate(token=console.token, instance_uuid="not-a-uuid")
        assert selectors.console_auth_token_validate(token=console.token, instance_uuid=a.upper()).instance_uuid == a

    def test_without_the_uuid_every_cell_but_cell0_is_searched(self, cells, backend):
        uuid = make_instance(cells, "cell2", host="compute2")
        console = authorize(cells, uuid, "cell2")
        connection = selectors.console_auth_token_validate(token=console.token)
        assert connection.instance_uuid == uuid and connection.cell_uuid == cells["cell2"].uuid
        if backend == "database":
            assert len(token_rows("cell2")) == 1 and token_rows("cell1") == []

    def test_a_token_in_cell0_is_never_found(self, cells, settings):
        settings.CONSOLE_TOKENS_BACKEND = "database"
        uuid = make_instance(cells, "cell0", host=None)
        console = authorize(cells, uuid, "cell0")
        with pytest.raises(InvalidToken):
            selectors.console_auth_token_validate(token=console.token)
        with pytest.raises(InvalidToken):
            selectors.console_auth_token_validate(token=console.token, instance_uuid=uuid)

    def test_deleting_an_instances_tokens_revokes_them(self, cells, backend):
        a, b = make_instance(cells), make_instance(cells)
        tokens_a = [authorize(cells, a).token for _ in range(3)]
        token_b = authorize(cells, b).token
        deleted = services.console_auth_token_delete_for_instance(instance_uuid=a)
        assert deleted == (3 if backend == "database" else 0)
        for token in tokens_a:
            with pytest.raises(InvalidToken):
                selectors.console_auth_token_validate(token=token)
        assert selectors.console_auth_token_validate(token=token_b).instance_uuid == b
        # Tokens authorized after the revocation work again.
        assert selectors.console_auth_token_validate(token=authorize(cells, a).token).instance_uuid == a

    def test_expired_tokens_are_cleaned_per_host_or_for_all(self, cells, frozen_clock, settings):
        settings.CONSOLE_TOKENS_BACKEND = "database"
        uuid = make_instance(cells)
        authorize(cells, uuid, host="hostA", expires=frozen_clock.now - 1)
        authorize(cells, uuid, host="hostB", expires=frozen_clock.now - 1)
        live = authorize(cells, uuid, host="hostA")
        assert services.console_auth_tokens_delete_expired(cell=cells["cell1"], host="hostA") == 1
        assert sorted(r["host"] for r in token_rows()) == ["hostA", "hostB"]
        assert services.console_auth_tokens_delete_expired(cell=cells["cell1"]) == 1
        assert [r["token_hash"] for r in token_rows()] == [hashlib.sha256(live.token.encode()).hexdigest()]


class TestCacheBackend:
    def test_a_token_of_a_deleted_instance_is_invalid_even_if_its_key_is_left(self, cells, settings):
        settings.CONSOLE_TOKENS_BACKEND = "cache"
        caches["default"].clear()
        uuid = make_instance(cells)
        console = authorize(cells, uuid)
        with target_cell("cell1"):
            from servers.models import Instance

            Instance.objects.filter(uuid=uuid).soft_delete()
        with pytest.raises(InvalidToken):
            selectors.console_auth_token_validate(token=console.token)

    def test_an_evicted_generation_counter_fails_closed(self, cells, settings):
        settings.CONSOLE_TOKENS_BACKEND = "cache"
        caches["default"].clear()
        uuid = make_instance(cells)
        console = authorize(cells, uuid)
        caches["default"].delete(f"cellsv2:console:instance:{uuid}")
        with pytest.raises(InvalidToken):
            selectors.console_auth_token_validate(token=console.token)


class TestAccessUrls:
    def test_novnc_carries_the_token_and_uuid_inside_path(self, cells, backend):
        uuid = make_instance(cells)
        console = authorize(cells, uuid, access_url_base="http://h:6080/vnc_lite.html?path=websockify&scale=1")
        parts = urlsplit(console.url)
        query = parse_qs(parts.query)
        assert (parts.netloc, parts.path, query["scale"]) == ("h:6080", "/vnc_lite.html", ["1"])
        inner = urlsplit(query["path"][0])
        assert inner.path == "websockify"
        assert parse_qs(inner.query) == {"token": [console.token], "instance_uuid": [uuid]}

    def test_novnc_without_a_path_gets_nova_s_form(self, cells, backend):
        uuid = make_instance(cells)
        console = authorize(cells, uuid)
        assert console.url.startswith(f"{BASE}?path=%3Ftoken%3D{console.token}%26instance_uuid%3D")

    @pytest.mark.parametrize(
        ("console_type", "base"),
        [
            ("spice-html5", "http://127.0.0.1:6082/spice_auto.html"),
            ("serial", "ws://127.0.0.1:6083/"),
            ("webmks", "http://127.0.0.1:6090/"),
            ("spice-direct", "http://127.0.0.1:13002/nova"),
        ],
    )
    def test_other_types_get_token_and_uuid_query_parameters(self, cells, backend, console_type, base):
        uuid = make_instance(cells)
        console = authorize(cells, uuid, console_type=console_type, access_url_base=base)
        assert console.url == f"{base}?token={console.token}&instance_uuid={uuid}"
        assert "***" in repr(console) and console.token not in repr(console)


class TestSerialPorts:
    def test_ports_are_assigned_per_instance_and_exhausted_with_a_clear_error(self, cells, settings, frozen_clock):
        from consoles.exceptions import SerialPortsExhausted

        settings.CELLSV2_CONSOLE_SERIAL_PORT_RANGES = {"compute1": "10000:10001"}
        a, b, c = (make_instance(cells) for _ in range(3))
        until = frozen_clock.now + 600
        assign = services.serial_port_assign
        assert assign(cell=cells["cell1"], host="compute1", instance_uuid=a, until=until) == 10000
        assert assign(cell=cells["cell1"], host="compute1", instance_uuid=a, until=until) == 10000
        assert assign(cell=cells["cell1"], host="compute1", instance_uuid=b, until=until) == 10001
        with pytest.raises(SerialPortsExhausted) as raised:
            assign(cell=cells["cell1"], host="compute1", instance_uuid=c, until=until)
        assert "No free serial console port on host compute1" in str(raised.value)
        # Once a's assignment expired and nobody is connected, the port is handed out again.
        frozen_clock.advance(601)
        assert assign(cell=cells["cell1"], host="compute1", instance_uuid=c, until=frozen_clock.now + 600) == 10000

    def test_a_connected_port_is_not_handed_out_and_one_connection_at_a_time(self, cells, settings, frozen_clock):
        from consoles.exceptions import SerialPortBusy

        settings.CELLSV2_CONSOLE_SERIAL_PORT_RANGES = {"compute1": "10000:10009"}
        a = make_instance(cells)
        cell = cells["cell1"]
        port = services.serial_port_assign(cell=cell, host="compute1", instance_uuid=a, until=frozen_clock.now + 60)
        services.serial_port_connect(cell=cell, host="compute1", port=port, instance_uuid=a, holder="p1/1", lease=30)
        with pytest.raises(SerialPortBusy):
            services.serial_port_connect(
                cell=cell, host="compute1", port=port, instance_uuid=a, holder="p2/1", lease=30
            )
        # The instance asks again while connected: it gets another port, not the connected one.
        again = services.serial_port_assign(cell=cell, host="compute1", instance_uuid=a, until=frozen_clock.now + 60)
        assert again != port
        # A holder that stops renewing (a dead proxy) loses the port after its lease.
        frozen_clock.advance(31)
        services.serial_port_connect(cell=cell, host="compute1", port=port, instance_uuid=a, holder="p2/1", lease=30)
        assert not services.serial_port_release(cell=cell, host="compute1", port=port, holder="p1/1")
        assert services.serial_port_release(cell=cell, host="compute1", port=port, holder="p2/1")

    def test_a_port_of_another_instance_cannot_be_connected(self, cells, frozen_clock):
        from consoles.exceptions import SerialPortBusy

        a, b = make_instance(cells), make_instance(cells)
        port = services.serial_port_assign(
            cell=cells["cell1"], host="compute1", instance_uuid=a, until=frozen_clock.now + 60
        )
        with pytest.raises(SerialPortBusy):
            services.serial_port_connect(
                cell=cells["cell1"], host="compute1", port=port, instance_uuid=b, holder="p/1", lease=30
            )


def test_every_cell_database_has_the_table_and_the_api_database_does_not():
    for alias in CELL_ALIASES:
        assert "console_auth_tokens" in connections[alias].introspection.table_names()
    assert "console_auth_tokens" not in connections["api"].introspection.table_names()
