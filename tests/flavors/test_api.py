"""The flavors API: Nova's bodies, status codes and messages at every microversion that changes them."""

import json
import uuid

import pytest

from cellsv2.api.validation import INVALID_NAME_MESSAGE
from flavors.api import schemas
from flavors.models import Flavor, FlavorExtraSpec, FlavorProject
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

MEMBER = "alice:proj1"
OTHER_PROJECT = "bob:proj2"
ADMIN = "admin:admin"
HOST = "http://testserver"
NOT_FOUND = {"itemNotFound": {"code": 404, "message": "The resource could not be found."}}

DEFAULTS = [
    # flavorid, name, ram, vcpus, disk
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
]


class Api:
    def __init__(self, client):
        self.client = client

    def __call__(self, method, path, *, token=MEMBER, version=None, body=None, raw=None):
        headers = {"HTTP_X_AUTH_TOKEN": token}
        if version is not None:
            headers["HTTP_X_OPENSTACK_NOVA_API_VERSION"] = version
        kwargs = {}
        if body is not None or raw is not None:
            kwargs = {"data": raw if raw is not None else json.dumps(body), "content_type": "application/json"}
        return getattr(self.client, method)(f"/v2.1{path}", **kwargs, **headers)


@pytest.fixture
def api(client, settings):
    settings.CELLSV2_AUTH = "noauth"
    return Api(client)


def links(flavorid):
    return [
        {"rel": "self", "href": f"{HOST}/v2.1/flavors/{flavorid}"},
        {"rel": "bookmark", "href": f"{HOST}/flavors/{flavorid}"},
    ]


def bad_request(message):
    return {"badRequest": {"code": 400, "message": message}}


def basic(flavorid, name, **extra):
    return {"id": flavorid, "name": name, "links": links(flavorid), **extra}


def detail(flavorid, name, ram, vcpus, disk, *, swap="", ephemeral=0, disabled=False, public=True, rxtx=1.0, **extra):
    return {
        "id": flavorid,
        "name": name,
        "ram": ram,
        "disk": disk,
        "swap": swap,
        "OS-FLV-EXT-DATA:ephemeral": ephemeral,
        "OS-FLV-DISABLED:disabled": disabled,
        "vcpus": vcpus,
        "os-flavor-access:is_public": public,
        "rxtx_factor": rxtx,
        "links": links(flavorid),
        **extra,
    }


def make_flavor(flavorid, name, *, ram=1024, vcpus=1, disk=10, projects=(), specs=None, **fields):
    flavor = Flavor.objects.create(flavorid=flavorid, name=name, memory_mb=ram, vcpus=vcpus, root_gb=disk, **fields)
    for project_id in projects:
        FlavorProject.objects.create(flavor=flavor, project_id=project_id)
    for key, value in (specs or {}).items():
        FlavorExtraSpec.objects.create(flavor=flavor, key=key, value=value)
    return flavor


def create_body(**values):
    return {"flavor": {"name": "test_flavor", "ram": 1024, "vcpus": 2, "disk": 10, **values}}


# --- Listing -------------------------------------------------------------------------------------


