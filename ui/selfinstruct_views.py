"""The Self-Instruct page's views of one run read from its index: one iteration's stages, the run charts,
export. (The start and Go on forms are in selfinstruct_start, the live step and tabs in selfinstruct_live,
analysis and pool in their own modules.)

Everything a model wrote is shown with st.text, st.code(language=None) or dataframes, never as markdown.
Markdown here only ever holds this module's own constant strings.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.selfinstruct import calltexts, index
from core.selfinstruct import pages as si_pages
from core.selfinstruct.filters import CandidateDecision
from core.selfinstruct.reasons import REASONS
from core.selfinstruct.view import EXPORT_FORMATS, IterationView, RunView, export_label, export_run, load_run
from core.store import calls as call_log
from core.store import runs as run_store
from ui import charts
from ui.common import engine

ORIGIN_LABEL = {"human": "human", "machine": "machine"}
# Kept is green in the charts; the reasons for dropping get warm and grey tones.
DROP_COLORS = (
    "#d62728",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
    "#9467bd",
    "#ff9896",
    "#c49c94",
)


def open_run(run_id: int) -> int:
    """Bring the run's page index up to date (reads only results stored since the last sync, usually none)
    and return the run's state: its newest result id, the key every cached view of it is stored under."""
    if index.indexed_upto(engine(), run_id) is None:
        # A run stored before the index existed: read once, then kept up to date by its job.
        with st.spinner("Indexing this run's records for the page (once)…"):
            index.sync(engine(), run_id)
    else:
        index.sync(engine(), run_id)
    return index.indexed_upto(engine(), run_id) or 0


# Results are append-only, so the newest result id identifies a state of the run (the cache keys below).
@st.cache_data(max_entries=16, show_spinner=False)
def summary(run_id: int, state: int) -> si_pages.RunSummary:
    return si_pages.summary(engine(), run_id)


@st.cache_data(max_entries=64, show_spinner=False)
def iteration_view(run_id: int, t: int, state: int) -> tuple[IterationView, RunView] | None:
    """Iteration t (0-based) with its verdicts and instances: its own records, read by key."""
    return si_pages.iteration(engine(), run_id, t)


@st.cache_data(max_entries=2, show_spinner=False)
def full_view(run_id: int, state: int, texts: bool = False) -> RunView:
    """Every record of the run: only for exports, built when a download is asked for. `texts`: with the
    prompts and raw answers the records leave to the call log (the provenance export's)."""
    run = run_store.get_run(engine(), run_id)
    results = (calltexts.results if texts else run_store.results)(engine(), run_id)
    return load_run(results, run.params if run else {})


# --- One iteration -----------------------------------------------------------------------------------------------


def candidate_card(d: CandidateDecision, seed_rouge: float | None = None, avg: float | None = None) -> None:
    with st.container(border=True):
        code = d.code if d.code in REASONS else None
        if d.kept:
            st.markdown(":green-badge[:material/check: kept]")
        else:
            st.markdown(f":red-badge[:material/close: dropped · {code or 'other'}]")
        st.text(d.text or "(empty)")
        if not d.kept:
            st.caption(REASONS.get(code or "", "Dropped."))
            detail = (d.reason or "").split(":", 1)[1].strip() if ":" in (d.reason or "") else ""
            if detail:
                st.text(detail)
        if d.kept and seed_rouge is not None:
            st.caption(f"Highest ROUGE-L against a seed: {seed_rouge:.3f}")
        if avg is not None:
            st.caption(f"Mean ROUGE-L against the pool (avg_similarity_score): {avg:.3f}")
        if d.evidence:
            frame = pd.DataFrame(
                [{"ROUGE-L": round(s.score, 3), "closest pool instruction": s.text} for s in d.evidence]
            )
            if d.stage == "novelty":
                st.caption("The closest pool instruction (ROUGE-L above the threshold drops the candidate)")
                st.dataframe(frame, hide_index=True)
            else:
                with st.expander(f"Closest pool instructions (max ROUGE-L {d.evidence[0].score:.3f})"):
                    st.dataframe(frame, hide_index=True)


