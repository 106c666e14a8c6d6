"""The Consistency section through AppTest: start a check over a review, read suspects and AUROC."""

from __future__ import annotations

import pytest

from core.review import consistency
from core.review.records import ReviewLabel, SourceTask
from core.review.sampling import sample_items
from core.review.spec import ReviewSpec
from core.store import reviews as review_store
from core.store import runs as run_store
from tests.pages import ok, open_page

pytestmark = pytest.mark.usefixtures("owner_password")

TASKS = [
    SourceTask("good", "Write the word in capital letters.", (("cat", "CAT"), ("dog", "DOG"))),
    SourceTask("bad", "Write a poem about the autumn forest.", (("cat", "7"), ("dog", "19"))),
]


def test_consistency_section(store):
    items = tuple(sample_items(TASKS, 2, 0))
    spec = ReviewSpec(
        "audit", items, ("olga",), 1, 0, 2, {"kind": "test"}, {t.id: t.instances for t in TASKS}
    )
    rid = review_store.create_review(store, spec.name, spec.to_dict(), "olga")
    for item in items:
        good = item.task_id == "good"
        review_store.add_label(
            store,
            rid,
            ReviewLabel(item.item_id, "olga", {"instruction": good, "input": True, "output": good}),
        )

    at = open_page("pages/review.py", rater="olga", role="owner")
    at.segmented_control(key="review-section").set_value("Consistency").run()
    ok(at)
    assert any("At most 6 model calls" in c.value for c in at.caption)
    at.button(key="cons-start").click().run()
    assert not at.exception
    (run,) = run_store.list_runs(store, kind=consistency.KIND)
    assert {t["id"]: len(t["instances"]) for t in run.params["tasks"]} == {"good": 2, "bad": 2}
    run_store.request_cancel(
        store, run.id
    )  # the model runs in other tests; here, stored results as the job writes them
    by_id = {t.id: consistency.CheckTask(t.id, t.instruction, t.instances) for t in TASKS}
    replies = {
        "good": [" Write the word in capitals.", " CAT", " DOG"],
        "bad": [" Give a number.", " A poem", " Trees"],
    }
    for task_id, reply in replies.items():
        run_store.save_result(store, run.id, task_id, consistency.task_result(by_id[task_id], reply))

    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "suspect" in d.value.columns)
    assert dict(zip(table["task"], table["suspect"], strict=True)) == {"good": False, "bad": True}
    auroc = next(d.value for d in at.dataframe if "AUROC" in d.value.columns)
    row = auroc[auroc["signal"] == consistency.SIGNALS["execution_rouge"]].iloc[0]
    assert (row["n"], row["AUROC"]) == (2, 1.0)
    at.toggle(key="cons-suspect").set_value(True).run()
    table = next(d.value for d in at.dataframe if "suspect" in d.value.columns)
    assert list(table["task"]) == ["bad"]
