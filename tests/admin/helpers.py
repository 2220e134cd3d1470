"""Rows and users for the admin tests: a seeded three-cell deployment (one row of every model), long values."""

import time
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from cellsv2.context import target_cell
from tests.factories import new_uuid

PASSWORD = "correct horse battery staple"


@dataclass
class Deployment:
    """What ``deployment`` seeded: uuids by role, the cells, and one row of every model."""

    cells: dict
    active: str = ""  # cell1, active, on host compute1
    failed: str = ""  # cell1, vm_state error, with a fault
    deleted: str = ""  # cell1, soft-deleted
    other_cell: str = ""  # cell2, active, on host compute2
    buried: str = ""  # cell0, no valid host
    building: str = ""  # a build request: mapping without a cell
    unknown: str = ""  # in a server group, but mapped nowhere and no build request
    token_hash: str = ""
    group_uuid: str = ""
    legacy_group_uuid: str = ""
    rows: dict = field(default_factory=dict)


def _instance(cell, uuid, *, vm_state="active", host="compute1", deleted=False, project_id="proj1", user_id="alice"):
    from mappings.models import InstanceMapping
    from servers.models import Instance

    with target_cell(cell):
        row = Instance.objects.create(
            uuid=uuid,
            display_name=f"vm-{uuid[:4]}",
            vm_state=vm_state,
            host=host,
            node=host,
            project_id=project_id,
            user_id=user_id,
            user_data="c2VjcmV0LXVzZXItZGF0YQ==",
        )
        if deleted:
            row.soft_delete()
    InstanceMapping.objects.create(instance_uuid=uuid, cell=cell, project_id=project_id, user_id=user_id)
    return row


