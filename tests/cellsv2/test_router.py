"""The router sends every model to its tier and refuses untargeted cell access."""

import threading

import pytest
from django.apps import apps
from django.db import connections

from cellsv2.context import NoCellTargeted, current_cell_alias, target_cell
from cellsv2.db import DbScope, model_scope
from mappings.models import CellMapping
from servers.models import ComputeNode, Instance
from tests.support import ALL_DATABASES, CELL_ALIASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def tables(alias: str) -> set[str]:
    return set(connections[alias].introspection.table_names())


def project_models(scope: DbScope):
    return [m for m in apps.get_models() if model_scope(m) is scope]


def columns(alias: str, table: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        return {c.name for c in connections[alias].introspection.get_table_description(cursor, table)}


def test_api_tables_exist_only_in_the_api_database():
    api_tables = {m._meta.db_table for m in project_models(DbScope.API)}
    # Tables moved to the API database keep their name; their legacy copy is a cell model.
    moved = api_tables & {m._meta.db_table for m in project_models(DbScope.CELL)}
    assert api_tables <= tables("api")
    for alias in CELL_ALIASES:
        assert not (api_tables - moved) & tables(alias), alias


def test_cell_tables_exist_only_in_cell_databases():
    cell_tables = {m._meta.db_table for m in project_models(DbScope.CELL)}
    moved = cell_tables & {m._meta.db_table for m in project_models(DbScope.API)}
    assert {"instances", "instance_extra", "compute_nodes"} <= cell_tables
    assert not (cell_tables - moved) & tables("api")
    for alias in CELL_ALIASES:
        assert cell_tables <= tables(alias), alias


def test_a_moved_table_has_its_own_schema_in_each_tier():
    """key_pairs: the API table has no soft delete, the legacy cell table has Nova's."""
    assert "deleted" not in columns("api", "key_pairs")
    assert {"deleted", "deleted_at"} <= columns("cell1", "key_pairs")


def test_django_tables_live_in_the_api_database_only():
    assert {"auth_user", "django_session", "django_content_type"} <= tables("api")
    for alias in CELL_ALIASES:
        assert "auth_user" not in tables(alias)


def test_untargeted_cell_model_access_raises_a_clear_error():
    with pytest.raises(NoCellTargeted, match="target_cell"):
        Instance.objects.count()
    with pytest.raises(NoCellTargeted):
        ComputeNode.objects.create(host="h", vcpus=1, memory_mb=1, local_gb=1)


def test_cell_rows_land_only_in_the_targeted_cell():
    with target_cell("cell1"):
        Instance.objects.create(uuid="11111111-1111-1111-1111-111111111111", project_id="p")
    with target_cell("cell2"):
        assert Instance.objects.count() == 0
    with target_cell("cell1"):
        assert Instance.objects.count() == 1
    with target_cell("cell0"):
        assert Instance.objects.count() == 0


def test_api_models_ignore_the_targeted_cell():
    with target_cell("cell1"):
        CellMapping.objects.create(uuid="22222222-2222-2222-2222-222222222222", name="x")
    assert CellMapping.objects.using("api").filter(name="x").exists()


def test_nested_target_cell_restores_the_outer_cell():
    assert current_cell_alias() is None
    with target_cell("cell1") as outer:
        assert outer == "cell1"
        with target_cell("cell2") as inner:
            assert inner == "cell2"
            assert current_cell_alias() == "cell2"
        assert current_cell_alias() == "cell1"
    assert current_cell_alias() is None


def test_target_cell_restores_after_an_exception():
    with pytest.raises(ValueError), target_cell("cell1"):
        raise ValueError("boom")
    assert current_cell_alias() is None


def test_target_cell_works_as_a_decorator():
    @target_cell("cell2")
    def which():
        return current_cell_alias()

    assert which() == "cell2"
    assert current_cell_alias() is None


def test_target_cell_accepts_a_mapping_and_its_uuid(cells):
    with target_cell(cells["cell2"]) as alias:
        assert alias == "cell2"
    with target_cell(cells["cell1"].uuid) as alias:
        assert alias == "cell1"


def test_an_object_stays_in_the_cell_it_was_loaded_from():
    with target_cell("cell1"):
        Instance.objects.create(uuid="33333333-3333-3333-3333-333333333333", project_id="p")
        instance = Instance.objects.get()
    with target_cell("cell2"):
        instance.display_name = "renamed"
        instance.save()
        assert Instance.objects.count() == 0
    with target_cell("cell1"):
        assert Instance.objects.get().display_name == "renamed"


def test_two_threads_targeting_different_cells_do_not_interfere():
    barrier = threading.Barrier(2)
    seen = {}

    def worker(alias):
        with target_cell(alias):
            barrier.wait(timeout=5)
            seen[alias] = current_cell_alias()
            barrier.wait(timeout=5)
            seen[alias + "-after"] = current_cell_alias()

    threads = [threading.Thread(target=worker, args=(a,)) for a in ("cell1", "cell2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"cell1": "cell1", "cell2": "cell2", "cell1-after": "cell1", "cell2-after": "cell2"}
    assert current_cell_alias() is None


def test_nothing_is_routed_to_default():
    from cellsv2.router import CellRouter

    router = CellRouter()
    assert router.allow_migrate("default", "mappings", "cellmapping") is False
    assert router.allow_migrate("default", "auth", "user") is False
    assert router.db_for_write(CellMapping) == "api"
