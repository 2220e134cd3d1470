"""Flavor services and selectors: Nova's rules for creating, finding, listing and deleting flavors."""

import importlib
import itertools
import uuid
from types import SimpleNamespace

import pytest
from django.db import connections
from django.db.migrations.loader import MigrationLoader

from flavors import selectors, services
from flavors.exceptions import (
    FlavorExists,
    FlavorIdExists,
    FlavorMarkerNotFound,
    FlavorNotFound,
    InvalidFlavorInput,
    InvalidFlavorSort,
)
from flavors.models import Flavor, FlavorExtraSpec, FlavorProject
from tests.support import ALL_DATABASES, CELL_ALIASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

DEFAULT_IDS = ["1", "2", "3", "4", "5"]
default_flavors_migration = importlib.import_module("servers.migrations.0003_default_flavors")


def make_flavor(flavorid, name=None, *, ram=1024, vcpus=1, disk=10, projects=(), **fields):
    flavor = Flavor.objects.create(
        flavorid=flavorid, name=name or f"flavor-{flavorid}", memory_mb=ram, vcpus=vcpus, root_gb=disk, **fields
    )
    for project_id in projects:
        FlavorProject.objects.create(flavor=flavor, project_id=project_id)
    return flavor


def ids(flavors) -> list[str]:
    return [flavor.flavorid for flavor in flavors]


class TestDefaultFlavors:
    def test_migrate_creates_devstacks_default_flavors(self):
        rows = Flavor.objects.order_by("flavorid").values_list(
            "flavorid", "name", "memory_mb", "vcpus", "root_gb", "ephemeral_gb", "swap", "rxtx_factor"
        )
        assert list(rows) == [
            ("1", "m1.tiny", 512, 1, 1, 0, 0, 1.0),
            ("2", "m1.small", 2048, 1, 20, 0, 0, 1.0),
            ("3", "m1.medium", 4096, 2, 40, 0, 0, 1.0),
            ("4", "m1.large", 8192, 4, 80, 0, 0, 1.0),
            ("5", "m1.xlarge", 16384, 8, 160, 0, 0, 1.0),
        ]
        assert set(Flavor.objects.values_list("is_public", "disabled", "description")) == {(True, False, None)}

    def test_flavor_tables_exist_only_in_the_api_database(self):
        tables = {"flavors", "flavor_extra_specs", "flavor_projects"}
        assert tables <= set(connections["api"].introspection.table_names())
        for alias in CELL_ALIASES:
            assert not tables & set(connections[alias].introspection.table_names()), alias

    def test_the_data_migration_only_adds_what_is_missing(self):
        Flavor.objects.filter(flavorid="2").delete()
        Flavor.objects.filter(flavorid="3").update(name="renamed", memory_mb=1)
        Flavor.objects.filter(flavorid="4").delete()
        make_flavor("other", "m1.large")  # flavor 4's name, taken by another flavor

        # The models as that migration sees them (the flavor models were in the servers app then).
        state = MigrationLoader(connections["api"]).project_state(("servers", "0003_default_flavors"))
        default_flavors_migration.create_default_flavors(state.apps, SimpleNamespace(connection=connections["api"]))

        rows = dict(Flavor.objects.values_list("flavorid", "name"))
        assert rows == {"1": "m1.tiny", "2": "m1.small", "3": "renamed", "5": "m1.xlarge", "other": "m1.large"}
        assert Flavor.objects.get(flavorid="3").memory_mb == 1