class TestList:
    def test_the_default_flavors_are_there_after_migrate_at_2_1(self, api):
        response = api("get", "/flavors")

        assert response.status_code == 200
        assert response.json() == {"flavors": [basic(fid, name) for fid, name, *_ in DEFAULTS]}

    def test_2_55_adds_the_description_to_the_summaries(self, api):
        make_flavor("6", "described", description="for tests")

        body = api("get", "/flavors", version="2.55").json()

        assert body["flavors"] == [basic(fid, name, description=None) for fid, name, *_ in DEFAULTS] + [
            basic("6", "described", description="for tests")
        ]

    def test_detail_at_2_1_has_nova_keys_and_an_empty_string_for_no_swap(self, api):
        response = api("get", "/flavors/detail")

        assert response.status_code == 200
        assert response.json() == {"flavors": [detail(*row) for row in DEFAULTS]}

    def test_detail_at_2_55_adds_the_description(self, api):
        body = api("get", "/flavors/detail", version="2.55").json()
        assert body == {"flavors": [detail(*row, description=None) for row in DEFAULTS]}

    def test_detail_at_2_60_has_no_extra_specs(self, api):
        make_flavor("6", "specced", specs={"hw:cpu_policy": "dedicated"})

        flavors = api("get", "/flavors/detail", version="2.60").json()["flavors"]

        assert "extra_specs" not in flavors[-1]

    def test_detail_at_2_61_adds_the_extra_specs(self, api):
        make_flavor("6", "specced", swap=512, specs={"hw:cpu_policy": "dedicated", "quota:cpu_shares": "10"})

        body = api("get", "/flavors/detail", version="2.61").json()

        assert body == {
            "flavors": [detail(*row, description=None, extra_specs={}) for row in DEFAULTS]
            + [
                detail(
                    "6",
                    "specced",
                    1024,
                    1,
                    10,
                    swap=512,
                    description=None,
                    extra_specs={"hw:cpu_policy": "dedicated", "quota:cpu_shares": "10"},
                )
            ]
        }

    def test_extra_specs_follow_the_extra_specs_index_policy(self, api, policy_file):
        policy_file({"os_compute_api:os-flavor-extra-specs:index": "role:admin"})

        member = api("get", "/flavors/detail", version="2.61").json()["flavors"]
        admin = api("get", "/flavors/detail", token=ADMIN, version="2.61").json()["flavors"]
        shown = api("get", "/flavors/1", version="2.61").json()["flavor"]

        assert "extra_specs" not in member[0] and "extra_specs" not in shown
        assert admin[0]["extra_specs"] == {}

    def test_detail_at_2_75_gives_swap_as_an_integer(self, api):
        make_flavor("6", "swappy", swap=512)

        flavors = api("get", "/flavors/detail", version="2.75").json()["flavors"]

        assert [f["swap"] for f in flavors] == [0, 0, 0, 0, 0, 512]
        assert flavors[0] == detail(*DEFAULTS[0], swap=0, description=None, extra_specs={})

    def test_detail_at_2_74_still_gives_no_swap_as_an_empty_string(self, api):
        flavors = api("get", "/flavors/detail", version="2.74").json()["flavors"]
        assert {f["swap"] for f in flavors} == {""}

    def test_min_ram_and_min_disk_filter(self, api):
        body = api("get", "/flavors?minRam=4096&minDisk=80").json()
        assert body == {"flavors": [basic("4", "m1.large"), basic("5", "m1.xlarge")]}

    @pytest.mark.parametrize("param", ["minRam", "minDisk"])
    def test_a_non_integer_min_filter_is_a_400(self, api, param):
        response = api("get", f"/flavors?{param}=big")

        assert response.status_code == 400
        assert response.json() == bad_request(f"Invalid {param} filter [big]")

    def test_sort_key_and_sort_dir(self, api):
        body = api("get", "/flavors?sort_key=memory_mb&sort_dir=desc").json()
        assert [f["id"] for f in body["flavors"]] == ["5", "4", "3", "2", "1"]

    def test_sort_by_name(self, api):
        body = api("get", "/flavors?sort_key=name").json()
        assert [f["name"] for f in body["flavors"]] == ["m1.large", "m1.medium", "m1.small", "m1.tiny", "m1.xlarge"]

    def test_the_default_order_is_the_flavor_id_as_a_string(self, api):
        make_flavor("10", "ten")
        body = api("get", "/flavors").json()
        assert [f["id"] for f in body["flavors"]] == ["1", "10", "2", "3", "4", "5"]

    def test_an_unknown_sort_key_is_a_400(self, api):
        response = api("get", "/flavors?sort_key=ram")

        assert response.status_code == 400
        assert response.json() == bad_request(
            "Invalid input for query parameters sort_key. Value: ram. 'ram' is not one of ['created_at', "
            "'description', 'disabled', 'ephemeral_gb', 'flavorid', 'id', 'is_public', 'memory_mb', 'name', "
            "'root_gb', 'rxtx_factor', 'swap', 'updated_at', 'vcpu_weight', 'vcpus']"
        )

    def test_an_unknown_sort_dir_is_a_400(self, api):
        response = api("get", "/flavors/detail?sort_dir=up")

        assert response.status_code == 400
        assert response.json() == bad_request(
            "Invalid input for query parameters sort_dir. Value: up. 'up' is not one of ['asc', 'desc']"
        )

    def test_a_negative_limit_is_a_400(self, api):
        response = api("get", "/flavors?limit=-1")

        assert response.status_code == 400
        assert response.json() == bad_request(
            "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'"
        )

    def test_unknown_query_parameters_are_ignored_before_2_75(self, api):
        response = api("get", "/flavors?colour=blue", version="2.74")

        assert response.status_code == 200
        assert len(response.json()["flavors"]) == 5

    @pytest.mark.parametrize("path", ["/flavors", "/flavors/detail"])
    def test_unknown_query_parameters_are_a_400_from_2_75(self, api, path):
        response = api("get", f"{path}?colour=blue", version="2.75")

        assert response.status_code == 400
        assert response.json() == bad_request("Additional properties are not allowed ('colour' was unexpected)")

    def test_known_query_parameters_are_accepted_at_2_75(self, api):
        response = api("get", "/flavors?limit=1&minRam=0&minDisk=0&sort_key=name&sort_dir=asc", version="2.75")
        assert response.status_code == 200


