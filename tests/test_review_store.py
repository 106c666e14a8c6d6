"""Reviews and their labels in the store (SQLite and PostgreSQL): saved at once, latest wins, resumable."""

from __future__ import annotations

from core.humaneval.campaign import resume_index
from core.review.records import ReviewLabel, SourceTask
from core.review.results import table2
from core.review.sampling import sample_items
from core.review.sources import tasks_from_run
from core.review.spec import ReviewSpec
from core.selfinstruct.rows import iteration_record
from core.selfinstruct.spec import KIND
from core.selfinstruct.view import load_run
from core.store import reviews as review_store
from core.store import runs as run_store


def _spec(n: int = 12, reviewers=("ann", "bob"), overlap: int = 2) -> ReviewSpec:
    tasks = [SourceTask(f"t{i}", f"Do thing {i}.", ((f"in{i}", f"out{i}"),)) for i in range(n)]
    return ReviewSpec(
        "audit", tuple(sample_items(tasks, n, seed=3)), reviewers, overlap, 3, n, {"kind": "test"}
    )


def test_labels_are_saved_at_once_and_the_latest_counts(engine):
    spec = _spec()
    rid = review_store.create_review(engine, spec.name, spec.to_dict(), "owner")
    stored = review_store.get_review(engine, rid)
    assert ReviewSpec.from_dict(stored.spec) == spec
    order = spec.assignments()["ann"]
    first = order[0]
    label = ReviewLabel(first, "ann").with_answer("instruction", True)
    review_store.add_label(engine, rid, label)
    (got,) = review_store.latest_labels(engine, rid, "ann")
    assert got.answers == {"instruction": True, "input": None, "output": None} and not got.complete
    label = label.with_answer("input", False).with_answer("output", True)
    review_store.add_label(engine, rid, ReviewLabel(first, "ann", label.answers, comment="odd input"))
    (got,) = review_store.latest_labels(engine, rid, "ann")
    assert got.complete and got.all_valid is False and got.comment == "odd input" and got.labeled_at
    review_store.add_label(engine, rid, ReviewLabel(order[1], "ann", {}, skipped=True))
    # Another reviewer's labels are theirs alone.
    review_store.add_label(
        engine, rid, ReviewLabel(first, "bob", {"instruction": False, "input": False, "output": False})
    )
    assert len(review_store.latest_labels(engine, rid)) == 3
    mine = review_store.latest_labels(engine, rid, "ann")
    # Resuming: the first item with neither a complete label nor a skip.
    finished = [x.item_id for x in mine if x.complete or x.skipped]
    assert resume_index(order, finished) == 2
    rows = {r.key: r for r in table2(review_store.latest_labels(engine, rid))}
    assert (rows["instruction"].yes, rows["instruction"].n) == (1, 2)


def test_a_self_instruct_run_is_a_source(engine):
    run_id = run_store.create_run(engine, KIND, {"seed": 0}, name="si")
    rows = []
    for n, text in enumerate(["Write a haiku about the sea.", "Sort the numbers."]):
        rows.append(
            {
                "sample": [],
                "prompt": "p",
                "response": "r",
                "candidates": [
                    {
                        "position": n,
                        "number": n + 1,
                        "raw": text,
                        "text": text,
                        "kept": True,
                        "reason": "kept",
                        "stage": "kept",
                    }
                ],
            }
        )
    run_store.save_result(engine, run_id, "iter/000000", iteration_record(0, rows, 0, "v1"))
    decisions = [
        {"input": "3 1 2", "output": "1 2 3", "kept": True},
        {"input": "x", "output": "", "kept": False, "reason": "empty"},
    ]
    run_store.save_result(
        engine,
        run_id,
        "inst/000000/000001",
        {"instruction": "Sort the numbers.", "is_classification": False, "decisions": decisions},
    )
    tasks = tasks_from_run(load_run(run_store.results(engine, run_id)))
    assert [(t.id, t.instruction, t.instances) for t in tasks] == [
        ("0/0", "Write a haiku about the sea.", ()),
        ("0/1", "Sort the numbers.", (("3 1 2", "1 2 3"),)),
    ]
    # Only the task with a kept instance can be reviewed.
    assert [i.task_id for i in sample_items(tasks, 200, 0)] == ["0/1"]
