"""``/limits``, ``os-quota-sets`` and ``os-quota-class-sets``: Nova's bodies (checked against
tempest's schemas at 2.1, 2.36, 2.39, 2.50 and 2.57), per-project and per-user limits, the
``default`` class over the settings, and creates held to what was set."""

import pytest

from cellsv2.models import ProjectUserQuota, Quota, QuotaClass
from identity.services import project_create, role_assign, token_create, user_create
from tests.fixtures.compute import fault
from tests.support import ALL_DATABASES
from tests.tempest_schemas import assert_matches_tempest

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells", "worker_mode")]

ALICE = "alice:proj1"
BOB = "bob:proj1"
ADMIN = "admin:admin"


def group(api, name="g", token=ALICE):
    body = {"server_group": {"name": name, "policies": ["affinity"]}}
    return api("post", "/os-server-groups", token=token, body=body)


def keypair(api, name, token=ALICE):
    return api(
        "post", "/os-keypairs", token=token, version="2.92", body={"keypair": {"name": name, "public_key": KEY}}
    )


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


class TestLimits:
    @pytest.mark.parametrize(
        ("version", "schema_dir"), [("2.1", "v2_1"), ("2.36", "v2_36"), ("2.39", "v2_39"), ("2.57", "v2_57")]
    )
    def test_the_body_at_each_microversion_that_changes_it(self, api, version, schema_dir):
        response = api("get", "/limits", version=version)
        assert response.status_code == 200
        assert_matches_tempest(response, schema_dir, "limits", "get_limit")
        absolute = response.json()["limits"]["absolute"]
        assert response.json()["limits"]["rate"] == []
        assert absolute["maxTotalInstances"] == 10
        assert absolute["maxTotalRAMSize"] == 51200
        assert ("maxSecurityGroups" in absolute) == (version < "2.36")
        assert ("maxImageMeta" in absolute) == (version < "2.39")
        assert ("maxPersonality" in absolute) == (version < "2.57")

    def test_usage_counts_the_projects_servers_and_groups(self, api, default_flavors):
        for name in ("a", "b"):
            assert group(api, name).status_code == 200
        assert api.create(flavorRef="2").status_code == 202  # 1 vCPU, 2048 MB
        absolute = api("get", "/limits", version="2.57").json()["limits"]["absolute"]
        assert absolute["totalServerGroupsUsed"] == 2
        assert absolute["totalInstancesUsed"] == 1
        assert absolute["totalCoresUsed"] == 1
        assert absolute["totalRAMUsed"] == 2048
        other = api("get", "/limits", token="carol:proj2").json()["limits"]["absolute"]
        assert other["totalServerGroupsUsed"] == other["totalInstancesUsed"] == 0

    def test_an_admin_reads_another_projects_limits_and_a_member_may_not(self, api):
        Quota.objects.create(project_id="proj2", resource="instances", hard_limit=3)
        response = api("get", "/limits?tenant_id=proj2", token=ADMIN)
        assert response.json()["limits"]["absolute"]["maxTotalInstances"] == 3
        refused = api("get", "/limits?tenant_id=proj2", token=ALICE)
        assert refused.status_code == 403
        assert fault(refused)[2] == "Policy doesn't allow os_compute_api:limits:other_project to be performed."

    def test_unknown_query_parameters_are_refused_from_2_75(self, api):
        assert api("get", "/limits?foo=1", version="2.74").status_code == 200
        assert api("get", "/limits?foo=1", version="2.75").status_code == 400


