"""/v2.1/os-server-groups: Nova's bodies, status codes and messages at every microversion that changes them."""

import json
import threading

import pytest
from django.db import connections

from cellsv2.api import microversions
from cellsv2.api.validation import INVALID_NAME_MESSAGE
from cellsv2.context import target_cell
from servergroups.models import InstanceGroup, InstanceGroupPolicy, LegacyInstanceGroup
from tests.factories import (
    InstanceFactory,
    InstanceGroupFactory,
    InstanceMappingFactory,
    LegacyInstanceGroupFactory,
    new_uuid,
)
from tests.servergroups.helpers import ADMIN, MEMBER, OTHER, Api, legacy_rows
from tests.support import ALL_DATABASES, requires_postgres

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells")]

V21_KEYS = {"id", "name", "policies", "members", "metadata"}
V213_KEYS = V21_KEYS | {"project_id", "user_id"}
V264_KEYS = {"id", "name", "policy", "rules", "members", "project_id", "user_id"}


@pytest.fixture
def api(client, settings):
    settings.CELLSV2_AUTH = "noauth"
    return Api(client)


@pytest.fixture
def reader(client, settings):
    """A caller with only the reader role on proj1 (identity from a proxy's headers)."""
    settings.CELLSV2_AUTH = "headers"
    headers = {"HTTP_X_USER_ID": "rita", "HTTP_X_PROJECT_ID": "proj1", "HTTP_X_ROLES": "reader"}
    return lambda method, path, **kwargs: Api(client)(method, path, token=None, headers=headers, **kwargs)


def fault(response):
    ((name, inner),) = response.json().items()
    assert inner["code"] == response.status_code
    return name, inner["message"]


def bad_request(response):
    assert response.status_code == 400, response.content
    name, message = fault(response)
    assert name == "badRequest"
    return message


# --- create -----------------------------------------------------------------------------------------------


