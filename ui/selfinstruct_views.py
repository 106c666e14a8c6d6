"""The Self-Instruct page's views of one run: step-by-step, run charts, analysis, pool browser, export.

Everything a model wrote is shown with st.text, st.code(language=None) or dataframes, never as markdown.
Markdown here only ever holds this module's own constant strings.
"""

from __future__ import annotations

import html
import json
import math

import pandas as pd
import streamlit as st

from core.humaneval.display import escape_markdown
from core.selfinstruct.filters import CandidateDecision
from core.selfinstruct.job import record_edit
from core.selfinstruct.reasons import REASONS
from core.selfinstruct.view import (
    EXPORT_FORMATS,
    IterationView,
    PoolItem,
    RunView,
    export_label,
    export_run,
    load_run,
)
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


@st.cache_data(max_entries=8, show_spinner=False)
def _view(run_id: int, n_results: int) -> RunView:
    # Results are append-only, so their count identifies a state of the run (the cache key).
    run = run_store.get_run(engine(), run_id)
    return load_run(run_store.results(engine(), run_id), run.params if run else {})


def load_view(run_id: int) -> RunView:
    return _view(run_id, len(run_store.result_keys(engine(), run_id)))


# --- Step mode ---------------------------------------------------------------------------------------------------


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
                st.caption("Closest pool instructions (ROUGE-L above the threshold drops the candidate)")
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


def run_tab(run: run_store.Run, view: RunView, active: bool) -> None:
    counts = view.counts_by_reason()
    m = st.columns(5)
    m[0].metric("Iterations", len(view.iterations))
    m[1].metric("Pool (generated)", len(view.pool))
    m[2].metric("Candidates", view.n_candidates)
    kept_share = view.n_kept / view.n_candidates if view.n_candidates else math.nan
    m[3].metric("Kept", f"{view.n_kept} ({kept_share:.0%})" if view.n_candidates else "0")
    m[4].metric("New model calls", call_log.count_calls(engine(), run.id))
    if not view.iterations:
        return
    rows = pd.DataFrame(view.by_iteration()).fillna(0).set_index("iteration")
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
    import plotly.express as px

    scores = view.seed_rouge()
    st.markdown("**ROUGE-L of kept instructions against their most similar seed** (the paper's Figure 4)")
    if scores:
        fig = px.histogram(x=scores, nbins=20, range_x=[0, 1], labels={"x": "ROUGE-L with the closest seed"})
        fig.update_layout(height=300, yaxis_title="instructions", margin=dict(t=10, b=10))
        st.plotly_chart(fig)
    else:
        st.caption("No kept instruction yet.")
    st.markdown("**Length distributions** (words)")
    lengths = view.lengths()
    cols = st.columns(3)
    for col, name in zip(cols, ("instruction", "input", "output"), strict=True):
        with col:
            if lengths[name]:
                fig = px.histogram(x=lengths[name], nbins=20, labels={"x": f"{name} length"})
                fig.update_layout(height=250, yaxis_title="count", margin=dict(t=10, b=10))
                st.plotly_chart(fig)
            else:
                st.caption(f"No {name}s yet.")


# --- Analysis ----------------------------------------------------------------------------------------------------


def table1(view: RunView) -> pd.DataFrame:
    s = view.stats()

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


def analysis_tab(run: run_store.Run, view: RunView) -> None:
    st.markdown("**Statistics** (the paper's Table 1)")
    st.dataframe(table1(view), hide_index=True)
    st.markdown("**Verbs and their direct objects** (the paper's Figure 3)")
    st.caption(
        "Root verb and its direct-object noun of each instruction (spaCy); top 20 verbs, top 4 nouns each."
    )
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    model = c1.text_input("spaCy pipeline", "en_core_web_sm", key=f"si_spacy_{run.id}")
    key = f"si_sunburst_{run.id}"
    if c2.button("Analyse", key=f"si_analyse_{run.id}"):
        from core.selfinstruct.analysis import sunburst_data, verb_noun_pairs

        try:
            with st.spinner("Parsing instructions…"):
                pairs = verb_noun_pairs([x.instruction for x in view.pool], model)
        except OSError as exc:
            st.error(escape_markdown(str(exc)))
        else:
            st.session_state[key] = (
                len(view.pool),
                sunburst_data(pairs),
                sum(bool(p.verb and p.noun) for p in pairs),
            )
    if key in st.session_state:
        n, rows, with_pair = st.session_state[key]
        st.caption(f"{with_pair} of {n} instructions have a root verb with a direct-object noun.")
        if rows:
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


