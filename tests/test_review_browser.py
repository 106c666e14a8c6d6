"""Reviewing in a real browser: Y/N keys answer and save at once, → skips, and a reload resumes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.review.records import SourceTask
from core.review.sampling import sample_items
from core.review.spec import ReviewSpec
from core.store import dispose_all, get_engine
from core.store import reviews as review_store
from tests.browser import FIRST_RENDER_MS, chromium, running_app, wait_idle
from tests.conftest import wait_for

pytestmark = pytest.mark.browser

MARKUP = "<b>not bold</b> **not bold** [a link](http://x.example)"


def _seed(data_dir) -> int:
    engine = get_engine(f"sqlite:///{data_dir / 'workbench.db'}")
    tasks = [
        SourceTask(f"t{i}", f"Instruction {i}. {MARKUP}", ((f"input {i}", f"output {i}"),)) for i in range(4)
    ]
    spec = ReviewSpec("Browser review", tuple(sample_items(tasks, 4, 1)), ("ann",), 1, 1, 4, {"kind": "test"})
    rid = review_store.create_review(engine, spec.name, spec.to_dict(), "olga")
    dispose_all()
    return rid


def _labels(data_dir, rid: int) -> list:
    engine = get_engine(f"sqlite:///{data_dir / 'workbench.db'}")
    try:
        return review_store.latest_labels(engine, rid, "ann")
    finally:
        dispose_all()


def test_keyboard_review_saves_at_once_and_resumes(data_dir, tmp_path, artifacts_dir):
    rid = _seed(data_dir)
    with (
        running_app(data_dir, tmp_path / "app.log", {"WORKBENCH_OWNERS": "olga"}) as url,
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        page.goto(f"{url}/review")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_role("heading", name="Who is rating?")).to_be_visible(timeout=FIRST_RENDER_MS)
        main.get_by_label("…or a new name").fill("ann")
        main.get_by_role("button", name="Start").click()
        heading = main.get_by_role("heading", name=re.compile(r"Item \d of 4"))
        expect(heading).to_have_text("Item 1 of 4", timeout=30_000)
        # Outside text is shown as the characters it is made of.
        expect(main.get_by_text("<b>not bold</b>", exact=False).first).to_be_visible()
        assert main.locator("b").count() == 0 and main.locator('a[href="http://x.example"]').count() == 0
        wait_idle(page)
        heading.click()
        page.keyboard.press("y")
        # The key press reaches the server a moment later: wait for the saved answer itself.
        wait_for(lambda: len(_labels(data_dir, rid)) == 1, "the first answer saved")
        (label,) = _labels(data_dir, rid)
        assert label.answers == {"instruction": True, "input": None, "output": None}
        page.keyboard.press("n")
        wait_idle(page)
        page.keyboard.press("y")
        expect(heading).to_have_text("Item 2 of 4", timeout=15_000)
        (label,) = _labels(data_dir, rid)
        assert label.answers == {"instruction": True, "input": False, "output": True}
        wait_idle(page)
        page.keyboard.press("ArrowRight")
        expect(heading).to_have_text("Item 3 of 4", timeout=15_000)
        assert [x.skipped for x in _labels(data_dir, rid)] == [False, True]

        page.reload()
        heading = page.get_by_test_id("stMain").get_by_role("heading", name=re.compile(r"Item \d of 4"))
        expect(heading).to_have_text("Item 3 of 4", timeout=30_000)
        wait_idle(page)
        # Letters typed into the comment are text, not answers.
        comment = page.get_by_label("Comment (optional, saved with each answer)")
        comment.press_sequentially("yes no")
        # The keys have reached the box and any rerun they might have started is over: nothing was answered.
        expect(comment).to_have_value("yes no")
        wait_idle(page)
        expect(heading).to_have_text("Item 3 of 4")
        assert len(_labels(data_dir, rid)) == 2
        heading.click()
        wait_idle(page)
        page.screenshot(path=str(artifacts_dir / "review_label.png"))
        page.keyboard.press("ArrowLeft")
        expect(heading).to_have_text("Item 2 of 4", timeout=15_000)
        assert page.get_by_test_id("stException").count() == 0
