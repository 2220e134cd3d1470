"""Limits and quotas driven as operators drive them: openstacksdk and the ``openstack`` CLI over
HTTP against a served process, with cell0 and two cells."""

import pytest

from tests.clients import openstack_cli, sdk
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


@pytest.fixture
def endpoint(live_server, settings, cells):
    settings.CELLSV2_AUTH = "noauth"
    return f"{live_server.url}/v2.1"


def test_an_operator_sets_limits_and_the_user_sees_them_and_is_held_to_them(endpoint, tmp_path):
    admin, alice = sdk(endpoint, "admin:admin"), sdk(endpoint, "alice:proj1")

    admin.compute.update_quota_set("proj1", server_groups=1, cores=8)
    assert admin.compute.get_quota_set("proj1").server_groups == 1
    alice.compute.create_server_group(name="web", policy="anti-affinity")
    with pytest.raises(Exception, match="Quota exceeded"):
        alice.compute.create_server_group(name="db", policy="anti-affinity")

    detail = admin.compute.get_quota_set("proj1", usage=True)
    assert detail.usage["server_groups"] == 1

    rows = openstack_cli(tmp_path, endpoint, "alice:proj1", "limits", "show", "--absolute")
    absolute = {row["Name"]: row["Value"] for row in rows}
    assert (absolute["max_server_groups"], absolute["total_server_groups_used"]) == (1, 1)
    assert (absolute["max_total_cores"], absolute["total_cores_used"]) == (8, 0)
    assert absolute["max_security_groups"] == -1  # nova-network's, still shown at 2.1
    args = ("--os-compute-api-version", "2.57", "limits", "show", "--absolute")
    latest = {row["Name"]: row["Value"] for row in openstack_cli(tmp_path, endpoint, "alice:proj1", *args)}
    assert latest["max_server_groups"] == 1
    assert latest["max_security_groups"] is None and latest["personality"] is None  # gone at 2.36 / 2.57

    admin.compute.revert_quota_set("proj1")
    assert admin.compute.get_quota_set("proj1").server_groups == 10


def test_a_per_user_limit_and_the_default_class(endpoint):
    admin = sdk(endpoint, "admin:admin")
    # openstacksdk 4.22's update_quota_set(user=...) fails in the client (it passes user_id to the
    # request builder) and get_quota_set takes no user: its session, as a script would do it.
    admin.compute.put("/os-quota-sets/proj1?user_id=alice", json={"quota_set": {"key_pairs": 1}})
    assert admin.compute.get("/os-quota-sets/proj1?user_id=alice").json()["quota_set"]["key_pairs"] == 1
    assert admin.compute.get_quota_set("proj1").key_pairs == 100

    admin.compute.update_quota_class_set("default", instances=4)
    assert admin.compute.get_quota_class_set("default").instances == 4
    assert admin.compute.get_quota_set_defaults("proj2").instances == 4
    assert admin.compute.get_limits().absolute.instances == 4
