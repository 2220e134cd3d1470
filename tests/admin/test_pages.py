"""Every admin page of both sites renders with three cells, and every model has its pages.

The main site (``/admin/``) holds the API database's models; the cell site (``/admin/cell/``)
holds the cells' models, one cell at a time. A cell whose database cannot be opened gets an
error page naming it, never a 500.
"""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group
from django.urls import reverse

from cellsv2.admin import LargeTableAdminMixin, cell_admin_site
from cellsv2.context import target_cell
from cellsv2.db import DbScope, model_scope
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def _label(model) -> str:
    return f"{model._meta.app_label}_{model._meta.model_name}"


def _inline_models(site) -> set:
    return {inline.model for model_admin in site._registry.values() for inline in model_admin.inlines}


def test_every_model_has_pages_on_the_site_of_its_tier():
    main, cell = set(admin.site._registry), set(cell_admin_site._registry)
    main_inlines, cell_inlines = _inline_models(admin.site), _inline_models(cell_admin_site)
    for model in apps.get_models():
        scope = model_scope(model)
        if scope is DbScope.CELL:
            assert model in cell or model in cell_inlines, f"{model._meta.label} is not browsable per cell"
            assert model not in main
        elif scope is DbScope.API:
            assert model in main or model in main_inlines, f"{model._meta.label} has no admin page"
            assert model not in cell


@pytest.mark.parametrize(
    "label",
    ["mappings.InstanceMapping", "servers.BuildRequest", "keypairs.KeyPair", "servers.RequestSpec"],
)
def test_big_api_tables_are_paginated_without_full_counts(label):
    model_admin = admin.site._registry[apps.get_model(label)]
    assert isinstance(model_admin, LargeTableAdminMixin)
    assert model_admin.show_full_result_count is False
    assert model_admin.show_facets is admin.ShowFacets.NEVER


def test_every_cell_model_admin_is_paginated_without_full_counts():
    for model, model_admin in cell_admin_site._registry.items():
        assert isinstance(model_admin, LargeTableAdminMixin), model
        assert model_admin.show_full_result_count is False, model


def test_every_page_of_the_main_site_renders(operator, deployment):
    Group.objects.create(name="operators")
    for model, model_admin in admin.site._registry.items():
        label = _label(model)
        changelist = operator.get(reverse(f"admin:{label}_changelist"))
        assert changelist.status_code == 200, label
        obj = model_admin.get_queryset(changelist.wsgi_request).order_by("pk").first()
        assert obj is not None, f"the deployment fixture has no {label}"
        change = operator.get(reverse(f"admin:{label}_change", args=[quote(obj.pk)]))
        assert change.status_code == 200, label
        history = operator.get(reverse(f"admin:{label}_history", args=[quote(obj.pk)]))
        assert history.status_code == 200, label
        add = operator.get(reverse(f"admin:{label}_add"))
        assert add.status_code == (200 if model_admin.has_add_permission(add.wsgi_request) else 403), label
    for name in ("index", "cellsv2_dashboard"):
        assert operator.get(reverse(f"admin:{name}")).status_code == 200


def test_every_page_of_the_cell_site_renders_in_each_cell(operator, deployment, cells):
    seen = set()
    assert operator.get(reverse("celladmin:index")).status_code == 200
    for alias in ("cell1", "cell2", "cell0"):
        cell = cells[alias]
        page = operator.get(reverse("celladmin:index"), {"cell": cell.uuid}, follow=True)
        assert page.status_code == 200 and cell.uuid in page.content.decode()
        for model in cell_admin_site._registry:
            label = _label(model)
            changelist = operator.get(reverse(f"celladmin:{label}_changelist"))
            assert changelist.status_code == 200, (alias, label)
            with target_cell(cell):
                obj = model.objects.order_by("pk").first()
            if obj is None:
                continue
            seen.add(model)
            change = operator.get(reverse(f"celladmin:{label}_change", args=[quote(obj.pk)]))
            assert change.status_code == 200, (alias, label)
            assert operator.get(reverse(f"celladmin:{label}_add")).status_code == 403, label
    assert seen == set(cell_admin_site._registry), "the deployment fixture lacks rows of some cell models"


def test_the_dashboard_shows_every_cell_its_instances_and_the_work_in_flight(operator, deployment, cells):
    page = operator.get(reverse("admin:cellsv2_dashboard"))
    assert page.status_code == 200
    statuses = {status.mapping.name: status for status in page.context["cells"]}
    assert set(statuses) == {"cell0", "cell1", "cell2"}
    assert all(status.reachable for status in statuses.values())
    # Live instances only, by vm_state; compute nodes per cell; mapped hosts from the API database.
    assert statuses["cell1"].instances_by_state == {"active": 1, "error": 1}
    assert statuses["cell1"].compute_nodes == 1 and statuses["cell1"].hosts == 1
    assert statuses["cell2"].instances_by_state == {"active": 1} and statuses["cell2"].hosts == 0
    assert statuses["cell0"].instances_by_state == {"error": 1}
    assert page.context["build_queue"].waiting == 1 and page.context["build_queue"].oldest_age is not None
    assert page.context["unmapped"] == 1
    html = page.content.decode()
    for cell in cells.values():
        assert cell.uuid in html
    assert html.count('class="cellsv2-badge cellsv2-good">reachable<') == 3 and "unreachable</span>" not in html
    # Links from the dashboard into each tier.
    assert f"{reverse('admin:mappings_instancemapping_changelist')}?cell__isnull=True" in html
    assert f"{reverse('celladmin:servers_instance_changelist')}?cell={cells['cell1'].uuid}" in html


