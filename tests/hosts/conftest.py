"""A deployment with a compute host in cell1 and one in cell2, both discovered, and a server on
the first: what os-services, os-hypervisors and os-availability-zone show."""

import json
import uuid
from dataclasses import dataclass

import pytest

from cellsv2.context import target_cell
from servers.models import Instance
from servers.services.compute_nodes import compute_node_create
from tests.conftest import run_command

ADMIN = "admin:admin"
MEMBER = "alice:proj1"


@dataclass
class Hosts:
    cells: dict
    server_uuid: str


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


class Api:
    def __init__(self, client):
        self.client = client

    def __call__(self, method, path, *, token=ADMIN, version=None, body=None):
        headers = {"HTTP_X_AUTH_TOKEN": token}
        if version is not None:
            headers["HTTP_X_OPENSTACK_NOVA_API_VERSION"] = version
        kwargs = {}
        if body is not None:
            kwargs = {"data": json.dumps(body), "content_type": "application/json"}
        return getattr(self.client, method)(f"/v2.1{path}", **kwargs, **headers)


@pytest.fixture
def api(client, settings):
    settings.CELLSV2_AUTH = "noauth"
    return Api(client)


def tempest_valid(schema: dict, response) -> dict:
    """The response's body, after tempest's own check of status code and body against ``schema``."""
    from tempest.lib.common.rest_client import RestClient

    class Resp(dict):
        status = response.status_code

    body = response.json() if response.content else None
    RestClient.validate_response(schema, Resp(response.headers), body)
    return body
