"""End to end in a real headless Chromium (Debian's, driven by Playwright) against the real app
over real HTTP: sign in, work the review queue from the keyboard, label an account, bulk-label a
cluster through its confirmation, edit a list, run a what-if, read the audit log. Every page is
photographed into docs/screenshots/ (shown in the README). No page may log a JavaScript error
or a Content-Security-Policy violation: the bundled htmx, Chart.js and Cytoscape must run
under the console's policy."""
from __future__ import annotations

import base64
import json
import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from riskengine.storage import console as reads
from tests.factories import CONSOLE_PASSWORD as PASSWORD

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
SHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(10)


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def _page(browser, problems: list):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.on("console", lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page


def _sign_in(page, base: str, name: str):
    page.goto(f"{base}/console/")
    assert "/console/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")


def _shot(page, name: str):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# What the screenshot of an element shows, counted in the page: its PNG drawn into a scratch
# canvas; pixels far from white (the graph's background; its #e1e8ed border is near), and of
# those the strongly coloured ones (the account nodes' blue, orange or red; edges, the shared
# values' diamonds and the labels are greys).
_INK_JS = """async (png) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + png;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, c.width, c.height).data;
  let ink = 0, colour = 0;
  for (let i = 0; i < px.length; i += 4) {
    const [r, g, b] = [px[i], px[i + 1], px[i + 2]];
    if (Math.max(255 - r, 255 - g, 255 - b) > 60) ink++;
    if (Math.max(r, g, b) - Math.min(r, g, b) > 80) colour++;
  }
  return [ink, colour, c.width * c.height];
}"""


def _ink(page, selector: str) -> tuple[int, int, int]:
    """(pixels far from white, strongly coloured pixels, all pixels) of what the element shows."""
    png = page.locator(selector).screenshot()
    ink, colour, total = page.evaluate(_INK_JS, base64.b64encode(png).decode())
    return ink, colour, total


