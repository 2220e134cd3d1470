"""The product under gunicorn with the production settings, as a deployment runs it.

One gunicorn (2 workers) per module, on its own databases, after the deployment steps an operator
runs (migrate, collectstatic). What only a real WSGI server shows: static files served without
DEBUG, and request bodies sent with ``Transfer-Encoding: chunked``.
"""

import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
MAX_BODY = 114688


@pytest.fixture(scope="module")
def production(tmp_path_factory, standalone_databases):
    data = tmp_path_factory.mktemp("production")
    # An operator's policy file, empty (Nova's defaults) until a test edits it.
    policy = data / "policy.yaml"
    policy.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELLSV2_", "DJANGO_"))}
    env.update(standalone_databases)
    port = free_port()
    env.update(
        DJANGO_SETTINGS_MODULE="cellsv2.settings_production",
        CELLSV2_SECRET_KEY=secrets.token_urlsafe(64),
        CELLSV2_DATA_DIR=str(data),
        CELLSV2_ALLOWED_HOSTS="127.0.0.1",
        # TLS ends at the proxy in front of gunicorn; these requests come from inside.
        CELLSV2_SSL_REDIRECT="false",
        CELLSV2_AUTH="noauth",
        CELLSV2_POLICY_FILE=str(policy),
    )
    for step in (["migrate"], ["collectstatic", "--noinput", "-v", "0"]):
        done = subprocess.run(
            [str(BIN / "python"), "manage.py", *step], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr
    log = data / "gunicorn.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "cellsv2.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
                time.sleep(0.3)
        yield type("Production", (), {"url": url, "port": port, "env": env, "policy": policy, "data": data})
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def send_chunked(production, path: str, chunks, headers: dict) -> tuple[int, dict]:
    """POST a body in chunks (Transfer-Encoding: chunked, no Content-Length), as some clients do."""
    connection = http.client.HTTPConnection("127.0.0.1", production.port, timeout=10)
    try:
        connection.request("POST", path, body=iter(chunks), headers=headers, encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


API = {"Content-Type": "application/json", "X-Auth-Token": "alice:demo"}


def test_a_chunked_request_body_is_read(production):
    body = json.dumps({"keypair": {"name": "chunked"}}).encode()
    status, answer = send_chunked(production, "/v2.1/os-keypairs", [body[:10], body[10:30], body[30:]], API)
    assert status == 200, answer
    assert answer["keypair"]["name"] == "chunked"
    assert answer["keypair"]["private_key"].startswith("-----BEGIN")


def test_an_oversized_chunked_body_is_413(production):
    filler = b" " * 8192
    body = [b'{"keypair": {"name": "big", "public_key": "'] + [filler] * (MAX_BODY // len(filler) + 2) + [b'"}}']
    status, answer = send_chunked(production, "/v2.1/os-keypairs", body, API)
    assert (status, answer) == (413, {"overLimit": {"code": 413, "message": "Request is too large."}})


def test_an_empty_chunked_body_is_nova_s_400_not_a_500(production):
    status, answer = send_chunked(production, "/v2.1/os-keypairs", [], API)
    assert status == 400
    assert set(answer) == {"badRequest"}


def test_static_files_are_served_with_hashed_names_and_long_caching(production):
    with urllib.request.urlopen(production.url + "/admin/login/", timeout=5) as response:
        page = response.read().decode()
    stylesheets = re.findall(r'href="(/static/admin/css/[^"]+\.css)"', page)
    assert stylesheets, page[:500]
    for href in stylesheets:
        assert re.search(r"\.[0-9a-f]{12}\.css$", href), href  # collectstatic's content hash
        with urllib.request.urlopen(production.url + href, timeout=5) as response:
            assert response.status == 200
            assert "immutable" in response.headers["Cache-Control"]
            assert response.headers["Content-Type"].startswith("text/css")


@pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("CI") != "true", reason=f"no browser: {CHROMIUM}")
def test_the_admin_login_page_and_the_api_docs_are_styled_in_a_browser(production):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(production.url + "/admin/login/")
            header = page.evaluate("getComputedStyle(document.querySelector('#header')).backgroundColor")
            assert header not in ("rgba(0, 0, 0, 0)", "transparent")
            page.goto(production.url + "/docs/")
            page.wait_for_selector("h1", timeout=30_000)
            assert "cellsv2 compute API" in page.inner_text("h1")
        finally:
            browser.close()


def get_status(production, path: str, token: str) -> int:
    request = urllib.request.Request(production.url + path, headers={"X-Auth-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_policy_file_edit_reaches_every_worker_without_a_restart(production):
    assert {get_status(production, "/v2.1/os-keypairs", "alice:demo") for _ in range(6)} == {200}
    try:
        production.policy.write_text('"os_compute_api:os-keypairs:index": "rule:admin_api"\n')
        # Each request on a new connection: both workers answer some of them.
        assert {get_status(production, "/v2.1/os-keypairs", "alice:demo") for _ in range(10)} == {403}
        assert {get_status(production, "/v2.1/os-keypairs", "admin:admin") for _ in range(6)} == {200}
    finally:
        production.policy.write_text("")
    assert {get_status(production, "/v2.1/os-keypairs", "alice:demo") for _ in range(10)} == {200}


def test_a_policy_file_that_does_not_exist_stops_gunicorn_with_the_reason(production):
    missing = production.data / "no-such-policy.yaml"
    log = production.data / "gunicorn-missing-policy.log"
    env = {**production.env, "CELLSV2_POLICY_FILE": str(missing)}
    with open(log, "w") as out:
        done = subprocess.run(
            [
                str(BIN / "gunicorn"),
                "cellsv2.wsgi:application",
                "--bind",
                f"127.0.0.1:{free_port()}",
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert done.returncode != 0
    assert f"ImproperlyConfigured: CELLSV2_POLICY_FILE={missing} does not exist" in log.read_text()