class TestQuotaSets:
    @pytest.mark.parametrize(("version", "schema_dir"), [("2.1", "v2_1"), ("2.36", "v2_36"), ("2.57", "v2_57")])
    def test_show_detail_defaults_update_and_delete_match_tempest(self, api, version, schema_dir):
        show = api("get", "/os-quota-sets/proj1", version=version)
        assert show.status_code == 200
        assert_matches_tempest(show, schema_dir, "quotas", "get_quota_set")
        assert show.json()["quota_set"]["id"] == "proj1"
        detail = api("get", "/os-quota-sets/proj1/detail", version=version)
        assert_matches_tempest(detail, schema_dir, "quotas", "get_quota_set_details")
        assert detail.json()["quota_set"]["instances"] == {"limit": 10, "in_use": 0, "reserved": 0}
        defaults = api("get", "/os-quota-sets/proj1/defaults", version=version)
        assert_matches_tempest(defaults, schema_dir, "quotas", "get_quota_set")
        update = api("put", "/os-quota-sets/proj1", token=ADMIN, version=version, body={"quota_set": {"cores": 7}})
        assert_matches_tempest(update, schema_dir, "quotas", "update_quota_set")
        assert update.json()["quota_set"]["cores"] == 7
        assert "id" not in update.json()["quota_set"]
        deleted = api("delete", "/os-quota-sets/proj1", token=ADMIN, version=version)
        assert_matches_tempest(deleted, schema_dir, "quotas", "delete_quota")
        assert api("get", "/os-quota-sets/proj1", version=version).json()["quota_set"]["cores"] == 20

    def test_a_project_limit_holds_the_next_create(self, api):
        assert group(api, "a").status_code == 200
        response = api("put", "/os-quota-sets/proj1", token=ADMIN, body={"quota_set": {"server_groups": 1}})
        assert response.status_code == 200
        refused = group(api, "b")
        assert refused.status_code == 403
        assert group(api, "c", token="carol:proj2").status_code == 200  # another project's limit is its own

    def test_a_limit_below_usage_is_refused_unless_forced(self, api):
        assert group(api, "a").status_code == 200
        assert group(api, "b").status_code == 200
        refused = api("put", "/os-quota-sets/proj1", token=ADMIN, body={"quota_set": {"server_groups": 1}})
        assert refused.status_code == 400
        assert fault(refused)[2] == (
            "Quota limit 1 for server_groups must be greater than or equal to already used and reserved 2."
        )
        assert not Quota.objects.filter(project_id="proj1").exists()
        forced = api(
            "put", "/os-quota-sets/proj1", token=ADMIN, body={"quota_set": {"server_groups": 1, "force": "True"}}
        )
        assert forced.json()["quota_set"]["server_groups"] == 1

    def test_a_user_limit_holds_that_user_only(self, api):
        response = api("put", "/os-quota-sets/proj1?user_id=alice", token=ADMIN, body={"quota_set": {"key_pairs": 1}})
        assert response.status_code == 200, response.content
        assert response.json()["quota_set"]["key_pairs"] == 1
        assert api("get", "/os-quota-sets/proj1?user_id=alice").json()["quota_set"]["key_pairs"] == 1
        assert api("get", "/os-quota-sets/proj1").json()["quota_set"]["key_pairs"] == 100
        assert keypair(api, "one").status_code == 201
        refused = keypair(api, "two")
        assert refused.status_code == 403
        assert keypair(api, "bobs", token=BOB).status_code == 201
        assert api("delete", "/os-quota-sets/proj1?user_id=alice", token=ADMIN).status_code == 202
        assert not ProjectUserQuota.objects.exists()
        assert keypair(api, "two").status_code == 201

    def test_a_user_limit_of_a_project_counted_resource_holds_that_users_own_count(self, api):
        body = {"quota_set": {"server_groups": 1}}
        assert api("put", "/os-quota-sets/proj1?user_id=alice", token=ADMIN, body=body).status_code == 200
        assert group(api, "a").status_code == 200
        refused = group(api, "b")
        assert refused.status_code == 403
        assert fault(refused)[2] == "Quota exceeded, too many server groups."
        assert group(api, "c", token=BOB).status_code == 200  # bob is held to the project's 10
        assert api("get", "/limits").json()["limits"]["absolute"]["totalServerGroupsUsed"] == 2

    def test_a_user_limit_cannot_exceed_what_the_project_leaves(self, api):
        api("put", "/os-quota-sets/proj1", token=ADMIN, body={"quota_set": {"instances": 10}})
        api("put", "/os-quota-sets/proj1?user_id=bob", token=ADMIN, body={"quota_set": {"instances": 6}})
        refused = api("put", "/os-quota-sets/proj1?user_id=alice", token=ADMIN, body={"quota_set": {"instances": 5}})
        assert refused.status_code == 400
        assert fault(refused)[2] == "Quota limit 5 for instances must be less than or equal to 4."
        allowed = api("put", "/os-quota-sets/proj1?user_id=alice", token=ADMIN, body={"quota_set": {"instances": 4}})
        assert allowed.json()["quota_set"]["instances"] == 4

    def test_deleting_a_projects_quotas_removes_its_users_too(self, api):
        api("put", "/os-quota-sets/proj1", token=ADMIN, body={"quota_set": {"cores": 5}})
        api("put", "/os-quota-sets/proj1?user_id=alice", token=ADMIN, body={"quota_set": {"cores": 2}})
        assert api("delete", "/os-quota-sets/proj1", token=ADMIN).status_code == 202
        assert not Quota.objects.exists() and not ProjectUserQuota.objects.exists()

    def test_members_read_but_only_admins_write(self, api):
        assert api("get", "/os-quota-sets/proj1", token=ALICE).status_code == 200
        assert api("get", "/os-quota-sets/proj2", token=ALICE).status_code == 403
        for method, body in (("put", {"quota_set": {"cores": 1}}), ("delete", None)):
            refused = api(method, "/os-quota-sets/proj1", token=ALICE, body=body)
            assert refused.status_code == 403
            assert "os_compute_api:os-quota-sets:" in fault(refused)[2]

    @pytest.mark.parametrize(
        "body",
        [
            {"quota_set": {"cores": -2}},
            {"quota_set": {"cores": "many"}},
            {"quota_set": {"unknown": 1}},
            {"quota_set": {"injected_files": 1}},  # gone at 2.57
            {"cores": 1},
            [],
        ],
    )
    def test_bad_updates_get_nova_400(self, api, body):
        response = api("put", "/os-quota-sets/proj1", token=ADMIN, version="2.57", body=body)
        assert response.status_code == 400
        assert fault(response)[0] == "badRequest"

    def test_an_unknown_project_is_refused_with_token_authentication(self, api, settings):
        settings.CELLSV2_AUTH = "token"
        project = project_create(name="admins")
        admin = user_create(username="root")
        role_assign(user=admin, project=project, role="admin")
        _, token = token_create(user=admin, project=project)
        response = api("get", "/os-quota-sets/nonesuch", token=token)
        assert response.status_code == 400
        assert fault(response)[2] == "Project ID nonesuch is not a valid project."


