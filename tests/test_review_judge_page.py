"""The Judge section through AppTest: a judge run on review items, and the one-click Figure 6 run."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.datasets import import_folder
from core.humaneval.campaign import CampaignSpec
from core.humaneval.records import Rating
from core.jobs import run_once
from core.llm import ModelSettings
from core.review import judge_run
from core.review.judge import DEFAULT_RATING_TEMPLATE, JudgePrompt
from core.review.official import OFFICIAL_SET
from core.review.records import ReviewLabel, SourceTask
from core.review.results import table2
from core.review.sampling import sample_items
from core.review.spec import ReviewSpec
from core.store import ratings as rating_store
from core.store import reviews as review_store
from core.store import runs as run_store
from tests.pages import ok, open_page

pytestmark = pytest.mark.usefixtures("owner_password")


def _page() -> AppTest:
    at = open_page("pages/review.py", rater="olga", role="owner", timeout=300)
    at.segmented_control(key="review-section").set_value("Judge").run()
    ok(at)
    return at


def _shown(at: AppTest) -> str:
    parts = [
        *(m.value for m in at.markdown),
        *(c.value for c in at.caption),
        *(s.value for s in at.subheader),
    ]
    return "\n".join(str(p) for p in parts).replace("\\", "")


def test_judge_review_items_with_the_embedded_model(store):
    tasks = [
        SourceTask("a", "Add the two numbers.", (("2 3", "5"),)),
        SourceTask("b", "Say hello in French.", (("", "Bonjour"),)),
    ]
    spec = ReviewSpec("audit", tuple(sample_items(tasks, 2, 0)), ("olga",), 1, 0, 2, {"kind": "test"})
    rid = review_store.create_review(store, spec.name, spec.to_dict(), "olga")
    for item in spec.items:
        answers = {"instruction": True, "input": True, "output": True}
        review_store.add_label(store, rid, ReviewLabel(item.item_id, "olga", answers))
    human_before = table2(review_store.latest_labels(store, rid))

    at = _page()
    at.radio(key="judge-target").set_value("quality").run()
    ok(at)
    box = at.text_area(key="judge-template-quality")
    assert box.value.rstrip().endswith("1:")
    # An edited prompt that loses a placeholder is refused with a one-line reason.
    box.set_value(box.value.replace("{output}", "")).run()
    assert any("placeholder {output}" in e.value for e in at.error)
    box.set_value(box.value.replace("Output:\n", "Output:\n{output}")).run()
    ok(at)
    assert "At most 2 model calls" in _shown(at)
    at.button(key="judge-start").click().run()
    ok(at)
    (run,) = run_store.list_runs(store, kind=judge_run.KIND)
    assert run.params["template"] == box.value and run.params["source"] == {
        "kind": "review",
        "review_id": rid,
    }
    assert run_once(store, model_settings=ModelSettings(provider="embedded")) == run.id
    at.run()
    ok(at)
    shown = _shown(at)
    assert "2 of 2 judged" in shown and "unparseable replies" in shown
    assert "not a meaningful judge" in "\n".join(w.value for w in at.warning)
    # The judge is a separate rater: the human results did not move.
    assert table2(review_store.latest_labels(store, rid)) == human_before


def test_one_click_official_judge_and_figure6_from_its_ratings(store, data_dir, shared_datasets):
    import_folder(shared_datasets, data_dir / "datasets", groups=["user_oriented", "predictions"])
    at = _page()
    at.button(key="judge-official").click().run()
    ok(at)
    (run,) = run_store.list_runs(store, kind=judge_run.KIND)
    assert len(run.params["items"]) == 252 * 8 and len(run.params["source"]["models"]) == 8
    assert run.params["target"] == "rating" and run.params["template"] == DEFAULT_RATING_TEMPLATE
    run_store.request_cancel(store, run.id)  # no model calls here: the stored replies below stand in

    # Replies as the judge job stores them (read_reply), for a few items of two models.
    prompt = JudgePrompt("rating", DEFAULT_RATING_TEMPLATE)
    items = run.params["items"]
    models = sorted(run.params["source"]["models"])[:2]
    picked = [i for i in items if i["meta"]["model"] in models][:12]
    for n, item in enumerate(picked):
        reply = " A or B" if n == 0 else f" {'ABCD'[n % 4]}"
        value = {**judge_run.read_reply(prompt, reply, chat=False), **item["meta"], "call_id": None}
        run_store.save_result(store, run.id, item["key"], value)
    # A human campaign rating the same items, so agreement can be measured.
    tasks = sorted({i["meta"]["task_id"] for i in picked})
    spec = CampaignSpec("c", tuple(tasks), tuple(models), ("ann",))
    cid = rating_store.create_campaign(store, "c", OFFICIAL_SET, spec.to_dict(), "olga")
    for n, item in enumerate(picked):
        label = "ABCD"[n % 4] if n % 3 else "D"
        rating_store.add_rating(
            store, cid, Rating(item["meta"]["task_id"], item["meta"]["model"], "ann", label)
        )

    at.run()
    ok(at)
    shown = _shown(at)
    assert "12 of 2016 judged · 1 unparseable replies" in shown
    assert "Figure 6 layout from the judge's ratings" in shown and "not human ratings" in shown
    agreement = next(d.value for d in at.dataframe if "κ (A/B/C/D)" in d.value.columns)
    assert list(agreement["model"])[-1] == "all" and list(agreement["pairs"])[-1] == 11
    # The judge's ratings never reach the ratings table.
    assert {r.rater for r in rating_store.latest_ratings(store, cid)} == {"ann"}
