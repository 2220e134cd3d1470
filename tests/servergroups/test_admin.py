"""The operators' admin of server groups: API groups with their children inline, legacy groups per cell."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from cellsv2.context import target_cell
from servergroups.models import InstanceGroup, LegacyInstanceGroup
from tests.factories import InstanceGroupFactory, LegacyInstanceGroupFactory, new_uuid
from tests.servergroups.helpers import legacy_rows
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells")]


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("operator", "op@example.com", "secret")
    client.force_login(user)
    return client


def test_the_group_list_and_page_show_policy_rules_and_members(operator):
    member = new_uuid()
    row = InstanceGroupFactory(name="web", members=[member])
    changelist = operator.get(reverse("admin:servergroups_instancegroup_changelist"))
    assert changelist.status_code == 200 and row.uuid in changelist.content.decode()
    page = operator.get(reverse("admin:servergroups_instancegroup_change", args=[row.pk])).content.decode()
    assert "anti-affinity" in page and "max_server_per_host" in page and member in page
    # Groups are created through the API (quota, validation), not here.
    assert operator.get(reverse("admin:servergroups_instancegroup_add")).status_code == 403


def test_renaming_and_deleting_go_through_the_services(operator):
    row = InstanceGroupFactory(name="old")
    LegacyInstanceGroupFactory(cell="cell1", uuid=row.uuid)  # a copy left by an interrupted migration
    url = reverse("admin:servergroups_instancegroup_change", args=[row.pk])
    policy = row.policies.get()
    form = {
        "name": "new",
        # The read-only inlines still send their management forms.
        "policies-TOTAL_FORMS": "1",
        "policies-INITIAL_FORMS": "1",
        "policies-0-id": str(policy.pk),
        "policies-0-group": str(row.pk),
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
    }
    response = operator.post(url, form)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert InstanceGroup.objects.get(pk=row.pk).name == "new"
    delete = reverse("admin:servergroups_instancegroup_delete", args=[row.pk])
    assert operator.post(delete, {"post": "yes"}).status_code == 302
    assert not InstanceGroup.objects.exists()
    assert legacy_rows("cell1", LegacyInstanceGroup) == 0


def test_legacy_groups_are_browsable_per_cell_and_read_only(operator):
    row = LegacyInstanceGroupFactory(cell="cell2", name="old group", members=["m-1"])
    changelist = reverse("celladmin:servergroups_legacyinstancegroup_changelist")
    operator.get(f"{changelist}?cell=cell2")
    page = operator.get(changelist)
    assert page.status_code == 200 and row.uuid in page.content.decode()
    assert operator.get(f"{changelist}?state=deleted").status_code == 200
    with target_cell("cell2"):
        pk = LegacyInstanceGroup.objects.get(uuid=row.uuid).pk
    detail = operator.get(reverse("celladmin:servergroups_legacyinstancegroup_change", args=[pk])).content.decode()
    assert "m-1" in detail and "affinity" in detail
    assert operator.post(reverse("celladmin:servergroups_legacyinstancegroup_delete", args=[pk])).status_code == 403
