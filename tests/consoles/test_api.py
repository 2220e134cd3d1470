"""The console API: remote consoles (2.6+), legacy console actions (2.1-2.5), token lookup (2.31+)."""

import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from cellsv2.api.microversions import MAX_VERSION_STRING as MAX
from cellsv2.api.microversions import APIVersion
from cellsv2.context import target_cell
from consoles import selectors
from consoles.models import ConsoleAuthToken
from servers.models import Instance
from tests.factories import new_uuid
from tests.fixtures.compute import ADMIN, MEMBER, OTHER, add_node, discover, fault, place_all
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]

WEBOB_400 = "The server could not comply with the request since it is either malformed or otherwise incorrect."


def token_of(url: str) -> str:
    query = parse_qs(urlsplit(url).query)
    if "path" in query:
        query = parse_qs(urlsplit(query["path"][0]).query)
    [token] = query["token"]
    return token


def uuid_of(url: str) -> str:
    query = parse_qs(urlsplit(url).query)
    if "path" in query:
        query = parse_qs(urlsplit(query["path"][0]).query)
    [uuid] = query["instance_uuid"]
    return uuid


@pytest.fixture
def server(api, topology):
    """A placed server of alice (proj1) on a compute node."""
    uuid = api.create_uuid()
    assert place_all() == {"placed": 1}
    return uuid


def remote_console(api, uuid, protocol, console_type, *, version="2.6", token=MEMBER):
    body = {"remote_console": {"protocol": protocol, "type": console_type}}
    return api("post", f"/servers/{uuid}/remote-consoles", version=version, body=body, token=token)


def action(api, uuid, body, *, version="2.1", token=MEMBER):
    return api("post", f"/servers/{uuid}/action", version=version, body=body, token=token)


def lookup(api, token, *, version="2.31", auth=ADMIN):
    return api("get", f"/os-console-auth-tokens/{token}", version=version, token=auth)


def cell_of(uuid) -> str:
    from mappings.models import InstanceMapping

    mapping = InstanceMapping.objects.select_related("cell").get(instance_uuid=uuid)
    return mapping.cell.name


