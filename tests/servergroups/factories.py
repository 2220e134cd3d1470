"""Rows for server group tests: API groups, legacy groups in cells, instances with their mappings."""

import uuid as uuid_lib

from cellsv2.cells import cells_cache_clear
from cellsv2.context import target_cell
from mappings.models import InstanceMapping
from servergroups.models import (
    InstanceGroup,
    InstanceGroupMember,
    InstanceGroupPolicy,
    LegacyInstanceGroup,
    LegacyInstanceGroupMember,
    LegacyInstanceGroupPolicy,
)
from servers.models import Instance


def new_uuid() -> str:
    return str(uuid_lib.uuid4())


def api_group(
    *,
    project_id="proj1",
    user_id="alice",
    name="group",
    policy="anti-affinity",
    rules='{"max_server_per_host": 2}',
    members=(),
    uuid=None,
) -> InstanceGroup:
    """An API-database group written directly (no quota, no validation)."""
    group = InstanceGroup.objects.create(uuid=uuid or new_uuid(), project_id=project_id, user_id=user_id, name=name)
    InstanceGroupPolicy.objects.create(group=group, policy=policy, rules=rules)
    InstanceGroupMember.objects.bulk_create([InstanceGroupMember(group=group, instance_uuid=m) for m in members])
    return group


def legacy_group(
    cell,
    *,
    project_id="proj1",
    user_id="alice",
    name="legacy",
    policies=("affinity",),
    members=(),
    deleted_policies=(),
    deleted_members=(),
    uuid=None,
) -> LegacyInstanceGroup:
    """A legacy group in a cell database, with live (and optionally soft-deleted) children."""
    with target_cell(cell):
        group = LegacyInstanceGroup.objects.create(
            uuid=uuid or new_uuid(), project_id=project_id, user_id=user_id, name=name
        )
        for policy in policies:
            LegacyInstanceGroupPolicy.objects.create(group=group, policy=policy)
        for policy in deleted_policies:
            LegacyInstanceGroupPolicy.objects.create(group=group, policy=policy).soft_delete()
        for member in members:
            LegacyInstanceGroupMember.objects.create(group=group, instance_id=member)
        for member in deleted_members:
            LegacyInstanceGroupMember.objects.create(group=group, instance_id=member).soft_delete()
    # Readers remember, per process, that no cell holds legacy groups (none is ever created
    # outside tests): forget it, as a restored cell database would need.
    cells_cache_clear()
    return group


def instance(cell_mapping, *, host="host1", deleted=False, project_id="proj1", user_id="alice", uuid=None) -> str:
    """An instance in a cell and its mapping to that cell; returns its uuid."""
    instance_uuid = uuid or new_uuid()
    with target_cell(cell_mapping):
        row = Instance.objects.create(uuid=instance_uuid, host=host, project_id=project_id, user_id=user_id)
        if deleted:
            row.soft_delete()
    InstanceMapping.objects.create(
        instance_uuid=instance_uuid, cell=cell_mapping, project_id=project_id, user_id=user_id
    )
    return instance_uuid


def build_request(*, project_id="proj1", user_id="alice") -> str:
    """A server that is still a build request: a mapping without a cell; returns its uuid."""
    instance_uuid = new_uuid()
    InstanceMapping.objects.create(instance_uuid=instance_uuid, cell=None, project_id=project_id, user_id=user_id)
    return instance_uuid


def legacy_rows(cell, model, *, live=True) -> int:
    """How many rows of a legacy model a cell holds (live ones, or soft-deleted ones)."""
    with target_cell(cell):
        rows = model.objects.live() if live else model.objects.only_deleted()
        return rows.count()
