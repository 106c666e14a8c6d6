"""The Instruction Induction page in Chromium: start a tiny run on your own demonstrations, see its report."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import FIRST_RENDER_MS, chromium, running_app, settle_for_screenshot, wait_idle
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.browser

MODEL_FILE = REPO_ROOT / "data" / "models" / "gemma-3-270m-q4_k_m.gguf"


def _share_model(data_dir: Path) -> None:
    """Point the test's working folder at the app's model file, when there is one, instead of a new copy."""
    if MODEL_FILE.exists():
        (data_dir / "models").mkdir(exist_ok=True)
        (data_dir / "models" / MODEL_FILE.name).symlink_to(MODEL_FILE)


def test_induce_from_own_demonstrations(data_dir, tmp_path, artifacts_dir) -> None:
    _share_model(data_dir)
    with running_app(data_dir, tmp_path / "app.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Instruction Induction").click()
        expect(page.get_by_role("heading", name="Instruction Induction")).to_be_visible(
            timeout=FIRST_RENDER_MS
        )

        # The example table: five antonym demonstrations and three held-out pairs, greedy, K=1.
        page.get_by_text("My own demonstrations").click()
        expect(page.get_by_text("5 demonstrations · 3 held-out examples")).to_be_visible(timeout=30_000)
        # Mid-rerun the task form's estimate can still stand beside the new one: read the page at rest.
        wait_idle(page)
        expect(page.get_by_text("Model calls, at most")).to_be_visible()
        start = page.get_by_role("button", name="Start induction")
        expect(start).to_be_enabled(timeout=30_000)
        # The demonstrations table settles with a rerun or two; a click during one can be lost.
        wait_idle(page)
        start.click()
        expect(page.get_by_role("heading", name="Run 1")).to_be_visible(timeout=60_000)

        # The app's worker runs it; the page redraws itself with the report when the run is done. Four
        # embedded-model calls take seconds on an idle machine, minutes on a busy one.
        expect(page.get_by_role("heading", name="Induced instructions")).to_be_visible(timeout=480_000)
        expect(page.get_by_role("heading", name="Drill-down")).to_be_visible()
        expect(page.get_by_text("Distinct / induced")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel")).to_have_count(0, timeout=30_000)
        assert page.get_by_test_id("stException").count() == 0

        page.get_by_role("button", name="Re-score from stored outputs").click()
        expect(page.get_by_text("0 model calls made")).to_be_visible(timeout=30_000)
        # Streamlit scrolls inside its own container: a tall window shows the whole report.
        page.set_viewport_size({"width": 1400, "height": 3000})
        settle_for_screenshot(page)
        page.screenshot(path=str(artifacts_dir / "induction.png"), full_page=True)
