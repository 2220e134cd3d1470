"""Fixtures of the servers tests: an API client, three cells with compute nodes in two, the conductor."""

import json
import uuid as uuid_lib
from dataclasses import dataclass

import pytest

from cellsv2.api.microversions import APIVersion
from cellsv2.context import target_cell
from mappings.models import InstanceMapping
from servers import conductor
from servers.models import (
    BuildRequest,
    ComputeNode,
    Instance,
    InstanceExtra,
    InstanceFault,
    InstanceMetadata,
    InstanceSystemMetadata,
    RequestSpec,
)
from servers.services.compute_nodes import compute_node_create
from tests.conftest import CELL_ALIASES, run_command

MEMBER = "alice:proj1"
MEMBER_SAME_PROJECT = "carol:proj1"
OTHER = "bob:proj2"
ADMIN = "admin:admin"
HOST = "http://testserver"
IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"


class Api:
    """The compute API through Django's test client, Nova's headers set."""

    def __init__(self, client):
        self.client = client

    def __call__(self, method, path, *, token=MEMBER, version=None, body=None, headers=None):
        extra = {"HTTP_X_AUTH_TOKEN": token} if token else {}
        if version is not None:
            extra["HTTP_X_OPENSTACK_NOVA_API_VERSION"] = version
        extra.update(headers or {})
        kwargs = {}
        if body is not None:
            kwargs = {"data": json.dumps(body), "content_type": "application/json"}
        return getattr(self.client, method)(f"/v2.1{path}", **kwargs, **extra)

    def create(self, *, token=MEMBER, version=None, hints=None, hints_key="os:scheduler_hints", **server):
        """POST /servers with a valid body (tiny flavor, an image) that ``server`` amends."""
        body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": IMAGE, **server}}
        if version is not None and APIVersion(str(version)) >= "2.37" and "networks" not in server:
            body["server"]["networks"] = "none"
        if hints is not None:
            body[hints_key] = hints
        return self("post", "/servers", token=token, version=version, body=body)

    def create_uuid(self, **kwargs) -> str:
        response = self.create(**kwargs)
        assert response.status_code == 202, response.content
        return response.json()["server"]["id"]

    def show(self, uuid, *, token=MEMBER, version=None):
        return self("get", f"/servers/{uuid}", token=token, version=version)


@pytest.fixture
def api(client, settings):
    settings.CELLSV2_AUTH = "noauth"
    return Api(client)


@pytest.fixture
def worker_mode(settings):
    """Build requests wait until the test runs the conductor."""
    settings.CELLSV2_CONDUCTOR_MODE = "worker"


@dataclass
class Topology:
    cells: dict
    nodes: dict  # host -> (cell alias, ComputeNode)

    def node(self, host) -> ComputeNode:
        alias, node = self.nodes[host]
        with target_cell(alias):
            return ComputeNode.objects.get(pk=node.pk)


def add_node(cells, alias, host, *, vcpus=4, memory_mb=8192, local_gb=100, **kwargs) -> ComputeNode:
    return compute_node_create(
        cell=cells[alias], host=host, vcpus=vcpus, memory_mb=memory_mb, local_gb=local_gb, **kwargs
    )


def discover() -> None:
    result = run_command("cell_v2", "discover_hosts")
    assert result.code == 0, result.err


@pytest.fixture
def topology(cells, default_flavors) -> Topology:
    """Three cells; one compute node in cell1 and one in cell2 (cell0 has none), all mapped."""
    nodes = {
        "compute1": ("cell1", add_node(cells, "cell1", "compute1")),
        "compute2": ("cell2", add_node(cells, "cell2", "compute2")),
    }
    discover()
    return Topology(cells=cells, nodes=nodes)


def place_all() -> dict:
    """Run the conductor until a run gets nothing done (what a worker would do); the outcome counts."""
    total: dict = {}
    while True:
        counts = conductor.conductor_run_once()
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
        if not any(counts.get(outcome) for outcome in conductor.PROGRESS):
            return total


# --- reading the databases directly ---------------------------------------------------------------


def instance_in(alias, uuid, *, deleted=False) -> Instance | None:
    with target_cell(alias):
        rows = Instance.objects.filter(uuid=uuid)
        return rows.first() if deleted else rows.live().first()


