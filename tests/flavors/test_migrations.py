"""Upgrading a database whose flavors still belong to the servers app: rows, tables and permissions kept.

The flavor models moved from ``servers`` to ``flavors`` (servers 0010 and flavors 0001 change only
Django's state; flavors 0002 renames the content types). Each test takes the API database back to
the state before the move with Django's migration executor, sets it up as a deployment of that
time would be, and migrates it forward again.
"""

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.management import create_contenttypes
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from flavors.models import Flavor, FlavorExtraSpec, FlavorProject
from tests.support import CELL_ALIASES

pytestmark = pytest.mark.django_db(databases=["api", *CELL_ALIASES], transaction=True)

BEFORE_THE_MOVE = [("servers", "0009_block_device_mapping"), ("flavors", None)]
FLAVOR_MODELS = {"flavor", "flavorextraspec", "flavorproject"}
FLAVOR_TABLES = {"flavors", "flavor_extra_specs", "flavor_projects"}


def migrate(alias: str, targets=None) -> None:
    """Migrate one database to ``targets`` (default: every app's latest migration)."""
    executor = MigrationExecutor(connections[alias])
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()


@pytest.fixture
def old_api_database():
    """The API database as it was before the move, with the content types and permissions Django
    created then for ``servers.Flavor`` & co (what post_migrate of that release made)."""
    migrate("api", BEFORE_THE_MOVE)
    graph = MigrationExecutor(connections["api"]).loader.graph
    nodes = [node for node in graph.leaf_nodes() if node[0] not in ("servers", "flavors")]
    old_apps = graph.make_state(nodes=[*nodes, BEFORE_THE_MOVE[0]], real_apps=set()).apps
    # What post_migrate does: the installed app, the models as the migrations left them.
    servers = django_apps.get_app_config("servers")
    create_contenttypes(servers, verbosity=0, using="api", apps=old_apps)
    create_permissions(servers, verbosity=0, using="api", apps=old_apps)
    yield old_apps
    migrate("api")


def labels(app_label: str) -> set[str]:
    """The flavor models that have a content type under ``app_label``."""
    rows = ContentType.objects.filter(app_label=app_label, model__in=FLAVOR_MODELS)
    return set(rows.values_list("model", flat=True))


def fresh_user(user):
    """The user read again: Django caches permissions on the object."""
    return get_user_model().objects.get(pk=user.pk)


def test_a_flavor_and_the_permissions_on_it_survive_the_move(old_api_database):
    def old_model(name):
        return old_api_database.get_model("servers", name).objects.using("api")

    old = old_model("Flavor").create(flavorid="42", name="m9.legacy", memory_mb=1024, vcpus=2, root_gb=10)
    old_model("FlavorExtraSpec").create(flavor=old, key="hw:cpu_policy", value="dedicated")
    old_model("FlavorProject").create(flavor=old, project_id="p1")
    content_type_id = ContentType.objects.get(app_label="servers", model="flavor").pk
    operator = get_user_model().objects.create_user("ops")
    operator.user_permissions.add(Permission.objects.get(content_type__app_label="servers", codename="change_flavor"))
    editors = Group.objects.create(name="flavor editors")
    editors.permissions.add(Permission.objects.get(content_type__app_label="servers", codename="delete_flavor"))
    operator.groups.add(editors)
    assert fresh_user(operator).has_perm("servers.change_flavor")
    assert labels("servers") == FLAVOR_MODELS and labels("flavors") == set()

    migrate("api")

    flavor = Flavor.objects.get(flavorid="42")
    assert flavor.pk == old.pk
    assert (flavor.name, flavor.memory_mb, flavor.vcpus, flavor.root_gb) == ("m9.legacy", 1024, 2, 10)
    assert list(FlavorExtraSpec.objects.filter(flavor=flavor).values_list("key", "value")) == [
        ("hw:cpu_policy", "dedicated")
    ]
    assert list(FlavorProject.objects.filter(flavor=flavor).values_list("project_id", flat=True)) == ["p1"]
    operator = fresh_user(operator)
    assert operator.has_perm("flavors.change_flavor") and operator.has_perm("flavors.delete_flavor")
    assert not operator.has_perm("servers.change_flavor") and not operator.has_perm("flavors.add_flavor")
    # Renamed in place: the same row, so the admin's history of each flavor follows too.
    assert ContentType.objects.get(app_label="flavors", model="flavor").pk == content_type_id
    assert labels("servers") == set() and labels("flavors") == FLAVOR_MODELS


def test_on_a_fresh_database_there_is_nothing_to_rename(old_api_database):
    ContentType.objects.filter(app_label="servers", model__in=FLAVOR_MODELS).delete()
    count = ContentType.objects.count()

    migrate("api")

    assert ContentType.objects.count() == count
    assert labels("flavors") == set() and labels("servers") == set()


def test_content_types_created_early_take_over_the_grants(old_api_database):
    """Both labels exist when Django created the flavors ones before flavors 0002 ran."""
    operator = get_user_model().objects.create_user("ops")
    operator.user_permissions.add(Permission.objects.get(content_type__app_label="servers", codename="change_flavor"))
    early = ContentType.objects.create(app_label="flavors", model="flavor")
    Permission.objects.create(content_type=early, codename="change_flavor", name="Can change flavor")

    migrate("api")

    assert fresh_user(operator).has_perm("flavors.change_flavor")
    assert ContentType.objects.get(app_label="flavors", model="flavor").pk == early.pk
    assert labels("servers") == set() and labels("flavors") == FLAVOR_MODELS
    assert Permission.objects.filter(content_type=early).count() == 4


def test_going_back_gives_the_servers_app_its_content_types_again(old_api_database):
    migrate("api")
    operator = get_user_model().objects.create_user("ops")
    operator.user_permissions.add(Permission.objects.get(content_type__app_label="flavors", codename="view_flavor"))

    migrate("api", BEFORE_THE_MOVE)

    assert fresh_user(operator).has_perm("servers.view_flavor")
    assert labels("flavors") == set() and labels("servers") == FLAVOR_MODELS


def test_the_move_touches_no_cell_database_and_keeps_the_tables_in_the_api_database():
    """Back and forth on every database: nothing runs on a cell (it has no content types table,
    so a data migration routed there would fail), and the tables never move."""
    for alias in ["api", *CELL_ALIASES]:
        migrate(alias, BEFORE_THE_MOVE)
        migrate(alias)

    assert FLAVOR_TABLES <= set(connections["api"].introspection.table_names())
    for alias in CELL_ALIASES:
        tables = set(connections[alias].introspection.table_names())
        assert not FLAVOR_TABLES & tables and "django_content_type" not in tables, alias