def show_iteration(view: RunView, it: IterationView) -> None:
    items = {x.key: x for x in view.items if x.t == it.t}
    kept_i = 0
    for r, (record, raw) in enumerate(zip(it.records, it.raw["requests"], strict=True)):
        if len(it.records) > 1:
            st.subheader(f"Request {r + 1} of {len(it.records)}")
        st.markdown("**1 · Sampled instructions**")
        st.dataframe(
            pd.DataFrame(
                [
                    {"#": n, "from": ORIGIN_LABEL.get(s.origin, s.origin), "instruction": s.text}
                    for n, s in enumerate(record.sample.items, start=1)
                ]
            ),
            hide_index=True,
        )
        st.caption(f"{record.sample.n_human} human · {record.sample.n_machine} machine")
        st.markdown("**2 · The exact prompt**")
        if raw.get("messages"):
            st.caption("Chat rendering (the endpoint serves chat only)")
            st.code(json.dumps(raw["messages"], indent=1, ensure_ascii=False), language=None, wrap_lines=True)
        else:
            st.code(record.prompt, language=None, wrap_lines=True)
        st.markdown("**3 · Raw response**")
        st.code(record.response or "(empty response)", language=None, wrap_lines=True)
        # finish_reason is the endpoint's text: plain, not a Markdown caption.
        st.text(
            f"finish_reason={record.finish_reason} · call #{record.call_id} · template {record.template_version}"
        )
        if raw.get("preamble"):
            st.caption("Preamble before the list")
            st.text(raw["preamble"])
        st.markdown("**4 · Candidates**")
        if not record.decisions:
            st.caption("The response held no numbered candidate.")
        cols = st.columns(2)
        avgs = [c.get("avg_similarity_score") for c in raw["candidates"]]
        for n, d in enumerate(record.decisions):
            seed_rouge = None
            if d.kept:
                item = items.get(f"{it.t}/{kept_i}")
                seed_rouge = item.seed_rouge if item else None
                kept_i += 1
            with cols[n % 2]:
                candidate_card(d, seed_rouge, avgs[n] if n < len(avgs) else None)
    st.markdown("**5 · Classification verdicts**")
    rows = [
        {"instruction": x.original, "classification?": x.verdict.answer, "raw reply": x.verdict.raw}
        for x in items.values()
        if x.verdict is not None
    ]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    else:
        st.caption("No verdicts yet." if it.kept else "Nothing was kept in this iteration.")
    st.markdown("**6 · Instances and their filter decisions**")
    shown = False
    for x in items.values():
        if x.instances is None:
            continue
        shown = True
        ti = x.instances
        kept = sum(d.kept for d in ti.decisions)
        template = "output-first" if ti.is_classification else "input-first"
        with st.expander(f"{x.key} · {template} · {kept}/{len(ti.decisions)} instances kept"):
            st.text(x.original)
            st.caption("Prompt")
            st.code(ti.prompt, language=None, wrap_lines=True)
            st.text(f"Response (finish_reason={ti.finish_reason}, call #{ti.call_id})")
            st.code(ti.response or "(empty)", language=None, wrap_lines=True)
            if ti.decisions:
                st.dataframe(
                    pd.DataFrame(
                        [
                            {"kept": d.kept, "input": d.input, "output": d.output, "reason": d.reason or ""}
                            for d in ti.decisions
                        ]
                    ),
                    hide_index=True,
                )
            else:
                st.caption("No instance could be parsed from the response.")
            if ti.stray:
                st.caption("Text outside any instance")
                st.text(ti.stray)
    if not shown:
        st.caption("No instances yet." if it.kept else "Nothing was kept in this iteration.")


# --- Run mode ----------------------------------------------------------------------------------------------------


def run_tab(run: run_store.Run, state: int) -> None:
    s = summary(run.id, state)
    counts = s.outcomes
    m = st.columns(5)
    m[0].metric("Iterations", s.iterations)
    m[1].metric("Pool (generated)", s.pool)
    m[2].metric("Candidates", s.candidates)
    m[3].metric("Kept", f"{s.kept} ({s.kept_share:.0%})" if s.candidates else "0")
    m[4].metric("New model calls", call_log.count_calls(engine(), run.id))
    if not s.iterations:
        return
    rows = pd.DataFrame(s.by_iteration).fillna(0).set_index("iteration")
    st.markdown("**Pool size over iterations**")
    charts.line_chart(rows["pool"], x_label="iteration", y_label="pool size")
    st.markdown("**Kept vs dropped, by reason**")
    drops = [code for code, _ in counts.most_common() if code != "kept"]
    outcomes = (["kept"] if "kept" in rows.columns else []) + drops
    colors = (["#2e9e4f"] if "kept" in rows.columns else []) + [
        DROP_COLORS[i % len(DROP_COLORS)] for i in range(len(drops))
    ]
    charts.bar_chart(rows[outcomes], x_label="iteration", y_label="candidates", color=colors)
    st.dataframe(
        pd.DataFrame(
            [
                {"outcome": k, "candidates": v, "meaning": "Kept." if k == "kept" else REASONS.get(k, "")}
                for k, v in counts.most_common()
            ]
        ),
        hide_index=True,
    )
    st.caption(
        "The ROUGE-L histogram against the seeds (the paper's Figure 4) and the length distributions are in "
        "the Analysis tab."
    )


# --- Export ------------------------------------------------------------------------------------------------------

EXPORT_LABELS = {
    "alpaca": "Alpaca JSON (instruction, input, output)",
    "finetune": "Fine-tuning JSONL (the paper's prompt/completion templates)",
    "chat": "Chat JSONL (messages)",
    "provenance": "Provenance JSONL (every call, candidate, decision, verdict and edit)",
}


def export_tab(run: run_store.Run, state: int) -> None:
    stats = si_pages.table1(engine(), run.id)
    st.caption(
        f"{stats.instructions} instructions with {stats.instances} instances, after your edits and deletions. "
        "Each file is built from every stored record when you click its button."
    )
    st.text(f"Prompts of this run: {export_label(RunView(run.params, [], [], [], [], []))} "
            "(named in the provenance export's first row)")  # fmt: skip
    n_seeds = len(run_store.results(engine(), run.id, "seeds").get("seeds", []))
    with_seeds = st.toggle(
        f"Fine-tuning export: include the {n_seeds} seed tasks (as the paper's script does)",
        True,
        key=f"si_dl_seeds_{run.id}",
    )
    for fmt, (file_name, mime) in EXPORT_FORMATS.items():
        seeds = with_seeds if fmt == "finetune" else None

        def build(fmt: str = fmt, seeds: bool | None = seeds) -> str:
            # Deferred: runs on the click, not on every page draw (a 52K run's export takes seconds).
            view = full_view(run.id, state, texts=fmt == "provenance")
            return export_run(view, fmt, include_seed_tasks=seeds)

        st.download_button(
            EXPORT_LABELS[fmt],
            build,
            file_name=f"run{run.id}_{file_name}",
            mime=mime,
            key=f"si_dl_{fmt}_{run.id}",
            icon=":material/download:",
        )