class TestQuotaClassSets:
    @pytest.mark.parametrize(("version", "schema_dir"), [("2.1", "v2_1"), ("2.50", "v2_50"), ("2.57", "v2_57")])
    def test_show_and_update_match_tempest(self, api, version, schema_dir):
        show = api("get", "/os-quota-class-sets/default", token=ADMIN, version=version)
        assert show.status_code == 200
        assert_matches_tempest(show, schema_dir, "quota_classes", "get_quota_class_set")
        assert ("server_groups" in show.json()["quota_class_set"]) == (version >= "2.50")
        update = api(
            "put",
            "/os-quota-class-sets/default",
            token=ADMIN,
            version=version,
            body={"quota_class_set": {"ram": 4096}},
        )
        assert update.status_code == 200
        assert_matches_tempest(update, schema_dir, "quota_classes", "update_quota_class_set")

    def test_the_default_class_overrides_the_settings_for_every_project(self, api):
        body = {"quota_class_set": {"server_groups": 1}}
        assert api("put", "/os-quota-class-sets/default", token=ADMIN, version="2.50", body=body).status_code == 200
        assert QuotaClass.objects.get(class_name="default", resource="server_groups").hard_limit == 1
        defaults = api("get", "/os-quota-sets/proj1/defaults").json()["quota_set"]
        assert defaults["server_groups"] == 1
        assert api("get", "/limits").json()["limits"]["absolute"]["maxServerGroups"] == 1
        assert group(api, "a").status_code == 200
        assert group(api, "b").status_code == 403
        # A project's own limit beats the class.
        api("put", "/os-quota-sets/proj1", token=ADMIN, body={"quota_set": {"server_groups": 3}})
        assert group(api, "b").status_code == 200

    def test_only_admins(self, api):
        assert api("get", "/os-quota-class-sets/default", token=ALICE).status_code == 403
        body = {"quota_class_set": {"ram": 1}}
        assert api("put", "/os-quota-class-sets/default", token=ALICE, body=body).status_code == 403


def test_limits_and_quotas_answer_with_a_cell_down(api, down_cell):
    assert group(api, "a").status_code == 200
    response = api("get", "/limits", version="2.57")
    assert response.status_code == 200
    assert response.json()["limits"]["absolute"]["totalServerGroupsUsed"] == 1
    assert api("get", "/os-quota-sets/proj1/detail").status_code == 200


class TestServerCreates:
    """Creates are held to the project's and to the user's own limits (Nova's headroom)."""

    def test_a_users_instances_limit_holds_that_user_only(self, api, default_flavors):
        api("put", "/os-quota-sets/proj1?user_id=alice", token=ADMIN, body={"quota_set": {"instances": 1}})
        assert api.create().status_code == 202
        refused = api.create()
        assert refused.status_code == 403
        assert fault(refused)[2] == "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances"
        assert api.create(token=BOB).status_code == 202
        user = api("get", "/os-quota-sets/proj1/detail?user_id=alice").json()["quota_set"]["instances"]
        assert user == {"limit": 1, "in_use": 1, "reserved": 0}
        project = api("get", "/os-quota-sets/proj1/detail").json()["quota_set"]["instances"]
        assert project == {"limit": 10, "in_use": 2, "reserved": 0}

    def test_a_users_cores_limit_trims_a_multi_create(self, api, default_flavors):
        api("put", "/os-quota-sets/proj1?user_id=alice", token=ADMIN, body={"quota_set": {"cores": 2}})
        response = api.create(flavorRef="2", min_count=1, max_count=5, return_reservation_id=True)
        assert response.status_code == 202
        used = api("get", "/os-quota-sets/proj1/detail?user_id=alice").json()["quota_set"]["cores"]["in_use"]
        assert used == 2  # m1.small has 1 vCPU: two of the five fit

    def test_metadata_items_are_bounded_by_the_limit(self, api, default_flavors):
        api("put", "/os-quota-sets/proj1", token=ADMIN, body={"quota_set": {"metadata_items": 2}})
        assert api.create(metadata={"a": "1", "b": "2"}).status_code == 202
        refused = api.create(metadata={"a": "1", "b": "2", "c": "3"})
        assert refused.status_code == 403
        assert fault(refused)[2] == "Maximum number of metadata items exceeds 2"
