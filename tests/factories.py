"""factory-boy factories for every model: rows written directly, without the API or the services.

API-database models are written on ``API_ALIAS``. Cell models are written inside
``target_cell(cell)``: pass ``cell=`` (a CellMapping or an alias), or call the factory inside a
``target_cell`` block (without either the router raises NoCellTargeted, as it would for the
product). Related rows a factory builds with it (a SubFactory, a post-generation hook) go to
the same cell.

    instance = InstanceFactory(cell=cells["cell1"], mapped=True, host="compute1")
    group = InstanceGroupFactory(policy="affinity", members=[instance.uuid])
    LegacyKeyPairFactory(cell="cell2", user_id="alice", name="old", deleted=True)
"""

import json
import uuid as uuid_lib
from contextlib import nullcontext
from contextvars import ContextVar

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from factory.django import DjangoModelFactory

from cellsv2.cells import cells_cache_clear
from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS
from cellsv2.models import ProjectUserQuota, Quota, QuotaClass, QuotaLock
from consoles.models import ConsoleAuthToken, ConsoleSerialPort
from flavors.models import Flavor, FlavorExtraSpec, FlavorProject
from identity.models import ApiToken, Project, RoleAssignment
from keypairs.models import KeyPair, KeyPairConflict, KeyPairDeletion, LegacyKeyPair
from mappings.models import CellMapping, HostMapping, InstanceMapping
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
    Instance,
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

PROJECT_ID = "proj1"
USER_ID = "alice"
IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
# The flavor an instance's instance_extra records by default (Nova's m1.tiny, flavor "1").
TINY = {"flavorid": "1", "name": "m1.tiny", "memory_mb": 512, "vcpus": 1, "root_gb": 1, "ephemeral_gb": 0, "swap": 0}
SSH_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDP7Jz0Yc2tN4Y2vJX9b4pV8fXq9q5fQ8V4b6M3L2c1k test@cellsv2"


def new_uuid() -> str:
    return str(uuid_lib.uuid4())


# --- bases ------------------------------------------------------------------------------------


class ApiModelFactory(DjangoModelFactory):
    """A model of the API database."""

    class Meta:
        abstract = True
        database = API_ALIAS
        skip_postgeneration_save = True


# The cell a cell factory is building in (what it was given as ``cell=``), for hooks that write
# the API side of the row (an instance's mapping needs the CellMapping, not only the alias).
_building_in: ContextVar = ContextVar("building_in", default=None)


class CellModelFactory(DjangoModelFactory):
    """A model of a cell database, written inside ``target_cell(cell)`` (``cell=`` is optional
    inside a ``target_cell`` block)."""

    class Meta:
        abstract = True
        skip_postgeneration_save = True

    @classmethod
    def _generate(cls, strategy, params):
        cell = params.pop("cell", None)
        token = _building_in.set(cell)
        try:
            with target_cell(cell) if cell is not None else nullcontext():
                return super()._generate(strategy, params)
        finally:
            _building_in.reset(token)


def _cell_mapping_building_in() -> CellMapping:
    """The CellMapping the current cell factory builds in (given as a mapping, or as the alias that
    the tests' ``cells`` fixture uses as the mapping's name)."""
    cell = _building_in.get()
    if isinstance(cell, CellMapping):
        return cell
    if cell is None:
        raise ValueError("mapped=True needs cell= (a CellMapping or the alias of one)")
    return CellMapping.objects.get(name=cell)


# --- cellsv2 and identity ---------------------------------------------------------------------


class QuotaFactory(ApiModelFactory):
    class Meta:
        model = Quota

    project_id = PROJECT_ID
    resource = "instances"
    hard_limit = 10


class ProjectUserQuotaFactory(ApiModelFactory):
    class Meta:
        model = ProjectUserQuota

    project_id = PROJECT_ID
    user_id = "alice"
    resource = "instances"
    hard_limit = 5


class QuotaClassFactory(ApiModelFactory):
    class Meta:
        model = QuotaClass

    class_name = "default"
    resource = "instances"
    hard_limit = 10