class TestPagination:
    def test_a_full_page_has_a_next_link_with_the_last_flavor_as_marker(self, api):
        body = api("get", "/flavors?limit=2").json()

        assert body == {
            "flavors": [basic("1", "m1.tiny"), basic("2", "m1.small")],
            "flavors_links": [{"rel": "next", "href": f"{HOST}/v2.1/flavors?limit=2&marker=2"}],
        }

    def test_unknown_parameters_are_ignored_and_left_out_of_next_links_before_2_75(self, api):
        body = api("get", "/flavors?limit=2&colour=blue").json()

        assert body["flavors_links"] == [{"rel": "next", "href": f"{HOST}/v2.1/flavors?limit=2&marker=2"}]

    def test_following_the_next_links_walks_every_flavor_once(self, api, client):
        seen, url = [], "/flavors/detail?limit=2"
        for _ in range(5):
            body = api("get", url).json()
            seen += [f["id"] for f in body["flavors"]]
            if "flavors_links" not in body:
                break
            [link] = body["flavors_links"]
            assert link["rel"] == "next"
            assert link["href"].startswith(f"{HOST}/v2.1/flavors/detail?")
            url = link["href"].removeprefix(f"{HOST}/v2.1")
        assert seen == ["1", "2", "3", "4", "5"]

    def test_the_next_link_keeps_the_other_parameters_sorted_by_name(self, api):
        body = api("get", "/flavors/detail?minRam=1024&limit=3").json()

        assert [f["id"] for f in body["flavors"]] == ["2", "3", "4"]
        assert body["flavors_links"] == [
            {"rel": "next", "href": f"{HOST}/v2.1/flavors/detail?limit=3&minRam=1024&marker=4"}
        ]

    def test_a_limit_of_0_gives_an_empty_page_as_in_nova(self, api):
        assert api("get", "/flavors?limit=0").json() == {"flavors": []}

    def test_a_limit_above_the_maximum_is_capped(self, api, settings):
        settings.CELLSV2_API_MAX_LIMIT = 3

        body = api("get", "/flavors?limit=10").json()

        assert [f["id"] for f in body["flavors"]] == ["1", "2", "3"]
        assert body["flavors_links"] == [{"rel": "next", "href": f"{HOST}/v2.1/flavors?limit=10&marker=3"}]

    def test_a_page_that_is_not_full_has_no_links(self, api):
        body = api("get", "/flavors?marker=3&limit=5").json()
        assert body == {"flavors": [basic("4", "m1.large"), basic("5", "m1.xlarge")]}

    def test_the_marker_follows_the_sort_order(self, api):
        body = api("get", "/flavors?sort_key=memory_mb&sort_dir=desc&marker=4&limit=2").json()

        assert [f["id"] for f in body["flavors"]] == ["3", "2"]
        assert body["flavors_links"] == [
            {"rel": "next", "href": f"{HOST}/v2.1/flavors?limit=2&marker=2&sort_dir=desc&sort_key=memory_mb"}
        ]

    def test_an_unknown_marker_is_a_400(self, api):
        response = api("get", "/flavors?marker=nope")

        assert response.status_code == 400
        assert response.json() == bad_request("marker [nope] not found")

    def test_a_marker_the_caller_cannot_see_is_a_400(self, api):
        make_flavor("private", "private", is_public=False)

        response = api("get", "/flavors?marker=private")

        assert response.json() == bad_request("marker [private] not found")

    def test_a_limit_that_is_not_a_number_is_a_400(self, api):
        response = api("get", "/flavors?limit=many")
        assert response.status_code == 400


