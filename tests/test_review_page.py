"""The Data Quality Review page through Streamlit's AppTest: create from a run, review blind, results."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.review.spec import ReviewSpec
from core.selfinstruct.rows import iteration_record
from core.selfinstruct.spec import KIND
from core.store import reviews as review_store
from core.store import runs as run_store
from tests.pages import ok, open_page

pytestmark = pytest.mark.usefixtures("owner_password")

INSTRUCTIONS = [f"Write item number {i} as *bold* text." for i in range(6)]


@pytest.fixture()
def run_id(store) -> int:
    """A stored Self-Instruct run, in the shape the pipeline stores: six kept tasks, one instance each."""
    rid = run_store.create_run(store, KIND, {"seed": 0}, name="secret-run-name")
    rows = [
        {
            "sample": [],
            "prompt": "p",
            "response": "r",
            "candidates": [
                {
                    "position": 0,
                    "number": 1,
                    "raw": t,
                    "text": t,
                    "kept": True,
                    "reason": "kept",
                    "stage": "kept",
                }
            ],
        }
        for t in INSTRUCTIONS
    ]
    run_store.save_result(store, rid, "iter/000000", iteration_record(0, rows, 0, "v1"))
    for i, text in enumerate(INSTRUCTIONS):
        decisions = [{"input": f"input {i}", "output": f"**output {i}**", "kept": True}]
        run_store.save_result(
            store,
            rid,
            f"inst/000000/{i:06d}",
            {"instruction": text, "is_classification": False, "decisions": decisions},
        )
    return rid


def _page(rater: str = "olga", role: str = "owner") -> AppTest:
    return open_page("pages/review.py", rater=rater, role=role)


def _section(at: AppTest, name: str) -> None:
    at.segmented_control(key="review-section").set_value(name).run()
    ok(at)


def _click(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    ok(at)


def _shown(at: AppTest) -> str:
    parts = [*(m.value for m in at.markdown), *(c.value for c in at.caption), *(c.value for c in at.code)]
    parts += [s.value for s in at.subheader]
    # Outside text reaches Markdown escaped; read it back as a person would.
    return "\n".join(str(p) for p in parts).replace("\\", "")


def test_create_review_label_blind_resume_and_results(store, run_id):
    at = _page()
    assert at.segmented_control(key="review-section").value == "Reviews"
    at.radio(key="rev-source").set_value("run").run()
    at.text_input(key="rev-name").set_value("audit one").run()
    at.number_input(key="rev-n").set_value(4).run()
    at.text_area(key="rev-who").set_value("olga").run()
    ok(at)
    assert "Departure: 4 items" in _shown(at)
    _click(at, "rev-create")
    (review,) = review_store.list_reviews(store)
    spec = ReviewSpec.from_dict(review.spec)
    assert len(spec.items) == 4 and spec.source == {"kind": "run", "run_id": run_id}
    assert spec.reviewers == ("olga",)

    _section(at, "Review")
    order = spec.assignments()["olga"]
    first = spec.by_id()[order[0]]
    shown = _shown(at)
    assert "Item 1 of 4" in shown
    assert first.instruction in [c.value for c in at.code]  # outside text as plain text, markup untouched
    assert "secret-run-name" not in shown and first.task_id not in shown  # blind to the source

    # Each answer is stored the moment it is given; the third completes the item and moves on.
    _click(at, "rev-q-instruction-yes")
    (label,) = review_store.latest_labels(store, review.id, "olga")
    assert label.answers == {"instruction": True, "input": None, "output": None}
    _click(at, "rev-q-input-no")
    _click(at, "rev-q-output-yes")
    (label,) = review_store.latest_labels(store, review.id, "olga")
    assert label.complete and label.all_valid is False
    assert "Item 2 of 4" in _shown(at)
    _click(at, "rev-skip")
    assert "Item 3 of 4" in _shown(at)
    _click(at, "rev-back")
    assert "Item 2 of 4" in _shown(at)

    # A new session resumes at the first item with neither answers nor a skip.
    again = _page()
    _section(again, "Review")
    assert "Item 3 of 4" in _shown(again)
    for key in ("rev-q-instruction-yes", "rev-q-input-yes", "rev-q-output-yes"):
        _click(again, key)
    assert "Item 4 of 4" in _shown(again)

    _section(again, "Results")
    table = next(d.value for d in again.dataframe if "quality review question" in d.value.columns)
    assert list(table["n"]) == [2, 2, 2, 2]
    assert list(table["% yes"]) == ["100%", "50%", "100%", "50%"]
    assert list(table["paper (n=200)"]) == ["92%", "79%", "58%", "54%"]
    failing = next(d.value for d in again.dataframe if "failed" in d.value.columns)
    assert list(failing["failed"]) == ["input"] and list(failing["instruction"]) == [first.instruction]


def test_a_rater_sees_only_reviews_listing_them(store, run_id):
    at = _page("pat", "rater")
    assert any("No review lists" in i.value for i in at.info)
