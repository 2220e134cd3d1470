"""Fixtures of the quota and instance-action tests: the compute API through Django's test client."""

import pytest

from tests.servers.conftest import Api, add_node, discover


@pytest.fixture
def api(client, settings):
    settings.CELLSV2_AUTH = "noauth"
    return Api(client)


@pytest.fixture
def worker_mode(settings):
    """Build requests wait until the test runs the conductor."""
    settings.CELLSV2_CONDUCTOR_MODE = "worker"


@pytest.fixture
def compute_nodes(cells, default_flavors):
    """A compute node in cell1 and one in cell2, mapped."""
    nodes = {"compute1": add_node(cells, "cell1", "compute1"), "compute2": add_node(cells, "cell2", "compute2")}
    discover()
    return nodes
