"""Instruction Induction (Honovich et al., 2022): induce instructions from demonstrations, execute, score."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.store import runs as run_store
from ui import induction_bench as bench
from ui import induction_new as new
from ui import induction_views as views
from ui.common import engine, model_banner

KIND = "induction"

st.title("Instruction Induction")
st.caption(
    "Honovich et al., 2022. The model reads input→output demonstrations and writes the instruction behind "
    "them; each instruction is executed zero-shot on held-out inputs and scored, next to the gold human "
    "instructions."
)
model_banner()
new.fidelity_link()

section = st.segmented_control(
    "Section", ["New run", "Runs", "Benchmark"], default="New run", required=True, key="ind_section"
)


def runs_section() -> None:
    runs = run_store.list_runs(engine(), kind=KIND)
    if not runs:
        st.info("No induction runs yet: start one in New run.")
        return
    by_id = {r.id: r for r in runs}
    rows = []
    for run in runs:
        p = run.params
        row = {
            "run": run.id,
            "name": run.name,
            "status": run.status,
            "task": p.get("task") or "my demonstrations",
            "K": p.get("k"),
            "decoding": views.decoding_label(p),
            "model": views.model_label(p.get("model")),
            "template": p.get("template_version"),
            "created": run.created_at,
            "induced": None,
            "human": None,
        }
        if run.status == "done":
            try:
                summary = views.report_for(run).summary
            except views.REPORT_ERRORS:  # its task is gone: list it, unscored
                summary = None
            if summary is not None:
                row["induced"], row["human"] = summary.induced, summary.human
        rows.append(row)
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "induced": st.column_config.NumberColumn("induced accuracy", format="percent"),
            "human": st.column_config.NumberColumn("human accuracy", format="percent"),
        },
    )
    view = st.segmented_control(
        "View", ["One run", "Compare two"], default="One run", required=True, key="ind_runs_view"
    )
    ids = list(by_id)
    if view == "One run":
        current = st.session_state.get(new.RUN_KEY)
        chosen = st.selectbox(
            "Run",
            ids,
            index=ids.index(current) if current in by_id else 0,
            format_func=lambda r: views.run_choice_label(by_id[r]),
            key="ind_runs_one",
        )
        views.show_run(chosen, key=f"runs{chosen}")
        return
    finished = [r for r in ids if by_id[r].status not in run_store.ACTIVE]
    if len(finished) < 2:
        st.info("Comparing needs two finished runs.")
        return
    c1, c2 = st.columns(2)
    a = c1.selectbox("Run A", finished, format_func=lambda r: views.run_label(by_id[r]), key="ind_cmp_a")
    b = c2.selectbox(
        "Run B", finished, index=1, format_func=lambda r: views.run_label(by_id[r]), key="ind_cmp_b"
    )
    try:
        views.compare_view(by_id[a], by_id[b])
    except views.REPORT_ERRORS as exc:
        views.plain_error("Cannot score one of these runs", exc)


if section == "New run":
    top = st.container()  # the current run goes above the form, where the eye is
    form = new.new_run_section()
    with top:
        new.current_run(form)
elif section == "Runs":
    runs_section()
else:
    bench.benchmark_section()