class TestCreate:
    def test_nova_defaults(self):
        flavor = services.flavor_create(name="f", flavorid="10", memory_mb=64, vcpus=1, root_gb=0)

        flavor.refresh_from_db()
        assert (flavor.ephemeral_gb, flavor.swap, flavor.rxtx_factor, flavor.vcpu_weight) == (0, 0, 1.0, None)
        assert (flavor.is_public, flavor.disabled, flavor.description) == (True, False, None)
        assert flavor.created_at is not None and flavor.updated_at is None
        assert flavor._state.db == "api"

    @pytest.mark.parametrize("flavorid", [None, "", 0])
    def test_a_missing_id_becomes_a_uuid4(self, flavorid):
        flavor = services.flavor_create(name="f", flavorid=flavorid, memory_mb=64, vcpus=1, root_gb=0)
        assert uuid.UUID(flavor.flavorid).version == 4

    def test_numbers_are_stored_as_strings(self):
        flavor = services.flavor_create(name="f", flavorid=7, memory_mb="64", vcpus="2", root_gb="3", rxtx_factor="2")

        flavor.refresh_from_db()
        assert (flavor.flavorid, flavor.memory_mb, flavor.vcpus, flavor.root_gb, flavor.rxtx_factor) == (
            "7",
            64,
            2,
            3,
            2.0,
        )

    def test_the_name_is_stripped(self):
        assert services.flavor_create(name="  f  ", memory_mb=64, vcpus=1, root_gb=0).name == "f"

    @pytest.mark.parametrize(("value", "public"), [("yes", True), ("Off", False), (False, False), ("1", True)])
    def test_is_public_strings(self, value, public):
        assert services.flavor_create(name="f", memory_mb=1, vcpus=1, root_gb=0, is_public=value).is_public is public

    @pytest.mark.parametrize(
        ("field", "value", "reason"),
        [
            ("memory_mb", 0, "ram must be >= 1"),
            ("vcpus", "x", "vcpus must be an integer"),
            ("root_gb", -1, "disk must be >= 0"),
            ("ephemeral_gb", -1, "ephemeral must be >= 0"),
            ("swap", 2**31, "swap must be <= 2147483647"),
            ("rxtx_factor", 0, "'rxtx_factor' argument must be a float between 0 and 3.40282e+38"),
            ("rxtx_factor", "fast", "'rxtx_factor' argument must be a float between 0 and 3.40282e+38"),
            ("rxtx_factor", 4e38, "'rxtx_factor' argument must be a float between 0 and 3.40282e+38"),
            ("is_public", "maybe", "is_public must be a boolean"),
        ],
    )
    def test_out_of_range_values(self, field, value, reason):
        values = {"name": "f", "memory_mb": 1, "vcpus": 1, "root_gb": 0, field: value}

        with pytest.raises(InvalidFlavorInput) as error:
            services.flavor_create(**values)

        assert error.value.reason == reason
        assert str(error.value) == f"Invalid input received: {reason}"
        assert not Flavor.objects.filter(name="f").exists()

    def test_a_name_or_id_longer_than_the_column_is_refused(self):
        with pytest.raises(InvalidFlavorInput):
            services.flavor_create(name="n" * 256, memory_mb=1, vcpus=1, root_gb=0)
        with pytest.raises(InvalidFlavorInput):
            services.flavor_create(name="f", flavorid="i" * 256, memory_mb=1, vcpus=1, root_gb=0)

    def test_a_taken_name(self):
        with pytest.raises(FlavorExists) as error:
            services.flavor_create(name="m1.tiny", memory_mb=1, vcpus=1, root_gb=0)
        assert str(error.value) == "Flavor with name m1.tiny already exists."

    def test_a_taken_id(self):
        with pytest.raises(FlavorIdExists) as error:
            services.flavor_create(name="new", flavorid="1", memory_mb=1, vcpus=1, root_gb=0)
        assert str(error.value) == "Flavor with ID 1 already exists."

    def test_the_id_is_checked_before_the_name(self):
        with pytest.raises(FlavorIdExists):
            services.flavor_create(name="m1.small", flavorid="1", memory_mb=1, vcpus=1, root_gb=0)


class TestGet:
    def test_an_admin_gets_any_flavor(self):
        make_flavor("p", is_public=False)
        assert selectors.flavor_get(flavorid="p").flavorid == "p"

    def test_a_project_gets_public_and_shared_flavors_only(self):
        make_flavor("shared", is_public=False, projects=["proj1"])
        make_flavor("hidden", is_public=False, projects=["proj2"])

        assert selectors.flavor_get(flavorid="shared", project_id="proj1", is_admin=False).flavorid == "shared"
        assert selectors.flavor_get(flavorid="1", project_id="proj1", is_admin=False).flavorid == "1"
        with pytest.raises(FlavorNotFound) as error:
            selectors.flavor_get(flavorid="hidden", project_id="proj1", is_admin=False)
        assert str(error.value) == "Flavor hidden could not be found."

    def test_disabled_flavors_are_found(self):
        make_flavor("old", disabled=True)
        assert selectors.flavor_get(flavorid="old", project_id="proj1", is_admin=False).disabled is True


