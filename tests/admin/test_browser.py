"""The operators' console in a real browser: Debian's Chromium driven by Playwright.

Logs in, opens the cells dashboard, follows an instance mapping to its instance in its cell and
back, switches cells, disables a cell, and sees an unreachable cell reported. Screenshots go to
test-artifacts/admin/. Skipped (with the reason) only when /usr/bin/chromium does not exist; no
browser is ever downloaded.
"""

import threading
from pathlib import Path

import pytest

from mappings.models import CellMapping, InstanceMapping
from tests.admin.conftest import PASSWORD, make_superuser, seed_deployment
from tests.conftest import ALL_DATABASES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"

pytestmark = [
    pytest.mark.django_db(databases=ALL_DATABASES, transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser: {CHROMIUM} is missing (apt-get install chromium)"),
]


def in_browser(scenario):
    """Run ``scenario(page)`` in a fresh Chromium, in a thread of its own.

    Playwright's sync API refuses to run where an asyncio loop is running, and must not run in the
    live server's thread: a separate thread avoids both. Its exception is raised here.
    """
    from playwright.sync_api import sync_playwright

    outcome = {}

    def run():
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.set_default_timeout(20_000)
                    scenario(page)
                finally:
                    browser.close()
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="playwright")
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive(), "the browser scenario did not finish within 300 s"
    if "error" in outcome:
        raise outcome["error"]


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, base: str, next_url: str = "/admin/dashboard/") -> None:
    page.goto(f"{base}/admin/login/?next={next_url}")
    shot(page, "01-login")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}{next_url}")


def test_log_in_follow_a_mapping_to_its_instance_and_disable_a_cell(live_server, cells):
    deployment = seed_deployment(cells)
    make_superuser()
    base = live_server.url
    mapping = InstanceMapping.objects.get(instance_uuid=deployment.other_cell)
    cell2 = cells["cell2"]
    screenshots = []

    def scenario(page):
        log_in(page, base)
        # The dashboard: every cell, reachable, with its instances.
        rows = page.locator("tr.cell-row")
        assert rows.count() == 3
        assert page.locator('tr.cell-row[data-cell="cell1"] td.cell-reachable').inner_text() == "reachable"
        assert page.locator('tr.cell-row[data-cell="cell1"] td.cell-instances').inner_text() == "2"
        assert page.locator("#builds-waiting").inner_text() == "1"
        screenshots.append(shot(page, "02-dashboard"))

        # An instance mapping, then its instance in cell2 (through the cell switch), then back.
        page.goto(f"{base}/admin/mappings/instancemapping/{mapping.pk}/change/")
        screenshots.append(shot(page, "03-instance-mapping"))
        page.click("a.instance-link")
        page.wait_for_url("**/admin/cell/servers/instance/*/change/")
        body = page.locator("#content").inner_text()
        assert deployment.other_cell in body and "compute2" in body
        assert "Browsing cell cell2" in page.locator("#current-cell").inner_text()
        screenshots.append(shot(page, "04-instance-in-cell2"))
        page.click("a.mapping-link")
        page.wait_for_url(f"{base}/admin/mappings/instancemapping/{mapping.pk}/change/")

        # The switcher: cell1's instances.
        page.goto(f"{base}/admin/cell/servers/instance/")
        page.select_option("#cell-select", cells["cell1"].uuid)
        page.wait_for_load_state()
        page.wait_for_selector(f"text={deployment.active}")
        assert "Browsing cell cell1" in page.locator("#current-cell").inner_text()
        screenshots.append(shot(page, "05-cell1-instances"))

        # Disable cell2 from the dashboard and see it disabled.
        page.goto(f"{base}/admin/dashboard/")
        page.click('tr.cell-row[data-cell="cell2"] button:has-text("Disable")')
        page.wait_for_url(f"{base}/admin/dashboard/")
        assert page.locator('tr.cell-row[data-cell="cell2"] td.cell-state').inner_text() == "disabled"
        assert page.locator('tr.cell-row[data-cell="cell2"] button').inner_text() == "Enable"
        assert f"Cell {cell2.identity} disabled." in page.locator("ul.messagelist").inner_text()
        screenshots.append(shot(page, "06-cell2-disabled"))

    in_browser(scenario)
    assert CellMapping.objects.get(pk=cell2.pk).disabled is True
    assert all(path.stat().st_size > 0 for path in screenshots)


def test_an_unreachable_cell_is_reported_in_the_browser(live_server, cells, unreachable_cell):
    seed_deployment(cells)
    make_superuser()
    base = live_server.url

    def scenario(page):
        log_in(page, base)
        state = page.locator('tr.cell-row[data-cell="broken"] td.cell-reachable').inner_text()
        assert state.startswith("unreachable") and "unable to open database file" in state
        assert page.locator('tr.cell-row[data-cell="cell1"] td.cell-reachable').inner_text() == "reachable"
        shot(page, "07-dashboard-unreachable-cell")
        response = page.goto(f"{base}/admin/cell/servers/instance/?cell={unreachable_cell.uuid}")
        assert response.status == 503
        assert "cannot be reached" in page.locator("#content").inner_text()
        shot(page, "08-cell-site-unreachable-cell")

    in_browser(scenario)
