"""The operators' console in a real browser: Debian's Chromium driven by Playwright.

Logs in, opens the cells dashboard, follows an instance mapping to its instance in its cell and
back, switches cells, disables a cell, and sees an unreachable cell reported. Screenshots go to
test-artifacts/admin/. Skipped (with the reason) only when /usr/bin/chromium does not exist; no
browser is ever downloaded.
"""

import re
import threading
from pathlib import Path

import pytest

from cellsv2.cells import cells_cache_clear
from cellsv2.dburls import sqlite_url
from mappings.models import CellMapping, InstanceMapping
from tests.admin.helpers import (
    PASSWORD,
    make_superuser,
    seed_capacity_and_long_values,
    seed_deployment,
)
from tests.support import ALL_DATABASES

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
        assert page.locator('tr.cell-row[data-cell="cell1"] td.cell-instances a').inner_text() == "2"
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


def test_an_down_cell_is_reported_in_the_browser(live_server, cells, down_cell):
    seed_deployment(cells)
    make_superuser()
    base = live_server.url

    def scenario(page):
        log_in(page, base)
        state = page.locator('tr.cell-row[data-cell="cell-down"] td.cell-reachable').inner_text()
        assert state.startswith("unreachable") and "unable to open database file" in state
        assert page.locator('tr.cell-row[data-cell="cell1"] td.cell-reachable').inner_text() == "reachable"
        shot(page, "07-dashboard-unreachable-cell")
        response = page.goto(f"{base}/admin/cell/servers/instance/?cell={down_cell.uuid}")
        assert response.status == 503
        assert "cannot be reached" in page.locator("#content").inner_text()
        shot(page, "08-cell-site-unreachable-cell")

    in_browser(scenario)


# --- layout at 1400 px ---------------------------------------------------------------------------

# What a list page looks like to the test: the list's width against the room it has, the page's
# width against the window, and every uuid shown in the list that wraps onto a second line.
# A text node whose rectangles start at more than one height has wrapped.
LAYOUT_JS = """() => {
  const wrapped = (el) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      range.selectNodeContents(node);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) return true;
    }
    return false;
  };
  const table = document.querySelector('#result_list') || document.querySelector('#cells table');
  const uuids = [...document.querySelectorAll(
    '.cellsv2-uuid, #result_list .field-uuid, #result_list .field-instance_uuid, #result_list .field-instance_id'
  )];
  return {
    table: table ? table.scrollWidth : null,
    room: table ? table.parentElement.clientWidth : null,
    page: document.documentElement.scrollWidth,
    window: window.innerWidth,
    uuids: uuids.length,
    wrapped: uuids.filter(wrapped).map(el => el.textContent.trim()),
  };
}"""


def assert_fits(page, what: str) -> dict:
    layout = page.evaluate(LAYOUT_JS)
    assert layout["table"] is not None, f"{what}: no list table"
    assert layout["table"] <= layout["room"], f"{what}: the list is wider than its room: {layout}"
    assert layout["page"] <= layout["window"], f"{what}: the page scrolls sideways: {layout}"
    assert layout["wrapped"] == [], f"{what}: uuids wrap: {layout['wrapped']}"
    return layout


