"""Bad server requests: Nova's status and message, and nothing written (no build request, request
spec, instance mapping or server-group member)."""

import json

import pytest

from cellsv2.api.validation import INVALID_NAME_MESSAGE
from cellsv2.quotas import quota_set
from flavors.models import Flavor
from keypairs.services import keypair_create
from servergroups.selectors import servergroup_get
from servergroups.services import servergroup_create
from tests.factories import IMAGE, new_uuid
from tests.fixtures.compute import ADMIN, MEMBER, api_rows, fault, place_all
from tests.keypairs.keys import KNOWN_RSA_2048
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]

NOTHING = {"build_requests": 0, "request_specs": 0, "instance_mappings": 0}


def refused(response, status, message=None, *, startswith=None, endswith=None):
    """The response is a fault with ``status`` and the message, and nothing was written."""
    assert response.status_code == status, response.content
    name, code, text = fault(response)
    assert code == status
    if message is not None:
        assert text == message
    if startswith is not None:
        assert text.startswith(startswith), text
    if endswith is not None:
        assert text.endswith(endswith), text
    assert api_rows() == NOTHING
    return text


def post(api, body, *, token=MEMBER, version=None):
    return api("post", "/servers", token=token, version=version, body=body)


def server(**fields):
    body = {"name": "vm", "flavorRef": "1", "imageRef": IMAGE}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


class TestRequiredFields:
    @pytest.mark.parametrize("missing", ["name", "flavorRef"])
    def test_a_missing_required_field(self, api, topology, missing):
        refused(
            post(api, {"server": server(**{missing: ...})}),
            400,
            startswith="Invalid input for field/attribute server.",
            endswith=f"'{missing}' is a required property",
        )

    def test_no_server_object(self, api, topology):
        refused(post(api, {"name": "vm"}), 400)
        refused(post(api, {}), 400, "'server' is a required property")

    @pytest.mark.parametrize("image", [..., ""])
    def test_a_missing_image_without_block_devices(self, api, topology, image):
        refused(post(api, {"server": server(imageRef=image)}), 400, "Missing imageRef attribute")

    def test_networks_are_required_from_2_37(self, api, topology):
        refused(
            post(api, {"server": server()}, version="2.37"),
            400,
            startswith="Invalid input for field/attribute server.",
            endswith="'networks' is a required property",
        )
        assert post(api, {"server": server()}, version="2.36").status_code == 202

    @pytest.mark.parametrize("networks", ["none", "auto", []])
    def test_networks_none_auto_or_a_list_from_2_37(self, api, topology, networks):
        assert post(api, {"server": server(networks=networks)}, version="2.37").status_code == 202

    @pytest.mark.parametrize("networks", ["bogus", [{"uuid": "x", "bad": 1}], {"uuid": "x"}])
    def test_bad_networks(self, api, topology, networks):
        refused(post(api, {"server": server(networks=networks)}, version="2.37"), 400)


