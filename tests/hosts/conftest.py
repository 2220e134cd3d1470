"""A deployment with a compute host in cell1 and one in cell2, both discovered, and a server on
the first: what os-services, os-hypervisors and os-availability-zone show."""

import uuid

import pytest

from cellsv2.context import target_cell
from servers.models import Instance
from servers.services.compute_nodes import compute_node_create
from tests.hosts.helpers import Api, Hosts
from tests.support import run_command


@pytest.fixture
def hosts(cells) -> Hosts:
    compute_node_create(
        cell=cells["cell1"], host="compute1", vcpus=8, memory_mb=16384, local_gb=200, host_ip="10.0.0.1"
    )
    compute_node_create(cell=cells["cell2"], host="compute2", vcpus=4, memory_mb=8192, local_gb=100)
    assert run_command("cell_v2", "discover_hosts").code == 0
    server_uuid = str(uuid.uuid4())
    with target_cell(cells["cell1"]):
        Instance.objects.create(
            uuid=server_uuid, project_id="proj1", user_id="alice", host="compute1", node="compute1", display_name="web"
        )
    return Hosts(cells=cells, server_uuid=server_uuid)


@pytest.fixture
def api(client, settings):
    settings.CELLSV2_AUTH = "noauth"
    return Api(client)