def _changelists(site, namespace: str) -> list[str]:
    from django.urls import reverse

    return [
        reverse(f"{namespace}:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in sorted(site._registry, key=lambda m: m._meta.label)
    ]


def test_every_list_fits_1400px_with_uuids_on_one_line(live_server, cells):
    """Every list of both sites, and the dashboard, at 1400 px with values as long as real ones
    (32-hex project and user ids, long names and host names): no list wider than its room, no
    sideways scroll, no uuid broken over lines."""
    from django.contrib import admin
    from django.contrib.auth.models import Group

    from cellsv2.admin import cell_admin_site

    deployment = seed_deployment(cells)
    seed_capacity_and_long_values(deployment)
    Group.objects.create(name="operators")
    make_superuser()
    base = live_server.url
    main_lists = _changelists(admin.site, "admin")
    cell_lists = _changelists(cell_admin_site, "celladmin")
    checked = {}

    def scenario(page):
        log_in(page, base)
        for url in main_lists:
            page.goto(f"{base}{url}")
            checked[url] = assert_fits(page, url)
        page.goto(f"{base}/admin/cell/?cell={cells['cell1'].uuid}")
        for url in cell_lists:
            page.goto(f"{base}{url}")
            checked[url] = assert_fits(page, url)
        # The three lists an operator found overflowing, as they look now.
        for url, name in (
            ("/admin/mappings/instancemapping/", "10-instance-mappings"),
            ("/admin/mappings/cellmapping/", "11-cell-mappings"),
            ("/admin/cell/servers/instance/", "12-cell1-instances"),
            ("/admin/cell/servers/computenode/", "13-cell1-compute-nodes"),
        ):
            page.goto(f"{base}{url}")
            shot(page, name)
        page.goto(f"{base}/admin/dashboard/")
        checked["dashboard"] = assert_fits(page, "dashboard")

    in_browser(scenario)
    assert len(checked) == len(main_lists) + len(cell_lists) + 1
    # The lists that show uuids were checked for them (a selector that matched nothing proves nothing).
    for url in ("/admin/mappings/instancemapping/", "/admin/mappings/cellmapping/", "/admin/cell/servers/instance/"):
        assert checked[url]["uuids"] >= 3, (url, checked[url])


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(part) for part in re.findall(r"[\d.]+", css)[:3])


