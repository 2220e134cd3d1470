"""Every query parameter of the key pair, server group and flavor listings, given garbage: a Nova
fault (400, or the listing when Nova ignores the parameter), never a 500."""

import pytest

from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

GARBAGE = [
    "a\x00b",
    "%00",
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999999999999",
    "-1",
    "1e309",
    "nan",
    "inf",
    "0x10",
    " ",
    "",
    "\ud800",
    "x" * 5000,
    "2024-13-45T99:99:99Z",
    "9999-12-31T23:59:59Z",
    "0000-00-00",
    "1" * 40,
    "true",
    "é",
]

LISTINGS = {
    "/os-keypairs": ["limit", "marker", "user_id"],
    "/os-server-groups": ["limit", "offset", "all_projects", "marker"],
    "/flavors": ["limit", "marker", "minRam", "minDisk", "is_public", "sort_key", "sort_dir", "changes-since"],
    "/flavors/detail": ["limit", "marker", "minRam", "minDisk", "is_public", "sort_key", "sort_dir"],
}
VERSIONS = ["2.1", "2.35", "latest"]


@pytest.mark.parametrize("path", list(LISTINGS))
def test_no_garbage_in_any_listing_parameter_gives_a_500(client, settings, cells, path):
    settings.CELLSV2_AUTH = "noauth"
    from urllib.parse import quote

    failures = []
    for version in VERSIONS:
        for token in ("alice:proj1", "admin:admin"):
            for name in LISTINGS[path]:
                for value in GARBAGE:
                    try:
                        encoded = quote(value, safe="")
                    except UnicodeEncodeError:
                        encoded = "%ED%A0%80"
                    response = client.get(
                        f"/v2.1{path}?{name}={encoded}",
                        HTTP_X_AUTH_TOKEN=token,
                        HTTP_X_OPENSTACK_NOVA_API_VERSION=version,
                    )
                    if response.status_code >= 500:
                        failures.append((version, token, name, value[:20], response.status_code))
    assert not failures, sorted({(name, value) for _, _, name, value, _ in failures})


def test_a_nul_character_in_a_query_string_is_a_400_and_in_a_path_a_404(client, settings, cells):
    settings.CELLSV2_AUTH = "noauth"
    headers = {"HTTP_X_AUTH_TOKEN": "alice:proj1"}
    response = client.get("/v2.1/os-keypairs?marker=a%00b", **headers)
    assert response.status_code == 400
    assert response.json()["badRequest"]["message"].startswith("Invalid query string")
    response = client.get("/v2.1/os-keypairs/a%00b", **headers)
    assert response.status_code == 404 and "itemNotFound" in response.json()


def test_an_offset_beyond_64_bits_is_an_empty_page(client, settings, cells):
    settings.CELLSV2_AUTH = "noauth"
    response = client.get("/v2.1/os-server-groups?offset=18446744073709551616", HTTP_X_AUTH_TOKEN="alice:proj1")
    assert response.status_code == 200 and response.json() == {"server_groups": []}


SERVER_PARAMS = sorted(
    {
        "limit", "marker", "changes-since", "changes-before", "name", "status", "image", "flavor", "sort_key",
        "sort_dir", "ip", "ip6", "host", "node", "tenant_id", "project_id", "user_id", "all_tenants", "deleted",
        "soft_deleted", "locked", "tags", "tags-any", "not-tags", "not-tags-any", "availability_zone",
        "reservation_id", "launched_at", "terminated_at", "uuid", "key_name", "vm_state", "task_state",
        "power_state", "created_at", "config_drive", "progress", "access_ip_v4", "access_ip_v6", "hostname",
        "launch_index", "locked_by", "description", "auto_disk_config", "display_name", "image_ref",
    }
)  # fmt: skip


# /servers and /servers/detail share their parameter parsing: the detail listing stands for both.
@pytest.mark.parametrize("path", ["/servers/detail"])
def test_no_garbage_in_any_server_listing_parameter_gives_a_500(client, settings, cells, path):
    settings.CELLSV2_AUTH = "noauth"
    from urllib.parse import quote

    failures = []
    for version in ("2.1", "latest"):
        for token in ("alice:proj1", "admin:admin"):
            for name in SERVER_PARAMS:
                for value in GARBAGE:
                    try:
                        encoded = quote(value, safe="")
                    except UnicodeEncodeError:
                        encoded = "%ED%A0%80"
                    response = client.get(
                        f"/v2.1{path}?{name}={encoded}",
                        HTTP_X_AUTH_TOKEN=token,
                        HTTP_X_OPENSTACK_NOVA_API_VERSION=version,
                    )
                    if response.status_code >= 500:
                        failures.append((version, token, name, value[:20], response.status_code))
    assert not failures, sorted({(name, value) for _, _, name, value, _ in failures})
