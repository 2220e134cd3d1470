"""Piece 2: show of a placed server (mapping -> cell -> instance + extra) vs the floor's get-by-pk.

Query counts (every database, pool threads included) are taken for one show with 1, 3 and 8
cells mapped (besides cell0), at the default microversion 2.1 and at our latest, with the instance
mapping cache off and on. Latency is timed with every cell mapped, over django.test.Client,
interleaved with the floor's get-by-pk in rounds.
"""

from benchmarks import floor
from benchmarks.common import api_headers, count_queries, stats, timed
from benchmarks.transports import DirectTransport

VERSIONS = ("2.1", "latest")


def _queries(api, path: str) -> dict:
    with count_queries() as result:
        api.call("GET", path)
    return result


def measure(*, cell_steps: list[list[str]], m: int = 300, rounds: int = 3, warmup: int = 10) -> dict:
    """``cell_steps``: cumulative lists of cell aliases to map, e.g. [["cell1"], ["cell1", "cell2", "cell3"]].

    The server is placed in the first cell of the first step. Cells must not be mapped yet
    (except cell0, which map_cells adds).
    """
    from django.core.cache import cache
    from django.test import Client
    from django.test.utils import override_settings

    from benchmarks.pieces.setup import compute_node, map_cells, place_servers

    floor.ensure_table()
    map_cells(cell_steps[0])
    compute_node(cell_steps[0][0])
    apis = {v: DirectTransport(Client(), api_headers(v)) for v in VERSIONS}
    uuid = place_servers(apis["latest"], 1, name="show")[0]
    path = f"/v2.1/servers/{uuid}"
    server = apis["latest"].call("GET", path)["server"]
    assert server["status"] == "ACTIVE", server["status"]

    counts = []
    for step in cell_steps:
        mapped = map_cells(step)
        for version in VERSIONS:
            api = apis[version]
            api.call("GET", path)  # cell list cached, connections open
            cache.clear()
            off = _queries(api, path)
            with override_settings(CELLSV2_MAPPING_CACHE_SECONDS=300):
                cache.clear()
                api.call("GET", path)  # fills the cache
                on = _queries(api, path)
            counts.append(
                {
                    "cells": len(mapped) - 1,
                    "version": version,
                    "queries": sum(off.values()),
                    "by_db": off,
                    "queries_cached": sum(on.values()),
                    "by_db_cached": on,
                }
            )

    drv = DirectTransport(floor.floor_test_client())
    pk = drv.call("POST", "/floor/items", floor.item_body(1))["item"]["id"]
    samples: dict[str, list[float]] = {}
    for _ in range(warmup):
        drv.call("GET", f"/floor/items/{pk}")
        for api in apis.values():
            api.call("GET", path)
    per_round = max(1, m // rounds)
    for _ in range(rounds):
        samples.setdefault("floor_get_pk", []).extend(
            timed(lambda _: drv.call("GET", f"/floor/items/{pk}"), range(per_round))
        )
        for version, api in apis.items():
            samples.setdefault(f"show_{version}", []).extend(
                timed(lambda _, a=api: a.call("GET", path), range(per_round))
            )
        with override_settings(CELLSV2_MAPPING_CACHE_SECONDS=300):
            cache.clear()
            cached = apis["latest"]
            cached.call("GET", path)
            samples.setdefault("show_latest_cached", []).extend(
                timed(lambda _, c=cached: c.call("GET", path), range(per_round))
            )
    drv.call("DELETE", f"/floor/items/{pk}")
    from cellsv2.api.microversions import MAX_VERSION_STRING

    for row in counts:
        row["version"] = MAX_VERSION_STRING if row["version"] == "latest" else row["version"]
    latency = {k.replace("latest", MAX_VERSION_STRING): stats(v) for k, v in samples.items()}
    return {"counts": counts, "latency": latency, "latest": MAX_VERSION_STRING}


def show(**params) -> dict:
    """Child task."""
    return measure(**params)