def test_an_analyst_works_the_console_in_a_real_browser(app, users, world, server, browser):
    db = app.extensions["riskengine"].db
    with db.begin() as conn:
        conn.execute(text("UPDATE account SET cluster_id = 'c_farm', cluster_size = 6 WHERE id LIKE 'farm_%'"))
    problems: list[str] = []
    page = _page(browser, problems)
    page.goto(f"{server}/console/login")
    _shot(page, "login")
    _sign_in(page, server, "ana")

    # Overview: the chart library drew its canvas.
    page.wait_for_selector("#decisions-chart[data-drawn='1']")
    _shot(page, "overview")

    # Review queue from the keyboard: j focuses the first row, f labels it fraud (htmx removes it).
    page.click("text=Review queue")
    page.wait_for_selector("tr.queue-row")
    _shot(page, "queue")
    rows = page.locator("tr.queue-row")
    before = rows.count()
    first = rows.first.get_attribute("data-account")
    page.locator("body").press("j")
    assert page.locator("tr.queue-row.focused").get_attribute("data-account") == first
    page.locator("body").press("f")
    page.wait_for_selector(f"tr.queue-row[data-account='{first}']", state="detached")
    assert rows.count() == before - 1
    with db.connect() as conn:
        assert conn.execute(text("SELECT label FROM label WHERE account_id = :a"), {"a": first}).scalar() == "fraud"

    # Account page: label legit with a note.
    page.goto(f"{server}/console/accounts/user_1")
    page.fill("#label-form input[name=note]", "known customer, verified by phone")
    page.click("#label-form button[value=legit]")
    page.wait_for_selector("#labels >> text=known customer, verified by phone")
    page.wait_for_selector("#hours-chart[data-drawn='1']")
    # A farm account: its phone and card by their last digits alone, its linked accounts.
    page.goto(f"{server}/console/accounts/farm_2")
    assert page.inner_text("#phones") == "phone ••••4321" and page.inner_text("#cards") == "card visa ••••4242"
    assert "7911" not in page.content()
    page.wait_for_selector("#hours-chart[data-drawn='1']")
    _shot(page, "account")

    # Cluster: the graph is drawn; bulk-label two members fraud through the confirmation step.
    page.goto(f"{server}/console/clusters/c_farm")
    page.wait_for_selector("#cluster-graph[data-rendered='1'] canvas")
    page.wait_for_timeout(500)          # the frame after the first render is on screen
    nodes, edges = page.evaluate("() => { const cy = document.getElementById('cluster-graph').cy;"
                                 " return [cy.nodes().length, cy.edges().length]; }")
    with db.connect() as conn:
        shared = reads.cluster_detail(conn, "c_farm")["shared"]
    assert nodes == 6 + len(shared) and edges == sum(len(s["accounts"]) for s in shared)
    # And it is on screen: the six account discs (22 px across) and the shared values' diamonds,
    # edges and labels, not a blank box (an opaque canvas on top once hid all of it).
    ink, colour, total = _ink(page, "#cluster-graph")
    assert colour > 6 * 150 and ink > colour + 500, (ink, colour, total)
    _shot(page, "cluster")
    page.check("input[name=account][value=farm_4]")
    page.check("input[name=account][value=farm_5]")
    page.fill("#bulk-form input[name=note]", "same card and device")
    page.click("#bulk-form button[value=fraud]")
    page.wait_for_selector("#confirm-form")
    _shot(page, "cluster-confirm")
    page.click("#confirm-form button[type=submit]")
    page.wait_for_url(f"{server}/console/clusters/c_farm")
    with db.connect() as conn:
        bulk = conn.execute(text("SELECT account_id FROM label WHERE note = 'same card and device'")).scalars().all()
    assert sorted(bulk) == ["farm_4", "farm_5"]

    # Lists: put an email on the deny list; a new policy version is in force.
    page.click("text=Lists & policy")
    page.fill("textarea[name='deny.emails']", "fraudster@example.net")
    page.fill("#lists-form input[name=note]", "reported by support")
    page.click("#lists-form button[type=submit]")
    page.wait_for_selector("#versions >> text=reported by support")
    assert page.inner_text("#in-force").startswith("console-")
    _shot(page, "policy")
    assert "fraudster@example.net" in app.extensions["riskengine"].policy.deny.emails

    # What-if: a stricter signup threshold on the stored assessments (htmx posts, the result replaces the page).
    page.click("text=What-if")
    body = json.loads(page.input_value("textarea[name=policy]"))
    body["thresholds"] = {"signup": {"challenge": 0.001, "block": 0.002}}     # below any model's scores
    page.fill("textarea[name=policy]", json.dumps(body, indent=2))
    page.fill("input[name=days]", "30")
    page.click("#whatif-form button[type=submit]")
    page.wait_for_selector("#whatif-result")
    result = page.inner_text("#whatif-result")
    changed = re.search(r"(\d+) of (\d+) decisions would change", result)
    assert changed and 0 < int(changed.group(1)) <= int(changed.group(2)) == 12
    _shot(page, "whatif")

    # Sign out; an admin reads the audit log of all of it.
    page.click("text=Sign out")
    page.wait_for_url(f"{server}/console/login")
    _sign_in(page, server, "adam")
    page.goto(f"{server}/console/audit")
    audit = page.inner_text("#audit")
    for action in ("label", "bulk_label", "lists.edit", "whatif", "login", "logout"):
        assert action in audit
    _shot(page, "audit")
    assert problems == [], "\n".join(p[:160] for p in problems)


def test_read_paths_work_without_javascript(app, users, world, server, browser):
    ctx = browser.new_context(java_script_enabled=False)
    page = ctx.new_page()
    page.goto(f"{server}/console/login")
    page.fill("input[name=name]", "vera")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/console/")
    page.goto(f"{server}/console/queue")
    assert page.locator("tr.queue-row").count() > 0
    page.select_option("select[name=event]", "signup")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/console/queue?*event=signup*")
    page.click("tr.queue-row a.open >> nth=0")
    page.wait_for_selector("#assessments")
    assert page.locator("#assessments tbody tr").count() >= 1