class TestList:
    def test_a_member_sees_public_and_shared_enabled_flavors(self):
        make_flavor("shared", is_public=False, projects=["proj1", "proj2"])
        make_flavor("hidden", is_public=False, projects=["proj2"])
        make_flavor("old", disabled=True)

        flavors = selectors.flavor_list(project_id="proj1", is_admin=False, is_public=None)

        assert ids(flavors) == [*DEFAULT_IDS, "shared"]

    def test_the_is_public_filter_of_an_admin(self):
        make_flavor("mine", is_public=False, projects=["admin"])
        make_flavor("theirs", is_public=False, projects=["proj2"])
        make_flavor("old", disabled=True)

        assert ids(selectors.flavor_list(project_id="admin")) == [*DEFAULT_IDS, "mine", "old"]
        assert ids(selectors.flavor_list(project_id="admin", is_public=False)) == ["mine", "theirs"]
        assert ids(selectors.flavor_list(project_id="admin", is_public=None)) == [
            *DEFAULT_IDS,
            "mine",
            "old",
            "theirs",
        ]
        assert ids(selectors.flavor_list(is_public=True)) == [*DEFAULT_IDS, "old"]

    def test_min_memory_and_min_disk(self):
        assert ids(selectors.flavor_list(min_memory_mb=2048, min_root_gb=40)) == ["3", "4", "5"]

    def test_extra_specs_are_prefetched(self, django_assert_num_queries):
        FlavorExtraSpec.objects.create(flavor=Flavor.objects.get(flavorid="1"), key="k", value="v")

        with django_assert_num_queries(2, using="api"):
            flavors = selectors.flavor_list()
            specs = {f.flavorid: {s.key: s.value for s in f.extra_specs.all()} for f in flavors}

        assert specs["1"] == {"k": "v"}

    def test_limit(self):
        assert ids(selectors.flavor_list(limit=2)) == ["1", "2"]

    def test_an_unknown_marker(self):
        with pytest.raises(FlavorMarkerNotFound) as error:
            selectors.flavor_list(marker="nope")
        assert str(error.value) == "marker [nope] not found"

    def test_a_marker_hidden_from_the_caller_is_unknown(self):
        make_flavor("hidden", is_public=False)
        with pytest.raises(FlavorMarkerNotFound):
            selectors.flavor_list(project_id="proj1", is_admin=False, marker="hidden")

    def test_a_disabled_marker_still_works_for_a_member(self):
        # Nova looks the marker up among the visible flavors, ignoring the list filters.
        make_flavor("3a", disabled=True)
        assert ids(selectors.flavor_list(project_id="proj1", is_admin=False, marker="3a")) == ["4", "5"]

    @pytest.mark.parametrize(("sort_key", "sort_dir"), [("ram", "asc"), ("name", "up")])
    def test_unknown_sort_keys_and_directions(self, sort_key, sort_dir):
        with pytest.raises(InvalidFlavorSort):
            selectors.flavor_list(sort_key=sort_key, sort_dir=sort_dir)

    def test_nulls_sort_lowest(self):
        make_flavor("a", description="zzz")
        make_flavor("b", description="aaa")

        ascending = ids(selectors.flavor_list(sort_key="description"))
        descending = ids(selectors.flavor_list(sort_key="description", sort_dir="desc"))

        assert ascending == [*DEFAULT_IDS, "b", "a"]
        assert descending == ["a", "b", *reversed(DEFAULT_IDS)]

    @pytest.mark.parametrize(
        ("sort_key", "sort_dir"), list(itertools.product(selectors.FLAVOR_SORT_KEYS, selectors.FLAVOR_SORT_DIRS))
    )
    def test_paging_with_markers_walks_the_same_order_as_one_page(self, sort_key, sort_dir):
        # Ties, NULLs and distinct values in every sortable column.
        make_flavor("n1", ram=512, vcpus=1, disk=1, description=None, vcpu_weight=None, swap=0)
        make_flavor("n2", ram=4096, vcpus=2, disk=40, description="b", vcpu_weight=5, swap=512, rxtx_factor=2.0)
        make_flavor("n3", ram=4096, vcpus=8, disk=0, description="a", vcpu_weight=5, is_public=False, disabled=True)
        make_flavor("n4", ram=1, vcpus=1, disk=0, description="b", vcpu_weight=None, ephemeral_gb=5)

        everything = ids(selectors.flavor_list(is_public=None, sort_key=sort_key, sort_dir=sort_dir))
        walked, marker = [], None
        for _ in range(len(everything)):
            page = ids(
                selectors.flavor_list(is_public=None, sort_key=sort_key, sort_dir=sort_dir, limit=2, marker=marker)
            )
            if not page:
                break
            walked += page
            marker = page[-1]

        assert len(everything) == 9
        assert walked == everything