class TestCreate:
    def test_2_1_answers_200_with_policies_and_empty_metadata(self, api):
        response = api.create(name="test", policies=["anti-affinity"])
        assert response.status_code == 200
        body = response.json()["server_group"]
        assert set(body) == V21_KEYS
        assert (body["name"], body["policies"], body["members"], body["metadata"]) == (
            "test",
            ["anti-affinity"],
            [],
            {},
        )
        row = InstanceGroup.objects.get(uuid=body["id"])
        assert (row.project_id, row.user_id) == ("proj1", "alice")
        assert InstanceGroupPolicy.objects.get(group=row).rules == "{}"

    def test_2_13_adds_project_and_user(self, api):
        body = api.create("2.13", name="test", policies=["affinity"]).json()["server_group"]
        assert set(body) == V213_KEYS and (body["project_id"], body["user_id"]) == ("proj1", "alice")

    @pytest.mark.parametrize("policy", ["soft-anti-affinity", "soft-affinity"])
    def test_soft_policies_need_2_15(self, api, policy):
        assert "is not one of" in bad_request(api.create("2.14", name="g", policies=[policy]))
        assert api.create("2.15", name="g", policies=[policy]).json()["server_group"]["policies"] == [policy]

    def test_2_64_takes_policy_and_rules_and_answers_them(self, api):
        response = api.create("2.64", name="test", policy="anti-affinity", rules={"max_server_per_host": 3})
        assert response.status_code == 200
        body = response.json()["server_group"]
        assert set(body) == V264_KEYS
        assert (body["policy"], body["rules"], body["members"]) == ("anti-affinity", {"max_server_per_host": 3}, [])

    def test_2_64_returns_max_server_per_host_as_an_integer_and_rules_default_to_empty(self, api):
        body = api.create("2.64", name="t", policy="anti-affinity", rules={"max_server_per_host": "4"}).json()
        assert body["server_group"]["rules"] == {"max_server_per_host": 4}
        assert api.create("2.64", name="t", policy="soft-affinity").json()["server_group"]["rules"] == {}

    def test_a_group_made_with_policy_shows_policies_at_older_versions(self, api):
        uuid = api.create("2.64", name="t", policy="affinity").json()["server_group"]["id"]
        assert api("get", f"/os-server-groups/{uuid}", version="2.63").json()["server_group"]["policies"] == [
            "affinity"
        ]

    def test_policy_before_2_64_and_policies_from_2_64_are_additional_properties(self, api):
        message = bad_request(api.create("2.63", name="t", policies=["affinity"], policy="affinity"))
        assert "Additional properties are not allowed ('policy' was unexpected)" in message
        message = bad_request(api.create("2.64", name="t", policy="affinity", policies=["affinity"]))
        assert "Additional properties are not allowed ('policies' was unexpected)" in message
        assert "'policy' is a required property" in bad_request(api.create("2.64", name="t", policies=["affinity"]))

    def test_rules_with_another_policy_than_anti_affinity_are_refused(self, api):
        response = api.create("2.64", name="t", policy="affinity", rules={"max_server_per_host": 3})
        assert bad_request(response) == "Only anti-affinity policy supports rules."
        assert InstanceGroup.objects.count() == 0

    @pytest.mark.parametrize(
        "rules",
        [
            {"unknown_key": "3"},
            {"max_server_per_host": 0},
            {"max_server_per_host": "0"},
            {"max_server_per_host": -1},
            {"max_server_per_host": "-1"},
            {"max_server_per_host": "foo"},
            {"max_server_per_host": 1.5},
            {"max_server_per_host": None},
            {"max_server_per_host": ""},
        ],
    )
    def test_bad_rules_are_400_and_write_nothing(self, api, rules):
        response = api.create("2.64", name="t", policy="anti-affinity", rules=rules)
        assert "Invalid input for field/attribute" in bad_request(response)
        assert InstanceGroup.objects.count() == 0

    @pytest.mark.parametrize(
        "name,expected",
        [
            ("", "Invalid input for field/attribute name."),
            ("x" * 256, "is too long"),
            (12, "is not of type 'string'"),
            ("  leading", INVALID_NAME_MESSAGE),
            ("trailing ", INVALID_NAME_MESSAGE),
            ("   ", INVALID_NAME_MESSAGE),
            ("bad\x00name", INVALID_NAME_MESSAGE),
            ("\U0001f4a9", INVALID_NAME_MESSAGE),
            (None, "is not of type 'string'"),
        ],
    )
    def test_bad_names_are_400_and_write_nothing(self, api, name, expected):
        for version, extra in (("2.1", {"policies": ["affinity"]}), ("2.64", {"policy": "affinity"})):
            assert expected in bad_request(api.create(version, name=name, **extra))
        assert InstanceGroup.objects.count() == 0

    def test_any_printable_name_is_fine_and_names_need_not_be_unique(self, api):
        for _ in range(2):
            response = api.create(name="good* $%name", policies=["affinity"])
            assert response.status_code == 200
        assert InstanceGroup.objects.filter(name="good* $%name").count() == 2

    @pytest.mark.parametrize(
        "policies",
        [
            [],
            [""],
            [7],
            ["invalid"],
            [None],
            ["anti-affinity", "affinity"],
            ["affinity", "affinity"],
            ["storage-affinity"],
            ["rack-affinity"],
            "affinity",
            None,
        ],
    )
    def test_zero_two_or_unknown_policies_are_400_and_write_nothing(self, api, policies):
        bad_request(api.create(name="g", policies=policies))
        assert InstanceGroup.objects.count() == 0

    @pytest.mark.parametrize("policy", ["", "invalid", 7, None, ["affinity"], "storage-affinity"])
    def test_unknown_policy_from_2_64_is_400(self, api, policy):
        bad_request(api.create("2.64", name="g", policy=policy))
        assert InstanceGroup.objects.count() == 0

    @pytest.mark.parametrize(
        "raw,expected",
        [
            ("", "None is not of type 'object'"),
            ("{}", "'server_group' is a required property"),
            ('{"group": {"name": "g", "policies": ["affinity"]}}', "'server_group' is a required property"),
            ('{"server_group": {"name": "g"}}', "'policies' is a required property"),
            ('{"server_group": {"policies": ["affinity"]}}', "'name' is a required property"),
            ('{"server_group": {"name": "g", "policies": ["affinity"], "foo": 1}}', "('foo' was unexpected)"),
            ('{"server_group": {"name": "g", "policies": ["affinity"]}, "x": 1}', "('x' was unexpected)"),
            ('{"server_group": "g"}', "is not of type 'object'"),
            ("{not json", "Malformed request body"),
        ],
    )
    def test_malformed_bodies_are_400(self, api, raw, expected):
        response = api("post", "/os-server-groups", raw=raw)
        assert expected in bad_request(response)

    def test_over_quota_is_403_with_novas_message_and_writes_nothing(self, api, settings):
        settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "server_groups": 2}
        assert api.create(name="one", policies=["affinity"]).status_code == 200
        LegacyInstanceGroupFactory(cell="cell1")  # still in a cell: it counts
        response = api.create(name="three", policies=["affinity"])
        assert response.status_code == 403
        assert fault(response) == ("forbidden", "Quota exceeded, too many server groups.")
        assert InstanceGroup.objects.count() == 1
        assert api.create(name="other project", policies=["affinity"], token=OTHER).status_code == 200

    def test_a_reader_may_not_create(self, reader):
        response = reader("post", "/os-server-groups", body={"server_group": {"name": "g", "policies": ["affinity"]}})
        assert response.status_code == 403
        assert fault(response) == (
            "forbidden",
            "Policy doesn't allow os_compute_api:os-server-groups:create to be performed.",
        )
        assert InstanceGroup.objects.count() == 0

    def test_without_credentials_it_is_401(self, api):
        assert api("post", "/os-server-groups", token=None, body={}).status_code == 401


