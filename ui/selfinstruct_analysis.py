"""The Self-Instruct page's Analysis tab: Table 1 summed in SQL, and the figures a background job computes
once per state of the run (verb-noun sunburst, ROUGE-L against the seeds, length distributions)."""

from __future__ import annotations

import html
import math

import pandas as pd
import streamlit as st

from core.selfinstruct import analysis_job
from core.selfinstruct import pages as si_pages
from core.selfinstruct.analysis import DEFAULT_SPACY_MODEL, DatasetStats
from core.store import runs as run_store
from ui.common import engine, runner


def table1(s: DatasetStats) -> pd.DataFrame:
    def num(x: float) -> str:
        return "–" if isinstance(x, float) and math.isnan(x) else f"{x:.2f}"

    return pd.DataFrame(
        [
            ("# of instructions", str(s.instructions)),
            ("  - # of classification instructions", str(s.classification_instructions)),
            ("  - # of non-classification instructions", str(s.instructions - s.classification_instructions)),
            ("classification share", num(s.classification_share)),
            ("# of instances", str(s.instances)),
            ("  - # of instances with empty input", str(s.empty_input_instances)),
            ("empty-input share", num(s.empty_input_share)),
            ("ave. instruction length (in words)", num(s.avg_instruction_words)),
            ("ave. non-empty input length (in words)", num(s.avg_input_words)),
            ("ave. output length (in words)", num(s.avg_output_words)),
        ],
        columns=["statistic", "value"],
    )


@st.cache_data(max_entries=16, show_spinner=False)
def _table1(run_id: int, state: int) -> DatasetStats:
    return si_pages.table1(engine(), run_id)


@st.cache_data(max_entries=8, show_spinner=False)
def _stored(analysis_run_id: int, status: str) -> dict | None:
    return analysis_job.stored(engine(), analysis_run_id)


def _bars(hist: dict, x_label: str, height: int) -> None:
    import plotly.graph_objects as go

    edges, counts = hist["edges"], hist["counts"]
    centers = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
    width = edges[1] - edges[0] if len(edges) > 1 else 1
    fig = go.Figure(go.Bar(x=centers, y=counts, width=[width] * len(counts)))
    fig.update_layout(height=height, xaxis_title=x_label, yaxis_title="count", margin=dict(t=10, b=10))
    st.plotly_chart(fig)


def _sunburst(rows: list[dict]) -> None:
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Sunburst(
            ids=[r["id"] for r in rows],
            # Words from model output: Plotly reads a few HTML tags in labels, so escape them.
            labels=[html.escape(r["label"]) for r in rows],
            parents=[r["parent"] for r in rows],
            values=[r["value"] for r in rows],
            branchvalues="total",
        )
    )
    fig.update_layout(height=560, margin=dict(t=10, l=10, r=10, b=10))
    st.plotly_chart(fig)


def analysis_tab(run: run_store.Run, state: int) -> None:
    st.markdown("**Statistics** (the paper's Table 1)")
    st.dataframe(table1(_table1(run.id, state)), hide_index=True)
    st.markdown("**Figures** (the paper's Figures 3 and 4, and length distributions)")
    st.caption(
        "Computed by a background job over the pool as it is when you start it, and stored with the run: "
        "root verb and direct-object noun of each instruction (spaCy, top 20 verbs, top 4 nouns each), "
        "ROUGE-L of each kept instruction against its closest seed, and word counts."
    )
    latest = analysis_job.latest(engine(), run.id)
    busy = latest is not None and latest.status in run_store.ACTIVE
    # While a job runs this part redraws on its own (and shows the result when it is stored).
    st.fragment(run_every=2.0 if busy else None)(_figures)(run, state)


def _figures(run: run_store.Run, state: int) -> None:
    latest = analysis_job.latest(engine(), run.id)
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    model = c1.text_input("spaCy pipeline", DEFAULT_SPACY_MODEL, key=f"si_spacy_{run.id}")
    busy = latest is not None and latest.status in run_store.ACTIVE
    if c2.button("Analyse", key=f"si_analyse_{run.id}", disabled=busy):
        runner().submit(
            analysis_job.KIND,
            analysis_job.analysis_params(run.id, state, model.strip() or DEFAULT_SPACY_MODEL),
            name=f"Analysis of Self-Instruct run {run.id}",
        )
        st.rerun()
    if latest is None:
        st.info("No analysis yet: press Analyse to compute the figures in the background.")
        return
    if busy:
        st.progress(latest.fraction, text=f"Analysis running: {latest.message or 'queued'}")
    elif latest.status != "done":
        st.error(f"The last analysis {latest.status}.")
        if latest.error:
            st.text(latest.error)
    result = _stored(latest.id, latest.status) if latest.status == "done" else None
    if result is None:
        previous = next(
            (r for r in run_store.list_runs(engine(), kind=analysis_job.KIND)
             if r.params.get("run_id") == run.id and r.status == "done"),
            None,
        )  # fmt: skip
        result = _stored(previous.id, previous.status) if previous else None
    if result is None:
        return
    if result.get("upto") != state:
        st.caption("The run has stored more since this analysis; press Analyse to bring it up to date.")
    st.caption(
        f"{result['with_pair']} of {result['instructions']} instructions have a root verb with a "
        "direct-object noun."
    )
    if result["sunburst"]:
        _sunburst(result["sunburst"])
    st.markdown("**ROUGE-L of kept instructions against their most similar seed** (the paper's Figure 4)")
    if result["seed_rouge"]["counts"]:
        _bars(result["seed_rouge"], "ROUGE-L with the closest seed", 300)
    else:
        st.caption("No kept instruction yet.")
    st.markdown("**Length distributions** (words)")
    cols = st.columns(3)
    for col, name in zip(cols, ("instruction", "input", "output"), strict=True):
        with col:
            if result["lengths"][name]["counts"]:
                _bars(result["lengths"][name], f"{name} length", 250)
            else:
                st.caption(f"No {name}s yet.")