class TestVisibility:
    def test_private_flavors_are_hidden_from_projects_without_access(self, api):
        make_flavor("p1", "private-1", is_public=False, projects=["proj1"])

        for token in (OTHER_PROJECT,):
            assert [f["id"] for f in api("get", "/flavors", token=token).json()["flavors"]] == [
                "1",
                "2",
                "3",
                "4",
                "5",
            ]
            assert api("get", "/flavors/p1", token=token).json() == {
                "itemNotFound": {"code": 404, "message": "Flavor p1 could not be found."}
            }

    def test_a_project_with_access_sees_the_private_flavor(self, api):
        make_flavor("p1", "private-1", is_public=False, projects=["proj1", "proj3"])

        listed = api("get", "/flavors", token=MEMBER).json()["flavors"]
        shown = api("get", "/flavors/p1", token=MEMBER)

        assert [f["id"] for f in listed] == ["1", "2", "3", "4", "5", "p1"]
        assert shown.status_code == 200
        assert shown.json() == {"flavor": detail("p1", "private-1", 1024, 1, 10, public=False)}

    def test_disabled_flavors_are_hidden_from_lists_but_can_be_shown(self, api):
        make_flavor("old", "retired", disabled=True)

        assert "old" not in [f["id"] for f in api("get", "/flavors/detail").json()["flavors"]]
        assert api("get", "/flavors/old").json()["flavor"]["OS-FLV-DISABLED:disabled"] is True

    def test_an_admin_sees_disabled_flavors_in_lists(self, api):
        make_flavor("old", "retired", disabled=True)
        assert "old" in [f["id"] for f in api("get", "/flavors", token=ADMIN).json()["flavors"]]

    def test_an_admin_lists_public_flavors_by_default(self, api):
        make_flavor("p1", "private-1", is_public=False, projects=["proj1"])

        ids = [f["id"] for f in api("get", "/flavors", token=ADMIN).json()["flavors"]]

        assert ids == ["1", "2", "3", "4", "5"]

    def test_an_admin_sees_private_flavors_shared_with_the_admin_project(self, api):
        make_flavor("p1", "private-1", is_public=False, projects=["admin"])
        ids = [f["id"] for f in api("get", "/flavors", token=ADMIN).json()["flavors"]]
        assert ids == ["1", "2", "3", "4", "5", "p1"]

    def test_is_public_false_lists_only_private_flavors_for_an_admin(self, api):
        make_flavor("p1", "private-1", is_public=False)

        body = api("get", "/flavors?is_public=false", token=ADMIN).json()

        assert body == {"flavors": [basic("p1", "private-1")]}

    def test_is_public_none_lists_every_flavor_for_an_admin(self, api):
        make_flavor("p1", "private-1", is_public=False)

        ids = [f["id"] for f in api("get", "/flavors?is_public=None", token=ADMIN).json()["flavors"]]

        assert ids == ["1", "2", "3", "4", "5", "p1"]

    def test_a_bad_is_public_filter_is_a_400_for_an_admin(self, api):
        response = api("get", "/flavors?is_public=maybe", token=ADMIN)

        assert response.status_code == 400
        assert response.json() == bad_request("Invalid is_public filter [maybe]")

    def test_members_cannot_use_the_is_public_filter(self, api):
        make_flavor("p1", "private-1", is_public=False)

        for value in ("false", "none", "maybe"):
            response = api("get", f"/flavors?is_public={value}")
            assert response.status_code == 200
            assert [f["id"] for f in response.json()["flavors"]] == ["1", "2", "3", "4", "5"]


# --- Show ----------------------------------------------------------------------------------------


class TestShow:
    @pytest.fixture
    def flavor(self, db):
        return make_flavor(
            "42",
            "answer",
            ram=4096,
            vcpus=4,
            disk=40,
            ephemeral_gb=5,
            swap=1024,
            rxtx_factor=2.5,
            description="the answer",
            specs={"hw:numa_nodes": "1"},
        )

    def expected(self, **extra):
        return detail("42", "answer", 4096, 4, 40, ephemeral=5, swap=1024, rxtx=2.5, **extra)

    def test_show_at_2_1(self, api, flavor):
        response = api("get", "/flavors/42")

        assert response.status_code == 200
        assert response.json() == {"flavor": self.expected()}

    def test_show_at_2_55_adds_the_description(self, api, flavor):
        assert api("get", "/flavors/42", version="2.55").json() == {"flavor": self.expected(description="the answer")}

    def test_show_at_2_61_adds_the_extra_specs(self, api, flavor):
        assert api("get", "/flavors/42", version="2.61").json() == {
            "flavor": self.expected(description="the answer", extra_specs={"hw:numa_nodes": "1"})
        }

    def test_show_at_2_75(self, api, flavor):
        assert api("get", "/flavors/42", version="2.75").json() == {
            "flavor": self.expected(description="the answer", extra_specs={"hw:numa_nodes": "1"})
        }

    def test_no_swap_is_an_empty_string_before_2_75_and_0_from_2_75(self, api):
        assert api("get", "/flavors/1", version="2.74").json()["flavor"]["swap"] == ""
        assert api("get", "/flavors/1", version="2.75").json()["flavor"]["swap"] == 0

    def test_an_unknown_flavor_is_a_404(self, api):
        response = api("get", "/flavors/nope")

        assert response.status_code == 404
        assert response.json() == {"itemNotFound": {"code": 404, "message": "Flavor nope could not be found."}}

    def test_a_flavor_with_the_id_detail_cannot_be_shown_as_in_nova(self, api):
        make_flavor("detail", "named-detail")
        assert "flavors" in api("get", "/flavors/detail").json()

    def test_unknown_query_parameters_are_ignored_on_show(self, api):
        assert api("get", "/flavors/1?colour=blue", version="2.75").status_code == 200


