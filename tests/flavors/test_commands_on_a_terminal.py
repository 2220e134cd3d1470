"""``flavors create|list|delete`` as operators run it: a real ``python manage.py`` process on a
pseudo-terminal."""

import pytest

from flavors.models import Flavor
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


def test_flavors_are_created_listed_and_deleted(manage_py, default_flavors):
    created = manage_py.terminal("flavors", "create", "m2.big", "--id", "42", "--ram", "4096", "--vcpus", "2",
                                 "--disk", "40", "--swap", "512", "--private")  # fmt: skip
    listed = manage_py.terminal("flavors", "list")
    deleted = manage_py.terminal("flavors", "delete", "42")

    assert created.code == 0, created.raw
    assert created.lines == ["Created private flavor m2.big (id 42): 2 vCPUs, 4096 MB RAM, 40 GB disk, 512 MB swap"]
    assert listed.code == 0 and any("m2.big" in line for line in listed.lines)
    assert (deleted.code, deleted.lines) == (0, ["Deleted flavor m2.big (id 42)"])
    assert not Flavor.objects.filter(flavorid="42").exists()