class TestRemoteConsoles:
    @pytest.mark.parametrize(
        ("version", "protocol", "console_type", "base"),
        [
            ("2.6", "vnc", "novnc", "http://127.0.0.1:6080/vnc_auto.html"),
            ("2.6", "spice", "spice-html5", "http://127.0.0.1:6082/spice_auto.html"),
            ("2.6", "serial", "serial", "ws://127.0.0.1:6083/"),
            ("2.8", "mks", "webmks", "http://127.0.0.1:6090/"),
            (MAX, "vnc", "novnc", "http://127.0.0.1:6080/vnc_auto.html"),
        ],
    )
    def test_a_console_url_per_protocol(self, api, server, version, protocol, console_type, base):
        response = remote_console(api, server, protocol, console_type, version=version)
        assert response.status_code == 200, response.content
        body = response.json()["remote_console"]
        assert (body["protocol"], body["type"]) == (protocol, console_type)
        assert body["url"].startswith(base + "?")
        assert uuid_of(body["url"]) == server
        connection = selectors.console_auth_token_validate(token=token_of(body["url"]), instance_uuid=server)
        assert connection.console_type == console_type and connection.instance_uuid == server
        with target_cell(cell_of(server)):
            assert ConsoleAuthToken.objects.filter(instance_uuid=server).count() == 1

    def test_the_target_is_the_compute_nodes_host_ip(self, api, cells, settings):
        add_node(cells, "cell1", "compute9", host_ip="198.51.100.9")
        discover()
        uuid = api.create_uuid()
        place_all()
        url = remote_console(api, uuid, "vnc", "novnc").json()["remote_console"]["url"]
        connection = selectors.console_auth_token_validate(token=token_of(url))
        assert (connection.host, connection.port) == ("198.51.100.9", settings.CELLSV2_CONSOLE_TARGET_PORTS["novnc"])

    @pytest.mark.parametrize("version", ["2.1", "2.5"])
    def test_below_2_6_the_resource_does_not_exist(self, api, server, version):
        response = remote_console(api, server, "vnc", "novnc", version=version)
        assert response.status_code == 404
        assert fault(response)[0] == "itemNotFound"

    def test_mks_and_webmks_arrive_with_2_8(self, api, server):
        for protocol, console_type in (("mks", "webmks"), ("mks", "novnc"), ("vnc", "webmks")):
            response = remote_console(api, server, protocol, console_type, version="2.7")
            assert response.status_code == 400
            assert "is not one of" in fault(response)[2]

    def test_spice_direct_follows_the_advertised_maximum(self, api, server):
        response = remote_console(api, server, "spice", "spice-direct", version=MAX)
        if APIVersion(MAX) >= "2.99":
            assert response.status_code == 200
        else:
            assert response.status_code == 400
            assert fault(response)[2].startswith("Invalid input for field/attribute type. Value: spice-direct.")

    def test_rdp_is_unavailable(self, api, server):
        response = remote_console(api, server, "rdp", "rdp-html5")
        assert response.status_code == 400
        assert fault(response) == ("badRequest", 400, "Unavailable console type rdp.")

    @pytest.mark.parametrize(
        ("protocol", "console_type"),
        [
            ("vnc", "spice-html5"),
            ("vnc", "xvpvnc"),
            ("spice", "novnc"),
            ("serial", "xvpvnc"),
            ("serial", "novnc"),
            ("vnc", "serial"),
            ("vnc", "rdp-html5"),
        ],
    )
    def test_a_type_that_does_not_fit_the_protocol_is_400(self, api, server, protocol, console_type):
        response = remote_console(api, server, protocol, console_type)
        assert response.status_code == 400
        assert fault(response) == ("badRequest", 400, f"Invalid console type {console_type}")

    def test_a_disabled_console_kind_is_unavailable(self, api, server, settings):
        settings.CELLSV2_CONSOLE_ENABLED = {**settings.CELLSV2_CONSOLE_ENABLED, "vnc": False}
        response = remote_console(api, server, "vnc", "novnc")
        assert fault(response) == ("badRequest", 400, "Unavailable console type novnc.")

    @pytest.mark.parametrize(
        "body",
        [
            "",
            {},
            {"remote_console": {}},
            {"remote_console": {"protocol": "vnc"}},
            {"remote_console": {"protocol": "vnc", "type": "novnc", "extra": 1}},
            {"remote_console": {"protocol": "telnet", "type": "novnc"}},
            {"remote_console": {"protocol": "vnc", "type": "novnc"}, "x": 1},
            {"remote_console": "vnc"},
        ],
    )
    def test_bad_bodies_are_400(self, api, server, body):
        response = api("post", f"/servers/{server}/remote-consoles", version="2.6", body=body)
        assert response.status_code == 400
        assert fault(response)[0] == "badRequest"

    def test_a_build_request_is_not_ready(self, api, topology):
        uuid = api.create_uuid()  # worker mode: not placed yet
        response = remote_console(api, uuid, "vnc", "novnc")
        assert response.status_code == 409
        assert fault(response) == ("conflictingRequest", 409, f"Instance {uuid} is not ready")

    def test_a_server_buried_in_cell0_is_not_ready(self, api, cells):
        uuid = api.create_uuid()  # no compute node anywhere: the conductor buries it in cell0
        place_all()
        assert cell_of(uuid) == "cell0"
        response = remote_console(api, uuid, "serial", "serial")
        assert fault(response) == ("conflictingRequest", 409, f"Instance {uuid} is not ready")

    @pytest.mark.parametrize(("state", "method"), [("deleting", "get_vnc_console"), ("migrating", "get_vnc_console")])
    def test_a_server_being_deleted_or_migrated_is_409(self, api, server, state, method):
        with target_cell(cell_of(server)):
            Instance.objects.filter(uuid=server).update(task_state=state)
        response = remote_console(api, server, "vnc", "novnc")
        assert fault(response) == (
            "conflictingRequest",
            409,
            f"Instance {server} in task_state {state}. Cannot {method} while the instance is in this state.",
        )

    def test_another_projects_server_is_404_and_an_admin_gets_it(self, api, server):
        response = remote_console(api, server, "vnc", "novnc", token=OTHER)
        assert fault(response) == ("itemNotFound", 404, f"Instance {server} could not be found.")
        assert remote_console(api, server, "vnc", "novnc", token=ADMIN).status_code == 200

    @pytest.mark.parametrize("server_id", ["nope", "00000000-0000-0000-0000-000000000001"])
    def test_an_unknown_server_is_404(self, api, topology, server_id):
        response = remote_console(api, server_id, "vnc", "novnc")
        assert response.status_code == 404

    def test_a_deleted_server_is_404_and_its_tokens_are_gone(self, api, server):
        url = remote_console(api, server, "vnc", "novnc").json()["remote_console"]["url"]
        assert api("delete", f"/servers/{server}").status_code == 204
        assert remote_console(api, server, "vnc", "novnc").status_code == 404
        assert lookup(api, token_of(url)).status_code == 404

    def test_the_policy_is_enforced(self, api, server, policy_file):
        policy_file({"os_compute_api:os-remote-consoles": "role:admin"})
        response = remote_console(api, server, "vnc", "novnc")
        assert fault(response) == (
            "forbidden",
            403,
            "Policy doesn't allow os_compute_api:os-remote-consoles to be performed.",
        )

    def test_serial_ports_run_out_with_a_clear_409(self, api, cells, default_flavors, settings):
        add_node(cells, "cell1", "compute1")  # one host: both servers land on it
        discover()
        settings.CELLSV2_CONSOLE_SERIAL_PORT_RANGES = {"compute1": "10000:10000"}
        first, second = api.create_uuid(), api.create_uuid()
        place_all()
        assert remote_console(api, first, "serial", "serial").status_code == 200
        # The same instance keeps its unconnected port.
        assert remote_console(api, first, "serial", "serial").status_code == 200
        # Another instance on the same host finds none.
        response = remote_console(api, second, "serial", "serial")
        assert response.status_code == 409
        assert fault(response) == (
            "conflictingRequest",
            409,
            "No free serial console port on host compute1: every port of 10000:10000 is in use; "
            "try again when a console session has ended or a console URL has expired.",
        )