# --- Create --------------------------------------------------------------------------------------


class TestCreate:
    def test_an_admin_creates_a_flavor_at_2_1(self, api):
        response = api("post", "/flavors", token=ADMIN, body=create_body(id="10"))

        assert response.status_code == 200
        assert response.json() == {"flavor": detail("10", "test_flavor", 1024, 2, 10)}
        flavor = Flavor.objects.get(flavorid="10")
        assert (flavor.name, flavor.memory_mb, flavor.vcpus, flavor.root_gb) == ("test_flavor", 1024, 2, 10)
        assert (flavor.ephemeral_gb, flavor.swap, flavor.rxtx_factor) == (0, 0, 1.0)
        assert (flavor.is_public, flavor.disabled, flavor.description) == (True, False, None)

    def test_every_optional_field(self, api):
        body = create_body(
            id="big",
            swap=512,
            rxtx_factor=2.0,
            **{"OS-FLV-EXT-DATA:ephemeral": 20, "os-flavor-access:is_public": False},
        )

        response = api("post", "/flavors", token=ADMIN, body=body)

        assert response.json() == {
            "flavor": detail("big", "test_flavor", 1024, 2, 10, swap=512, ephemeral=20, public=False, rxtx=2.0)
        }

    def test_numeric_strings_are_accepted(self, api):
        body = {"flavor": {"name": "strings", "ram": "2048", "vcpus": "2", "disk": "0", "rxtx_factor": "1.5"}}

        response = api("post", "/flavors", token=ADMIN, body=body)

        assert response.status_code == 200
        flavor = response.json()["flavor"]
        assert (flavor["ram"], flavor["vcpus"], flavor["disk"], flavor["rxtx_factor"]) == (2048, 2, 0, 1.5)

    def test_without_an_id_the_flavor_gets_a_uuid(self, api):
        response = api("post", "/flavors", token=ADMIN, body=create_body())

        flavorid = response.json()["flavor"]["id"]
        assert str(uuid.UUID(flavorid)) == flavorid
        assert Flavor.objects.filter(flavorid=flavorid).exists()

    def test_a_null_id_also_gets_a_uuid(self, api):
        flavorid = api("post", "/flavors", token=ADMIN, body=create_body(id=None)).json()["flavor"]["id"]
        assert uuid.UUID(flavorid)

    def test_a_numeric_id_is_stored_as_a_string(self, api):
        response = api("post", "/flavors", token=ADMIN, body=create_body(id=11))

        assert response.json()["flavor"]["id"] == "11"
        assert Flavor.objects.filter(flavorid="11").exists()

    @pytest.mark.parametrize(("value", "public"), [("no", False), ("False", False), ("1", True), (True, True)])
    def test_is_public_accepts_nova_boolean_strings(self, api, value, public):
        body = create_body(**{"os-flavor-access:is_public": value})
        response = api("post", "/flavors", token=ADMIN, body=body)
        assert response.json()["flavor"]["os-flavor-access:is_public"] is public

    def test_at_2_55_the_description_is_stored_and_shown(self, api):
        response = api("post", "/flavors", token=ADMIN, version="2.55", body=create_body(id="10", description="small"))

        assert response.json() == {"flavor": detail("10", "test_flavor", 1024, 2, 10, description="small")}
        assert Flavor.objects.get(flavorid="10").description == "small"

    def test_at_2_55_the_description_may_be_left_out(self, api):
        response = api("post", "/flavors", token=ADMIN, version="2.55", body=create_body(id="10"))
        assert response.json()["flavor"]["description"] is None

    def test_at_2_61_the_response_has_empty_extra_specs(self, api):
        response = api("post", "/flavors", token=ADMIN, version="2.61", body=create_body(id="10", description="d"))
        assert response.json() == {"flavor": detail("10", "test_flavor", 1024, 2, 10, description="d", extra_specs={})}

    def test_at_2_75_swap_is_an_integer(self, api):
        response = api("post", "/flavors", token=ADMIN, version="2.75", body=create_body(id="10"))
        assert response.json() == {
            "flavor": detail("10", "test_flavor", 1024, 2, 10, swap=0, description=None, extra_specs={})
        }

    def test_a_member_may_not_create_flavors(self, api):
        response = api("post", "/flavors", token=MEMBER, body=create_body(id="10"))

        assert response.status_code == 403
        assert response.json() == {
            "forbidden": {
                "code": 403,
                "message": "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.",
            }
        }
        assert not Flavor.objects.filter(flavorid="10").exists()

    def test_the_body_is_validated_before_the_policy_as_in_nova(self, api):
        response = api("post", "/flavors", token=MEMBER, body={"flavor": {"name": "x"}})
        assert response.status_code == 400

    def test_a_taken_name_is_a_409(self, api):
        response = api("post", "/flavors", token=ADMIN, body=create_body(name="m1.tiny"))

        assert response.status_code == 409
        assert response.json() == {
            "conflictingRequest": {"code": 409, "message": "Flavor with name m1.tiny already exists."}
        }

    def test_a_taken_id_is_a_409(self, api):
        response = api("post", "/flavors", token=ADMIN, body=create_body(id="1"))

        assert response.status_code == 409
        assert response.json() == {"conflictingRequest": {"code": 409, "message": "Flavor with ID 1 already exists."}}
        assert Flavor.objects.filter(name="test_flavor").count() == 0

    @pytest.mark.parametrize("missing", ["name", "ram", "vcpus", "disk"])
    def test_a_missing_required_field_is_a_400(self, api, missing):
        body = create_body()
        del body["flavor"][missing]

        response = api("post", "/flavors", token=ADMIN, body=body)

        assert response.status_code == 400
        assert response.json() == bad_request(
            f"Invalid input for field/attribute flavor. Value: {body['flavor']}. '{missing}' is a required property"
        )

    def test_a_missing_flavor_envelope_is_a_400(self, api):
        response = api("post", "/flavors", token=ADMIN, body={"name": "x"})
        assert response.status_code == 400

    def test_an_empty_body_is_a_400(self, api):
        response = api("post", "/flavors", token=ADMIN, raw="")
        assert response.json() == bad_request("None is not of type 'object'")

    def test_a_malformed_body_is_a_400(self, api):
        response = api("post", "/flavors", token=ADMIN, raw="{not json")
        assert response.json() == bad_request("Malformed request body")

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("ram", "-1", "'-1' does not match '^[0-9]+$'"),
            ("ram", 0, "0 is less than the minimum of 1"),
            ("vcpus", 0, "0 is less than the minimum of 1"),
            ("disk", -1, "-1 is less than the minimum of 0"),
            ("swap", -1, "-1 is less than the minimum of 0"),
            ("OS-FLV-EXT-DATA:ephemeral", -1, "-1 is less than the minimum of 0"),
            ("ram", 2147483648, "2147483648 is greater than the maximum of 2147483647"),
            ("ram", "1.5", "'1.5' does not match '^[0-9]+$'"),
            ("rxtx_factor", 0, "0 is less than or equal to the minimum of 0"),
            ("rxtx_factor", -1.5, "-1.5 is less than or equal to the minimum of 0"),
            ("os-flavor-access:is_public", "maybe", None),
        ],
    )
    def test_out_of_range_values_are_a_400(self, api, field, value, message):
        response = api("post", "/flavors", token=ADMIN, body=create_body(**{field: value}))

        assert response.status_code == 400
        if message is not None:
            assert response.json() == bad_request(
                f"Invalid input for field/attribute {field}. Value: {value}. {message}"
            )
        assert not Flavor.objects.filter(name="test_flavor").exists()

    def test_a_negative_ram_is_a_400(self, api):
        response = api("post", "/flavors", token=ADMIN, body=create_body(ram=-512))

        assert response.status_code == 400
        assert response.json() == bad_request(
            "Invalid input for field/attribute ram. Value: -512. -512 is less than the minimum of 1"
        )

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("ram", "0", "0 is less than the minimum of 1"),
            ("disk", "2147483648", "2147483648 is greater than the maximum of 2147483647"),
            ("rxtx_factor", "0.0", "0.0 is less than or equal to the minimum of 0"),
        ],
    )
    def test_bounds_apply_to_numeric_strings_as_in_nova(self, api, field, value, message):
        response = api("post", "/flavors", token=ADMIN, body=create_body(**{field: value}))

        assert response.status_code == 400
        assert response.json() == bad_request(f"Invalid input for field/attribute {field}. Value: {value}. {message}")

    @pytest.mark.parametrize("name", [" leading", "trailing ", "tab\tinside"])
    def test_names_with_surrounding_spaces_or_control_characters_are_a_400(self, api, name):
        response = api("post", "/flavors", token=ADMIN, body=create_body(name=name))

        assert response.status_code == 400
        assert response.json() == bad_request(INVALID_NAME_MESSAGE)

    def test_an_empty_name_is_a_400(self, api):
        response = api("post", "/flavors", token=ADMIN, body=create_body(name=""))
        assert response.status_code == 400

    @pytest.mark.parametrize("flavorid", [" 10", "10 ", "a/b", "é"])
    def test_bad_ids_are_a_400(self, api, flavorid):
        response = api("post", "/flavors", token=ADMIN, body=create_body(id=flavorid))

        assert response.status_code == 400
        assert "Invalid input for field/attribute id." in response.json()["badRequest"]["message"]

    def test_an_id_with_inner_spaces_and_dots_is_fine(self, api):
        response = api("post", "/flavors", token=ADMIN, body=create_body(id="gpu 1.large_x-2"))
        assert response.json()["flavor"]["id"] == "gpu 1.large_x-2"

    def test_an_unknown_field_is_a_400(self, api):
        body = create_body(colour="blue")

        response = api("post", "/flavors", token=ADMIN, body=body)

        assert response.status_code == 400
        assert response.json() == bad_request(
            f"Invalid input for field/attribute flavor. Value: {body['flavor']}. "
            "Additional properties are not allowed ('colour' was unexpected)"
        )

    def test_an_unknown_top_level_key_is_a_400(self, api):
        response = api("post", "/flavors", token=ADMIN, body={**create_body(), "extra": 1})
        assert response.json() == bad_request("Additional properties are not allowed ('extra' was unexpected)")

    def test_a_description_before_2_55_is_an_unknown_field(self, api):
        body = create_body(description="d")

        response = api("post", "/flavors", token=ADMIN, version="2.54", body=body)

        assert response.json() == bad_request(
            f"Invalid input for field/attribute flavor. Value: {body['flavor']}. "
            "Additional properties are not allowed ('description' was unexpected)"
        )

    def test_a_description_with_a_control_character_is_a_400(self, api):
        response = api("post", "/flavors", token=ADMIN, version="2.55", body=create_body(description="a\x07b"))
        assert response.status_code == 400

    def test_a_description_longer_than_65535_characters_is_a_400(self, api):
        body = create_body(description="x" * 65536)
        response = api("post", "/flavors", token=ADMIN, version="2.55", body=body)
        assert response.status_code == 400


