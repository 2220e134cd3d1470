"""World setup inside a child: migrations, cell mappings, a compute node, a placed server."""

import uuid as uuid_lib
from io import StringIO

from django.core.management import call_command


def migrate() -> dict:
    """Migrate the template databases (api, then cell0) with our migrate command."""
    call_command("migrate", verbosity=0, stdout=StringIO())
    return {}


def map_cells(aliases: list[str]) -> dict:
    """Cell mappings for cell0 and the given settings-declared aliases (missing ones only).

    Returns {alias: CellMapping}. The process's cell cache is cleared.
    """
    from cellsv2.cells import CELL0_UUID, cells_cache_clear, configured_alias_url
    from mappings.models import CellMapping

    mappings = {}
    for alias in ["cell0", *[a for a in aliases if a != "cell0"]]:
        url = configured_alias_url(alias)
        mapping = CellMapping.objects.filter(name=alias).first()
        if mapping is None:
            mapping = CellMapping.objects.create(
                uuid=CELL0_UUID if alias == "cell0" else str(uuid_lib.uuid4()),
                name=alias,
                transport_url="none:///",
                database_connection=url,
            )
        mappings[alias] = mapping
    cells_cache_clear()
    return mappings


def compute_node(cell_alias: str, host: str = "bench-host-1"):
    """One big compute node in a cell, mapped (discover_hosts), so the conductor can place servers."""
    from mappings.models import CellMapping
    from operators.services import hosts_discover
    from servers.models import ComputeNode
    from servers.services.compute_nodes import compute_node_create

    cell = CellMapping.objects.get(name=cell_alias)
    from cellsv2.context import target_cell

    with target_cell(cell):
        exists = ComputeNode.objects.filter(host=host).exists()
    if not exists:
        compute_node_create(cell=cell, host=host, vcpus=100000, memory_mb=100000000, local_gb=10000000)
        hosts_discover(cell_uuid=cell.uuid)
    return cell


def place_servers(transport, count: int = 1, name: str = "placed") -> list[str]:
    """Create servers through the API (worker mode), then place them with the conductor."""
    from benchmarks.common import IMAGE
    from servers.conductor import PROGRESS, conductor_run_once

    uuids = []
    for i in range(count):
        body = {"server": {"name": f"{name}-{i}", "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}
        uuids.append(transport.call("POST", "/v2.1/servers", body)["server"]["id"])
    while any(conductor_run_once(limit=200).get(outcome) for outcome in PROGRESS):
        pass
    return uuids