class TestLegacyActions:
    @pytest.mark.parametrize(
        ("action_name", "console_type", "base"),
        [
            ("os-getVNCConsole", "novnc", "http://127.0.0.1:6080/vnc_auto.html"),
            ("os-getSPICEConsole", "spice-html5", "http://127.0.0.1:6082/spice_auto.html"),
            ("os-getSerialConsole", "serial", "ws://127.0.0.1:6083/"),
        ],
    )
    @pytest.mark.parametrize("version", ["2.1", "2.5"])
    def test_the_three_actions_up_to_2_5(self, api, server, action_name, console_type, base, version):
        response = action(api, server, {action_name: {"type": console_type}}, version=version)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"console"} and body["console"]["type"] == console_type
        assert body["console"]["url"].startswith(base + "?")
        assert selectors.console_auth_token_validate(token=token_of(body["console"]["url"])).instance_uuid == server

    @pytest.mark.parametrize("action_name", ["os-getVNCConsole", "os-getSPICEConsole", "os-getSerialConsole"])
    def test_from_2_6_the_actions_are_404(self, api, server, action_name):
        response = action(api, server, {action_name: {"type": "novnc"}}, version="2.6")
        assert response.status_code == 404

    @pytest.mark.parametrize("key", ["os-getRDPConsole", "os-getConsole", "resize"])
    def test_an_unknown_action_is_400(self, api, server, key):
        response = action(api, server, {key: {"type": "rdp-html5"}})
        assert fault(response) == ("badRequest", 400, f"There is no such action: {key}")

    @pytest.mark.parametrize("body", ["", {}, [], "x", {"os-getVNCConsole": {"type": "novnc"}, "reboot": {}}])
    def test_a_body_without_exactly_one_action_is_malformed(self, api, server, body):
        response = action(api, server, body)
        assert fault(response) == ("badRequest", 400, "Malformed request body")

    @pytest.mark.parametrize(
        "body",
        [
            {"os-getVNCConsole": {}},
            {"os-getVNCConsole": {"type": "spice-html5"}},
            {"os-getVNCConsole": {"type": "novnc", "extra": 1}},
            {"os-getSPICEConsole": {"type": "novnc"}},
            {"os-getSerialConsole": {"type": "novnc"}},
            {"os-getVNCConsole": None},
        ],
    )
    def test_bad_action_bodies_are_400(self, api, server, body):
        assert action(api, server, body).status_code == 400

    def test_xvpvnc_passes_the_schema_and_is_an_invalid_type(self, api, server):
        response = action(api, server, {"os-getVNCConsole": {"type": "xvpvnc"}})
        assert fault(response) == ("badRequest", 400, "Invalid console type xvpvnc")

    def test_not_ready_and_not_found(self, api, topology):
        uuid = api.create_uuid()
        assert action(api, uuid, {"os-getVNCConsole": {"type": "novnc"}}).status_code == 409
        assert action(api, new_uuid(), {"os-getVNCConsole": {"type": "novnc"}}).status_code == 404
        assert action(api, uuid, {"os-getVNCConsole": {"type": "novnc"}}, token=OTHER).status_code == 404