def _contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two CSS rgb() colours."""

    def luminance(rgb):
        def channel(value):
            value /= 255
            return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(v) for v in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted((luminance(_rgb(foreground)), luminance(_rgb(background))), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# The colour of an element's text and of the first background behind it that is not transparent.
COLOURS_JS = """(selector) => {
  const el = document.querySelector(selector);
  let bg = null;
  for (let node = el; node; node = node.parentElement) {
    const colour = getComputedStyle(node).backgroundColor;
    if (colour && colour !== 'transparent' && !colour.startsWith('rgba(0, 0, 0, 0)')) { bg = colour; break; }
  }
  return {fg: getComputedStyle(el).color, bg: bg || 'rgb(255, 255, 255)'};
}"""


def test_cell_states_read_as_operators_read_them_and_the_cell_header_is_legible(live_server, cells):
    """Cell mappings say "enabled" in green for a healthy cell (not a red cross under "Disabled"),
    "disabled" otherwise; the browsed cell's uuid reads at WCAG AA contrast; filters name cells
    with a space between name and uuid."""
    seed_deployment(cells)
    make_superuser()
    CellMapping.objects.filter(pk=cells["cell2"].pk).update(disabled=True)
    base = live_server.url
    seen = {}

    def scenario(page):
        log_in(page, base, "/admin/mappings/cellmapping/")
        headers = [h.strip().lower() for h in page.locator("#result_list thead th").all_inner_texts()]
        assert "state" in headers and "disabled" not in headers
        for name in ("cell0", "cell1", "cell2"):
            row = page.locator("#result_list tbody tr", has=page.locator(f'a:text-is("{name}")'))
            seen[name] = row.locator("td.field-state").inner_text().strip()
            assert row.locator("td.field-state img").count() == 0, "no tick-or-cross icon for the state"
        colours = page.evaluate(COLOURS_JS, "#result_list td.field-state .cellsv2-good")
        r, g, b = _rgb(colours["fg"])
        assert g > r and g > b, f"enabled is not green: {colours}"
        assert _contrast(colours["fg"], colours["bg"]) >= 4.5
        shot(page, "14-cell-mappings-states")

        page.goto(f"{base}/admin/cell/servers/instance/?cell={cells['cell1'].uuid}")
        page.wait_for_selector("#current-cell code")
        seen["header uuid"] = page.locator("#current-cell code").inner_text()
        colours = page.evaluate(COLOURS_JS, "#current-cell code")
        seen["header contrast"] = _contrast(colours["fg"], colours["bg"])
        shot(page, "15-cell-header")

        page.goto(f"{base}/admin/mappings/instancemapping/")
        seen["filters"] = page.locator("#changelist-filter").inner_text()

        # The cell site's index too says which cell, and switches.
        page.goto(f"{base}/admin/cell/")
        page.select_option("#cell-select", cells["cell2"].uuid)
        page.wait_for_selector("#current-cell:has-text('Browsing cell cell2')")
        shot(page, "18-cell-index")

    in_browser(scenario)
    assert seen["cell0"] == "enabled" and seen["cell1"] == "enabled" and seen["cell2"] == "disabled"
    assert seen["header uuid"] == cells["cell1"].uuid
    assert seen["header contrast"] >= 4.5, seen
    assert f"cell1 {cells['cell1'].uuid[:8]}…" in seen["filters"], seen["filters"]
    assert "(cell" not in seen["filters"]


def test_the_dashboard_shows_capacity_and_unmapped_instances_and_a_cell_that_does_not_answer(
    live_server, cells, tmp_path, runtime_connections
):
    """Per cell: vCPUs, RAM and disk of its live compute nodes (used / total), and its instances
    with no instance mapping (counted); then cell2 stops answering: it says so, its figures are
    "?", the totals leave it out, and the other cells still show theirs."""
    deployment = seed_deployment(cells)
    seed_capacity_and_long_values(deployment)
    make_superuser()
    base = live_server.url
    figures = {}

    def row_figures(page) -> dict:
        result = {}
        for name in ("cell0", "cell1", "cell2"):
            row = page.locator(f'tr.cell-row[data-cell="{name}"]')
            result[name] = {
                key: row.locator(f"td.cell-{key}").inner_text().strip().splitlines()[0]
                for key in ("vcpus", "ram", "disk", "unmapped", "nodes")
            }
            result[name]["database"] = row.locator("td.cell-reachable").inner_text().strip()
        result["total"] = {
            key: page.locator(f"#capacity-total td.total-{key}").inner_text().strip()
            for key in ("vcpus", "ram", "disk")
        }
        result["total"]["label"] = page.locator("#capacity-total th").inner_text()
        return result

    def before(page):
        log_in(page, base)
        figures["up"] = row_figures(page)
        assert_fits(page, "dashboard")
        shot(page, "16-dashboard-capacity")

    def after(page):
        log_in(page, base)
        figures["down"] = row_figures(page)
        assert_fits(page, "dashboard with a cell down")
        shot(page, "17-dashboard-cell2-down")

    in_browser(before)
    # cell2's database goes away (a SQLite file in a directory that does not exist).
    CellMapping.objects.filter(pk=cells["cell2"].pk).update(
        database_connection=sqlite_url(tmp_path / "gone" / "cell2.sqlite3")
    )
    cells_cache_clear()
    in_browser(after)

    up, down = figures["up"], figures["down"]
    assert up["cell0"] | {"database": ""} == {
        "vcpus": "0 / 0",
        "ram": "0 / 0 GiB",
        "disk": "0 / 0 GB",
        "unmapped": "0",
        "nodes": "0",
        "database": "",
    }
    assert up["cell1"] | {"database": ""} == {
        "vcpus": "14 / 72",
        "ram": "66 / 264 GiB",
        "disk": "420 / 2,100 GB",
        "unmapped": "0",
        "nodes": "2",
        "database": "",
    }
    assert up["cell2"] | {"database": ""} == {
        "vcpus": "4 / 8",
        "ram": "4 / 8 GiB",
        "disk": "50 / 100 GB",
        "unmapped": "2",
        "nodes": "1",
        "database": "",
    }
    assert {up[name]["database"] for name in ("cell0", "cell1", "cell2")} == {"reachable"}
    assert up["total"] == {"vcpus": "18 / 80", "ram": "70 / 272 GiB", "disk": "470 / 2,200 GB", "label": "All cells"}

    assert (
        down["cell2"]["database"].startswith("unreachable")
        and "unable to open database file" in down["cell2"]["database"]
    )
    assert {down["cell2"][key] for key in ("vcpus", "ram", "disk", "unmapped", "nodes")} == {"?"}
    assert down["cell1"] == up["cell1"] and down["cell0"] == up["cell0"]
    assert down["total"]["vcpus"] == "14 / 72" and down["total"]["disk"] == "420 / 2,100 GB"
    assert "not counted: cell2" in down["total"]["label"]
