"""The consistency check section of the Data Quality Review page: run it over a review's tasks, read it."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from core.humaneval.identity import Person
from core.review import consistency
from core.review.spec import ReviewSpec
from core.store import reviews as review_store
from core.store import runs as run_store
from ui.common import engine, model_banner, model_settings, run_status, runner

PREFIX = "cons"


def _fmt(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 3)


def render_consistency(who: Person) -> None:
    eng = engine()
    reviews = review_store.list_reviews(eng)
    if not reviews:
        st.info("No reviews yet: create one in the Reviews section.")
        return
    st.caption(
        "For each sampled task, without a human: the Instruction Induction prompt asks the model which "
        "instruction produced the task's own instances (compared with the generated instruction by ROUGE-L "
        "and BERTScore), and the model follows the generated instruction on those inputs (compared with the "
        "generated outputs by ROUGE-L)."
    )
    by_id = {r.id: r for r in reviews}
    rid = st.selectbox(
        "Review", list(by_id), format_func=lambda i: f"#{i} {by_id[i].name}", key=f"{PREFIX}-rv"
    )
    spec = ReviewSpec.from_dict(by_id[rid].spec)
    tasks = [consistency.CheckTask(*t) for t in spec.check_tasks()]
    model_banner()
    settings = model_settings()
    chat = "completion" not in settings.styles
    params = consistency.check_params(
        tasks, settings.public_dict(), chat, {"kind": "review", "review_id": rid}
    )
    if not spec.task_instances:
        st.caption(
            "This review stored only the sampled instance of each task, so induction sees one demonstration."
        )
    st.caption(f"At most {consistency.calls_needed(params)} model calls (cached calls cost nothing).")
    if st.button("Run the consistency check", key=f"{PREFIX}-start"):
        runner().submit(consistency.KIND, params, name=f"Consistency of review #{rid}", settings=settings)
    runs = [
        r
        for r in run_store.list_runs(eng, kind=consistency.KIND)
        if r.params.get("source", {}).get("review_id") == rid
    ]
    if not runs:
        return
    run = run_status(runs[0].id) or runs[0]
    results = run_store.results(eng, run.id)
    c1, c2 = st.columns(2)
    threshold = c1.slider("Suspect below (ROUGE-L)", 0.0, 1.0, 0.2, 0.05, key=f"{PREFIX}-threshold")
    only = c2.toggle("Only suspect tasks", key=f"{PREFIX}-suspect")
    instruction = {t.id: t.instruction for t in tasks}
    rows = []
    for task_id, value in results.items():
        if "skipped" in value:
            continue
        flagged = consistency.suspect(value, threshold)
        if only and not flagged:
            continue
        rows.append(
            {
                "task": task_id,
                "suspect": flagged,
                "instruction": instruction.get(task_id, ""),
                "induced instruction": value.get("induced", ""),
                "induced ROUGE-L": _fmt(value.get("induced_rouge")),
                "induced BERTScore": _fmt(value.get("induced_bertscore")),
                "execution ROUGE-L": _fmt(value.get("execution_rouge")),
            }
        )
    st.caption(f"{len(rows)} tasks shown; click a column to sort.")
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    task_of = {i.item_id: i.task_id for i in spec.items}
    seps = consistency.separation(results, review_store.latest_labels(eng, rid), task_of)
    st.subheader("How well each signal separates valid from invalid items")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "signal": consistency.SIGNALS[s.signal],
                    "AUROC": _fmt(s.auroc),
                    "n": s.n,
                    "valid (all three yes)": s.valid,
                    "invalid": s.invalid,
                }
                for s in seps
            ]
        ),
        hide_index=True,
    )
    st.caption("AUROC needs complete human labels of both kinds; 0.5 is chance, 1.0 separates perfectly.")
