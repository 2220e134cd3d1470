"""Piece 1: the eleven API operations of the Nova anchor vs the Django floor, same process and run.

For each transport (direct = django.test.Client, http = wsgiref on 127.0.0.1) and each round, the
floor's four operations run first, then ours (key pairs, server groups, servers), each op with
its share of the samples; samples are pooled over the rounds, so slow phases of a noisy host hit
both sides. Op names, sizes and order follow nova_bench.py: ``-n`` creates then deletes, ``-m``
lists and shows with ``population`` objects present, ``servers`` creates, shows and deletes of
servers that stay build requests (CELLSV2_CONDUCTOR_MODE=worker: the API part only).
"""

import logging
import os
import time
from contextlib import contextmanager

from benchmarks import floor
from benchmarks.common import (
    FLOOR_OPS,
    IMAGE,
    OPS,
    api_headers,
    calibrate,
    count_queries,
    ssh_public_key,
    stats,
    timed,
)
from benchmarks.transports import DirectTransport, HttpTransport, WsgirefServer, our_wsgi_application


def _split(total: int, rounds: int) -> list[int]:
    base, extra = divmod(total, rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds)]


class _Samples(dict):
    def add(self, op, samples):
        self.setdefault(op, []).extend(samples)


def _floor_round(drv, samples: _Samples, n: int, m: int, pop: list[int], start: int):
    ids = []
    samples.add(
        "floor_insert",
        timed(
            lambda i: ids.append(drv.call("POST", "/floor/items", floor.item_body(i))["item"]["id"]),
            range(start, start + n),
        ),
    )
    samples.add("floor_delete", timed(lambda pk: drv.call("DELETE", f"/floor/items/{pk}"), ids))
    samples.add("floor_get_pk", timed(lambda i: drv.call("GET", f"/floor/items/{pop[i % len(pop)]}"), range(m)))
    samples.add("floor_list_100", timed(lambda _: drv.call("GET", "/floor/items"), range(m)))