# --- list -------------------------------------------------------------------------------------------------


class TestList:
    def test_lists_the_callers_project_api_and_legacy_groups_once_each(self, api):
        mine = InstanceGroupFactory(name="mine")
        InstanceGroupFactory(name="theirs", project_id="proj2")
        legacy = LegacyInstanceGroupFactory(cell="cell2", name="legacy")
        LegacyInstanceGroupFactory(cell="cell1", uuid=mine.uuid, name="crashed copy")
        response = api("get", "/os-server-groups")
        assert response.status_code == 200
        groups = response.json()["server_groups"]
        assert [(g["id"], g["name"]) for g in groups] == [(mine.uuid, "mine"), (legacy.uuid, "legacy")]
        assert set(groups[0]) == V21_KEYS and groups[0]["policies"] == ["anti-affinity"]
        assert groups[1]["policies"] == ["affinity"]

    @pytest.mark.parametrize("version,keys", [("2.1", V21_KEYS), ("2.13", V213_KEYS), ("2.64", V264_KEYS)])
    def test_items_have_the_shape_of_the_version(self, api, version, keys):
        InstanceGroupFactory()
        LegacyInstanceGroupFactory(cell="cell1")
        groups = api("get", "/os-server-groups", version=version).json()["server_groups"]
        assert [set(g) for g in groups] == [keys, keys]
        if version == "2.64":
            assert [g["rules"] for g in groups] == [{"max_server_per_host": 2}, {}]

    def test_all_projects_is_for_admins_others_silently_get_their_own(self, api):
        mine, theirs = InstanceGroupFactory(), InstanceGroupFactory(project_id="proj2")
        admin_own = InstanceGroupFactory(project_id="admin")
        legacy_theirs = LegacyInstanceGroupFactory(cell="cell0", project_id="proj2")

        def ids(path, token):
            return [g["id"] for g in api("get", path, token=token).json()["server_groups"]]

        assert ids("/os-server-groups?all_projects=True", MEMBER) == [mine.uuid]
        assert ids("/os-server-groups", ADMIN) == [admin_own.uuid]
        assert ids("/os-server-groups?all_projects", ADMIN) == [
            mine.uuid,
            theirs.uuid,
            admin_own.uuid,
            legacy_theirs.uuid,
        ]

    def test_offset_and_limit_page_across_databases(self, api):
        uuids = [InstanceGroupFactory(name=f"a{i}").uuid for i in range(3)] + [
            LegacyInstanceGroupFactory(cell="cell1").uuid for _ in range(2)
        ]

        def page(query):
            return [g["id"] for g in api("get", f"/os-server-groups?{query}").json()["server_groups"]]

        assert page("limit=2") == uuids[:2]
        assert page("offset=2&limit=2") == uuids[2:4]
        assert page("offset=4") == uuids[4:]
        assert page("offset=9") == []
        assert page("limit=0") == uuids  # 0 means max_limit, as in Nova

    def test_limit_is_capped_at_max_limit(self, api, settings):
        settings.CELLSV2_API_MAX_LIMIT = 2
        for _ in range(3):
            InstanceGroupFactory()
        assert len(api("get", "/os-server-groups?limit=50").json()["server_groups"]) == 2

    @pytest.mark.parametrize(
        "query",
        ["offset=-1", "offset=dummy", "limit=-1", "limit=dummy", "offset=dummy&offset=1", "limit=1&limit=x", "limit="],
    )
    def test_bad_offsets_and_limits_are_400(self, api, query):
        assert "Invalid input for query parameters" in bad_request(api("get", f"/os-server-groups?{query}"))

    def test_unknown_query_parameters_are_ignored_until_2_75(self, api):
        assert api("get", "/os-server-groups?foo=bar", version="2.74").status_code == 200
        message = bad_request(api("get", "/os-server-groups?foo=bar", version="2.75"))
        assert message == "Additional properties are not allowed ('foo' was unexpected)"
        assert api("get", "/os-server-groups?all_projects=1&limit=1&offset=0", version="2.75").status_code == 200

    def test_members_are_the_servers_that_still_exist(self, api, cells):
        live = InstanceFactory(cell=cells["cell1"], mapped=True, host="host1").uuid
        gone = InstanceFactory(cell=cells["cell2"], mapped=True, host="host1", deleted=True).uuid
        building = InstanceMappingFactory().instance_uuid
        row = InstanceGroupFactory(members=[live, gone, building, new_uuid()])
        (group,) = api("get", "/os-server-groups").json()["server_groups"]
        assert group["id"] == row.uuid and group["members"] == [live, building]

    def test_a_reader_may_list(self, reader):
        InstanceGroupFactory()
        assert len(reader("get", "/os-server-groups").json()["server_groups"]) == 1