class QuotaLockFactory(ApiModelFactory):
    class Meta:
        model = QuotaLock

    scope = factory.Sequence(lambda n: f"instances:{PROJECT_ID}:{n}")


class UserFactory(ApiModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("secret-password")


class ProjectFactory(ApiModelFactory):
    class Meta:
        model = Project

    project_id = factory.Sequence(lambda n: f"project{n}")
    name = factory.Sequence(lambda n: f"Project {n}")


class RoleAssignmentFactory(ApiModelFactory):
    class Meta:
        model = RoleAssignment

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    role = "member"


class ApiTokenFactory(ApiModelFactory):
    class Meta:
        model = ApiToken

    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    prefix = factory.LazyAttribute(lambda token: token.token_hash[:8])
    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)


# --- mappings ---------------------------------------------------------------------------------


class CellMappingFactory(ApiModelFactory):
    """A cell mapping; its database is a configured one (``database_connection``) or none."""

    class Meta:
        model = CellMapping

    uuid = factory.LazyFunction(new_uuid)
    name = factory.Sequence(lambda n: f"cell-{n}")
    transport_url = "none:///"
    database_connection = None

    @factory.post_generation
    def _forget_cached_cells(self, create, extracted, **kwargs):
        # The registry caches the cell list per process: a new mapping must be seen.
        if create:
            cells_cache_clear()


class HostMappingFactory(ApiModelFactory):
    class Meta:
        model = HostMapping

    cell = factory.SubFactory(CellMappingFactory)
    host = factory.Sequence(lambda n: f"compute{n}")


class InstanceMappingFactory(ApiModelFactory):
    """An instance mapping; ``cell=None`` is a server still being built (a build request's)."""

    class Meta:
        model = InstanceMapping

    instance_uuid = factory.LazyFunction(new_uuid)
    cell = None
    project_id = PROJECT_ID
    user_id = USER_ID
    queued_for_delete = False


# --- flavors ----------------------------------------------------------------------------------


class FlavorFactory(ApiModelFactory):
    class Meta:
        model = Flavor

    flavorid = factory.Sequence(lambda n: f"flavor-{n}")
    name = factory.Sequence(lambda n: f"m1.test{n}")
    memory_mb = 512
    vcpus = 1
    root_gb = 1
    ephemeral_gb = 0


class FlavorExtraSpecFactory(ApiModelFactory):
    class Meta:
        model = FlavorExtraSpec

    flavor = factory.SubFactory(FlavorFactory)
    key = factory.Sequence(lambda n: f"hw:key{n}")
    value = "value"


class FlavorProjectFactory(ApiModelFactory):
    class Meta:
        model = FlavorProject

    flavor = factory.SubFactory(FlavorFactory, is_public=False)
    project_id = PROJECT_ID


# --- key pairs --------------------------------------------------------------------------------


class KeyPairFactory(ApiModelFactory):
    """A key pair in the API database (give ``public_key`` and ``fingerprint`` for real material)."""

    class Meta:
        model = KeyPair

    name = factory.Sequence(lambda n: f"key{n}")
    user_id = USER_ID
    public_key = SSH_PUBLIC_KEY
    fingerprint = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"


class LegacyKeyPairFactory(CellModelFactory):
    """A key pair in a cell's legacy key_pairs; ``deleted=True`` soft-deletes it."""

    class Meta:
        model = LegacyKeyPair

    name = factory.Sequence(lambda n: f"key{n}")
    user_id = USER_ID
    public_key = SSH_PUBLIC_KEY
    fingerprint = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"

    @factory.post_generation
    def deleted(self, create, extracted, **kwargs):
        if create and extracted:
            self.soft_delete()


class KeyPairConflictFactory(ApiModelFactory):
    class Meta:
        model = KeyPairConflict

    cell_uuid = factory.LazyFunction(new_uuid)
    legacy_id = factory.Sequence(lambda n: n + 1)
    name = factory.Sequence(lambda n: f"key{n}")
    user_id = USER_ID
    public_key = SSH_PUBLIC_KEY


