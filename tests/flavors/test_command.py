"""``manage.py flavors create|list|delete``: the operator's way to manage flavors."""

import uuid

import pytest

from flavors.models import Flavor, FlavorExtraSpec, FlavorProject
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def create(*args: str):
    return run_command("flavors", "create", *args)


def table_rows(output: str) -> list[list[str]]:
    """The cells of a PrettyTable, header row first."""
    return [
        [cell.strip() for cell in line.strip("|").split("|")] for line in output.splitlines() if line.startswith("|")
    ]


class TestCreate:
    def test_a_flavor_is_created_with_nova_defaults(self):
        result = create("m2.small", "--id", "20", "--ram", "2048", "--vcpus", "2")

        assert (result.code, result.err) == (0, "")
        assert result.out == "Created public flavor m2.small (id 20): 2 vCPUs, 2048 MB RAM, 0 GB disk\n"
        flavor = Flavor.objects.get(flavorid="20")
        assert (flavor.name, flavor.memory_mb, flavor.vcpus) == ("m2.small", 2048, 2)
        assert (flavor.root_gb, flavor.ephemeral_gb, flavor.swap, flavor.rxtx_factor) == (0, 0, 0, 1.0)
        assert (flavor.is_public, flavor.disabled, flavor.description) == (True, False, None)

    def test_every_option(self):
        result = create(
            "m2.big",
            "--id",
            "21",
            "--ram",
            "8192",
            "--vcpus",
            "4",
            "--disk",
            "80",
            "--ephemeral",
            "10",
            "--swap",
            "1024",
            "--rxtx-factor",
            "2.5",
            "--private",
            "--description",
            "for batch jobs",
        )

        assert result.code == 0, result.err
        flavor = Flavor.objects.get(flavorid="21")
        assert (flavor.root_gb, flavor.ephemeral_gb, flavor.swap, flavor.rxtx_factor) == (80, 10, 1024, 2.5)
        assert (flavor.is_public, flavor.description) == (False, "for batch jobs")

    def test_verbose_prints_the_generated_id(self):
        result = create("m2.auto", "--ram", "512", "--vcpus", "1", "--verbose")

        assert result.code == 0
        flavorid = result.out.strip()
        assert str(uuid.UUID(flavorid)) == flavorid
        assert Flavor.objects.get(flavorid=flavorid).name == "m2.auto"

    def test_a_taken_name_exits_1(self):
        result = create("m1.tiny", "--ram", "512", "--vcpus", "1")

        assert result.code == 1
        assert result.err.strip() == "Flavor with name m1.tiny already exists."
        assert Flavor.objects.filter(name="m1.tiny").count() == 1

    def test_a_taken_id_exits_1(self):
        result = create("other", "--id", "1", "--ram", "512", "--vcpus", "1")

        assert result.code == 1
        assert result.err.strip() == "Flavor with ID 1 already exists."
        assert not Flavor.objects.filter(name="other").exists()

    @pytest.mark.parametrize(
        ("option", "value", "message"),
        [
            ("--ram", "0", "ram must be >= 1"),
            ("--ram", "lots", "ram must be an integer"),
            ("--vcpus", "-1", "vcpus must be >= 1"),
            ("--disk", "-1", "disk must be >= 0"),
            ("--swap", "2147483648", "swap must be <= 2147483647"),
            ("--rxtx-factor", "0", "'rxtx_factor' argument must be a float between 0 and 3.40282e+38"),
        ],
    )
    def test_bad_values_exit_1(self, option, value, message):
        args = {"--ram": "512", "--vcpus": "1", option: value}

        result = create("bad", *[item for pair in args.items() for item in pair])

        assert result.code == 1
        assert result.err.strip() == f"Invalid input received: {message}"
        assert not Flavor.objects.filter(name="bad").exists()

    def test_a_blank_name_exits_1(self):
        result = create("   ", "--ram", "512", "--vcpus", "1")

        assert result.code == 1
        assert "name" in result.err
        assert not Flavor.objects.filter(name="").exists()

    def test_a_missing_option_is_bad_input(self):
        result = create("no-ram", "--vcpus", "1")

        assert result.code == 1
        assert "--ram" in result.err

    def test_public_and_private_exclude_each_other(self):
        assert create("both", "--ram", "1", "--vcpus", "1", "--public", "--private").code == 1


class TestList:
    def test_the_default_flavors_are_listed(self):
        result = run_command("flavors", "list")

        assert result.code == 0
        assert table_rows(result.out) == [
            ["ID", "Name", "RAM", "Disk", "Ephemeral", "Swap", "VCPUs", "RXTX Factor", "Is Public", "Disabled"],
            ["1", "m1.tiny", "512", "1", "0", "0", "1", "1.0", "True", "False"],
            ["2", "m1.small", "2048", "20", "0", "0", "1", "1.0", "True", "False"],
            ["3", "m1.medium", "4096", "40", "0", "0", "2", "1.0", "True", "False"],
            ["4", "m1.large", "8192", "80", "0", "0", "4", "1.0", "True", "False"],
            ["5", "m1.xlarge", "16384", "160", "0", "0", "8", "1.0", "True", "False"],
        ]

    def test_private_and_disabled_flavors_are_listed_too(self):
        Flavor.objects.create(flavorid="p", name="private", memory_mb=1, vcpus=1, root_gb=0, is_public=False)
        Flavor.objects.create(flavorid="d", name="disabled", memory_mb=1, vcpus=1, root_gb=0, disabled=True)

        ids = [row[0] for row in table_rows(run_command("flavors", "list").out)[1:]]

        assert ids == ["1", "2", "3", "4", "5", "d", "p"]

    def test_is_public_filters(self):
        Flavor.objects.create(flavorid="p", name="private", memory_mb=1, vcpus=1, root_gb=0, is_public=False)

        private = [row[0] for row in table_rows(run_command("flavors", "list", "--is-public", "false").out)[1:]]
        public = [row[0] for row in table_rows(run_command("flavors", "list", "--is-public", "true").out)[1:]]

        assert private == ["p"]
        assert public == ["1", "2", "3", "4", "5"]

    def test_a_bad_is_public_value_exits_1(self):
        assert run_command("flavors", "list", "--is-public", "maybe").code == 1


class TestDelete:
    def test_a_flavor_is_deleted_with_its_specs_and_access(self):
        flavor = Flavor.objects.get(flavorid="2")
        FlavorExtraSpec.objects.create(flavor=flavor, key="k", value="v")
        FlavorProject.objects.create(flavor=flavor, project_id="proj1")

        result = run_command("flavors", "delete", "2")

        assert (result.code, result.out, result.err) == (0, "Deleted flavor m1.small (id 2)\n", "")
        assert not Flavor.objects.filter(flavorid="2").exists()
        assert not FlavorExtraSpec.objects.filter(flavor_id=flavor.pk).exists()
        assert not FlavorProject.objects.filter(flavor_id=flavor.pk).exists()

    def test_an_unknown_flavor_exits_2(self):
        result = run_command("flavors", "delete", "nope")

        assert result.code == 2
        assert result.err.strip() == "Flavor nope could not be found."
        assert Flavor.objects.count() == 5

    def test_a_created_flavor_can_be_deleted_by_its_id(self):
        flavorid = create("temp", "--ram", "1", "--vcpus", "1", "--verbose").out.strip()
        assert run_command("flavors", "delete", flavorid).code == 0
        assert not Flavor.objects.filter(name="temp").exists()