class TestFieldValues:
    @pytest.mark.parametrize("name", ["", " vm", "vm ", 12345, "a" * 256, "tab\tname"])
    def test_bad_names(self, api, topology, name):
        text = refused(post(api, {"server": server(name=name)}), 400)
        if isinstance(name, str) and name and name == name.strip() and len(name) < 256 and name.isprintable():
            pytest.fail(text)
        if name in (" vm", "vm "):
            assert text == INVALID_NAME_MESSAGE

    @pytest.mark.parametrize("flavor", ["999", "-1", "http://host/flavors/999"])
    def test_an_unknown_flavor(self, api, topology, flavor):
        flavorid = flavor.rsplit("/", 1)[-1]
        refused(post(api, {"server": server(flavorRef=flavor)}), 400, f"Flavor {flavorid} could not be found.")

    def test_a_disabled_flavor_is_unknown_to_members(self, api, topology):
        Flavor.objects.filter(flavorid="2").update(disabled=True)
        refused(post(api, {"server": server(flavorRef="2")}), 400, "Flavor 2 could not be found.")

    @pytest.mark.parametrize("flavor", ["", None, {"id": "1"}])
    def test_a_flavor_ref_of_the_wrong_shape(self, api, topology, flavor):
        refused(post(api, {"server": server(flavorRef=flavor)}), 400)

    @pytest.mark.parametrize("image", ["-1", "not-a-uuid", "12345678", 1])
    def test_a_non_uuid_image(self, api, topology, image):
        refused(
            post(api, {"server": server(imageRef=image)}),
            400,
            startswith="Invalid input for field/attribute imageRef.",
        )

    @pytest.mark.parametrize("group", ["not-a-uuid", "1", 5, ["not-a-uuid"]])
    def test_a_non_uuid_group(self, api, topology, group):
        refused(post(api, {"server": server(), "os:scheduler_hints": {"group": group}}), 400)

    @pytest.mark.parametrize("hints_key", ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"])
    def test_an_unknown_group(self, api, topology, hints_key):
        group = new_uuid()
        refused(
            post(api, {"server": server(), hints_key: {"group": group}}),
            400,
            f"Instance group {group} could not be found.",
        )

    def test_the_key_of_another_user(self, api, topology):
        keypair_create(user_id="bob", project_id="proj1", name="bobs", public_key=KNOWN_RSA_2048)
        refused(post(api, {"server": server(key_name="bobs")}), 400, "Invalid key_name provided.")
        refused(post(api, {"server": server(key_name="nobody-has-it")}), 400, "Invalid key_name provided.")
        assert post(api, {"server": server(key_name="bobs")}, token="bob:proj1").status_code == 202

    @pytest.mark.parametrize(
        "counts",
        [
            {"min_count": 3, "max_count": 2},
            {"min_count": "3", "max_count": "2"},
            {"min_count": 2, "max_count": 1},
        ],
    )
    def test_min_count_above_max_count(self, api, topology, counts):
        refused(post(api, {"server": server(**counts)}), 400, "min_count must be <= max_count")

    @pytest.mark.parametrize(
        "counts",
        [
            {"min_count": 0},
            {"min_count": "0"},
            {"max_count": 0},
            {"min_count": 2.5},
            {"max_count": "2.5"},
            {"min_count": -1},
        ],
    )
    def test_counts_that_are_not_positive_integers(self, api, topology, counts):
        refused(post(api, {"server": server(**counts)}), 400)

    @pytest.mark.parametrize(
        "metadata",
        [{"a": "b" * 256}, {"": "x"}, {"k" * 256: "x"}, {"bad/key": "x"}, {"a": 1}, ["a"], "a=b"],
    )
    def test_bad_metadata(self, api, topology, metadata):
        refused(post(api, {"server": server(metadata=metadata)}), 400)

    @pytest.mark.parametrize("field,value", [("accessIPv4", "1.1.1.1.1.1"), ("accessIPv6", "notvalid")])
    def test_bad_access_ips(self, api, topology, field, value):
        refused(post(api, {"server": server(**{field: value})}), 400)

    def test_an_unknown_field(self, api, topology):
        refused(
            post(api, {"server": server(foo="bar")}),
            400,
            startswith="Invalid input for field/attribute server.",
            endswith="Additional properties are not allowed ('foo' was unexpected)",
        )
        refused(post(api, {"server": server(), "extra": {}}), 400)

    @pytest.mark.parametrize(
        "version,field,value",
        [
            ("2.18", "description", "d"),
            ("2.51", "tags", ["a"]),
            ("2.57", "personality", [{"path": "/etc/x", "contents": "eA=="}]),
            ("2.62", "trusted_image_certificates", ["x"]),
            ("2.89", "hostname", "h"),
        ],
    )
    def test_fields_of_later_microversions(self, api, topology, version, field, value):
        refused(post(api, {"server": server(**{field: value})}, version=version), 400)

    def test_too_many_tags_and_a_bad_tag(self, api, topology):
        refused(post(api, {"server": server(tags=[f"t{n}" for n in range(51)])}, version="2.52"), 400)
        refused(post(api, {"server": server(tags=["a/b"])}, version="2.52"), 400)

    def test_user_data_that_is_not_base64(self, api, topology):
        refused(post(api, {"server": server(user_data="not base64!")}), 400)

    def test_a_bad_disk_config(self, api, topology):
        refused(post(api, {"server": server(**{"OS-DCF:diskConfig": "auto"})}), 400)

    def test_a_requested_host_is_for_admins(self, api, topology):
        refused(
            post(api, {"server": server(host="compute1", networks="none")}, version="2.74"),
            403,
            "Policy doesn't allow compute:servers:create:requested_destination to be performed.",
        )

    def test_malformed_json_and_wrong_content_type(self, api, topology, client):
        response = client.post(
            "/v2.1/servers", data="{not json", content_type="application/json", HTTP_X_AUTH_TOKEN=MEMBER
        )
        refused(response, 400, "Malformed request body")
        response = client.post(
            "/v2.1/servers",
            data=json.dumps({"server": server()}),
            content_type="application/xml",
            HTTP_X_AUTH_TOKEN=MEMBER,
        )
        refused(response, 415, "Unsupported Content-Type")


class TestQuotas:
    @pytest.fixture
    def quotas(self, settings):
        def set_quotas(**limits):
            settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, **limits}

        return set_quotas

    def test_instances(self, api, topology, quotas):
        quotas(instances=2)
        api.create_uuid()
        api.create_uuid()
        place_all()
        before = api_rows()
        response = api.create()
        assert response.status_code == 403
        assert fault(response) == (
            "forbidden",
            403,
            "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances",
        )
        assert api_rows() == before

    def test_instances_from_settings_at_zero_write_nothing(self, api, topology, quotas):
        quotas(instances=0)
        refused(api.create(), 403, "Quota exceeded for instances: Requested 1, but already used 0 of 0 instances")

    def test_min_count_over_the_quota(self, api, topology, quotas):
        quotas(instances=2)
        refused(
            api.create(min_count=3),
            403,
            "Quota exceeded for instances: Requested 3, but already used 0 of 2 instances",
        )

    def test_max_count_over_the_quota_creates_what_fits(self, api, topology, quotas):
        quotas(instances=3)
        api.create(min_count=1, max_count=5)
        assert api_rows()["build_requests"] == 3

    def test_cores(self, api, topology, quotas):
        quotas(cores=3)
        api.create_uuid(flavorRef="3")  # 2 vCPUs
        before = api_rows()
        response = api.create(flavorRef="3")
        assert response.status_code == 403
        assert fault(response)[2] == "Quota exceeded for cores: Requested 2, but already used 2 of 3 cores"
        assert api_rows() == before

    def test_ram(self, api, topology, quotas):
        quotas(ram=1024)
        api.create_uuid()
        api.create_uuid()
        before = api_rows()
        response = api.create()
        assert response.status_code == 403
        assert fault(response)[2] == "Quota exceeded for ram: Requested 512, but already used 1024 of 1024 ram"
        assert api_rows() == before

    def test_a_project_override(self, api, topology):
        quota_set(project_id="proj1", resource="instances", hard_limit=0)
        refused(api.create(), 403, "Quota exceeded for instances: Requested 1, but already used 0 of 0 instances")
        assert api.create(token=ADMIN).status_code == 202

    def test_deleted_servers_do_not_count(self, api, topology, quotas):
        quotas(instances=1)
        uuid = api.create_uuid()
        api("delete", f"/servers/{uuid}")
        assert api.create().status_code == 202

    def test_server_group_members(self, api, topology, quotas):
        quotas(server_group_members=1)
        group = servergroup_create(project_id="proj1", user_id="alice", name="g", policy="anti-affinity")
        first = api.create_uuid(hints={"group": group.uuid})
        before = api_rows()
        response = api.create(hints={"group": group.uuid})
        assert response.status_code == 403
        assert fault(response)[2] == "Quota exceeded, too many servers in group"
        assert api_rows() == before
        assert servergroup_get(uuid=group.uuid).members == (first,)