class KeyPairDeletionFactory(ApiModelFactory):
    class Meta:
        model = KeyPairDeletion

    user_id = USER_ID
    name = factory.Sequence(lambda n: f"key{n}")


# --- server groups ----------------------------------------------------------------------------


class InstanceGroupFactory(ApiModelFactory):
    """An API-database server group with its policy row and ``members`` (instance uuids)."""

    class Meta:
        model = InstanceGroup

    uuid = factory.LazyFunction(new_uuid)
    name = "group"
    project_id = PROJECT_ID
    user_id = USER_ID

    @factory.post_generation
    def policy(self, create, extracted, rules='{"max_server_per_host": 2}', **kwargs):
        if create:
            InstanceGroupPolicy.objects.create(group=self, policy=extracted or "anti-affinity", rules=rules)

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            InstanceGroupMember.objects.bulk_create(
                [InstanceGroupMember(group=self, instance_uuid=uuid) for uuid in extracted]
            )


class InstanceGroupPolicyFactory(ApiModelFactory):
    class Meta:
        model = InstanceGroupPolicy

    group = factory.SubFactory(InstanceGroupFactory, policy=None)
    policy = "affinity"


class InstanceGroupMemberFactory(ApiModelFactory):
    class Meta:
        model = InstanceGroupMember

    group = factory.SubFactory(InstanceGroupFactory)
    instance_uuid = factory.LazyFunction(new_uuid)


class InstanceGroupDeletionFactory(ApiModelFactory):
    class Meta:
        model = InstanceGroupDeletion

    uuid = factory.LazyFunction(new_uuid)


class LegacyInstanceGroupFactory(CellModelFactory):
    """A legacy group in a cell with live ``policies`` and ``members`` (instance uuids), and
    soft-deleted ``deleted_policies`` and ``deleted_members``."""

    class Meta:
        model = LegacyInstanceGroup
        skip_postgeneration_save = True

    uuid = factory.LazyFunction(new_uuid)
    name = "legacy"
    project_id = PROJECT_ID
    user_id = USER_ID

    @factory.post_generation
    def policies(self, create, extracted, **kwargs):
        if create:
            for policy in ("affinity",) if extracted is None else extracted:
                LegacyInstanceGroupPolicy.objects.create(group=self, policy=policy)

    @factory.post_generation
    def deleted_policies(self, create, extracted, **kwargs):
        for policy in extracted or () if create else ():
            LegacyInstanceGroupPolicy.objects.create(group=self, policy=policy).soft_delete()

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        for member in extracted or () if create else ():
            LegacyInstanceGroupMember.objects.create(group=self, instance_id=member)

    @factory.post_generation
    def deleted_members(self, create, extracted, **kwargs):
        for member in extracted or () if create else ():
            LegacyInstanceGroupMember.objects.create(group=self, instance_id=member).soft_delete()
        # Readers remember, per process, that no cell holds legacy groups (none is ever created
        # outside tests): forget it, as a restored cell database would need.
        cells_cache_clear()


class LegacyInstanceGroupPolicyFactory(CellModelFactory):
    class Meta:
        model = LegacyInstanceGroupPolicy

    group = factory.SubFactory(LegacyInstanceGroupFactory, policies=())
    policy = "affinity"


class LegacyInstanceGroupMemberFactory(CellModelFactory):
    class Meta:
        model = LegacyInstanceGroupMember

    group = factory.SubFactory(LegacyInstanceGroupFactory)
    instance_id = factory.LazyFunction(new_uuid)


# --- servers: the cell side -------------------------------------------------------------------


class ComputeNodeFactory(CellModelFactory):
    class Meta:
        model = ComputeNode

    uuid = factory.LazyFunction(new_uuid)
    host = factory.Sequence(lambda n: f"compute{n}")
    hypervisor_hostname = factory.LazyAttribute(lambda node: node.host)
    vcpus = 4
    memory_mb = 8192
    local_gb = 100

    @factory.post_generation
    def deleted(self, create, extracted, **kwargs):
        if create and extracted:
            self.soft_delete()


