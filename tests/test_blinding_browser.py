"""Blinding in a real browser (issue 15.8): the rating page's whole DOM (text, attributes, classes built from
widget keys) and its URL hold no model name and nothing computed from task and model names."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.datasets.records import EvalTask, Instance
from core.humaneval.campaign import CampaignSpec
from core.store import dispose_all, evalset, get_engine
from core.store import ratings as rating_store
from tests.browser import FIRST_RENDER_MS, chromium, running_app
from tests.test_blinding_rate import derivable

pytestmark = pytest.mark.browser

SET = "blind-browser"
MODELS = ("hidden-model-one", "Hidden-Model-Two")
TASKS = ("t0", "t1", "t2")

# Every attribute of every element, plus the text: what a rater can read with the browser's inspector.
DOM_DUMP = """() => {
  const parts = [document.documentElement.outerHTML, location.href];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) parts.push(attr.name + "=" + attr.value);
  }
  return parts.join("\\n");
}"""


def _seed(data_dir) -> int:
    engine = get_engine(f"sqlite:///{data_dir / 'workbench.db'}")
    tasks = [EvalTask(t, "App", f"Instruction {t}.", [Instance(f"input {t}", f"ref {t}")]) for t in TASKS]
    evalset.import_set(engine, SET, tasks, actor="olga")
    for model in MODELS:
        rating_store.save_responses(engine, SET, model, {t: f"Answer to {t}." for t in TASKS}, "test")
    spec = CampaignSpec(name="Blind browser", task_ids=TASKS, models=MODELS, raters=("ann",), seed=0)
    cid = rating_store.create_campaign(engine, spec.name, SET, spec.to_dict(), owner="olga")
    dispose_all()
    return cid


def test_rating_page_dom_holds_nothing_derivable_from_the_model(data_dir, tmp_path):
    cid = _seed(data_dir)
    forbidden = derivable(TASKS, MODELS)
    with (
        running_app(data_dir, tmp_path / "app.log", {"WORKBENCH_OWNERS": "olga"}) as url,
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        page.goto(f"{url}/humaneval?rater=ann&role=rater")
        main = page.get_by_test_id("stMain")
        heading = main.get_by_role("heading", name=re.compile(r"Response \d of 6"))
        for n in range(1, 7):
            expect(heading).to_have_text(f"Response {n} of 6", timeout=FIRST_RENDER_MS)
            expect(page.get_by_test_id("stApp")).to_have_attribute(
                "data-test-script-state", "notRunning", timeout=30_000
            )
            # Code blocks load lazily: wait for the response itself, then read the whole page.
            expect(main.get_by_text(re.compile(r"Answer to t\d\.")).first).to_be_visible(timeout=30_000)
            dom = page.evaluate(DOM_DUMP)
            assert "Answer to t" in dom  # the dump holds the response being rated
            assert f"st-key-heval-comment-{cid}-r-" in dom  # and the classes made from widget keys
            leaks = sorted(s for s in forbidden if s in dom)
            assert not leaks, f"rating page {n} holds {leaks}"
            main.get_by_role("button", name=re.compile("Valid and satisfying")).click()
        expect(main.get_by_text("Thank you", exact=False)).to_be_visible(timeout=30_000)
        assert not [s for s in forbidden if s in page.evaluate(DOM_DUMP)]
        assert page.get_by_test_id("stException").count() == 0
