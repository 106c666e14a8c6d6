"""The Human Evaluation workflow in a real browser with real data, as a rater and as an owner sees it.

Tasks come from the public user-oriented set (../shared/datasets); one model's answer is a long repetitive
response. At 1440x900 and 1024x768: the rating buttons and the keyboard hint are in the first screenful of a
900-pixel-high window (the long response scrolls in its own box), and every section reads cleanly: no
exception, no raw None/nan, nothing wider than the window, no request leaving this machine.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from core import datasets
from core.humaneval.campaign import RATING_SCALE, CampaignSpec
from core.humaneval.records import Rating
from core.store import dispose_all, evalset, get_engine
from core.store import ratings as rating_store
from tests.browser import FIRST_RENDER_MS, chromium, record_outside_requests, running_app
from tests.test_tour_browser import RAW_VALUE, _overflow_px, _screenshots, _settle, _visible_text

pytestmark = pytest.mark.browser

SET = "tour-set"
MODELS = ("model-long", "model-short")
LONG = "\n".join(f"Step {i}: the answer is yes, the answer is yes, the answer is yes." for i in range(400))
VIEWPORTS = [(1440, 900), (1024, 768)]


def _seed(data_dir, shared_datasets) -> int:
    """Six official tasks, two models (one rambling), a campaign for ann and bob, bob done, ann not started."""
    engine = get_engine(f"sqlite:///{data_dir / 'workbench.db'}")
    tasks = datasets.eval_tasks(shared_datasets)[:6]
    evalset.import_set(engine, SET, tasks, actor="olga")
    rating_store.save_responses(engine, SET, MODELS[0], {t.id: LONG for t in tasks}, source="tour")
    rating_store.save_responses(
        engine, SET, MODELS[1], {t.id: f"A short answer to {t.id}." for t in tasks}, source="tour"
    )
    spec = CampaignSpec(
        name="Tour campaign",
        task_ids=tuple(t.id for t in tasks),
        models=MODELS,
        raters=("ann", "bob", "cy"),
        overlap=3,
        seed=3,
    )
    cid = rating_store.create_campaign(engine, spec.name, SET, spec.to_dict(), owner="olga")
    for n, task in enumerate(tasks):
        for model in MODELS:
            good = model == MODELS[1]
            rating_store.add_rating(engine, cid, Rating(task.id, model, "bob", "A" if good else "C"))
            rating_store.add_rating(engine, cid, Rating(task.id, model, "cy", "AB"[n % 2] if good else "D"))
    dispose_all()
    return cid


def _check(page: Page, what: str, width: int) -> None:
    assert page.get_by_test_id("stException").count() == 0, f"{what} raised an exception"
    raw = RAW_VALUE.findall(_visible_text(page))
    assert not raw, f"{what} at {width}px shows raw values: {raw}"
    assert _overflow_px(page) <= 2, f"{what} at {width}px is wider than the window"


def _in_first_screen(page: Page, locator, height: int) -> None:
    box = locator.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, (locator, box)


def test_humaneval_workflow_reads_cleanly_with_buttons_in_view(
    data_dir, shared_datasets, tmp_path, artifacts_dir
):
    _seed(data_dir, shared_datasets)
    out = artifacts_dir / "tour"
    out.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    env = {"WORKBENCH_OWNERS": "olga"}
    with running_app(data_dir, tmp_path / "app.log", env) as url, chromium() as browser:
        for width, height in VIEWPORTS:
            page = browser.new_page(viewport={"width": width, "height": height})
            record_outside_requests(page, outside)
            main = page.get_by_test_id("stMain")
            if width == VIEWPORTS[0][0]:
                # A rater picks a profile once; a reload keeps it (it is in the URL).
                page.goto(f"{url}/humaneval")
                expect(main.get_by_role("heading", name="Who is rating?")).to_be_visible(
                    timeout=FIRST_RENDER_MS
                )
                main.get_by_label("…or a new name").fill("ann")
                main.get_by_role("button", name="Start").click()
                expect(main.get_by_text("Rating as ann", exact=False)).to_be_visible(timeout=30_000)
                _settle(page)
                page.reload()
                expect(main.get_by_text("Rating as ann", exact=False)).to_be_visible(timeout=60_000)
                assert "rater=ann" in page.url
            # A rater's first visit (guidelines open), then the long response (model-long is in ann's order).
            page.goto(f"{url}/humaneval?rater=ann&role=rater")
            heading = main.get_by_role("heading", name=re.compile(r"Response \d+ of 12"))
            expect(heading).to_be_visible(timeout=60_000)
            _settle(page)
            for _ in range(12):
                if main.get_by_text("Step 399: the answer is yes", exact=False).count():
                    break
                before = heading.inner_text()
                main.get_by_role("button", name="Skip").click()
                expect(heading).not_to_have_text(before, timeout=30_000)
                _settle(page)
            expect(main.get_by_text("400 lines · scroll inside the box", exact=False)).to_be_visible()
            stem = str(out / f"humaneval-rate-long-{width}x{height}")
            _screenshots(page, stem, width, height)
            _check(page, "Rating page", width)
            if height >= 900:
                for title, _ in RATING_SCALE.values():
                    _in_first_screen(
                        page, main.get_by_role("button", name=re.compile(re.escape(title))), height
                    )
                _in_first_screen(page, main.get_by_text("Keyboard: 1–4 or a–d", exact=False), height)

            # The owner's sections, results last (agreement on 12 items: intervals and the small-sample note).
            for section in ("Tasks", "Responses", "Campaigns", "Results"):
                page.goto(f"{url}/humaneval?rater=olga&role=owner&section={section}")
                expect(main.get_by_role("heading", name="Human Evaluation")).to_be_visible(timeout=60_000)
                _settle(page)
                _screenshots(page, str(out / f"humaneval-{section.lower()}-{width}x{height}"), width, height)
                _check(page, f"Human Evaluation → {section}", width)
            expect(main.get_by_text("bootstrap resamples of the shared items", exact=False)).to_be_visible()
            expect(main.get_by_text("with fewer than 30", exact=False).first).to_be_visible()
            page.close()
    assert not outside, f"requests left this machine: {sorted(set(outside))[:5]}"