# --- Update (2.55+) ------------------------------------------------------------------------------


class TestUpdate:
    def test_put_does_not_exist_before_2_55(self, api):
        response = api("put", "/flavors/1", token=ADMIN, version="2.54", body={"flavor": {"description": "d"}})

        assert response.status_code == 404
        assert response.json() == NOT_FOUND
        assert Flavor.objects.get(flavorid="1").description is None

    def test_an_admin_sets_the_description_at_2_55(self, api):
        response = api("put", "/flavors/1", token=ADMIN, version="2.55", body={"flavor": {"description": "tiny"}})

        assert response.status_code == 200
        assert response.json() == {"flavor": detail(*DEFAULTS[0], description="tiny")}
        flavor = Flavor.objects.get(flavorid="1")
        assert flavor.description == "tiny"
        assert flavor.updated_at is not None

    def test_at_2_61_the_response_has_the_extra_specs(self, api):
        FlavorExtraSpec.objects.create(flavor=Flavor.objects.get(flavorid="1"), key="hw:mem_page_size", value="large")

        response = api("put", "/flavors/1", token=ADMIN, version="2.61", body={"flavor": {"description": "tiny"}})

        assert response.json() == {
            "flavor": detail(*DEFAULTS[0], description="tiny", extra_specs={"hw:mem_page_size": "large"})
        }

    def test_at_2_75_the_response_has_an_integer_swap(self, api):
        response = api("put", "/flavors/1", token=ADMIN, version="2.75", body={"flavor": {"description": None}})
        assert response.json() == {"flavor": detail(*DEFAULTS[0], swap=0, description=None, extra_specs={})}

    def test_the_description_can_be_cleared(self, api):
        Flavor.objects.filter(flavorid="1").update(description="old")

        api("put", "/flavors/1", token=ADMIN, version="2.55", body={"flavor": {"description": None}})

        assert Flavor.objects.get(flavorid="1").description is None

    def test_a_member_may_not_update(self, api):
        response = api("put", "/flavors/1", token=MEMBER, version="2.55", body={"flavor": {"description": "d"}})

        assert response.status_code == 403
        assert response.json()["forbidden"]["message"] == (
            "Policy doesn't allow os_compute_api:os-flavor-manage:update to be performed."
        )

    def test_an_unknown_flavor_is_a_404(self, api):
        response = api("put", "/flavors/nope", token=ADMIN, version="2.55", body={"flavor": {"description": "d"}})

        assert response.status_code == 404
        assert response.json() == {"itemNotFound": {"code": 404, "message": "Flavor nope could not be found."}}

    def test_the_description_is_required(self, api):
        response = api("put", "/flavors/1", token=ADMIN, version="2.55", body={"flavor": {}})
        assert response.json() == bad_request(
            "Invalid input for field/attribute flavor. Value: {}. 'description' is a required property"
        )

    def test_other_fields_cannot_be_updated(self, api):
        response = api(
            "put", "/flavors/1", token=ADMIN, version="2.55", body={"flavor": {"description": "", "ram": 1}}
        )

        assert response.status_code == 400
        assert response.json() == bad_request(
            "Invalid input for field/attribute flavor. Value: {'description': '', 'ram': 1}. "
            "Additional properties are not allowed ('ram' was unexpected)"
        )