def test_the_dashboard_says_a_cell_is_unreachable_and_still_shows_the_others(operator, deployment, down_cell):
    page = operator.get(reverse("admin:cellsv2_dashboard"))
    assert page.status_code == 200
    statuses = {status.mapping.name: status for status in page.context["cells"]}
    assert not statuses["cell-down"].reachable
    assert "unable to open database file" in statuses["cell-down"].error
    assert statuses["cell1"].reachable and statuses["cell1"].instances_by_state == {"active": 1, "error": 1}
    html = page.content.decode()
    assert "unreachable</span>" in html and "unable to open database file" in html
    # Counting pending rows needs every cell: the dashboard says it cannot, instead of a wrong number.
    pending = {m.name: m for m in page.context["migrations"]}
    assert pending["populate_instance_keypairs"].pending is None
    assert "did not answer" in pending["populate_instance_keypairs"].error


def test_the_cell_site_shows_an_error_page_for_an_down_cell(operator, deployment, down_cell):
    switched = operator.get(reverse("celladmin:index"), {"cell": "cell-down"}, follow=True)
    # The index reads no cell table: it renders, with the switcher on the broken cell.
    assert switched.status_code == 200 and down_cell.uuid in switched.content.decode()
    assert 'id="cell-switcher"' in switched.content.decode()
    for name in (
        "servers_instance_changelist",
        "servers_computenode_changelist",
        "consoles_consoleauthtoken_changelist",
    ):
        page = operator.get(reverse(f"celladmin:{name}"))
        assert page.status_code == 503, name
        html = page.content.decode()
        assert "cannot be reached" in html and "unable to open database file" in html
        assert down_cell.uuid in html and 'id="cell-switcher"' in html
    # Another cell still works in the same session.
    page = operator.get(reverse("celladmin:servers_instance_changelist"), {"cell": "cell1"}, follow=True)
    assert page.status_code == 200 and deployment.active in page.content.decode()


def test_a_cell_is_chosen_by_uuid_or_name_and_remembered(operator, deployment, cells):
    changelist = reverse("celladmin:servers_instance_changelist")
    response = operator.get(changelist, {"cell": "cell2", "q": deployment.other_cell})
    # The choice is not a filter: it is remembered and dropped from the URL.
    assert response.status_code == 302 and response.url == f"{changelist}?q={deployment.other_cell}"
    page = operator.get(response.url)
    assert deployment.other_cell in page.content.decode()
    assert page.context["cellsv2_current_cell"].uuid == cells["cell2"].uuid
    # Remembered: the next page is still cell2's.
    assert deployment.active not in operator.get(changelist).content.decode()
    operator.get(changelist, {"cell": cells["cell1"].uuid})
    assert deployment.active in operator.get(changelist).content.decode()
    unknown = operator.get(changelist, {"cell": "nowhere"}, follow=True)
    assert "There is no cell" in unknown.content.decode()


def test_the_oldest_build_request_s_age_reads_as_days_hours_minutes_seconds():
    from datetime import timedelta

    from operators.dashboard import BuildQueue

    assert BuildQueue(0, None).oldest_age_display == "-"
    assert BuildQueue(1, timedelta(seconds=4.7)).oldest_age_display == "4s"
    assert BuildQueue(1, timedelta(hours=2, seconds=5)).oldest_age_display == "2h 0m 5s"
    assert BuildQueue(1, timedelta(days=3, minutes=1)).oldest_age_display == "3d 0h 1m 0s"


def test_a_pending_counter_that_fails_is_shown_as_unknown(operator, deployment, monkeypatch):
    from servergroups.online_migrations import migrate_instance_groups_to_api_db

    def broken():
        raise RuntimeError("cannot count")

    monkeypatch.setattr(migrate_instance_groups_to_api_db, "pending", broken)
    page = operator.get(reverse("admin:cellsv2_dashboard"))
    pending = {m.name: m for m in page.context["migrations"]}
    assert pending["migrate_instance_groups_to_api_db"].pending is None
    assert pending["migrate_instance_groups_to_api_db"].error == "RuntimeError: cannot count"
    assert pending["populate_instance_keypairs"].pending == 1
    assert "unknown (RuntimeError: cannot count)" in page.content.decode()


def test_the_server_group_counter_refuses_to_guess_when_a_cell_is_down(deployment, down_cell):
    from servergroups.exceptions import CellsUnavailable
    from servergroups.online_migrations import pending_instance_groups

    with pytest.raises(CellsUnavailable):
        pending_instance_groups()
