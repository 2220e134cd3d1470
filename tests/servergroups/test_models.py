"""The server group tables have Nova's columns, constraints and index names in each tier."""

import pytest
from django.db import connections

from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def columns(alias: str, table: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        return {c.name for c in connections[alias].introspection.get_table_description(cursor, table)}


def constraints(alias: str, table: str) -> dict:
    with connections[alias].cursor() as cursor:
        return connections[alias].introspection.get_constraints(cursor, table)


def test_the_api_tables_have_no_soft_delete_and_novas_names():
    assert columns("api", "instance_groups") == {
        "id",
        "created_at",
        "updated_at",
        "user_id",
        "project_id",
        "uuid",
        "name",
    }
    assert columns("api", "instance_group_policy") == {"id", "created_at", "updated_at", "policy", "group_id", "rules"}
    assert columns("api", "instance_group_member") == {"id", "created_at", "updated_at", "instance_uuid", "group_id"}
    groups = constraints("api", "instance_groups")
    assert groups["uniq_instance_groups0uuid"]["unique"] and groups["uniq_instance_groups0uuid"]["columns"] == ["uuid"]
    assert constraints("api", "instance_group_policy")["instance_group_policy_policy_idx"]["columns"] == ["policy"]
    members = constraints("api", "instance_group_member")
    assert members["instance_group_member_instance_idx"]["columns"] == ["instance_uuid"]
    unique = members["uniq_instance_group_member0group_id0instance_uuid"]
    assert unique["unique"] and unique["columns"] == ["group_id", "instance_uuid"]


@pytest.mark.parametrize("alias", ["cell0", "cell1", "cell2"])
def test_the_legacy_tables_keep_the_main_database_shape(alias):
    soft = {"id", "created_at", "updated_at", "deleted_at", "deleted"}
    assert columns(alias, "instance_groups") == soft | {"user_id", "project_id", "uuid", "name"}
    assert columns(alias, "instance_group_policy") == soft | {"policy", "group_id"}
    assert columns(alias, "instance_group_member") == soft | {"instance_id", "group_id"}
    unique = constraints(alias, "instance_groups")["uniq_instance_groups0uuid0deleted"]
    assert unique["unique"] and unique["columns"] == ["uuid", "deleted"]
    assert constraints(alias, "instance_group_policy")["instance_group_policy_policy_idx"]["columns"] == ["policy"]
    assert constraints(alias, "instance_group_member")["instance_group_member_instance_idx"]["columns"] == [
        "instance_id"
    ]


def test_the_api_database_has_no_legacy_shape_and_the_cells_no_api_shape():
    assert "deleted" not in columns("api", "instance_groups")
    assert "rules" not in columns("cell1", "instance_group_policy")
