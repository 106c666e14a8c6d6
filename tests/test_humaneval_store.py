"""The evaluation set, responses and ratings in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from core.datasets.loaders import load_eval_tasks, load_predictions
from core.datasets.records import EvalTask, Instance
from core.humaneval.curation import CurationError
from core.humaneval.matching import ResponseRow, match_responses
from core.humaneval.records import Rating
from core.store import evalset
from core.store import ratings as rating_store

SET = "user-oriented"


@pytest.fixture()
def official(shared_datasets):
    return load_eval_tasks(shared_datasets / "self-instruct" / "user_oriented_instructions.jsonl")


def test_unchanged_set_exports_byte_identical(engine, official, shared_datasets):
    evalset.import_set(engine, SET, official, actor="owner")
    original = (shared_datasets / "self-instruct" / "user_oriented_instructions.jsonl").read_text(
        encoding="utf-8"
    )
    assert evalset.export_set(engine, SET) == original


def test_edit_delete_restore_and_revert_are_recorded(engine, official):
    evalset.import_set(engine, SET, official, actor="owner")
    task = official[3]
    edited = EvalTask(task.id, "NewApp", "A clearer instruction.", task.instances, extra=task.extra)
    evalset.edit_task(engine, SET, edited, actor="alice")
    evalset.set_deleted(engine, SET, task.id, True, actor="bob")
    assert task.id not in {t.id for t in evalset.list_tasks(engine, SET)}
    evalset.set_deleted(engine, SET, task.id, False, actor="bob")
    changes = evalset.history(engine, SET, task.id)
    assert [c.action for c in changes] == ["restore", "delete", "edit"]
    assert changes[-1].actor == "alice" and changes[-1].before["instruction"] == task.instruction
    evalset.revert(engine, changes[-1].id, actor="carol")
    (back,) = [t for t in evalset.list_tasks(engine, SET) if t.id == task.id]
    assert back.instruction == task.instruction and back.motivation_app == task.motivation_app
    assert evalset.history(engine, SET, task.id)[0].action == "revert"


def test_validation_names_task_and_field_and_keeps_the_stored_set(engine, official):
    evalset.import_set(engine, SET, official[:5], actor="owner")
    with pytest.raises(CurationError, match="field 'instruction'"):
        evalset.edit_task(engine, SET, EvalTask(official[0].id, "", "  ", official[0].instances), actor="a")
    with pytest.raises(CurationError, match="already has this id"):
        evalset.add_task(engine, SET, EvalTask(official[1].id, "", "x", [Instance("", "y")]), actor="a")
    bad = [*official[:3], EvalTask(official[0].id, "", "dup", [Instance("", "y")])]
    with pytest.raises(CurationError, match="already has this id"):
        evalset.import_set(engine, "other", bad, actor="a")
    assert "other" not in evalset.set_names(engine)
    assert [t.id for t in evalset.list_tasks(engine, SET)] == [t.id for t in official[:5]]


def test_prediction_files_match_the_tasks(official, shared_datasets):
    path = shared_datasets / "self-instruct" / "predictions" / "davinci_predictions.jsonl"
    preds = load_predictions(path)
    rows = [
        ResponseRow(line=p.row + 1, response=p.response, instruction=p.instruction, input=p.input)
        for p in preds
    ]
    rows.append(ResponseRow(line=999, response="?", instruction="An instruction no task has", input=""))
    report = match_responses(official, rows)
    assert len(report.matched) + len(report.duplicates) == 252
    assert report.unmatched == [(999, "no task with this instruction and input")]


def test_two_raters_same_item_same_moment_both_kept(engine, official):
    evalset.import_set(engine, SET, official[:2], actor="owner")
    rating_store.save_responses(engine, SET, "m1", {official[0].id: "resp"}, source="test")
    campaign = rating_store.create_campaign(engine, "c", SET, {"models": ["m1"]}, owner="owner")
    barrier = threading.Barrier(2)

    def rate(rater: str, label: str) -> None:
        barrier.wait()
        for _ in range(10):
            rating_store.add_rating(engine, campaign, Rating(official[0].id, "m1", rater, label))

    threads = [threading.Thread(target=rate, args=(r, lab)) for r, lab in (("ann", "A"), ("ben", "C"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rating_store.count_rating_rows(engine, campaign) == 20
    latest = {r.rater: r.label for r in rating_store.latest_ratings(engine, campaign)}
    assert latest == {"ann": "A", "ben": "C"}
    rating_store.add_rating(
        engine, campaign, Rating(official[0].id, "m1", "ann", "B", comment="changed my mind")
    )
    latest = {r.rater: (r.label, r.comment) for r in rating_store.latest_ratings(engine, campaign)}
    assert latest["ann"] == ("B", "changed my mind")