class InstanceFactory(CellModelFactory):
    """An instance row in a cell.

    ``mapped=True`` adds its instance mapping to that cell (API database); ``extra=True`` its
    instance_extra recording m1.tiny (``extra=<flavor dict>``: that flavor); ``deleted=True``
    soft-deletes it as Nova does (``deleted`` = id, vm_state "deleted"; a mapping made with it
    is queued for delete).
    """

    class Meta:
        model = Instance
        skip_postgeneration_save = True

    uuid = factory.LazyFunction(new_uuid)
    project_id = PROJECT_ID
    user_id = USER_ID
    display_name = "server"
    vm_state = "active"
    power_state = 1
    image_ref = IMAGE
    instance_type_id = 1
    memory_mb = TINY["memory_mb"]
    vcpus = TINY["vcpus"]
    root_gb = TINY["root_gb"]

    @factory.post_generation
    def extra(self, create, extracted, **kwargs):
        if create and extracted:
            flavor = TINY if extracted is True else extracted
            InstanceExtra.objects.create(instance=self, flavor=json.dumps({"cur": flavor, "old": None, "new": None}))

    @factory.post_generation
    def deleted(self, create, extracted, **kwargs):
        if create and extracted:
            Instance.objects.filter(pk=self.pk).update(deleted=self.pk, vm_state="deleted")
            self.deleted, self.vm_state = self.pk, "deleted"

    @factory.post_generation
    def mapped(self, create, extracted, **kwargs):
        if create and extracted:
            InstanceMapping.objects.create(
                instance_uuid=self.uuid,
                cell=_cell_mapping_building_in(),
                project_id=self.project_id,
                user_id=self.user_id,
                queued_for_delete=bool(self.deleted),
            )


class InstanceExtraFactory(CellModelFactory):
    class Meta:
        model = InstanceExtra

    instance = factory.SubFactory(InstanceFactory)
    flavor = json.dumps({"cur": TINY, "old": None, "new": None})


class InstanceFaultFactory(CellModelFactory):
    class Meta:
        model = InstanceFault

    instance = factory.SubFactory(InstanceFactory)
    code = 500
    message = "failed"


class InstanceMetadataFactory(CellModelFactory):
    class Meta:
        model = InstanceMetadata

    instance = factory.SubFactory(InstanceFactory)
    key = factory.Sequence(lambda n: f"key{n}")
    value = "value"


class InstanceSystemMetadataFactory(CellModelFactory):
    class Meta:
        model = InstanceSystemMetadata

    instance = factory.SubFactory(InstanceFactory)
    key = factory.Sequence(lambda n: f"key{n}")
    value = "value"


class BlockDeviceMappingFactory(CellModelFactory):
    class Meta:
        model = BlockDeviceMapping

    instance = factory.SubFactory(InstanceFactory)
    uuid = factory.LazyFunction(new_uuid)
    source_type = "image"
    destination_type = "local"
    boot_index = 0
    image_id = IMAGE


class TagFactory(CellModelFactory):
    class Meta:
        model = Tag

    resource_id = factory.LazyFunction(new_uuid)
    tag = factory.Sequence(lambda n: f"tag{n}")


class ShadowInstanceFactory(CellModelFactory):
    """An archived instance (``shadow_instances``)."""

    class Meta:
        model = ShadowInstance

    id = factory.Sequence(lambda n: n + 1)  # archived rows keep their live id
    uuid = factory.LazyFunction(new_uuid)
    project_id = PROJECT_ID
    user_id = USER_ID
    vm_state = "deleted"
    deleted = factory.Sequence(lambda n: n + 1)


class ShadowInstanceExtraFactory(CellModelFactory):
    class Meta:
        model = ShadowInstanceExtra

    id = factory.Sequence(lambda n: n + 1)  # archived rows keep their live id
    instance_uuid = factory.LazyFunction(new_uuid)


