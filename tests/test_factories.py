"""tests/factories.py: one factory per model, each writing its row to the database the model lives in."""

import inspect

import pytest
from django.apps import apps

from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS, DbScope, model_scope
from keypairs.models import LegacyKeyPair
from mappings.models import InstanceMapping
from servergroups.models import InstanceGroupMember, InstanceGroupPolicy, LegacyInstanceGroupPolicy
from servers.models import Instance, InstanceExtra, RequestSpec
from tests import factories
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

FIRST_PARTY = {"cellsv2", "mappings", "flavors", "identity", "keypairs", "servergroups", "servers", "consoles"}
FACTORIES = [
    cls
    for _, cls in inspect.getmembers(factories, inspect.isclass)
    if issubclass(cls, factories.DjangoModelFactory) and not cls._meta.abstract
]


def test_every_model_of_ours_has_a_factory():
    built = {cls._meta.model for cls in FACTORIES}
    models = {m for m in apps.get_models() if m._meta.app_label in FIRST_PARTY}
    assert sorted(m._meta.label for m in models - built) == []


@pytest.mark.parametrize("factory_class", FACTORIES, ids=lambda cls: cls.__name__)
def test_each_factory_writes_where_its_model_lives(factory_class, cells):
    model = factory_class._meta.model
    if model_scope(model) is DbScope.CELL:
        row = factory_class(cell=cells["cell2"])
        assert row._state.db == "cell2"
        assert model.objects.using("cell2").filter(pk=row.pk).exists()
        assert not model.objects.using("cell1").filter(pk=row.pk).exists()
    else:
        row = factory_class()
        assert row._state.db == API_ALIAS
        assert model.objects.using(API_ALIAS).filter(pk=row.pk).exists()


def test_a_cell_factory_called_inside_target_cell_writes_to_that_cell(cells):
    with target_cell("cell1"):
        key = factories.LegacyKeyPairFactory(name="old", deleted=True)
    assert LegacyKeyPair.objects.using("cell1").get(pk=key.pk).deleted == key.pk


def test_an_instance_with_its_mapping_and_extra(cells):
    instance = factories.InstanceFactory(cell=cells["cell1"], mapped=True, extra=True, host="compute1")
    mapping = InstanceMapping.objects.get(instance_uuid=instance.uuid)
    assert (mapping.cell, mapping.queued_for_delete) == (cells["cell1"], False)
    assert InstanceExtra.objects.using("cell1").filter(instance_id=instance.uuid).exists()

    gone = factories.InstanceFactory(cell="cell2", mapped=True, deleted=True)
    row = Instance.objects.using("cell2").get(pk=gone.pk)
    assert (row.deleted, row.vm_state) == (row.pk, "deleted")
    assert InstanceMapping.objects.get(instance_uuid=gone.uuid).queued_for_delete


def test_a_build_request_comes_with_its_spec_and_a_cellless_mapping():
    build = factories.BuildRequestFactory(project_id="proj2", user_id="bob")
    assert RequestSpec.objects.filter(instance_uuid=build.instance_uuid).exists()
    mapping = InstanceMapping.objects.get(instance_uuid=build.instance_uuid)
    assert (mapping.cell, mapping.project_id, mapping.user_id) == (None, "proj2", "bob")


def test_groups_come_with_their_policy_and_members(cells):
    group = factories.InstanceGroupFactory(policy="affinity", members=["m1", "m2"])
    assert list(InstanceGroupPolicy.objects.filter(group=group).values_list("policy", flat=True)) == ["affinity"]
    assert InstanceGroupMember.objects.filter(group=group).count() == 2
    legacy = factories.LegacyInstanceGroupFactory(cell="cell1", policies=["anti-affinity"], deleted_policies=["x"])
    with target_cell("cell1"):
        assert list(
            LegacyInstanceGroupPolicy.objects.live().filter(group=legacy).values_list("policy", flat=True)
        ) == ["anti-affinity"]
