"""The first hour of a new operator, as the README tells it, against the real thing.

Nothing here goes through Django's test client: ``scripts/run`` starts the product on a free port
with its own data directory (SQLite files, or fresh PostgreSQL databases in the PostgreSQL run),
the operator's commands run as processes, the API is driven by openstacksdk and by the
``openstack`` CLI configured with a clouds.yaml, guests read the metadata service over HTTP, and
the admin and ``/docs/`` are opened in Chromium. Read top to bottom, it is a tour:

1. ``scripts/run`` sets everything up (databases, static files, cells, a development compute node)
   and serves under gunicorn;
2. the operator makes a project, a user and a token with ``manage.py identity``;
3. a user creates a key pair and a server with openstacksdk; it reaches ACTIVE;
4. the ``openstack`` CLI lists and shows what the user has and asks for a console URL;
5. the guest reads its SSH key from the metadata service;
6. the operator logs into the admin (styled) and reads the API documentation (rendered).
"""

import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b"  # no image service: any image uuid is accepted
METADATA_SECRET = secrets.token_hex(16)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def environment(tmp_path_factory, standalone_databases):
    """What an operator exports: a data directory, an address, the metadata proxy's secret."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CELLSV2_", "DJANGO_")) and k not in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE")
    }
    env.update(standalone_databases)
    env["CELLSV2_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    env["CELLSV2_LISTEN"] = f"127.0.0.1:{free_port()}"
    env["CELLSV2_METADATA_SECRET"] = METADATA_SECRET
    return env


@pytest.fixture(scope="module")
def cloud(environment, tmp_path_factory):
    """Step 1: ``scripts/run``, until it answers (its output is kept for the assertions)."""
    log = tmp_path_factory.mktemp("run") / "scripts-run.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            ["scripts/run"], cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://{environment['CELLSV2_LISTEN']}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"scripts/run exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"scripts/run did not answer in time:\n{log.read_text()}")
            time.sleep(0.5)
        yield type("Cloud", (), {"url": url, "log": log, "env": environment})
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def manage(cloud, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """An operator command, as the README writes it."""
    return subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env={**cloud.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def token(cloud):
    """Step 2: a project, a user with the member role, and a token for them."""
    assert manage(cloud, "identity", "project_create", "demo").returncode == 0
    created = manage(cloud, "identity", "user_create", "alice", "--project", "demo", "--role", "member")
    assert created.returncode == 0, created.stderr
    made = manage(cloud, "identity", "token_create", "alice", "demo")
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def clouds_yaml(cloud, token, tmp_path_factory):
    """The clouds.yaml of the README, used by openstacksdk and the openstack CLI alike."""
    path = tmp_path_factory.mktemp("config") / "clouds.yaml"
    path.write_text(
        "clouds:\n"
        "  cellsv2:\n"
        "    auth_type: admin_token\n"
        "    auth:\n"
        f"      endpoint: {cloud.url}/v2.1\n"
        f"      token: {token}\n"
        "    identity_api_version: 3\n"
        f"    identity_endpoint_override: {cloud.url}/v2.1\n"
    )
    return path


@pytest.fixture(scope="module")
def sdk(clouds_yaml, monkeypatch_module):
    import openstack

    monkeypatch_module.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    connection = openstack.connect(cloud="cellsv2")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def server(sdk):
    """Step 3: a key pair and a server, created with openstacksdk; the server reaches ACTIVE."""
    keypair = sdk.compute.create_keypair(name="laptop")
    created = sdk.compute.create_server(
        name="first", flavor_id="1", image_id=IMAGE, key_name="laptop", networks="none"
    )
    active = sdk.compute.wait_for_server(created, status="ACTIVE", wait=60)
    yield active, keypair
    sdk.compute.delete_server(active)
    sdk.compute.wait_for_delete(active, wait=60)


def openstack_cli(clouds_yaml, *args: str, json_output: bool = True):
    """The ``openstack`` command, with the clouds.yaml and nothing else (its JSON output, parsed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CELLSV2_", "DJANGO_"))}
    env.update(OS_CLIENT_CONFIG_FILE=str(clouds_yaml), OS_CLOUD="cellsv2")
    result = subprocess.run(
        [str(BIN / "openstack"), *args, *(["-f", "json"] if json_output else [])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout) if json_output else result.stdout


# --- 1. scripts/run -------------------------------------------------------------------------------


def test_scripts_run_sets_up_a_cloud_with_somewhere_to_put_servers(cloud):
    output = cloud.log.read_text()
    assert "api: applied" in output
    assert "Added compute node dev-compute-1 (host dev-compute-1) to cell cell1" in output
    with urllib.request.urlopen(cloud.url + "/", timeout=5) as response:
        versions = json.load(response)["versions"]
    assert {v["id"] for v in versions} == {"v2.0", "v2.1"}


def test_scripts_run_again_keeps_everything_and_adds_no_second_node(cloud):
    again = manage(
        cloud,
        "compute_nodes",
        "add",
        "--cell",
        "cell1",
        "--host",
        "dev-compute-1",
        "--host-ip",
        "127.0.0.1",
        "--vcpus",
        "8",
        "--memory-mb",
        "16384",
        "--local-gb",
        "200",
        "--if-cell-empty",
    )
    assert again.returncode == 0, again.stderr
    assert "Cell cell1 already has compute nodes: none added." in again.stdout
    listed = manage(cloud, "compute_nodes", "list", "--cell", "cell1")
    assert [line for line in listed.stdout.splitlines() if "dev-compute-1" in line] != []
    assert len([line for line in listed.stdout.splitlines() if "dev-compute-1" in line]) == 1


# --- 3. openstacksdk ------------------------------------------------------------------------------


def test_a_server_created_with_openstacksdk_reaches_active_on_the_development_node(sdk, server):
    active, _ = server
    assert active.status == "ACTIVE"
    assert active.key_name == "laptop"
    admin_view = sdk.compute.get_server(active.id)
    assert admin_view.flavor.original_name == "m1.tiny"


# --- 4. the openstack CLI -------------------------------------------------------------------------


def test_the_openstack_cli_lists_flavors_key_pairs_and_servers(clouds_yaml, server):
    active, keypair = server
    assert {f["Name"] for f in openstack_cli(clouds_yaml, "flavor", "list")} >= {"m1.tiny", "m1.small"}
    assert [(k["Name"], k["Fingerprint"]) for k in openstack_cli(clouds_yaml, "keypair", "list")] == [
        ("laptop", keypair.fingerprint)
    ]
    servers = openstack_cli(clouds_yaml, "server", "list", "--no-name-lookup")
    assert [(s["ID"], s["Status"]) for s in servers] == [(active.id, "ACTIVE")]
    shown = openstack_cli(clouds_yaml, "server", "show", active.id)
    assert (shown["name"], shown["status"], shown["key_name"]) == ("first", "ACTIVE", "laptop")


def test_the_openstack_cli_creates_and_deletes_key_pairs_and_server_groups(clouds_yaml, tmp_path):
    # The CLI generates the key pair itself, keeps the private half and sends the public one.
    made = openstack_cli(clouds_yaml, "keypair", "create", "--private-key", str(tmp_path / "id_cli"), "cli-key")
    assert made["name"] == "cli-key"
    assert (tmp_path / "id_cli").read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "cli-key" in {k["Name"] for k in openstack_cli(clouds_yaml, "keypair", "list")}
    openstack_cli(clouds_yaml, "keypair", "delete", "cli-key", json_output=False)
    assert "cli-key" not in {k["Name"] for k in openstack_cli(clouds_yaml, "keypair", "list")}

    group = openstack_cli(clouds_yaml, "server", "group", "create", "--policy", "anti-affinity", "web")
    assert group["policy"] == "anti-affinity"
    assert {g["Name"] for g in openstack_cli(clouds_yaml, "server", "group", "list")} == {"web"}
    openstack_cli(clouds_yaml, "server", "group", "delete", group["id"], json_output=False)
    assert openstack_cli(clouds_yaml, "server", "group", "list") == []


def test_the_openstack_cli_gives_a_console_url(clouds_yaml, server):
    active, _ = server
    console = openstack_cli(clouds_yaml, "console", "url", "show", "--novnc", active.id)
    assert console["type"] == "novnc"
    assert console["url"].startswith("http://127.0.0.1:6080/vnc_auto.html?path=%3Ftoken%3D")


# --- 5. the metadata service ----------------------------------------------------------------------


def test_the_guest_reads_its_ssh_key_from_the_metadata_service(cloud, server):
    active, keypair = server
    signature = hmac.new(METADATA_SECRET.encode(), active.id.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        cloud.url + "/openstack/latest/meta_data.json",
        headers={"X-Instance-ID": active.id, "X-Tenant-ID": active.project_id, "X-Instance-ID-Signature": signature},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        meta = json.load(response)
    assert meta["uuid"] == active.id
    assert meta["public_keys"] == {"laptop": keypair.public_key}
    ec2 = urllib.request.Request(cloud.url + "/latest/meta-data/public-keys/0/openssh-key", headers=request.headers)
    with urllib.request.urlopen(ec2, timeout=5) as response:
        assert response.read().decode().strip() == keypair.public_key.strip()


# --- 6. the admin and the API documentation, in a browser -----------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing and CI requires the browser tests")
        pytest.skip(f"no browser: {CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
            headless=True,
        )
        yield browser
        browser.close()


def test_the_admin_is_styled_under_scripts_run(cloud, browser):
    password = secrets.token_urlsafe(12)
    made = manage(
        cloud,
        "createsuperuser",
        "--noinput",
        "--username",
        "ops",
        "--email",
        "ops@example.org",
        env={"DJANGO_SUPERUSER_PASSWORD": password},
    )
    assert made.returncode == 0, made.stderr
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(cloud.url + "/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(cloud.url + "/admin/")
    # The stylesheets were served and applied: Django's header is a coloured bar, not plain text.
    sheets = page.evaluate("[...document.styleSheets].filter(s => s.href && s.cssRules.length > 0).length")
    assert sheets >= 2
    header = page.evaluate("getComputedStyle(document.querySelector('#header')).backgroundColor")
    assert header not in ("rgba(0, 0, 0, 0)", "transparent")
    page.goto(cloud.url + "/admin/dashboard/")
    assert "cell1" in page.inner_text("#content")
    (ROOT / "test-artifacts" / "tour").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ROOT / "test-artifacts" / "tour" / "dashboard.png"), full_page=True)
    page.close()


def test_the_api_documentation_renders(cloud, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(cloud.url + "/docs/")
    # Redoc's JavaScript (served by the product itself) turned the OpenAPI document into a page.
    page.wait_for_selector("h1", timeout=30_000)
    assert "cellsv2 compute API" in page.inner_text("h1")
    assert page.locator("[data-section-id]").count() > 10
    page.screenshot(path=str(ROOT / "test-artifacts" / "tour" / "docs.png"))
    page.close()


def test_unknown_uuid_is_a_nova_404(sdk):
    from openstack import exceptions

    with pytest.raises(exceptions.NotFoundException):
        sdk.compute.get_server(str(uuid.uuid4()))
