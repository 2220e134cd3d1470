"""Writes through the cell site land on the targeted cell, inside a transaction on that database.

Django's admin opens ``atomic(using=router.db_for_write(model))`` around a save or delete; inside
the cell site's views ``target_cell`` makes the router answer the chosen cell.
"""

import pytest
from django.db import connections
from django.urls import reverse

from cellsv2.context import target_cell
from servers.models import Tag
from tests.admin import urls as test_urls
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.urls("tests.admin.urls")]

RESOURCE = "5f0c3d5e-1b1a-4f7e-9a55-0a0a0a0a0a0a"


def _tags(cell) -> list[str]:
    with target_cell(cell):
        return list(Tag.objects.filter(resource_id=RESOURCE).order_by("tag").values_list("tag", flat=True))


def test_add_change_and_delete_commit_on_the_chosen_cell_only(operator, cells):
    test_urls.SEEN.clear()
    baseline = {alias: len(connections[alias].atomic_blocks) for alias in ("api", "cell0", "cell1", "cell2")}
    operator.get(reverse("writablecelladmin:index"), {"cell": "cell2"})

    added = operator.post(reverse("writablecelladmin:servers_tag_add"), {"resource_id": RESOURCE, "tag": "red"})
    assert added.status_code == 302, added.content
    assert _tags(cells["cell2"]) == ["red"] and _tags(cells["cell1"]) == [] and _tags(cells["cell0"]) == []
    with target_cell(cells["cell2"]):
        pk = Tag.objects.get(resource_id=RESOURCE).pk
    changed = operator.post(
        reverse("writablecelladmin:servers_tag_change", args=[pk]), {"resource_id": RESOURCE, "tag": "green"}
    )
    assert changed.status_code == 302
    assert _tags(cells["cell2"]) == ["green"]
    deleted = operator.post(reverse("writablecelladmin:servers_tag_delete", args=[pk]), {"post": "yes"})
    assert deleted.status_code == 302
    assert _tags(cells["cell2"]) == []

    assert len(test_urls.SEEN) == 3
    for seen in test_urls.SEEN:
        assert seen["db_for_write"] == "cell2"
        # One transaction more than the test's own, on cell2 and on no other database.
        assert seen["depth"]["cell2"] == baseline["cell2"] + 1
        assert all(seen["depth"][alias] == baseline[alias] for alias in ("api", "cell0", "cell1"))


def test_a_write_in_another_cell_goes_there(operator, cells):
    operator.get(reverse("writablecelladmin:index"), {"cell": cells["cell1"].uuid})
    operator.post(reverse("writablecelladmin:servers_tag_add"), {"resource_id": RESOURCE, "tag": "blue"})
    assert _tags(cells["cell1"]) == ["blue"] and _tags(cells["cell2"]) == []
