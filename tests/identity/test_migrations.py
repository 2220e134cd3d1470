"""A database made before identity was an app of its own: its rows, tokens and permissions carry over.

The API database is taken back to the state before the move (cellsv2 0001, no identity migration),
filled as it was then through the historical models (projects, roles and tokens were cellsv2's),
and brought forward with Django's MigrationExecutor, as ``manage.py migrate`` does on upgrade.
"""

import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from identity.models import ApiToken, Project, RoleAssignment
from tests.support import ALL_DATABASES

pytestmark = [
    pytest.mark.django_db(databases=ALL_DATABASES, transaction=True),
    pytest.mark.urls("tests.cellsv2.api_urls"),
]

BEFORE_THE_MOVE = [("cellsv2", "0001_initial"), ("identity", None)]
TOKEN = "t0k3n-from-before-the-move-" + "x" * 16
MODELS = ("project", "roleassignment", "apitoken")


def migrate_api(targets=None) -> None:
    """Migrate the API database to ``targets`` (default: every app's latest migration)."""
    executor = MigrationExecutor(connections["api"])
    executor.migrate(targets if targets is not None else executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()


def fill_as_before_the_move() -> dict:
    """Rows as cellsv2 0001 made them: a project, a member with a token, a staff user with a permission."""
    loader = MigrationExecutor(connections["api"]).loader
    old = loader.project_state(list(loader.applied_migrations)).apps  # the models of the migrations applied now
    User, Permission, OldContentType = (
        old.get_model("auth", "User"),
        old.get_model("auth", "Permission"),
        old.get_model("contenttypes", "ContentType"),
    )
    project = old.get_model("cellsv2", "Project").objects.create(project_id="a" * 32, name="demo")
    alice = User.objects.create(username="alice", is_active=True)
    assignment = old.get_model("cellsv2", "RoleAssignment").objects.create(user=alice, project=project, role="member")
    token = old.get_model("cellsv2", "ApiToken").objects.create(
        token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(), prefix=TOKEN[:8], user=alice, project=project
    )
    content_types = {
        model: OldContentType.objects.get_or_create(app_label="cellsv2", model=model)[0].pk for model in MODELS
    }
    view_project, _ = Permission.objects.get_or_create(
        content_type_id=content_types["project"], codename="view_project", defaults={"name": "Can view project"}
    )
    operator = User.objects.create(username="operator", is_staff=True, is_active=True)
    operator.user_permissions.add(view_project)
    return {
        "project": project.pk,
        "assignment": assignment.pk,
        "token": token.pk,
        "content_types": content_types,
        "permission": view_project.pk,
    }


def test_a_database_from_before_the_move_keeps_its_rows_tokens_and_admin_permissions(client):
    try:
        migrate_api(BEFORE_THE_MOVE)
        before = fill_as_before_the_move()
    finally:
        migrate_api()

    # The rows, where they were.
    project = Project.objects.get(pk=before["project"])
    assert (project.project_id, project.name, project.enabled) == ("a" * 32, "demo", True)
    assignment = RoleAssignment.objects.select_related("user").get(pk=before["assignment"])
    assert (assignment.user.username, assignment.project_id, assignment.role) == ("alice", project.pk, "member")
    assert ApiToken.objects.get(pk=before["token"]).user.username == "alice"
    assert list(project.api_tokens.values_list("pk", flat=True)) == [before["token"]]

    # The token still authenticates, with the roles it had.
    body = client.get("/v2.1/test-echo", HTTP_X_AUTH_TOKEN=TOKEN).json()
    assert body["user_id"] == "alice"
    response = client.post(
        "/v2.1/test-echo", data={"thing": {"name": "x"}}, content_type="application/json", HTTP_X_AUTH_TOKEN=TOKEN
    )
    assert (response.json()["project_id"], response.json()["roles"]) == ("a" * 32, ["member", "reader"])

    # The content types moved with the models (same rows), so granted permissions followed.
    moved = {model: ContentType.objects.get_by_natural_key("identity", model).pk for model in MODELS}
    assert moved == before["content_types"]
    assert not ContentType.objects.filter(app_label="cellsv2", model__in=MODELS).exists()
    operator = get_user_model().objects.get(username="operator")
    assert operator.has_perm("identity.view_project") and not operator.has_perm("cellsv2.view_project")
    assert not operator.has_perm("identity.change_project")
    client.force_login(operator)
    page = client.get(reverse("admin:identity_project_changelist"))
    assert page.status_code == 200 and "demo" in page.content.decode()
    assert client.get(reverse("admin:identity_apitoken_changelist")).status_code == 403


def test_on_a_new_database_the_content_types_are_identitys():
    # The test databases were migrated from empty: nothing to rename, post_migrate made them.
    labels = set(ContentType.objects.filter(model__in=MODELS).values_list("app_label", flat=True))
    assert labels == {"identity"}