class TestUpdateDescription:
    def test_the_description_is_set_and_updated_at_moves(self):
        flavor = services.flavor_update_description(flavorid="1", description="tiny")

        flavor.refresh_from_db()
        assert flavor.description == "tiny"
        assert flavor.updated_at is not None
        assert flavor.memory_mb == 512

    def test_a_flavor_the_caller_cannot_see_is_not_found(self):
        make_flavor("hidden", is_public=False)
        with pytest.raises(FlavorNotFound):
            services.flavor_update_description(flavorid="hidden", description="x", project_id="p", is_admin=False)

    def test_an_unknown_flavor(self):
        with pytest.raises(FlavorNotFound):
            services.flavor_update_description(flavorid="nope", description="x")


class TestDelete:
    def test_the_flavor_and_its_rows_are_deleted(self):
        flavor = make_flavor("gone", projects=["p1", "p2"])
        FlavorExtraSpec.objects.create(flavor=flavor, key="k", value="v")
        kept = FlavorExtraSpec.objects.create(flavor=Flavor.objects.get(flavorid="1"), key="k", value="v")

        services.flavor_delete(flavorid="gone")

        assert not Flavor.objects.filter(flavorid="gone").exists()
        assert not FlavorProject.objects.exists()
        assert list(FlavorExtraSpec.objects.all()) == [kept]

    def test_an_unknown_flavor(self):
        with pytest.raises(FlavorNotFound) as error:
            services.flavor_delete(flavorid="nope")
        assert str(error.value) == "Flavor nope could not be found."


def typed_values(flavor: Flavor) -> dict:
    """Every column of a flavor with its type, so 1 == True or a naive == an aware datetime never passes."""
    values = {field.attname: getattr(flavor, field.attname) for field in Flavor._meta.concrete_fields}
    return {name: (type(value).__name__, value) for name, value in values.items()}


class TestTheFlavorOfAServerCreate:
    """The raw one-query read a server create uses gives exactly what the ORM gives."""

    def test_flavors_with_their_extra_specs(self, default_flavors):
        flavor = Flavor.objects.get(flavorid="2")
        for key, value in (("hw:cpu_policy", "dedicated"), ("quota:disk", None)):
            FlavorExtraSpec.objects.create(flavor=flavor, key=key, value=value)
        for flavorid in ("1", "2"):
            expected = Flavor.objects.filter(flavorid=flavorid).prefetch_related("extra_specs").first()
            found, extra_specs = selectors.flavor_with_extra_specs_read(flavorid=flavorid)
            assert typed_values(found) == typed_values(expected)
            assert extra_specs == {spec.key: spec.value for spec in expected.extra_specs.all()}
            assert selectors.flavor_dict(found, extra_specs) == selectors.flavor_dict(expected)
        assert extra_specs == {"hw:cpu_policy": "dedicated", "quota:disk": None}
        assert selectors.flavor_with_extra_specs_read(flavorid="nope") is None
