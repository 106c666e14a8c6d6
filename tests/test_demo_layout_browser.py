"""At 1440 px in Chromium: a started induction run shows above the form and in view, its report fits the
window, and Self-Instruct's live view shows the running iteration's prompt first. Screenshots go to
tests/artifacts/tour/demo-*.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser import chromium, running_app, shorten_selfinstruct_limits, wait_idle
from tests.test_induction_browser import _share_model
from tests.test_tour_browser import _overflow_px

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1440, 900


def _in_view(page: Page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and 0 <= box["y"] < HEIGHT


def test_results_in_view_and_the_live_step_at_1440(data_dir, tmp_path, artifacts_dir) -> None:
    _share_model(data_dir)
    out = artifacts_dir / "tour"
    out.mkdir(parents=True, exist_ok=True)
    with running_app(data_dir, tmp_path / "app.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.goto(url)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Instruction Induction").click()
        expect(page.get_by_role("heading", name="Instruction Induction")).to_be_visible(timeout=30_000)
        page.get_by_text("My own demonstrations").click()
        expect(page.get_by_text("5 demonstrations · 3 held-out examples")).to_be_visible(timeout=30_000)
        start = page.get_by_role("button", name="Start induction")
        expect(start).to_be_enabled(timeout=30_000)
        wait_idle(page)
        start.scroll_into_view_if_needed()
        assert not _in_view(page, page.get_by_role("heading", name="Instruction Induction"))
        start.click()

        # The run appears above the form, and the page brings it into view.
        heading = page.get_by_role("heading", name="Run 1")
        expect(heading).to_be_visible(timeout=60_000)
        page.wait_for_function(
            """() => { const h = [...document.querySelectorAll('h3')].find(e => e.innerText.startsWith('Run 1'));
                       if (!h) return false; const r = h.getBoundingClientRect();
                       return r.top >= 0 && r.top < window.innerHeight; }""",
            timeout=10_000,
        )
        assert heading.bounding_box()["y"] < start.bounding_box()["y"]
        page.screenshot(path=str(out / "demo-induction-started-1440x900.png"))

        expect(page.get_by_role("heading", name="Induced instructions")).to_be_visible(timeout=480_000)
        expect(page.get_by_role("button", name="Cancel")).to_have_count(0, timeout=30_000)
        wait_idle(page)
        assert page.get_by_test_id("stException").count() == 0
        assert _overflow_px(page) <= 2
        expect(
            page.get_by_text("Select a row (the box at its left) to read its text in full.").first
        ).to_be_visible()
        page.set_viewport_size({"width": WIDTH, "height": 4000})
        wait_idle(page)
        page.screenshot(path=str(out / "demo-induction-report-1440.png"), full_page=True)
        page.set_viewport_size({"width": WIDTH, "height": HEIGHT})

        # Self-Instruct: short generations, then the live view of iteration 1.
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Self-Instruct").click()
        expect(page.get_by_text("Start a run")).to_be_visible(timeout=30_000)
        shorten_selfinstruct_limits(page)
        expect(page.get_by_text("Duration, about")).to_be_visible()
        page.get_by_role("button", name="Start: run the first iteration").click()
        now = page.get_by_text("Now: iteration 1 of 1")
        expect(now).to_be_visible(timeout=60_000)
        prompt = page.get_by_text("2 · The exact prompt")
        response = page.get_by_text("3 · Response, as the model writes it")
        candidates = page.get_by_text("4 · Candidates")
        ys = [loc.bounding_box()["y"] for loc in (now, prompt, response, candidates)]
        assert ys == sorted(ys), ys
        page.screenshot(path=str(out / "demo-selfinstruct-live-1440x900.png"), full_page=True)
        expect(page.get_by_text("· done").first).to_be_visible(timeout=300_000)
        expect(page.get_by_text("Now: iteration")).to_have_count(0, timeout=30_000)
        wait_idle(page)
        assert page.get_by_test_id("stException").count() == 0
        assert _overflow_px(page) <= 2
        page.set_viewport_size({"width": WIDTH, "height": 4000})
        wait_idle(page)
        page.screenshot(path=str(out / "demo-selfinstruct-done-1440.png"), full_page=True)
