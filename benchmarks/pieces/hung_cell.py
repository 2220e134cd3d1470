"""Piece ``hung_cell`` (PostgreSQL): listing and show in healthy cells while another cell hangs.

Three cells; cell1 and cell2 hold the servers, cell3 none (so the listing returns the same rows
whether cell3 answers or not). cell3's mapping points at its database through a TCP proxy
(``tests.faultproxy.HangingProxy``) that stops forwarding: connections stay open, nothing is
answered, as in a network partition. Timed, in one process:

1. healthy: ``/servers/detail?limit=`` and the show of a server in cell1;
2. cell3 hung: the first listing (it waits for the scatter-gather deadline and opens cell3's
   breaker), then the same listing and show;
3. cell3 back (breaker closed by its probe): healthy again, pooled with 1 against drift.
"""

import time

from django.conf import settings
from django.db import connections

from benchmarks.common import stats
from benchmarks.pieces.listing import _client


def hung_cell(*, per_cell: int, repeats: int, limit: int, deadline: float) -> dict:
    """Child task (after ``listing:seed`` of cell1 and cell2): time list and show, healthy and hung."""
    from benchmarks.pieces.setup import map_cells
    from cellsv2.cells import cell_breaker_open, cells_cache_clear
    from mappings.models import InstanceMapping
    from tests.faultproxy import HangingProxy

    settings.CELLSV2_SCATTER_GATHER_TIMEOUT = deadline
    settings.CELLSV2_CELL_BREAKER_SECONDS = 2
    mappings = map_cells(["cell1", "cell2", "cell3"])
    conf = connections["cell3"].settings_dict
    proxy = HangingProxy((conf["HOST"] or "127.0.0.1", int(conf["PORT"] or 5432)))
    hung = mappings["cell3"]
    hung.database_connection = f"postgresql://{conf['USER']}@127.0.0.1:{proxy.port}/{conf['NAME']}"
    hung.save()
    cells_cache_clear()
    shown = InstanceMapping.objects.filter(cell=mappings["cell1"]).values_list("instance_uuid", flat=True).first()
    api = _client()
    list_path, show_path = f"/v2.1/servers/detail?limit={limit}", f"/v2.1/servers/{shown}"

    def timed(path: str) -> tuple[float, dict]:
        t0 = time.perf_counter()
        body = api.call("GET", path)
        return time.perf_counter() - t0, body

    def phase() -> dict:
        lists, shows, returned = [], [], set()
        for _ in range(repeats):
            seconds, body = timed(list_path)
            lists.append(seconds)
            returned.add(len(body["servers"]))
            shows.append(timed(show_path)[0])
        return {"list": lists, "show": shows, "returned": sorted(returned)}

    try:
        for _ in range(3):
            timed(list_path), timed(show_path)  # warm
        before = phase()
        proxy.hang()
        first_timeout, body = timed(list_path)
        during = phase()
        proxy.resume()
        waited = time.monotonic()
        while cell_breaker_open(hung) and time.monotonic() - waited < 30:
            time.sleep(0.1)
        recovered = time.monotonic() - waited
        after = phase()
    finally:
        proxy.close()
    healthy = {key: before[key] + after[key] for key in ("list", "show")}
    return {
        "per_cell": per_cell,
        "limit": limit,
        "deadline_s": deadline,
        "first_timeout_s": round(first_timeout, 3),
        "first_returned": len(body["servers"]),
        "recovered_s": round(recovered, 2),
        "returned": {"healthy": before["returned"], "hung": during["returned"]},
        "healthy_list": stats(healthy["list"]),
        "healthy_show": stats(healthy["show"]),
        "hung_list": stats(during["list"]),
        "hung_show": stats(during["show"]),
    }