def seed_deployment(cells) -> Deployment:
    """Rows of every model, across the API database and the three cells."""
    from cellsv2.models import ProjectUserQuota, Quota, QuotaClass, QuotaLock
    from consoles.models import ConsoleAuthToken, ConsoleSerialPort
    from flavors.models import Flavor, FlavorExtraSpec, FlavorProject
    from identity.models import ApiToken, Project, RoleAssignment
    from instance_actions.models import (
        InstanceAction,
        InstanceActionEvent,
        ShadowInstanceAction,
        ShadowInstanceActionEvent,
    )
    from keypairs.models import KeyPair, KeyPairConflict, KeyPairDeletion, LegacyKeyPair
    from mappings.models import HostMapping, InstanceMapping
    from servergroups.models import (
        InstanceGroup,
        InstanceGroupDeletion,
        InstanceGroupMember,
        InstanceGroupPolicy,
        LegacyInstanceGroup,
        LegacyInstanceGroupMember,
        LegacyInstanceGroupPolicy,
    )
    from servers.models import (
        BlockDeviceMapping,
        BuildRequest,
        ComputeNode,
        InstanceExtra,
        InstanceFault,
        InstanceMetadata,
        InstanceSystemMetadata,
        PlacementAttempt,
        RequestSpec,
        ShadowBlockDeviceMapping,
        ShadowInstance,
        ShadowInstanceExtra,
        ShadowInstanceFault,
        ShadowInstanceMetadata,
        ShadowInstanceSystemMetadata,
        Tag,
    )
    from servers.serialization import instance_dump, request_spec_dump

    d = Deployment(cells=cells)
    cell0, cell1, cell2 = cells["cell0"], cells["cell1"], cells["cell2"]
    d.active, d.failed, d.deleted, d.other_cell, d.buried = (new_uuid() for _ in range(5))
    d.building, d.unknown = new_uuid(), new_uuid()

    _instance(cell1, d.active)
    _instance(cell1, d.failed, vm_state="error")
    _instance(cell1, d.deleted, deleted=True)
    _instance(cell2, d.other_cell, host="compute2")
    _instance(cell0, d.buried, vm_state="error", host=None)

    d.token_hash = "ab12cd34" + "e" * 56
    with target_cell(cell1):
        ComputeNode.objects.create(
            uuid=new_uuid(), host="compute1", hypervisor_hostname="compute1", vcpus=8, memory_mb=8192, local_gb=100
        )
        ComputeNode.objects.filter(host="compute1").update(mapped=1)
        # NULL keypairs: work for the populate_instance_keypairs online migration.
        InstanceExtra.objects.create(instance_id=d.active, keypairs=None, flavor='{"name": "m1.tiny"}')
        InstanceFault.objects.create(instance_id=d.failed, code=500, message="No valid host was found.")
        InstanceMetadata.objects.create(instance_id=d.active, key="role", value="db")
        InstanceSystemMetadata.objects.create(instance_id=d.active, key="image_os", value="cirros")
        Tag.objects.create(resource_id=d.active, tag="blue")
        BlockDeviceMapping.objects.create(
            instance_id=d.active, source_type="image", destination_type="local", boot_index=0, image_id=new_uuid()
        )
        LegacyKeyPair.objects.create(name="legacy-key", user_id="alice", fingerprint="aa:bb", public_key="ssh-rsa AAA")
        legacy = LegacyInstanceGroup.objects.create(
            uuid=new_uuid(), name="legacy", project_id="proj1", user_id="alice"
        )
        LegacyInstanceGroupPolicy.objects.create(group=legacy, policy="affinity")
        LegacyInstanceGroupMember.objects.create(group=legacy, instance_id=d.active)
        d.legacy_group_uuid = legacy.uuid
        ConsoleAuthToken.objects.create(
            token_hash=d.token_hash,
            console_type="novnc",
            host="compute1",
            port=5900,
            instance_uuid=d.active,
            expires=int(time.time()) + 600,
        )
        ConsoleSerialPort.objects.create(
            host="compute1", port=10000, instance_uuid=d.active, assigned_until=int(time.time()) + 600
        )
        ShadowInstance.objects.create(id=999, uuid=new_uuid(), display_name="archived", deleted=999)
        ShadowInstanceExtra.objects.create(id=999, instance_uuid=d.deleted)
        ShadowInstanceFault.objects.create(id=999, instance_uuid=d.deleted, code=500)
        ShadowInstanceMetadata.objects.create(id=999, instance_uuid=d.deleted, key="k")
        ShadowInstanceSystemMetadata.objects.create(id=999, instance_uuid=d.deleted, key="k")
        ShadowBlockDeviceMapping.objects.create(id=999, instance_uuid=d.deleted, source_type="image")
        ShadowInstanceAction.objects.create(id=999, instance_uuid=d.deleted, action="delete", request_id="req-x")
        ShadowInstanceActionEvent.objects.create(id=999, action_id=999, event="compute_terminate_instance")
    with target_cell(cell2):
        # Not mapped yet: "Discover hosts" maps it.
        ComputeNode.objects.create(
            uuid=new_uuid(), host="compute2", hypervisor_hostname="compute2", vcpus=8, memory_mb=8192, local_gb=100
        )
    with target_cell(cell0):
        InstanceFault.objects.create(instance_id=d.buried, code=500, message="No valid host was found.")
    HostMapping.objects.create(cell=cell1, host="compute1")

    BuildRequest.objects.create(
        instance_uuid=d.building,
        project_id="proj1",
        instance=instance_dump({"uuid": d.building, "display_name": "waiting-vm", "user_id": "alice"}),
    )
    RequestSpec.objects.create(
        instance_uuid=d.building, spec=request_spec_dump({"instance_uuid": d.building, "project_id": "proj1"})
    )
    RequestSpec.objects.create(
        instance_uuid=d.active, spec=request_spec_dump({"instance_uuid": d.active, "project_id": "proj1"})
    )
    InstanceMapping.objects.create(instance_uuid=d.building, cell=None, project_id="proj1", user_id="alice")
    PlacementAttempt.objects.create(instance_uuid=d.building)

    group = InstanceGroup.objects.create(uuid=new_uuid(), name="web", project_id="proj1", user_id="alice")
    InstanceGroupDeletion.objects.create(uuid=new_uuid())
    InstanceGroupPolicy.objects.create(group=group, policy="anti-affinity", rules=None)
    for member in (d.active, d.other_cell, d.building, d.unknown):
        InstanceGroupMember.objects.create(group=group, instance_uuid=member)
    d.group_uuid = group.uuid

    KeyPair.objects.create(name="key", user_id="alice", fingerprint="11:22", public_key="ssh-rsa BBB")
    KeyPairConflict.objects.create(cell_uuid=cell1.uuid, legacy_id=1, name="clash", user_id="alice")
    KeyPairDeletion.objects.create(name="deleted-while-down", user_id="alice")
    flavor = Flavor.objects.create(name="admin-test", flavorid="admin-test", memory_mb=512, vcpus=1, root_gb=1)
    FlavorExtraSpec.objects.create(flavor=flavor, key="hw:cpu_policy", value="dedicated")
    FlavorProject.objects.create(flavor=flavor, project_id="proj1")
    project = Project.objects.create(project_id="proj1", name="project one")
    owner = get_user_model().objects.create_user("alice")
    RoleAssignment.objects.create(user=owner, project=project, role="member")
    ApiToken.objects.create(token_hash="f" * 64, prefix="tok12345", user=owner, project=project)
    Quota.objects.create(project_id="proj1", resource="instances", hard_limit=20)
    QuotaLock.objects.create(scope="project:proj1")
    ProjectUserQuota.objects.create(project_id="proj1", user_id="alice", resource="cores", hard_limit=4)
    QuotaClass.objects.create(class_name="default", resource="ram", hard_limit=4096)
    for cell in (cell1, cell2):
        with target_cell(cell):
            action = InstanceAction.objects.create(
                action="create", instance_uuid=new_uuid(), request_id="req-admin", user_id="alice", project_id="proj1"
            )
            InstanceActionEvent.objects.create(action=action, event="conductor_schedule_and_build_instances")
    return d