def cells_holding(uuid) -> list[str]:
    """Cell aliases that have a row (live or soft-deleted) for this instance."""
    return [alias for alias in CELL_ALIASES if instance_in(alias, uuid, deleted=True) is not None]


def extra_of(alias, uuid) -> InstanceExtra:
    with target_cell(alias):
        return InstanceExtra.objects.get(instance_id=uuid)


def metadata_of(alias, uuid) -> dict:
    with target_cell(alias):
        return dict(InstanceMetadata.objects.live().filter(instance_id=uuid).values_list("key", "value"))


def faults_of(alias, uuid) -> list[InstanceFault]:
    with target_cell(alias):
        return list(InstanceFault.objects.filter(instance_id=uuid))


def system_metadata_of(alias, uuid) -> dict:
    with target_cell(alias):
        return dict(InstanceSystemMetadata.objects.live().filter(instance_id=uuid).values_list("key", "value"))


def api_rows(uuid=None) -> dict:
    """How many build requests, request specs and instance mappings exist (of one uuid, or in all)."""
    filters = {"instance_uuid": uuid} if uuid else {}
    return {
        "build_requests": BuildRequest.objects.filter(**filters).count(),
        "request_specs": RequestSpec.objects.filter(**filters).count(),
        "instance_mappings": InstanceMapping.objects.filter(**filters).count(),
    }


def mapping_of(uuid) -> InstanceMapping:
    return InstanceMapping.objects.select_related("cell").get(instance_uuid=uuid)


def new_uuid() -> str:
    return str(uuid_lib.uuid4())


def fault(response):
    ((name, inner),) = response.json().items()
    return name, inner["code"], inner["message"]


# --- rows written directly (no API, no conductor) -------------------------------------------------

TINY = {"flavorid": "1", "name": "m1.tiny", "memory_mb": 512, "vcpus": 1, "root_gb": 1, "ephemeral_gb": 0, "swap": 0}


def seed_instance(cell, *, project_id="proj1", user_id="alice", deleted=False, **fields) -> Instance:
    """An instance in ``cell`` (a CellMapping) with its instance_extra row and its instance mapping."""
    values = {
        "uuid": new_uuid(),
        "display_name": "seeded",
        "vm_state": "active",
        "power_state": 1,
        "host": None,
        "node": None,
        "memory_mb": 512,
        "vcpus": 1,
        "root_gb": 1,
        "image_ref": IMAGE,
        "instance_type_id": 1,
        **fields,
    }
    with target_cell(cell):
        instance = Instance.objects.create(project_id=project_id, user_id=user_id, **values)
        InstanceExtra.objects.create(instance=instance, flavor=json.dumps({"cur": TINY, "old": None, "new": None}))
        if deleted:
            Instance.objects.filter(pk=instance.pk).update(deleted=instance.pk, vm_state="deleted")
    InstanceMapping.objects.create(
        instance_uuid=instance.uuid, cell=cell, project_id=project_id, user_id=user_id, queued_for_delete=deleted
    )
    return instance


def seed_build_request(*, project_id="proj1", user_id="alice", **fields) -> BuildRequest:
    """A build request with its request spec and its cell-less instance mapping."""
    from servers.serialization import instance_dump, request_spec_dump

    instance = {
        "uuid": new_uuid(),
        "user_id": user_id,
        "project_id": project_id,
        "display_name": "building",
        "vm_state": "building",
        "task_state": "scheduling",
        "power_state": 0,
        "image_ref": IMAGE,
        "instance_type_id": 1,
        "flavor": TINY,
        **fields,
    }
    build = BuildRequest.objects.create(
        instance_uuid=instance["uuid"], project_id=project_id, instance=instance_dump(instance)
    )
    RequestSpec.objects.create(
        instance_uuid=instance["uuid"],
        spec=request_spec_dump({"instance_uuid": instance["uuid"], "project_id": project_id, "flavor": TINY}),
    )
    InstanceMapping.objects.create(instance_uuid=instance["uuid"], cell=None, project_id=project_id, user_id=user_id)
    return build