# --- show -------------------------------------------------------------------------------------------------


class TestShow:
    def test_shows_a_group_with_its_live_members(self, api, cells):
        live, gone = (
            InstanceFactory(cell=cells["cell2"], mapped=True, host="host1").uuid,
            InstanceFactory(cell=cells["cell1"], mapped=True, host="host1", deleted=True).uuid,
        )
        row = InstanceGroupFactory(name="web", members=[gone, live])
        response = api("get", f"/os-server-groups/{row.uuid}", version="2.64")
        assert response.status_code == 200
        assert response.json() == {
            "server_group": {
                "id": row.uuid,
                "name": "web",
                "policy": "anti-affinity",
                "rules": {"max_server_per_host": 2},
                "members": [live],
                "project_id": "proj1",
                "user_id": "alice",
            }
        }

    def test_shows_a_legacy_group_from_its_cell(self, api):
        row = LegacyInstanceGroupFactory(
            cell="cell2", name="old", policies=["soft-affinity"], members=[InstanceMappingFactory().instance_uuid]
        )
        body = api("get", f"/os-server-groups/{row.uuid}", version="2.15").json()["server_group"]
        assert (body["id"], body["name"], body["policies"], len(body["members"])) == (
            row.uuid,
            "old",
            ["soft-affinity"],
            1,
        )

    @pytest.mark.parametrize("group_id", ["invalid", new_uuid(), "1", "%20"])
    def test_unknown_and_non_uuid_ids_are_404(self, api, group_id):
        response = api("get", f"/os-server-groups/{group_id}")
        assert response.status_code == 404
        name, message = fault(response)
        assert name == "itemNotFound" and message.endswith("could not be found.")

    def test_another_projects_group_is_404_for_a_member_and_visible_to_an_admin(self, api):
        row = InstanceGroupFactory(project_id="proj2")
        legacy = LegacyInstanceGroupFactory(cell="cell1", project_id="proj2")
        for uuid in (row.uuid, legacy.uuid):
            response = api("get", f"/os-server-groups/{uuid}")
            assert response.status_code == 404
            assert fault(response) == ("itemNotFound", f"Instance group {uuid} could not be found.")
            assert api("get", f"/os-server-groups/{uuid}", token=ADMIN).status_code == 200
            assert api("get", f"/os-server-groups/{uuid}", token=OTHER).status_code == 200

    def test_a_reader_may_show(self, reader):
        row = InstanceGroupFactory()
        assert reader("get", f"/os-server-groups/{row.uuid}").status_code == 200

    def test_query_parameters_are_ignored_before_2_102_and_refused_from_it(self, api, monkeypatch):
        row = InstanceGroupFactory()
        assert api("get", f"/os-server-groups/{row.uuid}?foo=1", version="2.75").status_code == 200
        # 2.102 is above the maximum we announce; raise it for this request to reach the branch.
        monkeypatch.setattr(microversions, "MAX_VERSION", microversions.APIVersion("2.102"))
        assert api("get", f"/os-server-groups/{row.uuid}?foo=1", version="2.101").status_code == 200
        message = bad_request(api("get", f"/os-server-groups/{row.uuid}?foo=1", version="2.102"))
        assert message == "Additional properties are not allowed ('foo' was unexpected)"
        assert api("get", f"/os-server-groups/{row.uuid}", version="2.102").status_code == 200