class TestConsoleAuthTokens:
    def url(self, api, server, protocol="vnc", console_type="novnc"):
        return remote_console(api, server, protocol, console_type).json()["remote_console"]["url"]

    def test_an_admin_sees_the_connection_of_a_token(self, api, server):
        token = token_of(self.url(api, server))
        response = lookup(api, token)
        assert response.status_code == 200
        console = response.json()["console"]
        assert set(console) == {"instance_uuid", "host", "port", "internal_access_path"}
        assert console["instance_uuid"] == server and console["port"] == 5900
        assert console["internal_access_path"] is None

    @pytest.mark.parametrize("version", ["2.1", "2.30"])
    def test_below_2_31_it_is_always_400(self, api, server, version):
        token = token_of(self.url(api, server))
        assert fault(lookup(api, token, version=version)) == ("badRequest", 400, WEBOB_400)
        assert fault(lookup(api, token, version=version, auth=MEMBER)) == ("badRequest", 400, WEBOB_400)

    def test_non_admins_are_403(self, api, server):
        token = token_of(self.url(api, server))
        response = lookup(api, token, auth=MEMBER)
        assert response.status_code == 403
        assert fault(response)[2] == "Policy doesn't allow os_compute_api:os-console-auth-tokens to be performed."

    @pytest.mark.parametrize(
        "token",
        ["forged", "A" * 10240, "a/b/c", "%2e%2e", "00000000-0000-0000-0000-000000000000", "bad" + "x" * 40],
    )
    def test_unknown_tokens_are_404_token_not_found(self, api, server, token):
        response = lookup(api, token)
        assert response.status_code == 404
        assert fault(response) == ("itemNotFound", 404, "Token not found")
        assert token not in response.content.decode()

    def test_an_expired_token_is_404(self, api, server, frozen_clock):
        token = token_of(self.url(api, server))
        frozen_clock.advance(600)
        assert fault(lookup(api, token)) == ("itemNotFound", 404, "Token not found")

    def test_a_token_in_any_cell_is_found(self, api, topology):
        servers = [api.create_uuid() for _ in range(4)]
        place_all()
        assert {cell_of(s) for s in servers} == {"cell1", "cell2"}
        for uuid in servers:
            assert lookup(api, token_of(self.url(api, uuid))).json()["console"]["instance_uuid"] == uuid


def test_no_token_ever_reaches_a_log_record(api, server, caplog, settings):
    """Every API path that handles a token, successes and errors, logs nothing that holds one."""
    caplog.set_level(logging.DEBUG)
    tokens = []
    for protocol, console_type in (("vnc", "novnc"), ("serial", "serial"), ("spice", "spice-html5")):
        tokens.append(token_of(remote_console(api, server, protocol, console_type).json()["remote_console"]["url"]))
    tokens.append(token_of(action(api, server, {"os-getVNCConsole": {"type": "novnc"}}).json()["console"]["url"]))
    for token in tokens:
        assert lookup(api, token).status_code == 200
        assert lookup(api, token, auth=MEMBER).status_code == 403
        assert lookup(api, token, version="2.30").status_code == 400
        assert lookup(api, token + "x").status_code == 404
        assert lookup(api, token + "/x").status_code == 404
    secret = "s3cr3t-" + "z" * 60
    assert lookup(api, secret).status_code == 404
    assert caplog.records, "the 4xx answers should have been logged (masked)"
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        for token in [*tokens, secret]:
            assert token not in text


def test_a_failing_cell_is_skipped_by_the_token_lookup(api, server):
    from cellsv2.cells import cells_cache_clear
    from mappings.models import CellMapping

    token = token_of(remote_console(api, server, "vnc", "novnc").json()["remote_console"]["url"])
    CellMapping.objects.create(
        uuid=new_uuid(), name="broken", transport_url="none:///", database_connection="sqlite:////nonexistent/x.db"
    )
    cells_cache_clear()
    assert lookup(api, token).json()["console"]["instance_uuid"] == server
    assert fault(lookup(api, "unknown")) == ("itemNotFound", 404, "Token not found")
