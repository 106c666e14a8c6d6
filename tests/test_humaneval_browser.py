"""Rating in a real browser: keyboard shortcuts save ratings, and a reload resumes at the next item."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.datasets.records import EvalTask, Instance
from core.humaneval.campaign import CampaignSpec
from core.store import dispose_all, evalset, get_engine
from core.store import ratings as rating_store
from tests.browser import FIRST_RENDER_MS, chromium, running_app, wait_idle

pytestmark = pytest.mark.browser

SET = "browser-set"
MARKUP = "<script>alert(1)</script> <b>not bold</b> **not bold** [a link](http://x.example)"


def _seed(data_dir) -> int:
    """A small set, two models' responses (all with markup), and a campaign rated by ann alone."""
    engine = get_engine(f"sqlite:///{data_dir / 'workbench.db'}")
    tasks = [
        EvalTask(f"t{i}", "App", f"Instruction number {i}.", [Instance(f"input {i}", f"ref {i}")])
        for i in range(3)
    ]
    evalset.import_set(engine, SET, tasks, actor="olga")
    for model in ("hidden-model-one", "hidden-model-two"):
        rating_store.save_responses(
            engine, SET, model, {t.id: f"Answer to {t.id}. {MARKUP}" for t in tasks}, source="test"
        )
    spec = CampaignSpec(
        name="Browser campaign",
        task_ids=tuple(t.id for t in tasks),
        models=("hidden-model-one", "hidden-model-two"),
        raters=("ann",),
        seed=7,
    )
    cid = rating_store.create_campaign(engine, spec.name, SET, spec.to_dict(), owner="olga")
    dispose_all()
    return cid


def _ratings(data_dir, cid: int) -> list:
    engine = get_engine(f"sqlite:///{data_dir / 'workbench.db'}")
    try:
        return rating_store.latest_ratings(engine, cid, rater="ann")
    finally:
        dispose_all()


def _labels(data_dir, cid: int) -> list[str | None]:
    return [r.label for r in _ratings(data_dir, cid)]


def _comments(data_dir, cid: int) -> list[str]:
    return [r.comment for r in _ratings(data_dir, cid)]


def _settled(page) -> None:
    """Wait for the script run to finish: a shortcut pressed before the buttons exist does nothing."""
    wait_idle(page)
    expect(page.get_by_role("button", name=re.compile("Irrelevant or invalid"))).to_be_enabled()


def test_keyboard_rating_persists_across_reload(data_dir, tmp_path, artifacts_dir):
    cid = _seed(data_dir)
    env = {"WORKBENCH_OWNERS": "olga"}
    with running_app(data_dir, tmp_path / "app.log", env) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1500})
        page.goto(f"{url}/humaneval")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_role("heading", name="Who is rating?")).to_be_visible(timeout=FIRST_RENDER_MS)
        main.get_by_label("…or a new name").fill("ann")
        main.get_by_role("button", name="Start").click()
        heading = main.get_by_role("heading", name=re.compile(r"Response \d of 6"))
        expect(heading).to_have_text("Response 1 of 6", timeout=30_000)

        # Untrusted markup in the response is shown as the characters it is made of.
        # (Code blocks load lazily: on a busy machine they appear seconds after the rest of the page.)
        expect(main.get_by_text("<script>alert(1)</script>", exact=False).first).to_be_visible(timeout=30_000)
        assert main.locator("b").count() == 0
        assert main.locator('a[href="http://x.example"]').count() == 0
        _settled(page)

        heading.click()  # focus the page rather than an input, as a rater would
        for key, expected in (("1", 2), ("b", 3), ("c", 4)):
            page.keyboard.press(key)
            expect(heading).to_have_text(f"Response {expected} of 6", timeout=15_000)
        # "c" is Streamlit's clear-cache key; the rating must have taken it, not that dialog.
        assert page.get_by_text("Clear caches").count() == 0
        assert _labels(data_dir, cid) == ["A", "B", "C"]

        page.reload()
        heading = page.get_by_test_id("stMain").get_by_role("heading", name=re.compile(r"Response \d of 6"))
        expect(heading).to_have_text("Response 4 of 6", timeout=30_000)
        _settled(page)
        # The rating view as a returning rater sees it (guidelines folded, buttons in view).
        page.screenshot(path=str(artifacts_dir / "humaneval_rate.png"))
        # Keys typed into the comment are text, not ratings; the comment is saved with the next rating.
        comment = page.get_by_label("Comment (optional, saved with the rating)")
        comment.press_sequentially("typo 1 a c")
        # The keys have reached the box and any rerun they might have started is over: nothing was rated.
        expect(comment).to_have_value("typo 1 a c")
        wait_idle(page)
        expect(heading).to_have_text("Response 4 of 6")
        assert _labels(data_dir, cid) == ["A", "B", "C"]
        heading.click()
        _settled(page)
        page.keyboard.press("4")
        expect(heading).to_have_text("Response 5 of 6", timeout=15_000)
        assert _labels(data_dir, cid) == ["A", "B", "C", "D"]
        assert _comments(data_dir, cid)[-1] == "typo 1 a c"
        assert page.get_by_test_id("stException").count() == 0
