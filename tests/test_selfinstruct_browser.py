"""The Self-Instruct page in Chromium: start a run in step mode and watch its first iteration arrive."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import (
    FIRST_RENDER_MS,
    chromium,
    running_app,
    settle_for_screenshot,
    shorten_selfinstruct_limits,
)
from tests.test_selfinstruct_pipeline import share_model

pytestmark = pytest.mark.browser


def test_step_through_one_iteration(data_dir, tmp_path, artifacts_dir):
    share_model(data_dir)
    with running_app(data_dir, tmp_path / "app.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Self-Instruct").click()
        expect(page.get_by_role("heading", name="Self-Instruct")).to_be_visible(timeout=FIRST_RENDER_MS)
        expect(page.get_by_text("Start a run")).to_be_visible(timeout=30_000)

        shorten_selfinstruct_limits(page)
        page.get_by_text("Prompt and filter settings").click()
        page.get_by_text("drop only the last, possibly cut, candidate").click()
        page.get_by_role("button", name="Start: run the first iteration").click()

        # While the iteration runs, the live panel shows its prompt before any response or candidate.
        expect(page.get_by_text("Now: iteration 1 of 1")).to_be_visible(timeout=60_000)
        # visible=True: the collapsed fidelity notes on the page quote the header too.
        expect(page.get_by_text("Come up with a series of tasks:").filter(visible=True).first).to_be_visible()
        # The app's background worker runs the iteration; the page refreshes itself until it is stored.
        expect(page.get_by_text("3 · Raw response")).to_be_visible(timeout=240_000)
        expect(page.get_by_text("· done").first).to_be_visible(timeout=240_000)
        expect(page.get_by_text("Now: iteration")).to_have_count(0, timeout=30_000)
        expect(page.get_by_text("Iteration 1 of 1", exact=False)).to_be_visible()
        # Once the run is done the page redraws without the live refresh: no Cancel button any more.
        expect(page.get_by_role("button", name="Cancel")).to_have_count(0, timeout=30_000)
        # The whole page redraws after the live part does: the button comes back enabled with that rerun,
        # which a busy machine can take well over expect's default 5 s to finish.
        expect(page.get_by_role("button", name="Run next iteration")).to_be_enabled(timeout=60_000)
        assert page.get_by_test_id("stException").count() == 0
        # Streamlit scrolls inside its own container, so a tall window shows the whole iteration.
        page.set_viewport_size({"width": 1400, "height": 2800})
        settle_for_screenshot(page)
        page.screenshot(path=str(artifacts_dir / "selfinstruct.png"), full_page=True)