class ShadowInstanceFaultFactory(CellModelFactory):
    class Meta:
        model = ShadowInstanceFault

    id = factory.Sequence(lambda n: n + 1)  # archived rows keep their live id
    instance_uuid = factory.LazyFunction(new_uuid)
    code = 500


class ShadowInstanceMetadataFactory(CellModelFactory):
    class Meta:
        model = ShadowInstanceMetadata

    id = factory.Sequence(lambda n: n + 1)  # archived rows keep their live id
    instance_uuid = factory.LazyFunction(new_uuid)
    key = factory.Sequence(lambda n: f"key{n}")


class ShadowInstanceSystemMetadataFactory(CellModelFactory):
    class Meta:
        model = ShadowInstanceSystemMetadata

    id = factory.Sequence(lambda n: n + 1)  # archived rows keep their live id
    instance_uuid = factory.LazyFunction(new_uuid)
    key = factory.Sequence(lambda n: f"key{n}")


class ShadowBlockDeviceMappingFactory(CellModelFactory):
    class Meta:
        model = ShadowBlockDeviceMapping

    id = factory.Sequence(lambda n: n + 1)  # archived rows keep their live id
    instance_uuid = factory.LazyFunction(new_uuid)


# --- servers: the API side --------------------------------------------------------------------


class BuildRequestFactory(ApiModelFactory):
    """A server not placed yet: its build request, request spec and cell-less instance mapping.

    ``fields`` amends the serialized instance (Nova's versioned object fields).
    """

    class Meta:
        model = BuildRequest

    class Params:
        uuid = factory.LazyFunction(new_uuid)
        user_id = USER_ID
        fields = factory.Dict({})

    project_id = PROJECT_ID
    instance_uuid = factory.SelfAttribute("uuid")
    instance = factory.LazyAttribute(lambda build: _instance_dump(build))
    spec = factory.RelatedFactory(
        "tests.factories.RequestSpecFactory",
        instance_uuid=factory.SelfAttribute("..uuid"),
        project_id=factory.SelfAttribute("..project_id"),
    )
    mapping = factory.RelatedFactory(
        InstanceMappingFactory,
        instance_uuid=factory.SelfAttribute("..uuid"),
        project_id=factory.SelfAttribute("..project_id"),
        user_id=factory.SelfAttribute("..user_id"),
    )


def _instance_dump(build) -> str:
    return instance_dump(
        {
            "uuid": build.uuid,
            "user_id": build.user_id,
            "project_id": build.project_id,
            "display_name": "building",
            "vm_state": "building",
            "task_state": "scheduling",
            "power_state": 0,
            "image_ref": IMAGE,
            "instance_type_id": 1,
            "flavor": TINY,
            **build.fields,
        }
    )


class RequestSpecFactory(ApiModelFactory):
    class Meta:
        model = RequestSpec

    class Params:
        project_id = PROJECT_ID

    instance_uuid = factory.LazyFunction(new_uuid)
    spec = factory.LazyAttribute(
        lambda o: request_spec_dump({"instance_uuid": o.instance_uuid, "project_id": o.project_id, "flavor": TINY})
    )


class PlacementAttemptFactory(ApiModelFactory):
    class Meta:
        model = PlacementAttempt

    instance_uuid = factory.LazyFunction(new_uuid)


# --- consoles ---------------------------------------------------------------------------------


class ConsoleAuthTokenFactory(CellModelFactory):
    class Meta:
        model = ConsoleAuthToken

    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    console_type = "novnc"
    host = "127.0.0.1"
    port = 5900
    instance_uuid = factory.LazyFunction(new_uuid)
    expires = factory.LazyFunction(lambda: int(timezone.now().timestamp()) + 600)


class ConsoleSerialPortFactory(CellModelFactory):
    class Meta:
        model = ConsoleSerialPort

    host = "compute1"
    port = factory.Sequence(lambda n: 10000 + n)
    instance_uuid = factory.LazyFunction(new_uuid)
    assigned_until = factory.LazyFunction(lambda: int(timezone.now().timestamp()) + 600)