def _our_round(api, samples: _Samples, n: int, m: int, s: int, pub: str, pops: dict, tag: str):
    def imp(name):
        api.call("POST", "/v2.1/os-keypairs", {"keypair": {"name": name, "public_key": pub, "type": "ssh"}})

    names = [f"kp-{tag}-{i}" for i in range(n)]
    samples.add("keypair_import", timed(imp, names))
    samples.add("keypair_delete", timed(lambda nm: api.call("DELETE", f"/v2.1/os-keypairs/{nm}"), names))
    samples.add("keypair_list_100", timed(lambda _: api.call("GET", "/v2.1/os-keypairs"), range(m)))
    kp = pops["keypairs"]
    samples.add("keypair_show", timed(lambda i: api.call("GET", f"/v2.1/os-keypairs/{kp[i % len(kp)]}"), range(m)))

    gids = []

    def create_group(name):
        body = {"server_group": {"name": name, "policy": "anti-affinity"}}
        gids.append(api.call("POST", "/v2.1/os-server-groups", body)["server_group"]["id"])

    samples.add("server_group_create", timed(create_group, [f"sg-{tag}-{i}" for i in range(n)]))
    samples.add("server_group_delete", timed(lambda g: api.call("DELETE", f"/v2.1/os-server-groups/{g}"), gids))
    samples.add("server_group_list_100", timed(lambda _: api.call("GET", "/v2.1/os-server-groups"), range(m)))
    sg = pops["groups"]
    samples.add(
        "server_group_show", timed(lambda i: api.call("GET", f"/v2.1/os-server-groups/{sg[i % len(sg)]}"), range(m))
    )
    if s:
        sids = []

        def create_server(name):
            body = {"server": {"name": name, "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}
            sids.append(api.call("POST", "/v2.1/servers", body)["server"]["id"])

        samples.add("server_create", timed(create_server, [f"srv-{tag}-{i}" for i in range(s)]))
        samples.add("server_show_build_req", timed(lambda u: api.call("GET", f"/v2.1/servers/{u}"), sids))
        samples.add("server_delete_build_req", timed(lambda u: api.call("DELETE", f"/v2.1/servers/{u}"), sids))


def _warmup(api, drv, pub: str, count: int, tag: str):
    for i in range(count):
        pk = drv.call("POST", "/floor/items", floor.item_body(i))["item"]["id"]
        drv.call("GET", f"/floor/items/{pk}")
        drv.call("GET", "/floor/items")
        drv.call("DELETE", f"/floor/items/{pk}")
        name = f"warm-{tag}-{i}"
        api.call("POST", "/v2.1/os-keypairs", {"keypair": {"name": name, "public_key": pub, "type": "ssh"}})
        api.call("GET", "/v2.1/os-keypairs")
        api.call("DELETE", f"/v2.1/os-keypairs/{name}")
        gid = api.call("POST", "/v2.1/os-server-groups", {"server_group": {"name": name, "policy": "affinity"}})
        api.call("GET", f"/v2.1/os-server-groups/{gid['server_group']['id']}")
        api.call("DELETE", f"/v2.1/os-server-groups/{gid['server_group']['id']}")
        body = {"server": {"name": name, "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}
        sid = api.call("POST", "/v2.1/servers", body)["server"]["id"]
        api.call("GET", f"/v2.1/servers/{sid}")
        api.call("DELETE", f"/v2.1/servers/{sid}")


def _query_census(api, pub: str, tag: str) -> dict:
    """Queries per database for one call of each op (after the timed loops)."""
    census = {}

    def count(op, fn):
        with count_queries() as result:
            value = fn()
        census[op] = result
        return value

    name = f"census-{tag}"
    count(
        "keypair_import",
        lambda: api.call("POST", "/v2.1/os-keypairs", {"keypair": {"name": name, "public_key": pub, "type": "ssh"}}),
    )
    count("keypair_show", lambda: api.call("GET", f"/v2.1/os-keypairs/{name}"))
    count("keypair_list_100", lambda: api.call("GET", "/v2.1/os-keypairs"))
    count("keypair_delete", lambda: api.call("DELETE", f"/v2.1/os-keypairs/{name}"))
    gid = count(
        "server_group_create",
        lambda: api.call(
            "POST", "/v2.1/os-server-groups", {"server_group": {"name": name, "policy": "anti-affinity"}}
        ),
    )
    gid = gid["server_group"]["id"]
    count("server_group_show", lambda: api.call("GET", f"/v2.1/os-server-groups/{gid}"))
    count("server_group_list_100", lambda: api.call("GET", "/v2.1/os-server-groups"))
    count("server_group_delete", lambda: api.call("DELETE", f"/v2.1/os-server-groups/{gid}"))
    body = {"server": {"name": name, "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}
    sid = count("server_create", lambda: api.call("POST", "/v2.1/servers", body))["server"]["id"]
    count("server_show_build_req", lambda: api.call("GET", f"/v2.1/servers/{sid}"))
    count("server_delete_build_req", lambda: api.call("DELETE", f"/v2.1/servers/{sid}"))
    return census


def measure(
    *, transports=("direct", "http"), n=200, m=300, population=100, servers=100, warmup=10, rounds=3, version="latest"
) -> dict:
    """Time our eleven ops and the floor's four per transport. Cells must be mapped already."""
    from django.test import Client

    floor.ensure_table()
    pub = ssh_public_key()
    headers = api_headers(version)
    ours: dict = {}
    floors: dict = {}
    census: dict = {}
    for transport in transports:
        servers_to_stop = []
        if transport == "direct":
            api = DirectTransport(Client(), headers)
            drv = DirectTransport(floor.floor_test_client())
        else:
            ours_server = WsgirefServer(our_wsgi_application())
            floor_server = WsgirefServer(floor.floor_wsgi_application())
            servers_to_stop = [ours_server, floor_server]
            api = HttpTransport(ours_server.base, headers)
            drv = HttpTransport(floor_server.base)
        try:
            _warmup(api, drv, pub, warmup, transport)
            pops = {"keypairs": [], "groups": []}
            for i in range(population):
                name = f"pop-{transport}-{i}"
                api.call("POST", "/v2.1/os-keypairs", {"keypair": {"name": name, "public_key": pub, "type": "ssh"}})
                pops["keypairs"].append(name)
                body = {"server_group": {"name": name, "policy": "anti-affinity"}}
                pops["groups"].append(api.call("POST", "/v2.1/os-server-groups", body)["server_group"]["id"])
            floor_pop = [drv.call("POST", "/floor/items", floor.item_body(i))["item"]["id"] for i in range(population)]
            assert len(api.call("GET", "/v2.1/os-keypairs")["keypairs"]) == population
            assert len(api.call("GET", "/v2.1/os-server-groups")["server_groups"]) == population
            assert len(drv.call("GET", "/floor/items")["items"]) == population
            ours_samples, floor_samples = _Samples(), _Samples()
            for r, (rn, rm, rs) in enumerate(
                zip(_split(n, rounds), _split(m, rounds), _split(servers, rounds), strict=True)
            ):
                _floor_round(drv, floor_samples, rn, rm, floor_pop, start=1000 + r * n)
                _our_round(api, ours_samples, rn, rm, rs, pub, pops, tag=f"{transport}-{r}")
            census[transport] = _query_census(api, pub, transport)
            for name in pops["keypairs"]:
                api.call("DELETE", f"/v2.1/os-keypairs/{name}")
            for gid in pops["groups"]:
                api.call("DELETE", f"/v2.1/os-server-groups/{gid}")
            for pk in floor_pop:
                drv.call("DELETE", f"/floor/items/{pk}")
        finally:
            for server in servers_to_stop:
                server.stop()
        ours[transport] = {op: stats(ours_samples[op]) for op in OPS if op in ours_samples}
        floors["client" if transport == "direct" else transport] = {op: stats(floor_samples[op]) for op in FLOOR_OPS}
    from cellsv2.api.microversions import MAX_VERSION_STRING

    effective = MAX_VERSION_STRING if version == "latest" else version
    return {"ours": ours, "floor": floors, "queries": census, "version": effective}


# --- the cost of cellsv2.observability (request ids, log fields, metrics, the JSON access line) ------

OBSERVABILITY_MIDDLEWARE = "cellsv2.observability.middleware.RequestObservabilityMiddleware"
METRICS_VARIANTS = ("off", "on", "on_json")
METRICS_OPS = ("keypair_show", "keypair_list_100", "server_group_show")


@contextmanager
def _observability(variant: str):
    """``off``: no cell query hooks (the request middleware is off in that variant's client);
    ``on``: as deployed with text logs; ``on_json``: plus the JSON access line, to /dev/null."""
    # Here: a benchmark child imports the application only once Django is set up.
    from cellsv2 import cells
    from cellsv2.observability.logs import ACCESS_LOGGER, JsonFormatter

    hooks = list(cells._query_hooks)
    access = logging.getLogger(ACCESS_LOGGER)
    saved = (access.level, access.propagate, list(access.handlers))
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        if variant == "off":
            cells._query_hooks.clear()
        if variant == "on_json":
            handler = logging.StreamHandler(sink)
            handler.setFormatter(JsonFormatter())
            access.handlers, access.propagate = [handler], False
            access.setLevel(logging.INFO)
        yield
    finally:
        cells._query_hooks[:] = hooks
        access.setLevel(saved[0])
        access.propagate, access.handlers = saved[1], saved[2]
        sink.close()


def measure_metrics_cost(*, m=300, warmup=10, population=100, version="latest") -> dict:
    """Median time of three read ops with cellsv2.observability off, on and on with JSON access
    lines (direct transport, ``m`` calls of each op per variant, interleaved call by call)."""
    from django.conf import settings
    from django.test import Client, override_settings

    headers = api_headers(version)
    pub = ssh_public_key()
    clients = {}
    for variant in METRICS_VARIANTS:
        middleware = settings.MIDDLEWARE
        if variant == "off":
            middleware = [name for name in middleware if name != OBSERVABILITY_MIDDLEWARE]
        with override_settings(MIDDLEWARE=middleware):
            client = Client()
            client.get("/")  # builds the handler's middleware chain now, under these settings
        clients[variant] = DirectTransport(client, headers)
    api = clients["on"]
    keypairs = [f"metrics-{i}" for i in range(population)]
    for name in keypairs:
        api.call("POST", "/v2.1/os-keypairs", {"keypair": {"name": name, "public_key": pub, "type": "ssh"}})
    group = api.call("POST", "/v2.1/os-server-groups", {"server_group": {"name": "metrics", "policy": "affinity"}})
    gid = group["server_group"]["id"]
    calls = {
        "keypair_show": lambda t, i: t.call("GET", f"/v2.1/os-keypairs/{keypairs[i % len(keypairs)]}"),
        "keypair_list_100": lambda t, i: t.call("GET", "/v2.1/os-keypairs"),
        "server_group_show": lambda t, i: t.call("GET", f"/v2.1/os-server-groups/{gid}"),
    }
    for variant, transport in clients.items():
        with _observability(variant):
            for i in range(warmup):
                for call in calls.values():
                    call(transport, i)
    # Call by call, the variants take turns (in a rotating order): a slow moment of a shared host
    # hits the three alike.
    samples = {op: {variant: [] for variant in METRICS_VARIANTS} for op in METRICS_OPS}
    for op in METRICS_OPS:
        for i in range(m):
            shift = i % len(METRICS_VARIANTS)
            for variant in METRICS_VARIANTS[shift:] + METRICS_VARIANTS[:shift]:
                with _observability(variant):
                    started = time.perf_counter()
                    calls[op](clients[variant], i)
                    samples[op][variant].append(time.perf_counter() - started)
    for name in keypairs:
        api.call("DELETE", f"/v2.1/os-keypairs/{name}")
    api.call("DELETE", f"/v2.1/os-server-groups/{gid}")
    ops = {op: {variant: stats(values) for variant, values in by.items()} for op, by in samples.items()}
    return {
        "ops": ops,
        "overhead_ms": {
            op: {v: round(ops[op][v]["median_ms"] - ops[op]["off"]["median_ms"], 3) for v in ("on", "on_json")}
            for op in METRICS_OPS
        },
    }


def api(**params) -> dict:
    """Child task: map cell0 + cell1 (Nova's functional fixture has the same), then measure."""
    import django
    import rest_framework

    from benchmarks.pieces.setup import map_cells

    map_cells(["cell1"])
    calib_before = calibrate()
    t0 = time.perf_counter()
    result = measure(**params)
    result["metrics"] = measure_metrics_cost(m=params.get("m", 300), warmup=params.get("warmup", 10))
    result.update(
        wall_s=round(time.perf_counter() - t0, 1),
        calib_ms_before=calib_before,
        calib_ms_after=calibrate(),
        django=django.get_version(),
        drf=rest_framework.VERSION,
    )
    return result


# --- CELLSV2_AUTH=keystone: keystonemiddleware's cost, token cache warm and cold ---------------------

KEYSTONE_VARIANTS = ("headers", "keystone_warm")


def measure_keystone_cost(
    *,
    token: str,
    user_id: str,
    project_id: str,
    service_token: str,
    m=300,
    warmup=10,
    population=100,
    cold=20,
    version="latest",
) -> dict:
    """Key pair show (direct transport) as the Keystone user of ``token``.

    Warm: behind the identity headers (no validation, the ``api`` piece's mode) and with
    CELLSV2_AUTH=keystone and the token in the middleware's cache, taking turns call by call in a
    rotating order, ``m`` calls each. Cold (``cold`` calls, each one a validation by Keystone): the
    cache emptied before the call, each call next to a bare validation request to the same
    Keystone, so that what Keystone takes and what the middleware adds are told apart.
    """
    import requests
    from django.conf import settings
    from django.core.cache import cache
    from django.test import Client, override_settings

    keystone = DirectTransport(Client(), {"X-Auth-Token": token, "OpenStack-API-Version": f"compute {version}"})
    headers = DirectTransport(Client(), api_headers(version, user=user_id, project=project_id))
    modes = {"headers": "headers", "keystone_warm": "keystone"}
    transports = {"headers": headers, "keystone_warm": keystone}
    pub = ssh_public_key()
    names = [f"ks-{i}" for i in range(population)]
    for name in names:
        keystone.call("POST", "/v2.1/os-keypairs", {"keypair": {"name": name, "public_key": pub, "type": "ssh"}})
    samples = {variant: [] for variant in (*KEYSTONE_VARIANTS, "keystone_cold", "keystone_validation")}
    for i in range(warmup + m):
        shift = i % len(KEYSTONE_VARIANTS)
        for variant in KEYSTONE_VARIANTS[shift:] + KEYSTONE_VARIANTS[:shift]:
            with override_settings(CELLSV2_AUTH=modes[variant]):
                started = time.perf_counter()
                transports[variant].call("GET", f"/v2.1/os-keypairs/{names[i % len(names)]}")
                elapsed = time.perf_counter() - started
            if i >= warmup:
                samples[variant].append(elapsed)
    # What keystonemiddleware asks Keystone for an uncached token (as the service user).
    validate = f"{settings.CELLSV2_KEYSTONE['url']}/auth/tokens"
    for i in range(cold):
        cache.clear()
        started = time.perf_counter()
        keystone.call("GET", f"/v2.1/os-keypairs/{names[i % len(names)]}")
        samples["keystone_cold"].append(time.perf_counter() - started)
        started = time.perf_counter()
        requests.get(validate, headers={"X-Auth-Token": service_token, "X-Subject-Token": token}, timeout=30)
        samples["keystone_validation"].append(time.perf_counter() - started)
    for name in names:
        keystone.call("DELETE", f"/v2.1/os-keypairs/{name}")
    return {"ops": {"keypair_show": {variant: stats(values) for variant, values in samples.items()}}}


def api_keystone(**params) -> dict:
    """Child task (CELLSV2_AUTH=keystone, a Keystone running): map cell0 + cell1, then measure."""
    from benchmarks.pieces.setup import map_cells

    map_cells(["cell1"])
    calib_before = calibrate()
    result = measure_keystone_cost(**params)
    result.update(calib_ms_before=calib_before, calib_ms_after=calibrate())
    return result
