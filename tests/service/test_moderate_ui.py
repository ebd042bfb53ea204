"""The moderator UI in a real browser: Debian's Chromium, headless, driven by Playwright (no
browser download). The live server runs the app on SQLite; screenshots go to test-output/."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.service.conftest import LiveServer, make_settings
from tests.service.queue_data import ingest_coalition

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium (scripts/test installs it)")


def api(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30,
                        headers={"Authorization": f"Bearer {server.keys['moderator']}"})


def open_queue(playwright, server: LiveServer):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    page.goto(f"{server.url}/moderate")
    page.get_by_label("Moderator key").fill(server.keys["moderator"])
    page.get_by_role("button", name="Sign in").click()
    page.locator("li.item").first.wait_for()
    return browser, page


@pytest.fixture
def ui_server(tiny_model, tmp_path):
    settings = make_settings(tiny_model, tmp_path, database_url=f"sqlite:///{tmp_path}/ui.db",
                             rate_limit_per_minute=0)
    with LiveServer(settings) as server:
        yield server


def test_moderating_the_coalition_thread_from_the_keyboard(ui_server):
    from playwright.sync_api import expect, sync_playwright

    with api(ui_server) as client:
        ingest_coalition(client)
        expected = [i["comment_id"] for i in client.get(
            "/v1/queue", params={"queue": "pending", "sort": "risk"}).json()["items"]]
    with sync_playwright() as playwright:
        browser, page = open_queue(playwright, ui_server)
        shown = page.locator("li.item").evaluate_all("nodes => nodes.map(n => n.dataset.id)")
        assert shown == expected  # riskiest first, as the API says
        expect(page.locator("[data-count=pending]")).to_have_text("22")
        expect(page.locator("li.item").first).to_contain_text("Allies with benefits")
        expect(page.get_by_role("meter", name="incivility score").first).to_be_visible()

        page.keyboard.press("j")
        expect(page.locator("li.item.current")).to_have_attribute("data-id", expected[1])
        page.keyboard.press("a")  # approve the second
        expect(page.locator("#status")).to_contain_text("Approved")
        expect(page.locator("[data-count=approved]")).to_have_text("1")
        current = page.locator("li.item.current").get_attribute("data-id")
        assert current == expected[2]  # the next one moved up under the cursor
        page.keyboard.press("r")  # no reason chosen yet: asks for one
        expect(page.locator("#status")).to_contain_text("Reason?")
        page.keyboard.press("2")
        expect(page.locator("[data-count=rejected]")).to_have_text("1")
        page.keyboard.press("x")
        page.keyboard.press("j")
        page.keyboard.press("x")
        expect(page.locator("#selected-count")).to_have_text("2 selected")
        page.keyboard.press("a")  # a selection: decided in bulk
        expect(page.locator("[data-count=approved]")).to_have_text("3")
        page.keyboard.press("?")
        expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
        page.keyboard.press("Escape")
        page.keyboard.press("o")
        expect(page.locator("#drawer")).to_contain_text("rejected")
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "moderate-tiny.png"))
        browser.close()

    with api(ui_server) as client:
        decided = {d["comment_id"]: (d["action"], d["reason"]) for d in client.get(
            "/v1/decisions", params={"automatic": False}).json()["items"]}
    assert decided[expected[1]] == ("approve", None)
    assert decided[expected[2]] == ("reject", "personal_attack")
    assert len(decided) == 4


def test_sign_in_refuses_a_scorer_key(ui_server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(f"{ui_server.url}/moderate")
        page.get_by_label("Moderator key").fill(ui_server.keys["scorer"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("moderator role")
        browser.close()


def test_ui_files_are_served_locally(ui_server):
    with httpx.Client(base_url=ui_server.url) as client:
        page = client.get("/moderate")
        assert page.status_code == 200 and "/moderate/static/moderate.js" in page.text
        assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")  # no CDN
        assert client.get("/moderate/static/moderate.js").status_code == 200
        assert client.get("/moderate/static/moderate.html").status_code == 404
        assert client.get("/moderate/static/..%2Fapp.py").status_code == 404


@pytest.mark.slow
def test_screenshot_with_the_release_model(tmp_path):
    """The README's screenshot (docs/moderate.png is this, scaled down): the shipped model on
    the coalition thread."""
    from playwright.sync_api import sync_playwright

    from model.artifact import RELEASE_DIR
    from service.settings import Settings

    settings = Settings(model_dir=RELEASE_DIR, database_url=f"sqlite:///{tmp_path}/r.db",
                        log_json=False, rate_limit_per_minute=0)
    with LiveServer(settings) as server, sync_playwright() as playwright:
        with api(server) as client:
            ingest_coalition(client)
        browser, page = open_queue(playwright, server)
        page.keyboard.press("j")
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "moderate-release.png"))
        browser.close()