# --- Pool browser ------------------------------------------------------------------------------------------------


def _edit(run_id: int, item: str, op: str, text_key: str | None = None) -> None:
    text = st.session_state.get(text_key, "") if text_key else ""
    try:
        record_edit(engine(), run_id, item, op, text)  # type: ignore[arg-type]
    except ValueError as exc:
        st.session_state["si_error"] = str(exc)


def pool_tab(run: run_store.Run, view: RunView) -> None:
    if not view.items:
        st.info("The generated pool is empty so far.")
        return
    query = st.text_input("Search", key=f"si_search_{run.id}", placeholder="words in the instruction")
    show_deleted = st.toggle("Show deleted items", key=f"si_deleted_{run.id}")
    words = query.casefold().split()
    found = [
        x
        for x in view.items
        if (show_deleted or not x.deleted) and all(w in x.instruction.casefold() for w in words)
    ]
    st.caption(f"{len(found)} of {len(view.items)} items")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "item": x.key,
                    "instruction": x.instruction,
                    "classification": {None: "?", True: "yes", False: "no"}[x.is_classification],
                    "instances": len(x.instances.kept) if x.instances else 0,
                    "seed ROUGE-L": x.seed_rouge,
                    "edited": x.edited,
                    "deleted": x.deleted,
                }
                for x in found
            ],
            columns=[
                "item",
                "instruction",
                "classification",
                "instances",
                "seed ROUGE-L",
                "edited",
                "deleted",
            ],
        ),
        hide_index=True,
    )
    if not found:
        return
    chosen = st.selectbox(
        "Edit or delete an item",
        [x.key for x in found],
        format_func=lambda k: f"{k} · {view.item(k).instruction[:80]}",
        key=f"si_pick_{run.id}",
    )
    item: PoolItem | None = view.item(chosen) if chosen else None
    if item is None:
        return
    text_key = f"si_edit_{run.id}_{item.key}_{len(view.edits)}"
    st.text_area("Instruction", item.instruction, key=text_key)
    if item.edited:
        st.caption("Originally generated as")
        st.text(item.original)
    b1, b2 = st.columns(2)
    b1.button("Save edit", on_click=_edit, args=(run.id, item.key, "edit", text_key), key=f"si_save_{run.id}")
    if item.deleted:
        b2.button("Restore", on_click=_edit, args=(run.id, item.key, "restore"), key=f"si_restore_{run.id}")
    else:
        b2.button("Delete", on_click=_edit, args=(run.id, item.key, "delete"), key=f"si_delete_{run.id}")
    if item.instances and item.instances.kept:
        st.dataframe(
            pd.DataFrame([{"input": i.input, "output": i.output} for i in item.instances.kept]),
            hide_index=True,
        )
    if view.edits:
        st.caption(f"Edit log: {len(view.edits)} change(s), kept with the run and in the provenance export.")


# --- Export ------------------------------------------------------------------------------------------------------

EXPORT_LABELS = {
    "alpaca": "Alpaca JSON (instruction, input, output)",
    "finetune": "Fine-tuning JSONL (the paper's prompt/completion templates)",
    "chat": "Chat JSONL (messages)",
    "provenance": "Provenance JSONL (every call, candidate, decision, verdict and edit)",
}


def export_tab(run: run_store.Run, view: RunView) -> None:
    st.caption(
        f"{len(view.pool)} instructions with {sum(len(t.instances) for t in view.tasks)} instances, after your "
        "edits and deletions."
    )
    st.text(f"Prompts of this run: {export_label(view)} (named in the provenance export's first row)")
    with_seeds = st.toggle(
        f"Fine-tuning export: include the {len(view.seeds)} seed tasks (as the paper's script does)",
        True,
        key=f"si_dl_seeds_{run.id}",
    )
    for fmt, (file_name, mime) in EXPORT_FORMATS.items():
        st.download_button(
            EXPORT_LABELS[fmt],
            export_run(view, fmt, include_seed_tasks=with_seeds if fmt == "finetune" else None),
            file_name=f"run{run.id}_{file_name}",
            mime=mime,
            key=f"si_dl_{fmt}_{run.id}",
            icon=":material/download:",
        )
