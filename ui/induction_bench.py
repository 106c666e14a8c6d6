"""The benchmark view: start a multi-task run, and read a stored one as the paper's per-task table."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import core.datasets as datasets
from core.induction.report import (
    BenchmarkReport,
    benchmark_rows,
    build_benchmark,
    rows_to_csv,
    rows_to_markdown,
)
from core.induction.spec import induction_params, paper_departures, record_samples
from core.store import runs as run_store
from ui import charts
from ui import induction_new as new
from ui import induction_views as views
from ui.common import engine, model_settings, run_status, runner
from ui.scroll import scroll_into_view

KIND = "induction_benchmark"
SELECTED_KEY = "ind_bench_run"


@st.cache_data(show_spinner=False, max_entries=32)
def _bench(run_id: int, stamp: str) -> BenchmarkReport:
    run = run_store.get_run(engine(), run_id)
    assert run is not None
    return build_benchmark(run.params, run_store.results(engine(), run_id))


def start_form() -> None:
    names = datasets.instruction_task_names()
    official = datasets.has_official("instruction_induction")
    st.caption(
        ("The paper's 24 tasks." if official else "The starter tasks (import the official data for the 24).")
        + " Each task runs like a single induction run, under one run id."
    )
    new.paper_button("ind_b", "ind_b_source", "ind_b_sets", "ind_b_limit_all")
    tasks = st.multiselect("Tasks", names, default=names, key="ind_b_tasks")
    c1, c2, c3 = st.columns(3)
    source = c1.radio(
        "Demonstrations",
        ["random", "paper"],
        format_func=lambda s: "Random sets of five" if s == "random" else "The paper's sets",
        key="ind_b_source",
    )
    st.session_state.setdefault("ind_b_sets", 1)  # through Session State: "Paper settings" sets it too
    n_sets = c2.number_input(
        "Demonstration sets per task",
        1,
        100,
        key="ind_b_sets",
        help="Fewer than all: a seeded random choice (not the first ones), stored with the run.",
    )
    limit = None
    if not c3.toggle("Every held-out input (as the paper)", False, key="ind_b_limit_all"):
        limit = int(
            c3.number_input(
                "Held-out inputs per task (a seeded random sample)", 1, 10_000, 20, key="ind_b_limit"
            )
        )
    choice = new.Choice(n_gold=1)  # every benchmark task has gold instructions
    settings = new.settings_form(choice, "ind_b")
    model = model_settings()
    params = induction_params(
        model=model.public_dict(),
        tasks=tasks,
        demo_source=source,
        n_sets=int(n_sets),
        limit=limit,
        **settings,
    )
    params["preset"] = "paper" if not paper_departures(params) else None
    new.show_departures(params)
    cost = new.estimate(params) if tasks and choice.ok else None
    default_name = f"benchmark · {len(tasks)} tasks · K={settings['k']}"
    name = st.text_input("Run name", placeholder=default_name, key="ind_b_name").strip() or default_name
    confirmed = new.confirm_long_run(cost, params["model"], "ind_b")
    if st.button(
        "Start benchmark", type="primary", disabled=cost is None or not confirmed, key="ind_b_start"
    ):
        try:
            params = record_samples(params)  # the exact sample is stored with the run
        except views.REPORT_ERRORS as exc:
            new.plain_problem("Cannot start", exc)
            return
        st.session_state["ind_bench_started"] = runner().submit(KIND, params, name, settings=model)
        st.rerun()


def _chart(frame: pd.DataFrame) -> alt.Chart:
    long = frame.melt(
        id_vars=["task"], value_vars=["induced", "human"], var_name="instructions", value_name="accuracy"
    ).dropna(subset=["accuracy"])  # an unfinished task has no accuracy: no bar rather than a null one
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("task:N", sort=None, title="task", axis=alt.Axis(labelAngle=-45)),
            xOffset="instructions:N",
            y=alt.Y(
                "accuracy:Q",
                title="execution accuracy",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            color=alt.Color(
                "instructions:N",
                scale=alt.Scale(domain=["induced", "human"], range=[views.INDUCED_COLOR, views.HUMAN_COLOR]),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=["task:N", "instructions:N", alt.Tooltip("accuracy:Q", format=".1%")],
        )
        .properties(height=320)
    )


def bench_view(run: run_store.Run) -> None:
    bench = _bench(run.id, views.stamp(run))
    rows = benchmark_rows(bench)
    overall = bench.overall
    c = st.columns(4)
    c[0].metric("Tasks complete", f"{overall.n_tasks} / {len(rows)}")
    c[1].metric("Mean induced accuracy", views.pct(overall.mean_induced if overall.n_tasks else None))
    c[2].metric("Mean human accuracy", views.pct(overall.mean_human if overall.n_tasks else None))
    c[3].metric(
        "% of human performance",
        "—" if overall.percent_of_human is None else f"{overall.percent_of_human:.1f}%",
        help="Mean induced accuracy over tasks divided by mean human accuracy (ratio of means).",
    )
    st.caption(
        "% of human performance is the mean induced accuracy over the complete tasks divided by the mean human "
        "accuracy; the mean of the per-task ratios is "
        + ("—" if overall.mean_of_ratios is None else f"{overall.mean_of_ratios:.1f}%")
        + " (tasks whose human baseline is 0 are left out of it). BERTScore: F1 against the best-matching "
        "gold instruction."
    )
    for note in bench.notes:
        st.text(note)  # may name a BERTScore model someone typed: plain text
    frame = pd.DataFrame(rows)
    # On the page (the downloads keep every column): the departures are the run's, the same on every row,
    # so they are said once above the table; columns empty for the whole run would only show "None".
    shown = frame.drop(columns=["departures_from_paper"], errors="ignore")
    optional = ["selected_accuracy", "bertscore_f1", "bertscore_scale"]
    shown = shown.drop(
        columns=[c for c in optional if c in shown and (shown[c].isna() | (shown[c] == "")).all()]
    )
    if rows:
        st.text(f"Departures from the paper: {rows[0]['departures_from_paper']}")
    st.dataframe(
        shown,
        hide_index=True,
        column_config={
            "induced": st.column_config.NumberColumn("induced accuracy", format="percent"),
            "human": st.column_config.NumberColumn("human accuracy", format="percent"),
            "percent_of_human": st.column_config.NumberColumn("% of human", format="%.1f"),
            "selected_accuracy": st.column_config.NumberColumn(
                "selected-instruction accuracy",
                format="percent",
                help="The search's winner on test inputs it was not selected on (not the paper's figure).",
            ),
            "bertscore_f1": st.column_config.NumberColumn("BERTScore F1", format="%.3f"),
            "bertscore_scale": st.column_config.TextColumn("BERTScore scale", width="small"),
        },
    )
    if reason := charts.blank_reason(frame, ["induced", "human"]) if rows else charts.NO_DATA:
        charts.note(f"Execution accuracy per task: {reason}")
    else:
        st.altair_chart(_chart(frame), width="stretch")
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download CSV", rows_to_csv(rows), f"induction_run{run.id}.csv", "text/csv", key=f"bcsv-{run.id}"
    )
    c2.download_button(
        "Download Markdown",
        rows_to_markdown(rows, overall, bench.notes),
        f"induction_run{run.id}.md",
        "text/markdown",
        key=f"bmd-{run.id}",
    )
    task = st.selectbox("Open one task's report", [None, *[r["task"] for r in rows]], key=f"btask-{run.id}")
    if task:
        views.report_view(run, task, key=f"b{run.id}-{task}")


def benchmark_section() -> None:
    runs = run_store.list_runs(engine(), kind=KIND)
    by_id = {r.id: r for r in runs}
    if (started := st.session_state.pop("ind_bench_started", None)) is not None:
        runs = run_store.list_runs(engine(), kind=KIND)
        by_id = {r.id: r for r in runs}
        st.session_state[SELECTED_KEY] = started  # before the selectbox exists, as Streamlit requires
    if st.session_state.get(SELECTED_KEY) not in (None, *by_id):
        st.session_state[SELECTED_KEY] = None
    selected = st.selectbox(
        "Benchmark run",
        [None, *by_id],
        format_func=lambda r: "New benchmark" if r is None else views.run_choice_label(by_id[r]),
        key=SELECTED_KEY,
    )
    if selected is None:
        start_form()
        return
    with st.container(key="ind_bench_current"):
        run = run_status(selected)
        if run is None:
            return
        if run.status in run_store.ACTIVE:
            st.caption("The table fills in when the run finishes (tasks run one after another).")
            views.watch(selected)
        else:
            try:
                bench_view(run)
            except views.REPORT_ERRORS as exc:
                new.plain_problem(f"Cannot score run {run.id}", exc)
    if started is not None:
        # Started from the bottom of a long form: the run's progress is at the top now, bring it into view.
        scroll_into_view("ind_bench_current")
