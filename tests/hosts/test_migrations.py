"""Upgrading a cell whose compute nodes were registered before the services table existed: each
host gets its nova-compute service, once."""

import uuid

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from cellsv2.context import target_cell
from hosts.models import Service
from servers.models import ComputeNode
from tests.support import CELL_ALIASES

pytestmark = pytest.mark.django_db(databases=["api", *CELL_ALIASES], transaction=True)


def migrate(alias: str, targets) -> None:
    executor = MigrationExecutor(connections[alias])
    executor.migrate(targets)


def test_existing_nodes_get_their_hosts_services_when_the_cell_is_migrated():
    migrate("cell1", [("hosts", "0001_initial")])
    with target_cell("cell1"):
        Service.objects.all().delete()
        for host, node in (("old1", "old1"), ("old1", "old1-b"), ("old2", "old2")):
            # bulk_create sends no post_save: the nodes have no service, as before the services table.
            ComputeNode.objects.bulk_create(
                [
                    ComputeNode(
                        uuid=str(uuid.uuid4()), host=host, hypervisor_hostname=node, vcpus=1, memory_mb=1, local_gb=1
                    )
                ]
            )
    migrate("cell1", MigrationExecutor(connections["cell1"]).loader.graph.leaf_nodes())
    with target_cell("cell1"):
        services = {s.host: s for s in Service.objects.filter(binary="nova-compute")}
        assert set(services) == {"old1", "old2"}
        assert {(n.hypervisor_hostname, n.service_id) for n in ComputeNode.objects.all()} == {
            ("old1", services["old1"].id),
            ("old1-b", services["old1"].id),
            ("old2", services["old2"].id),
        }
    # Run again (as a second cell database sharing the history would): nothing more.
    migrate("cell1", [("hosts", "0001_initial")])
    migrate("cell1", MigrationExecutor(connections["cell1"]).loader.graph.leaf_nodes())
    with target_cell("cell1"):
        assert Service.objects.count() == 2
