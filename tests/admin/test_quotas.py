"""The operators' quota pages: a project's limits against its use, per-user limits and the
default class, written through the quota engine."""

import pytest

from cellsv2.models import ProjectUserQuota, Quota
from servergroups.services import servergroup_create
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells")]


def test_the_usage_page_shows_a_projects_limits_against_its_use(operator):
    Quota.objects.create(project_id="proj1", resource="server_groups", hard_limit=4)
    servergroup_create(project_id="proj1", user_id="alice", name="g", policy="affinity")
    page = operator.get("/admin/quotas/usage/?project_id=proj1").content.decode()
    assert "<tr><td>server_groups</td><td>4</td><td>1</td></tr>" in page
    assert "<tr><td>instances</td><td>10</td><td>0</td></tr>" in page
    assert 'href="?project_id=proj1"' in operator.get("/admin/quotas/usage/").content.decode()


def test_a_per_user_limit_is_added_through_the_engine(operator):
    data = {"project_id": "proj1", "user_id": "alice", "resource": "key_pairs", "hard_limit": "3"}
    response = operator.post("/admin/cellsv2/projectuserquota/add/", data)
    assert response.status_code == 302, response.content
    assert ProjectUserQuota.objects.get(project_id="proj1", user_id="alice", resource="key_pairs").hard_limit == 3
