"""``manage.py identity``: what each subcommand says, and its one-line errors.

The last test runs the command as operators do: a real ``python manage.py`` process on a
pseudo-terminal, and through a pipe where a script captures the token.
"""

import pytest
from django.contrib.auth import get_user_model

from identity import services
from identity.models import ApiToken, Project, RoleAssignment
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def identity(*args: str):
    return run_command("identity", *args)


def test_a_user_without_a_project_is_told_how_to_give_a_role():
    result = identity("user_create", "bob", "--password", "s3cret")

    assert (result.code, result.err) == (0, "")
    assert (
        result.out
        == "Created user bob (can log in to the admin), with no role yet: give one with `identity role_add`\n"
    )
    assert get_user_model().objects.get(username="bob").check_password("s3cret")


def test_an_unknown_project_creates_no_user_and_exits_1():
    result = identity("user_create", "carol", "--project", "nope")

    assert result.code == 1
    assert result.out == "" and len(result.err.strip().splitlines()) == 1
    assert not get_user_model().objects.filter(username="carol").exists()


def test_the_project_id_alone_goes_to_stdout():
    result = identity("project_create", "demo", "--project-id", "0123456789abcdef0123456789abcdef")

    assert (result.code, result.out) == (0, "0123456789abcdef0123456789abcdef\n")
    assert result.err == "Created project demo (0123456789abcdef0123456789abcdef)\n"


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_identity_commands_say_what_they_did(manage_py):
    services.user_create(username="bob")
    project = manage_py.terminal("identity", "project_create", "demo")
    user = manage_py.terminal("identity", "user_create", "alice", "--project", "demo", "--role", "member")
    role = manage_py.terminal("identity", "role_add", "bob", "demo", "reader")
    token = manage_py.terminal("identity", "token_create", "alice", "demo")
    listed = manage_py.terminal("identity", "list")
    revoked = manage_py.terminal("identity", "token_revoke", ApiToken.objects.get().prefix)
    captured = manage_py.pipe("identity", "token_create", "bob", "demo", "--expires-in-hours", "1")

    demo = Project.objects.get(name="demo")
    assert project.code == 0, project.raw
    # The id (stdout, for scripts) and what was done (stderr): both on the terminal.
    assert project.lines == [demo.project_id, f"Created project demo ({demo.project_id})"]
    assert (user.code, user.lines) == (0, ["Created user alice in project demo with role member"])
    assert (role.code, role.lines) == (0, ["User bob has the role reader in project demo"])
    assert RoleAssignment.objects.filter(user__username="bob", role="reader", project=demo).exists()
    assert token.code == 0, token.raw
    assert token.lines[1] == "Created a token for alice in project demo (never expires); it is shown only this once"
    assert listed.code == 0 and "alice" in listed.screen and "member" in listed.screen
    assert (revoked.code, revoked.lines) == (0, ["Revoked 1 token(s)."])
    # Through a pipe the token is alone on stdout: `TOKEN=$(manage.py identity token_create ...)`.
    assert captured.code == 0
    assert len(captured.out.split()) == 1 and ApiToken.objects.get().prefix == captured.out[:8]
    assert captured.err.startswith("Created a token for bob in project demo (expires ")
