"""The contract between server groups and the servers API: booting into a group through POST /servers.

The servers API owns the ``group`` hint and the scheduler (issue 6); these tests only check that
what it calls here behaves: the group is found (project-scoped), the new servers become members,
anti-affinity spreads them, the member quota answers, and a cancelled build request leaves.
"""

import json

import pytest

from cellsv2.context import target_cell
from flavors.models import Flavor
from mappings.models import HostMapping
from servergroups import selectors
from servers.models import ComputeNode
from tests.factories import InstanceGroupFactory, new_uuid
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells")]


@pytest.fixture
def hosts(cells):
    """Two compute hosts in cell1 and one in cell2, mapped."""
    for alias, host in (("cell1", "host-a"), ("cell1", "host-b"), ("cell2", "host-c")):
        with target_cell(alias):
            ComputeNode.objects.create(
                uuid=new_uuid(), host=host, hypervisor_hostname=host, vcpus=16, memory_mb=65536, local_gb=1000
            )
        HostMapping.objects.create(host=host, cell=cells[alias])


@pytest.fixture
def boot(client, settings, django_capture_on_commit_callbacks):
    settings.CELLSV2_AUTH = "noauth"
    flavor = Flavor.objects.order_by("id").first()

    def boot(group_uuid, token="alice:proj1", version="2.64"):
        body = {
            "server": {"name": "vm", "flavorRef": flavor.flavorid, "imageRef": new_uuid(), "networks": "none"},
            "os:scheduler_hints": {"group": group_uuid},
        }
        with django_capture_on_commit_callbacks(using="api", execute=True):
            return client.post(
                "/v2.1/servers",
                data=json.dumps(body),
                content_type="application/json",
                HTTP_X_AUTH_TOKEN=token,
                HTTP_X_OPENSTACK_NOVA_API_VERSION=version,
            )

    return boot


@pytest.mark.usefixtures("hosts")
def test_servers_booted_into_an_anti_affinity_group_become_members_on_different_hosts(boot):
    group = InstanceGroupFactory(policy="anti-affinity", policy__rules="{}")
    uuids = []
    for _ in range(3):
        response = boot(group.uuid)
        assert response.status_code == 202, response.content
        uuids.append(response.json()["server"]["id"])
    assert selectors.servergroup_get(uuid=group.uuid).members == tuple(uuids)
    hosts = selectors.servergroup_member_hosts(group_uuid=group.uuid)
    assert sorted(hosts) == ["host-a", "host-b", "host-c"] and set(hosts.values()) == {1}
    # A fourth server has no host left.
    boot(group.uuid)
    assert sum(selectors.servergroup_member_hosts(group_uuid=group.uuid).values()) == 3


@pytest.mark.usefixtures("hosts")
def test_another_projects_group_cannot_be_booted_into(boot):
    group = InstanceGroupFactory(project_id="proj2")
    assert boot(group.uuid).status_code == 400
    assert selectors.servergroup_get(uuid=group.uuid).members == ()


@pytest.mark.usefixtures("hosts")
def test_the_member_quota_is_403_with_novas_message(boot, settings):
    settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "server_group_members": 1}
    group = InstanceGroupFactory(policy="affinity", policy__rules="{}")
    assert boot(group.uuid).status_code == 202
    response = boot(group.uuid)
    assert response.status_code == 403
    assert response.json() == {"forbidden": {"code": 403, "message": "Quota exceeded, too many servers in group"}}
    assert len(selectors.servergroup_get(uuid=group.uuid).members) == 1