# --- Delete --------------------------------------------------------------------------------------


class TestDelete:
    def test_an_admin_deletes_a_flavor_with_its_specs_and_access(self, api):
        flavor = make_flavor("gone", "gone", is_public=False, projects=["proj1"], specs={"k": "v"})

        response = api("delete", "/flavors/gone", token=ADMIN)

        assert response.status_code == 202
        assert response.content == b""
        assert not Flavor.objects.filter(pk=flavor.pk).exists()
        assert not FlavorProject.objects.filter(flavor_id=flavor.pk).exists()
        assert not FlavorExtraSpec.objects.filter(flavor_id=flavor.pk).exists()
        assert api("get", "/flavors/gone", token=ADMIN).status_code == 404

    def test_a_deleted_flavor_id_and_name_can_be_used_again(self, api):
        api("delete", "/flavors/1", token=ADMIN)

        response = api("post", "/flavors", token=ADMIN, body=create_body(id="1", name="m1.tiny"))

        assert response.status_code == 200

    def test_a_member_may_not_delete(self, api):
        response = api("delete", "/flavors/1", token=MEMBER)

        assert response.status_code == 403
        assert response.json() == {
            "forbidden": {
                "code": 403,
                "message": "Policy doesn't allow os_compute_api:os-flavor-manage:delete to be performed.",
            }
        }
        assert Flavor.objects.filter(flavorid="1").exists()

    def test_the_policy_is_checked_before_the_flavor_is_looked_up(self, api):
        assert api("delete", "/flavors/nope", token=MEMBER).status_code == 403

    def test_an_unknown_flavor_is_a_404(self, api):
        response = api("delete", "/flavors/nope", token=ADMIN)

        assert response.status_code == 404
        assert response.json() == {"itemNotFound": {"code": 404, "message": "Flavor nope could not be found."}}