class TestListInput:
    def test_non_admin_all_tenants(self, api, topology):
        response = api("get", "/servers?all_tenants=1")
        assert fault(response) == (
            "forbidden",
            403,
            "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.",
        )

    @pytest.mark.parametrize(
        "query,start",
        [
            ("sort_key=nope", "Invalid input for query parameters sort_key."),
            ("sort_dir=sideways", "Invalid input for query parameters sort_dir."),
            (f"marker={'0' * 8}-0000-4000-8000-{'0' * 12}", "marker ["),
            ("marker=junk", "marker [junk] not found"),
            ("limit=-5", "limit param must be positive"),
        ],
    )
    @pytest.mark.parametrize("path", ["/servers", "/servers/detail"])
    def test_bad_list_parameters(self, api, topology, path, query, start):
        response = api("get", f"{path}?{query}")
        assert response.status_code == 400
        assert fault(response)[2].startswith(start)


@pytest.mark.parametrize("spelling", ["y", "t", "n", "f", "maybe", ""])
@pytest.mark.parametrize("field", ["config_drive", "return_reservation_id"])
def test_a_boolean_takes_only_novas_spellings(api, topology, field, spelling):
    """Nova's parameter_types.boolean: "yes"/"on"/"1"... are booleans, oslo's one-letter forms are not."""
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": IMAGE, field: spelling}}
    refused(post(api, body), 400, startswith=f"Invalid input for field/attribute {field}.")


@pytest.mark.parametrize("spelling", ["yes", "On", "1", "FALSE"])
def test_novas_boolean_spellings_are_accepted(api, topology, spelling):
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": IMAGE, "config_drive": spelling}}
    assert post(api, body).status_code == 202
