"""Tempest's own compute server tests (tempest.api.compute.servers, tempest 47.0.0, unmodified)
against the product as operators run it: gunicorn with production settings, CELLSV2_AUTH=keystone
behind the session's real Keystone, the compute service in Keystone's catalog, through
scripts/tempest (python -m tests.tempest). Every test not in tests/tempest/exclude-compute-servers.txt
(those need Glance, Neutron or Cinder) must pass; tempest's own skips (a feature declared
unavailable in the tempest.conf the script writes) are not failures.

Run in the PostgreSQL run of scripts/test only: it takes minutes, it exercises the API rather than
a database backend, and PostgreSQL is what production uses. Required under CI=true (the Keystone
fixture fails there when it cannot be installed). The catalog has no image service during the run
(Glance's entry, when another module registered it, is taken out and put back): tempest's image refs
are fixed UUIDs that only a cloud without an image service accepts.
"""

import os
import re
import secrets
import subprocess
import sys
import time

import pytest

from tests.support import GunicornApi, manage, on_postgres

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_TIMEOUT = 40 * 60

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not on_postgres(), reason="runs in the PostgreSQL run of scripts/test only (minutes long)"),
]


@pytest.fixture(scope="module")
def product(keystone, tmp_path_factory, standalone_databases):
    """cellsv2 under gunicorn behind `keystone`, its compute endpoint in the catalog, no image service."""
    data = tmp_path_factory.mktemp("tempest-cloud")
    nova = keystone.create_service_user(f"nova-{secrets.token_hex(4)}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELLSV2_", "DJANGO_", "PROMETHEUS_", "OS_"))}
    env.update(standalone_databases)
    env.update(
        DJANGO_SETTINGS_MODULE="cellsv2.settings_production",
        CELLSV2_SECRET_KEY=secrets.token_urlsafe(64),
        CELLSV2_DATA_DIR=str(data),
        CELLSV2_ALLOWED_HOSTS="127.0.0.1",
        CELLSV2_SSL_REDIRECT="false",
        CELLSV2_AUTH="keystone",
        CELLSV2_KEYSTONE_URL=keystone.auth_url,
        CELLSV2_KEYSTONE_USERNAME=nova.username,
        CELLSV2_KEYSTONE_PASSWORD=nova.password,
        CELLSV2_KEYSTONE_PROJECT_NAME="service",
    )
    for step in (
        ["migrate"],
        ["collectstatic", "--noinput", "-v", "0"],
        ["cell_v2", "simple_cell_setup"],
        ["compute_nodes", "add", "--cell", "cell1", "--host", "node1", "--host-ip", "127.0.0.1"]
        + ["--vcpus", "512", "--memory-mb", "524288", "--local-gb", "10000"],
        ["cell_v2", "discover_hosts"],
    ):
        manage(env, *step)
    api = GunicornApi(env, "api", data)
    saved = {kind: keystone.catalog_url(kind) for kind in ("compute", "image", "network")}
    try:
        api.wait_ready()
        keystone.register_service("compute", "nova", f"{api.url}/v2.1")
        if saved["image"] is not None:
            keystone.unregister_service("image")
        yield type("Product", (), {"url": f"{api.url}/v2.1", "data": data})
    finally:
        api.stop()
        for kind, name in (("compute", "nova"), ("image", "glance"), ("network", None)):
            if saved[kind] is None:
                keystone.unregister_service(kind)
            elif kind != "network":
                keystone.register_service(kind, name, saved[kind])


def test_every_compute_servers_test_not_excluded_passes(product, keystone):
    admin = keystone.admin
    command = [
        sys.executable,
        "-m",
        "tests.tempest",
        "--auth-url",
        keystone.auth_url,
        "--username",
        admin.username,
        "--password",
        admin.password,
        "--project-name",
        admin.project_name,
        "--compute-url",
        product.url,
        "--workdir",
        str(product.data / "tempest"),
        "--concurrency",
        # One worker: the test Keystone (SQLite) answers concurrent writes with 500 "database is locked".
        "1",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CELLSV2_"))}
    started = time.monotonic()
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    failed = sorted(set(re.findall(r"^\{\d+\} (\S+) \[[\d.]+s\] \.\.\. FAILED", output, re.M)))
    totals = output[output.rfind("Totals") :] if "Totals" in output else output[-3000:]
    print(f"tempest.api.compute.servers: {elapsed:.0f}s\n{totals}")
    assert not failed, "tempest tests failed:\n" + "\n".join(failed) + "\n" + totals
    assert run.returncode == 0, output[-6000:]
    passed = re.search(r"- Passed: (\d+)", output)
    assert passed and int(passed.group(1)) > 100, totals
    assert re.search(r"- Failed: 0\b", output), totals