# --- Routing -------------------------------------------------------------------------------------


class TestRouting:
    def test_a_trailing_slash_is_not_routed(self, api):
        assert api("get", "/flavors/").status_code == 404

    def test_methods_nova_does_not_route_are_a_404(self, api):
        assert api("delete", "/flavors", token=ADMIN).json() == NOT_FOUND
        assert api("post", "/flavors/1", token=ADMIN, body={}).json() == NOT_FOUND

    def test_an_unauthenticated_request_is_a_401(self, client, settings):
        settings.CELLSV2_AUTH = "noauth"
        assert client.get("/v2.1/flavors").status_code == 401

    def test_responses_carry_the_microversion(self, api):
        response = api("get", "/flavors", version="2.61")
        assert response["OpenStack-API-Version"] == "compute 2.61"


# --- documentation ----------------------------------------------------------------------------------------


def test_the_openapi_document_describes_the_flavor_routes(client):
    paths = client.get("/openapi.json").json()["paths"]

    collection, detail, item = (paths[f"/v2.1/flavors{tail}"] for tail in ("", "/detail", "/{flavor_id}"))
    assert set(collection) == {"get", "post"} and set(detail) == {"get"} and set(item) == {"get", "put", "delete"}
    operations = [*collection.values(), *detail.values(), *item.values()]
    assert {tag for operation in operations for tag in operation["tags"]} == {"flavors"}
    # The request bodies are documented with the very schemas that validate them.
    for operation, schema in ((collection["post"], schemas.CREATE_V255), (item["put"], schemas.UPDATE_V255)):
        assert operation["requestBody"]["content"]["application/json"]["schema"] == json.loads(json.dumps(schema))
    assert "409" in collection["post"]["responses"] and "202" in item["delete"]["responses"]
