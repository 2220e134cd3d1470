"""Operator actions: the dashboard's POST actions and the model pages' actions call the services
the commands call, and each says what happened."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from cellsv2.context import target_cell
from keypairs.models import KeyPair, LegacyKeyPair
from mappings.models import CellMapping, HostMapping, InstanceMapping
from servergroups.models import InstanceGroup, LegacyInstanceGroup
from servers.models import ComputeNode, InstanceExtra
from tests.admin.helpers import PASSWORD
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _post(client, name, data=None, *args):
    return client.post(reverse(f"admin:{name}", args=args), data or {}, follow=True)


def _changelist_action(client, label, action, pks):
    return client.post(
        reverse(f"admin:{label}_changelist"),
        {"action": action, admin.helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in pks]},
        follow=True,
    )


# --- enable / disable a cell ---------------------------------------------------------------------------


def test_the_dashboard_disables_and_enables_a_cell(operator, deployment, cells):
    cell = cells["cell2"]
    response = _post(operator, "cellsv2_toggle_cell", {"disable": "1"}, cell.uuid)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == reverse("admin:cellsv2_dashboard")
    assert f"Cell {cell.identity} disabled." in _messages(response)
    assert CellMapping.objects.get(pk=cell.pk).disabled is True
    # The page it lands on already shows the new state (the cell cache was cleared by the service).
    row = [s for s in response.context["cells"] if s.mapping.uuid == cell.uuid][0]
    assert row.mapping.disabled is True
    again = _post(operator, "cellsv2_toggle_cell", {"disable": "1"}, cell.uuid)
    assert f"Cell {cell.uuid} is already disabled" in _messages(again)
    enabled = _post(operator, "cellsv2_toggle_cell", {"disable": "0"}, cell.uuid)
    assert f"Cell {cell.identity} enabled." in _messages(enabled)
    assert CellMapping.objects.get(pk=cell.pk).disabled is False


def test_cell0_cannot_be_disabled_and_an_unknown_cell_is_reported(operator, deployment, cells):
    response = _post(operator, "cellsv2_toggle_cell", {"disable": "1"}, cells["cell0"].uuid)
    assert any("cell0" in m.lower() for m in _messages(response))
    assert CellMapping.objects.get(pk=cells["cell0"].pk).disabled is False
    missing = _post(operator, "cellsv2_toggle_cell", {"disable": "1"}, "00000000-1111-2222-3333-444444444444")
    assert any("00000000-1111-2222-3333-444444444444" in m for m in _messages(missing))


def test_the_cell_mapping_actions_enable_and_disable_through_the_service(operator, deployment, cells):
    picked = [cells["cell0"].pk, cells["cell1"].pk, cells["cell2"].pk]
    response = _changelist_action(operator, "mappings_cellmapping", "disable_cells", picked)
    messages = _messages(response)
    assert "cell0 cannot be disabled." in messages
    assert f"Cell {cells['cell1'].identity} disabled." in messages
    assert list(CellMapping.objects.order_by("id").values_list("name", "disabled")) == [
        ("cell0", False),
        ("cell1", True),
        ("cell2", True),
    ]
    _changelist_action(operator, "mappings_cellmapping", "enable_cells", picked)
    assert not CellMapping.objects.filter(disabled=True).exists()


def test_a_cell_mapping_is_renamed_and_disabled_through_its_page(operator, deployment, cells):
    cell = cells["cell2"]
    url = reverse("admin:mappings_cellmapping_change", args=[cell.pk])
    page = operator.get(url).content.decode()
    # The database URL is shown masked and cannot be edited here.
    assert 'name="database_connection"' not in page and 'name="transport_url"' not in page
    response = operator.post(url, {"name": "renamed", "disabled": "true"})
    assert response.status_code == 302
    cell.refresh_from_db()
    assert (cell.name, cell.disabled) == ("renamed", True)
    # cell0 cannot be disabled: the form says so.
    cell0_url = reverse("admin:mappings_cellmapping_change", args=[cells["cell0"].pk])
    refused = operator.post(cell0_url, {"name": "cell0", "disabled": "true"})
    assert refused.status_code == 200 and "cell0 cannot be disabled." in refused.content.decode()
    assert CellMapping.objects.get(pk=cells["cell0"].pk).disabled is False


# --- verify an instance ------------------------------------------------------------------------------


def test_the_verify_action_reports_instance_verify_for_each_mapping(operator, deployment):
    pks = InstanceMapping.objects.filter(
        instance_uuid__in=[deployment.active, deployment.deleted, deployment.building]
    ).values_list("pk", flat=True)
    response = _changelist_action(operator, "mappings_instancemapping", "verify_instances", pks)
    messages = _messages(response)
    assert any(f"Instance {deployment.active} is in cell: cell1" in m for m in messages)
    assert any(f"The instance with uuid {deployment.deleted} has been deleted." in m for m in messages)
    assert any(f"Instance {deployment.building} is not mapped to a cell" in m for m in messages)
    # The same answers as the command.
    assert (
        f"Instance {deployment.active} is in cell: cell1"
        in run_command("cell_v2", "verify_instance", "--uuid", deployment.active).out
    )


def test_verifying_too_many_instances_at_once_is_refused(operator, deployment, monkeypatch):
    monkeypatch.setattr("operators.admin.VERIFY_LIMIT", 2)
    pks = InstanceMapping.objects.values_list("pk", flat=True)
    response = _changelist_action(operator, "mappings_instancemapping", "verify_instances", pks)
    assert any("at most 2 instances" in m for m in _messages(response))


def test_an_instance_is_verified_from_the_dashboard(operator, deployment, down_cell):
    response = _post(operator, "cellsv2_verify_instance", {"uuid": deployment.other_cell})
    assert f"Instance {deployment.other_cell} is in cell: cell2 ({deployment.cells['cell2'].uuid})" in _messages(
        response
    )
    assert any(
        "is not mapped to a cell" in m for m in _messages(_post(operator, "cellsv2_verify_instance", {"uuid": "x"}))
    )
    assert "Give the uuid" in _messages(_post(operator, "cellsv2_verify_instance", {"uuid": " "}))[0]
    # An instance whose cell is down: said so, no 500.
    lost = "0b0b0b0b-0000-0000-0000-000000000000"
    InstanceMapping.objects.create(instance_uuid=lost, cell=down_cell, project_id="proj1")
    response = _post(operator, "cellsv2_verify_instance", {"uuid": lost})
    assert response.status_code == 200
    assert any("could not be reached" in m and "unable to open database file" in m for m in _messages(response))


# --- discover hosts -----------------------------------------------------------------------------------


def test_discover_hosts_maps_new_hosts_and_reports_an_down_cell(operator, deployment, cells, down_cell):
    response = _post(operator, "cellsv2_discover_hosts")
    messages = _messages(response)
    assert "Mapped 1 new host(s): compute2 (cell2)." in messages
    assert any(f"Cell {down_cell.uuid} could not be reached" in m for m in messages)
    assert HostMapping.objects.get(host="compute2").cell_id == cells["cell2"].pk
    with target_cell(cells["cell2"]):
        assert ComputeNode.objects.get(host="compute2").mapped == 1
    again = _post(operator, "cellsv2_discover_hosts")
    assert "Discovered hosts: none (every compute host is mapped)." in _messages(again)


def test_host_mappings_are_deleted_through_the_service(operator, deployment, cells):
    mapping = HostMapping.objects.get(host="compute1")
    # compute1 still runs instances: refused, as `cell_v2 delete_host` refuses.
    refused = _changelist_action(operator, "mappings_hostmapping", "delete_hosts", [mapping.pk])
    assert any("compute1" in m and "instances" in m.lower() for m in _messages(refused))
    assert HostMapping.objects.filter(pk=mapping.pk).exists()
    with target_cell(cells["cell1"]):
        from servers.models import Instance

        Instance.objects.filter(host="compute1").soft_delete()
    deleted = _changelist_action(operator, "mappings_hostmapping", "delete_hosts", [mapping.pk])
    assert "Host compute1 is no longer mapped." in _messages(deleted)
    assert not HostMapping.objects.filter(pk=mapping.pk).exists()
    with target_cell(cells["cell1"]):
        assert ComputeNode.objects.get(host="compute1").mapped == 0


# --- online data migrations ----------------------------------------------------------------------------


def _pending(client) -> dict:
    page = client.get(reverse("admin:cellsv2_dashboard"))
    return {m.name: m.pending for m in page.context["migrations"]}


def test_the_dashboard_counts_pending_migrations_without_changing_anything(operator, deployment, cells):
    def state():
        rows = {"api_keys": KeyPair.objects.count(), "api_groups": InstanceGroup.objects.count()}
        with target_cell(cells["cell1"]):
            rows["legacy_keys"] = LegacyKeyPair.objects.live().count()
            rows["legacy_groups"] = LegacyInstanceGroup.objects.live().count()
            rows["null_keypairs"] = InstanceExtra.objects.filter(keypairs__isnull=True).count()
        return rows

    before = state()
    assert _pending(operator) == {
        "populate_instance_keypairs": 1,
        "migrate_keypairs_to_api_db": 1,
        "migrate_instance_groups_to_api_db": 1,
    }
    assert _pending(operator)["populate_instance_keypairs"] == 1
    assert state() == before


def test_run_one_batch_migrates_and_reports(operator, deployment):
    response = _post(operator, "cellsv2_run_migrations")
    messages = _messages(response)
    assert any(m.startswith("One batch ran (migrated/found):") for m in messages), messages
    assert "migrate_instance_groups_to_api_db: 1/1" in messages[0]
    assert _pending(operator) == {
        "populate_instance_keypairs": 0,
        "migrate_keypairs_to_api_db": 0,
        "migrate_instance_groups_to_api_db": 0,
    }
    assert _messages(_post(operator, "cellsv2_run_migrations")) == [
        "One batch ran: nothing left to migrate.",
        # The fixture's unresolved key pair conflict.
        "1 row(s) set aside as conflicts wait for an operator to resolve them.",
    ]


def test_run_one_batch_says_when_another_runner_holds_the_lock(operator, deployment, monkeypatch):
    from contextlib import contextmanager

    from cellsv2.locks import LockHeld

    @contextmanager
    def held(name):
        raise LockHeld(name)
        yield

    monkeypatch.setattr("operators.admin.runner_lock", held)
    response = _post(operator, "cellsv2_run_migrations")
    assert any("already running elsewhere" in m for m in _messages(response))
    assert _pending(operator)["migrate_instance_groups_to_api_db"] == 1


# --- who may act --------------------------------------------------------------------------------------


def test_actions_answer_only_posts(operator, deployment, cells):
    for name, args in (
        ("cellsv2_run_migrations", ()),
        ("cellsv2_discover_hosts", ()),
        ("cellsv2_verify_instance", ()),
        ("cellsv2_toggle_cell", (cells["cell1"].uuid,)),
    ):
        assert operator.get(reverse(f"admin:{name}", args=args)).status_code == 405, name


def test_staff_without_permissions_see_the_dashboard_but_cannot_act(client, deployment, cells):
    user = get_user_model().objects.create_user("viewer", password=PASSWORD, is_staff=True)
    client.force_login(user)
    page = client.get(reverse("admin:cellsv2_dashboard"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="run-migrations"' not in html and 'id="discover-hosts"' not in html and ">Disable<" not in html
    for name, args, data in (
        ("cellsv2_toggle_cell", (cells["cell1"].uuid,), {"disable": "1"}),
        ("cellsv2_discover_hosts", (), {}),
        ("cellsv2_run_migrations", (), {}),
        ("cellsv2_verify_instance", (), {"uuid": deployment.active}),
    ):
        response = _post(client, name, data, *args)
        assert "You are not allowed to run this operator action." in _messages(response), name
    assert CellMapping.objects.get(pk=cells["cell1"].pk).disabled is False
    assert not HostMapping.objects.filter(host="compute2").exists()
    # Given the permission, the same user may disable a cell (but still not run migrations).
    user.user_permissions.add(Permission.objects.get(codename="change_cellmapping"))
    client.force_login(get_user_model().objects.get(pk=user.pk))
    response = _post(client, "cellsv2_toggle_cell", {"disable": "1"}, cells["cell1"].uuid)
    assert f"Cell {cells['cell1'].identity} disabled." in _messages(response)
