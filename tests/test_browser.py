"""The running app in a real browser: navigation reaches every page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import FIRST_RENDER_MS, chromium, running_app

pytestmark = pytest.mark.browser

NAV = [
    "Instruction Induction",
    "Self-Instruct",
    "Human Evaluation",
    "Data Quality Review",
    "Call log",
    "Settings",
    "Home",
]


def test_navigation_reaches_every_page(data_dir, tmp_path, artifacts_dir):
    with running_app(data_dir, tmp_path / "app.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        expect(page.get_by_role("heading", name="Instruction Workbench")).to_be_visible(
            timeout=FIRST_RENDER_MS
        )
        page.screenshot(path=str(artifacts_dir / "home.png"), full_page=True)
        nav = page.get_by_test_id("stSidebarNav")
        for title in NAV:
            nav.get_by_role("link", name=title).click()
            heading = "Instruction Workbench" if title == "Home" else title
            expect(page.get_by_role("heading", name=heading).first).to_be_visible(timeout=30_000)
            assert page.get_by_test_id("stException").count() == 0, f"{title} raised an exception"
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Settings").click()
        expect(page.get_by_role("heading", name="Settings")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(artifacts_dir / "settings.png"), full_page=True)


def test_a_direct_link_first_after_start_goes_through_the_router(data_dir, tmp_path):
    # Streamlit would run pages/humaneval.py on its own (legacy pages-folder mode) for the first request.
    with running_app(data_dir, tmp_path / "app.log") as url, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{url}/humaneval")
        expect(page.get_by_role("heading", name="Human Evaluation")).to_be_visible(timeout=30_000)
        links = page.get_by_test_id("stSidebarNav").get_by_role("link")
        expect(links).to_have_count(len(NAV))
        # Each link reads "<icon name>\n<title>"; the titles are exactly the router's pages.
        titles = {text.strip().splitlines()[-1].strip() for text in links.all_inner_texts()}
        assert titles == set(NAV)
