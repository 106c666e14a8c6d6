"""Consistency columns in the Self-Instruct pool view, from a real consistency run (the embedded model) over
a review sampled from the run: the stored signals as columns, sortable, with the suspect filter."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import JobRunner, run_once, submit
from core.llm import ModelSettings
from core.review import consistency
from core.review.sampling import sample_items
from core.review.sources import tasks_from_run
from core.review.spec import ReviewSpec
from core.selfinstruct import index
from core.selfinstruct import pages as si_pages
from core.selfinstruct.rows import iteration_record
from core.selfinstruct.spec import KIND, inst_key
from core.selfinstruct.view import load_run
from core.store import dispose_all, get_engine
from core.store import reviews as review_store
from core.store import runs as run_store
from tests.conftest import REPO_ROOT
from tests.test_selfinstruct_pipeline import share_model

# A task whose instances follow its instruction, one whose instances do not, and one with no instance (which
# no review samples, so no check covers it).
POOL = {
    "Write the word in capital letters.": [("cat", "CAT"), ("dog", "DOG")],
    "Write a poem about the autumn forest.": [("cat", "7"), ("dog", "19")],
    "List three colours of the rainbow.": [],
}


def _si_run(engine) -> int:
    run_id = run_store.create_run(
        engine, KIND, {"seeds": "starter", "iterations": 1, "seed": 0}, name="checked"
    )
    candidates = [
        {"position": n, "number": n + 1, "raw": text, "text": text, "kept": True, "reason": "kept",
         "stage": "kept", "seed_rouge": 0.1 * (n + 1)}
        for n, text in enumerate(POOL)
    ]  # fmt: skip
    request = {"sample": [], "prompt": "p", "response": "r", "candidates": candidates}
    run_store.save_result(engine, run_id, "iter/000000", iteration_record(0, [request], 0, "v1"))
    for i, pairs in enumerate(POOL.values()):
        if pairs:
            decisions = [{"input": a, "output": b, "kept": True, "reason": None} for a, b in pairs]
            run_store.save_result(
                engine,
                run_id,
                inst_key(0, i),
                {"instruction": "", "is_classification": False, "decisions": decisions},
            )
    run_store.update_run(engine, run_id, status="done")  # stored as a finished run's records
    return run_id


def _checked(engine) -> tuple[int, int, dict]:
    """The Self-Instruct run, and a consistency run over a review of it, run on the embedded model."""
    run_id = _si_run(engine)
    tasks = tasks_from_run(load_run(run_store.results(engine, run_id)))
    items = tuple(sample_items(tasks, 200, 0))
    spec = ReviewSpec(
        "audit",
        items,
        ("olga",),
        1,
        0,
        200,
        {"kind": "run", "run_id": run_id},
        {t.id: t.instances for t in tasks},
    )
    rid = review_store.create_review(engine, spec.name, spec.to_dict(), "olga")
    settings = ModelSettings(provider="embedded")
    checks = [consistency.CheckTask(*t) for t in spec.check_tasks()]
    params = consistency.check_params(
        checks, settings.public_dict(), False, {"kind": "review", "review_id": rid}
    )
    check_id = submit(engine, consistency.KIND, params)
    assert run_once(engine, model_settings=settings) == check_id
    assert run_store.get_run(engine, check_id).status == "done"
    return run_id, check_id, run_store.results(engine, check_id)


@pytest.fixture()
def store(data_dir):
    share_model(data_dir)
    dispose_all()
    yield get_engine(f"sqlite:///{data_dir / 'workbench.db'}")
    dispose_all()


def test_pool_view_shows_sorts_and_filters_the_stored_signals(store, monkeypatch):
    run_id, check_id, stored = _checked(store)
    assert set(stored) == {"0/0", "0/1"}
    # Core: the index copies the stored signals (no recomputation) and joins them to the pool.
    index.sync(store, run_id)
    assert index.sync_checks(store, check_id) == 2
    q = si_pages.PoolQuery(check_run_id=check_id)
    rows = {r.item: r for r in si_pages.pool_page(store, run_id, q).rows}
    for key, value in stored.items():
        r = rows[key]
        assert (r.induced, r.induced_rouge, r.execution_rouge) == (
            value["induced"],
            value["induced_rouge"],
            value["execution_rouge"],
        )
        assert r.induced_bertscore == value["induced_bertscore"]
    assert not rows["0/2"].checked and rows["0/2"].execution_rouge is None
    # Sorting by a signal: by value, unchecked items last either way.
    for descending in (False, True):
        q = si_pages.PoolQuery(sort="execution ROUGE-L", descending=descending, check_run_id=check_id)
        order = [r.item for r in si_pages.pool_page(store, run_id, q).rows]
        by_value = sorted(stored, key=lambda k: stored[k]["execution_rouge"], reverse=descending)
        assert order == [*by_value, "0/2"]
    # The suspect filter selects what consistency.suspect says, at every threshold.
    for threshold in (0.0, 0.2, 0.5, 0.95, 1.0):
        q = si_pages.PoolQuery(check_run_id=check_id, suspect_below=threshold)
        got = {r.item for r in si_pages.pool_page(store, run_id, q).rows}
        assert got == {k for k, v in stored.items() if consistency.suspect(v, threshold)}

    # The page: columns shown, suspect flag per row, the filter.
    monkeypatch.setattr(JobRunner, "_loop", lambda self: None)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/selfinstruct.py").run()
    at.selectbox(key="si_run").set_value(run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("A task is suspect when" in c.value and "0.20" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "execution ROUGE-L" in d.value.columns)
    assert list(table["item"]) == ["0/0", "0/1", "0/2"]
    flags = dict(zip(table["item"], table["suspect"], strict=True))
    assert {k: flags[k] for k in stored} == {k: consistency.suspect(v, 0.2) for k, v in stored.items()}
    assert table["induced instruction"].iloc[0] == stored["0/0"]["induced"]
    at.slider(key=f"si_suspect_at_{run_id}").set_value(1.0)
    at.toggle(key=f"si_suspect_{run_id}").set_value(True).run()
    table = next(d.value for d in at.dataframe if "execution ROUGE-L" in d.value.columns)
    assert set(table["item"]) == {k for k, v in stored.items() if consistency.suspect(v, 1.0)}
    assert "0/2" not in set(table["item"])


def test_without_a_check_the_pool_points_to_the_review_page(store, monkeypatch):
    run_id = _si_run(store)
    monkeypatch.setattr(JobRunner, "_loop", lambda self: None)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/selfinstruct.py").run()
    at.selectbox(key="si_run").set_value(run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No consistency check covers this run yet" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "seed ROUGE-L" in d.value.columns)
    assert "execution ROUGE-L" not in table.columns and len(table) == 3
