"""``manage.py identity``: what each subcommand says, and its one-line errors."""

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import ALL_DATABASES, run_command

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