# Values as long as a real deployment's: Keystone's 32-hex project and user ids, long server
# names and host names. The layout tests need them: "proj1" and "alice" fit any column.
LONG_PROJECT = "3f1c2a9be07d4c5f8a61d2b4c9e0f7a1"
LONG_USER = "9b8a7c6d5e4f40312a1b2c3d4e5f6a7b"
LONG_HOST = "compute-rack12-node07.region-one.example.com"


def seed_capacity_and_long_values(d: Deployment) -> None:
    """Add to ``seed_deployment``'s rows: compute nodes with resources in use, instances with no
    mapping, and rows with real-length values. The dashboard then shows, per cell:

    - cell0: no node (0 / 0), nothing unmapped;
    - cell1: 2 nodes, vCPUs 14 / 72, RAM 66 / 264 GiB, disk 420 / 2,100 GB; 3 live instances; 0 unmapped;
    - cell2: 1 node, vCPUs 4 / 8, RAM 4 / 8 GiB, disk 50 / 100 GB; 2 live instances; 2 unmapped
      (one of them soft-deleted: map_instances maps those too).
    """
    from mappings.models import InstanceMapping
    from servers.models import BuildRequest, ComputeNode, Instance
    from servers.serialization import instance_dump

    cell1, cell2 = d.cells["cell1"], d.cells["cell2"]
    with target_cell(cell1):
        ComputeNode.objects.filter(host="compute1").update(vcpus_used=2, memory_mb_used=2048, local_gb_used=20)
        ComputeNode.objects.create(
            uuid=new_uuid(),
            host=LONG_HOST,
            hypervisor_hostname=LONG_HOST,
            vcpus=64,
            vcpus_used=12,
            memory_mb=262144,
            memory_mb_used=65536,
            local_gb=2000,
            local_gb_used=400,
        )
        # A deleted node counts nothing.
        ComputeNode.objects.create(
            uuid=new_uuid(), host="gone", hypervisor_hostname="gone", vcpus=99, memory_mb=99, local_gb=99
        ).soft_delete()
    d.rows["long"] = new_uuid()
    row = _instance(
        cell1, d.rows["long"], host=LONG_HOST, project_id=LONG_PROJECT, user_id=LONG_USER, vm_state="active"
    )
    with target_cell(cell1):
        Instance.objects.filter(pk=row.pk).update(
            display_name="database-replica-primary-eu-west-1a-0001", task_state="rebooting"
        )
    with target_cell(cell2):
        ComputeNode.objects.filter(host="compute2").update(vcpus_used=4, memory_mb_used=4096, local_gb_used=50)
        d.rows["unmapped"] = [new_uuid(), new_uuid()]
        Instance.objects.create(uuid=d.rows["unmapped"][0], vm_state="active", host="compute2", project_id="p")
        Instance.objects.create(uuid=d.rows["unmapped"][1], vm_state="stopped", host="compute2").soft_delete()
    waiting = new_uuid()
    BuildRequest.objects.create(
        instance_uuid=waiting,
        project_id=LONG_PROJECT,
        instance=instance_dump(
            {"uuid": waiting, "display_name": "batch-worker-with-a-rather-long-name-0042", "user_id": LONG_USER}
        ),
    )
    InstanceMapping.objects.create(instance_uuid=waiting, cell=None, project_id=LONG_PROJECT, user_id=LONG_USER)


def make_superuser(username="operator"):
    return get_user_model().objects.create_superuser(username, f"{username}@example.com", PASSWORD)