# --- delete -----------------------------------------------------------------------------------------------


class TestDelete:
    def test_answers_204_with_an_empty_body_and_the_group_is_gone(self, api):
        row = InstanceGroupFactory(members=[new_uuid()])
        response = api("delete", f"/os-server-groups/{row.uuid}")
        assert (response.status_code, response.content) == (204, b"")
        assert not InstanceGroup.objects.exists()
        assert api("delete", f"/os-server-groups/{row.uuid}").status_code == 404

    def test_a_legacy_group_is_soft_deleted_in_its_cell(self, api):
        row = LegacyInstanceGroupFactory(cell="cell0", members=[new_uuid()])
        assert api("delete", f"/os-server-groups/{row.uuid}").status_code == 204
        assert legacy_rows("cell0", LegacyInstanceGroup) == 0
        with target_cell("cell0"):
            assert LegacyInstanceGroup.objects.only_deleted().get().uuid == row.uuid

    def test_another_projects_group_is_404_and_stays(self, api):
        row = InstanceGroupFactory(project_id="proj2")
        response = api("delete", f"/os-server-groups/{row.uuid}")
        assert response.status_code == 404
        assert fault(response) == ("itemNotFound", f"Instance group {row.uuid} could not be found.")
        assert InstanceGroup.objects.filter(uuid=row.uuid).exists()
        assert api("delete", f"/os-server-groups/{row.uuid}", token=ADMIN).status_code == 204

    def test_a_reader_may_not_delete(self, reader):
        row = InstanceGroupFactory()
        response = reader("delete", f"/os-server-groups/{row.uuid}")
        assert response.status_code == 403
        assert fault(response) == (
            "forbidden",
            "Policy doesn't allow os_compute_api:os-server-groups:delete to be performed.",
        )
        assert InstanceGroup.objects.exists()

    @pytest.mark.parametrize("group_id", ["invalid", new_uuid()])
    def test_unknown_ids_are_404(self, api, group_id):
        assert api("delete", f"/os-server-groups/{group_id}").status_code == 404


# --- documentation ----------------------------------------------------------------------------------------


def test_the_openapi_document_describes_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    collection, item = paths["/v2.1/os-server-groups"], paths["/v2.1/os-server-groups/{group_id}"]
    assert set(collection) >= {"get", "post"} and set(item) >= {"get", "delete"}
    schema = collection["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["server_group"]["required"] == ["name", "policy"]
    assert "204" in item["delete"]["responses"]


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_concurrent_creates_at_the_quota_never_end_above_it(settings, cells):
    from django.test import Client

    settings.CELLSV2_AUTH = "noauth"
    settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "server_groups": 3}
    LegacyInstanceGroupFactory(cell="cell1")  # one of the three is still in a cell
    statuses = []
    barrier = threading.Barrier(6)

    def create():
        try:
            barrier.wait(timeout=10)
            body = json.dumps({"server_group": {"name": "race", "policies": ["affinity"]}})
            response = Client().post(
                "/v2.1/os-server-groups", data=body, content_type="application/json", HTTP_X_AUTH_TOKEN=MEMBER
            )
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 200, 403, 403, 403, 403]
    assert InstanceGroup.objects.filter(project_id="proj1").count() == 2
