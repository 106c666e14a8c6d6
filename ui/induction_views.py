"""Views of induction runs: a run's report, the drill-down, judging by hand, and two runs side by side.

Outside text (model output, endpoint errors, dataset fields, model names from a configuration) is untrusted:
it is shown only with st.text, st.code(language=None), dataframes and charts, never as Markdown.
"""

from __future__ import annotations

import json
import time
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from core.datasets import DatasetError
from core.induction.report import SELECTED_NOTE, GroupReport, InductionReport, build_report, run_notes
from core.induction.spec import instruction_hash, judge_key, paper_departures
from core.metrics import METRIC_LABELS
from core.store import calls as call_log
from core.store import runs as run_store
from ui import charts
from ui.common import engine, run_status
from ui.tables import long_text_table, plain_table

# What scoring a stored run can run into: its task or file is gone, or its parameters no longer resolve.
REPORT_ERRORS = (DatasetError, KeyError, ValueError)
HUMAN_COLOR = "#f58518"
INDUCED_COLOR = "#4c78a8"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def model_label(model: dict[str, Any] | None) -> str:
    if not model:
        return "—"
    if model.get("provider", "embedded") == "embedded":
        return "embedded Gemma 3 270M"
    return f"{model.get('model')} at {model.get('base_url')}"


def run_label(run: run_store.Run) -> str:
    return f"#{run.id} · {run.name or run.kind} · {run.status}"


def run_choice_label(run: run_store.Run) -> str:
    """A run's label in a selector: no status, because the browser sends the chosen label back and a
    label that changed when the run finished matches no option, which silently clears the selection."""
    return f"#{run.id} · {run.name or run.kind}"


def decoding_label(params: dict[str, Any]) -> str:
    t = float(params.get("temperature") or 0)
    if float(params.get("top_p", 1.0)) == 0:
        return "greedy (top_p 0)"
    return "greedy" if t == 0 else f"sampled T={t:g}"


def plain_error(what: str, detail: object) -> None:
    st.error(what + ":")
    st.text(str(detail))


@st.cache_data(show_spinner=False, max_entries=128)
def _report(run_id: int, stamp: str, task: str | None) -> InductionReport:
    run = run_store.get_run(engine(), run_id)
    assert run is not None
    return build_report(run.params, run_store.results(engine(), run_id), task)


def stamp(run: run_store.Run) -> str:
    """Changes whenever the run's stored results do (a judgement adds a result but not an update)."""
    return f"{run.updated_at.isoformat()}:{len(run_store.result_keys(engine(), run.id))}"


def report_for(run: run_store.Run, task: str | None = None) -> InductionReport:
    return _report(run.id, stamp(run), task)


def watch(run_id: int) -> None:
    """Re-run the whole page once the run finishes, so its report replaces the progress bar."""

    @st.fragment(run_every=2.0)
    def _poll() -> None:
        run = run_store.get_run(engine(), run_id)
        if run is None or run.status not in run_store.ACTIVE:
            st.rerun()

    _poll()


def show_run(run_id: int, key: str = "") -> None:
    """Progress while a run works, then its report (a failed or cancelled run shows what it has)."""
    run = run_status(run_id)
    if run is None:
        return
    if run.status in run_store.ACTIVE:
        st.caption("The report appears here when the run finishes; you may leave the page meanwhile.")
        watch(run_id)
        return
    if run.kind == "induction_benchmark":
        st.caption("A benchmark run: open it in the Benchmark section.")
        return
    try:
        report_view(run, key=key or f"r{run.id}")
    except REPORT_ERRORS as exc:  # e.g. the run's task is no longer available
        plain_error(f"Cannot score run {run.id}", exc)


# --- One run's report -----------------------------------------------------------------------------------------


JUDGED_BY_HAND = "judged by hand"


def metric_label(report: InductionReport) -> str:
    """The scoring actually used: the metric only scores test inputs that have answers."""
    answered = sum(1 for t in report.tests if t.answers)
    if report.tests and not answered:
        return JUDGED_BY_HAND
    name = METRIC_LABELS.get(report.metric, report.metric)
    return name if answered == len(report.tests) else f"{name}; inputs without answers {JUDGED_BY_HAND}"


def run_caption(run: run_store.Run, report: InductionReport) -> str:
    p = run.params
    demos = {"user": "your demonstrations", "paper": "the paper's demo sets"}.get(
        p.get("demo_source", ""), "random demo sets"
    )
    executor = p.get("execute_model")
    model = model_label(p.get("model")) + (f", executed by {model_label(executor)}" if executor else "")
    post = "reference post-processing" if p.get("postprocess") == "paper_exact" else "our post-processing"
    return (
        f"Run {run.id} · task {report.task} · {demos} ({len(report.demo_sets)} set(s)) · K={p.get('k')} · "
        f"{decoding_label(p)} · {post} · template v{p.get('template_version', '?')} · "
        f"metric {metric_label(report)} · {len(report.tests)} held-out input(s) · "
        f"{model}"
    )


def report_view(run: run_store.Run, task: str | None = None, key: str = "") -> None:
    report = report_for(run, task)
    st.text(run_caption(run, report))  # names models and tasks from outside: plain text
    for note in run_notes(run.params, [report]):
        st.text(note)
    if not report.complete:
        st.warning("This run did not finish: the figures below use the outputs it stored so far.")
    _summary(report)
    _rescore(run, task, key)
    _instructions(report, key)
    chart = accuracy_chart(report)
    if chart is None:
        charts.note("Execution accuracy: no instruction has been scored on the held-out inputs yet.")
    elif all_zero(report):
        charts.note(
            "Execution accuracy: every instruction, induced and gold, scored 0% on the held-out inputs, "
            "so the chart would be empty (the table above lists each one)."
        )
    else:
        st.altair_chart(chart, width="stretch")
        st.caption(
            "Execution accuracy of each induced instruction (blue) and of each gold human instruction "
            "(orange) on the held-out inputs; the dashed line is the human baseline (the gold instructions' "
            "mean)."
        )
    _bertscore(report, key)
    _search(report)
    if report.needs_judging:
        _judging(run, report, task, key)
    _drilldown(report, key)
    with st.expander("Demonstrations the model saw"):
        for j, demos in enumerate(report.demo_sets):
            st.caption(f"Set {j + 1}")
            st.dataframe(
                pd.DataFrame([{"input": d.input, "output": d.output} for d in demos]), hide_index=True
            )


def _summary(report: InductionReport) -> None:
    s = report.summary
    c = st.columns(5)
    c[0].metric("Induced accuracy", pct(s.induced), help="Weighted by how often each was induced.")
    c[1].metric("Human accuracy", pct(s.human) if report.gold else "—", help="The gold instructions' mean.")
    c[2].metric("% of human", "—" if s.percent_of_human is None else f"{s.percent_of_human:.1f}%")
    c[3].metric(
        "BERTScore F1",
        "—" if s.bertscore_f1 is None else f"{s.bertscore_f1:.3f}",
        help="Against the best-matching gold instruction, averaged over induced instructions by count.",
    )
    c[4].metric("Distinct / induced", f"{len(report.candidates)} / {len(report.induced_raw)}")
    if s.bertscore_f1 is not None:
        st.caption(f"BERTScore: {report.bert_scale_note}.")
    if report.search is not None:
        st.metric(
            "Selected-instruction accuracy",
            pct(report.selected_accuracy),
            help=SELECTED_NOTE,
        )
        st.caption(SELECTED_NOTE)
    if report.needs_judging:
        st.caption(
            "Some test inputs have no known answer: their outputs count once you judge them below "
            "(👍 = 1, 👎 = 0); unjudged ones are left out of the accuracy."
        )


def _rescore(run: run_store.Run, task: str | None, key: str) -> None:
    if st.button("Re-score from stored outputs", key=f"rescore-{key}"):
        before = call_log.count_calls(engine())
        started = time.perf_counter()
        fresh = build_report(run.params, run_store.results(engine(), run.id), task)
        elapsed = (time.perf_counter() - started) * 1000
        made = call_log.count_calls(engine()) - before
        n = sum(len(g.inputs) for g in fresh.groups + fresh.gold)
        st.session_state[f"rescored-{key}"] = (
            f"Re-scored {n} stored outputs in {elapsed:.0f} ms: {made} model calls made "
            f"(call log: {before} calls before, {before + made} after). Induced {pct(fresh.summary.induced)}, "
            f"human {pct(fresh.summary.human)}."
        )
    if message := st.session_state.get(f"rescored-{key}"):
        st.success(message)


def _instructions(report: InductionReport, key: str) -> None:
    st.subheader("Induced instructions")
    executed = {g.instruction: g for g in report.groups}
    estimates = {e["instruction"]: e for e in (report.search or {}).get("estimates", [])}
    total = max(1, len(report.induced_raw))
    rows = []
    for rank, cand in enumerate(report.candidates, start=1):
        group = executed.get(cand.text)
        bert = report_bert(report, cand.text)
        row = {
            "#": rank,
            "instruction": cand.text or "(empty)",
            "count": cand.count,
            "share": cand.count / total,
            "execution accuracy": None if group is None else group.mean,
            "BERTScore F1 (best ref)": None if bert is None else bert[1],
            "best-matching gold instruction": None if bert is None else bert[0],
        }
        if report.search:
            est = estimates.get(cand.text, {})
            row["search estimate"] = est.get("mean")
            row["scored on"] = est.get("n")
            row["chosen"] = cand.text == report.search.get("best")
        rows.append(row)
    if not rows:
        st.info("No instruction was induced yet.")
        return
    frame = pd.DataFrame(rows)
    # BERTScore columns of a run without gold instructions (or with it off) would show "None" in every row.
    optional = ["BERTScore F1 (best ref)", "best-matching gold instruction"]
    frame = frame.drop(columns=[c for c in optional if frame[c].isna().all()])
    long_text_table(
        frame,
        long=["instruction", "best-matching gold instruction"],
        key=f"instructions-{key}",
        column_config={
            "share": st.column_config.NumberColumn(format="percent"),
            "execution accuracy": st.column_config.NumberColumn(format="percent"),
            "search estimate": st.column_config.NumberColumn(format="percent"),
            "BERTScore F1 (best ref)": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    st.caption(
        "Identical instructions (after the paper's cleaning) are grouped; the task score weights each by its "
        "count. Blank accuracy: not executed yet."
    )


def report_bert(report: InductionReport, instruction: str) -> tuple[str, float] | None:
    """(best reference, its F1) for an induced instruction, from the stored per-reference scores."""
    bert = report.candidate_bert.get(instruction) if report.candidate_bert else None
    if not bert or bert.get("best_index") is None:
        return None
    ref, _, _, f1 = bert["per_reference"][bert["best_index"]]
    return ref, f1


def all_zero(report: InductionReport) -> bool:
    means = [g.mean for g in (*report.groups, *report.gold) if g.mean is not None]
    return bool(means) and not any(means)


def accuracy_chart(report: InductionReport) -> alt.LayerChart | None:
    rows = []
    for n, g in enumerate(report.groups, start=1):
        if g.mean is not None:
            rows.append(
                {
                    "label": f"#{n} {short(g.instruction, 48)}",
                    "instruction": g.instruction,
                    "who": "induced",
                    "accuracy": g.mean,
                    "count": g.count,
                }
            )
    for n, g in enumerate(report.gold, start=1):
        if g.mean is not None:
            rows.append(
                {
                    "label": f"H{n} {short(g.instruction, 48)}",
                    "instruction": g.instruction,
                    "who": "human (gold)",
                    "accuracy": g.mean,
                    "count": 1,
                }
            )
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "accuracy:Q",
                title="execution accuracy",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("label:N", sort=None, title="instruction", axis=alt.Axis(labelLimit=360)),
            color=alt.Color(
                "who:N",
                title=None,
                scale=alt.Scale(domain=["induced", "human (gold)"], range=[INDUCED_COLOR, HUMAN_COLOR]),
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("instruction:N"),
                alt.Tooltip("who:N"),
                alt.Tooltip("accuracy:Q", format=".1%"),
                alt.Tooltip("count:Q"),
            ],
        )
    )
    # A step per row rather than a fixed height: Streamlit fits the whole chart (legend and axes included)
    # into a fixed height, which squeezes a few rows into nothing.
    # The value beside each bar, so a 0% instruction still shows a mark.
    values = bars.mark_text(align="left", dx=4, fontSize=11).encode(
        text=alt.Text("accuracy:Q", format=".0%"), color=alt.value("#555")
    )
    layers: list[alt.Chart] = [bars.properties(height=alt.Step(28)), values]
    if report.gold and any(g.mean is not None for g in report.gold):
        baseline = pd.DataFrame({"human baseline": [report.summary.human]})
        layers.append(
            alt.Chart(baseline)
            .mark_rule(color="#d62728", strokeDash=[6, 3], size=2)
            .encode(x="human baseline:Q", tooltip=[alt.Tooltip("human baseline:Q", format=".1%")])
        )
    return alt.layer(*layers)


def _bertscore(report: InductionReport, key: str) -> None:
    if report.bert_error:
        st.warning("BERTScore was not computed:")
        st.text(report.bert_error)
    scored = [c.text for c in report.candidates if report.candidate_bert.get(c.text)]
    if not scored:
        return
    with st.expander("BERTScore per gold instruction"):
        model = next(iter(v["model"] for v in report.candidate_bert.values() if v), "?")
        st.text(f"Model: {model} ({report.bert_scale_note}).")
        st.caption(
            "The tables and the summary show the F1 against the best-matching gold instruction (the highest "
            "F1); here are the scores against every gold instruction."
        )
        choice = st.selectbox(
            "Induced instruction",
            range(len(scored)),
            format_func=lambda i: short(scored[i] or "(empty)", 90),
            key=f"bert-{key}",
        )
        bert = report.candidate_bert[scored[choice]]
        best = bert.get("best_index")
        st.dataframe(
            pd.DataFrame(
                [
                    {"gold instruction": ref, "precision": p, "recall": r, "F1": f, "best": i == best}
                    for i, (ref, p, r, f) in enumerate(bert["per_reference"])
                ]
            ),
            hide_index=True,
            column_config={
                c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "F1")
            },
        )


def _search(report: InductionReport) -> None:
    search = report.search
    if not search:
        if len(report.candidates) == 1 and report.induced_raw and _wanted_search(report):
            st.caption("Search: only one distinct instruction was induced, so there was nothing to choose.")
        return
    st.subheader("Search (successive halving)")
    brute = search["brute_force_evaluations"]
    c = st.columns(3)
    c[0].metric("Scorings made", search["evaluations"])
    c[1].metric("Scoring every candidate on every example", brute)
    c[2].metric(
        "Calls saved",
        search["calls_saved"],
        f"{search['calls_saved'] / brute * 100:.0f}% fewer" if brute else None,
    )
    st.caption(
        f"{len(search['estimates'])} distinct candidates were scored on up to {search.get('n_examples', '?')} "
        "held-out examples, fresh ones each round; after each round the weaker half stopped (ties kept). "
        "Every instruction still ran on the test inputs, so induced accuracy is the paper's figure."
    )
    if search.get("rounds"):
        st.dataframe(pd.DataFrame(search["rounds"]), hide_index=True)


def _wanted_search(report: InductionReport) -> bool:
    return report.search is None and bool(report.search_requested)


# --- Drill-down -------------------------------------------------------------------------------------------------


def _drilldown(report: InductionReport, key: str) -> None:
    st.subheader("Drill-down")
    options: list[tuple[str, GroupReport]] = [
        (f"#{n} {short(g.instruction or '(empty)', 80)}", g) for n, g in enumerate(report.groups, start=1)
    ] + [(f"H{n} (gold) {short(g.instruction, 80)}", g) for n, g in enumerate(report.gold, start=1)]
    if not options:
        st.info("Nothing was executed yet.")
        return
    index = st.selectbox(
        "Instruction", range(len(options)), format_func=lambda i: options[i][0], key=f"dd-{key}"
    )
    group = options[index][1]
    st.code(group.instruction or "(empty)", language=None, wrap_lines=True)
    rows = []
    for i, row, scored in zip(group.test_indices, group.inputs, group.scored, strict=True):
        wrong = scored and row.score < 1.0
        rows.append(
            {
                "result": "✗ wrong" if wrong else ("✓" if scored else "? not judged"),
                "#": i,
                "input": row.input,
                "output": row.prediction,
                "accepted answers": " | ".join(row.answers) if row.answers else "(judged by hand)",
                "normalised output": row.normalized_prediction,
                "normalised answers": " | ".join(row.normalized_answers),
                "score": row.score if scored else None,
            }
        )
    if not rows:
        st.info("This instruction has no stored outputs yet.")
        return
    frame = pd.DataFrame(rows)
    wrong_first = st.toggle("Wrong ones first", value=True, key=f"wf-{key}")
    if wrong_first:
        frame = frame.sort_values(["score", "#"], na_position="last", kind="stable")
    n_wrong = int((frame["result"] == "✗ wrong").sum())
    st.caption(f"{n_wrong} wrong of {len(frame)} · metric: {metric_label(report)}")
    long_text_table(
        frame,
        long=["input", "output", "accepted answers", "normalised output", "normalised answers"],
        key=f"dd-table-{key}-{index}",
        column_config={
            "normalised output": st.column_config.TextColumn(width="small"),
            "normalised answers": st.column_config.TextColumn(width="small"),
            "score": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    _prompts(report, group, key)


def _show_call(call_id: int | None, what: str) -> None:
    record = call_log.get_call(engine(), call_id) if call_id is not None else None
    if record is None:
        st.caption(f"The {what} call is not in the call log.")
        return
    st.text(
        f"Call #{record.id} · {record.model} · {record.style} · {record.prompt_tokens}+"
        f"{record.completion_tokens} tokens · {record.latency_ms:.0f} ms · run {record.run_id} · "
        f"{json.dumps(record.params, sort_keys=True) if getattr(record, 'params', None) else ''}"
    )
    sent = record.prompt if record.prompt is not None else json.dumps(record.messages, indent=1)
    st.code(sent, language=None, wrap_lines=True)
    for choice in record.choices or []:
        st.text(f"Response ({choice['finish_reason']})")
        st.code(choice["text"], language=None, wrap_lines=True)


def _prompts(report: InductionReport, group: GroupReport, key: str) -> None:
    with st.expander("Exact prompts sent (from the call log)"):
        if group.test_indices:
            pos = st.selectbox(
                "Execution on test input",
                range(len(group.test_indices)),
                format_func=lambda p: f"#{group.test_indices[p]} {short(group.inputs[p].input, 70)}",
                key=f"pr-{key}-{instruction_hash(group.instruction)}",
            )
            _show_call(group.call_ids[pos], "execution")
        induced = [r for r in report.induced_raw if r.get("instruction") == group.instruction]
        if induced:
            st.markdown("**Induction** — a request that produced this instruction")
            pick = st.selectbox(
                "Induction request",
                range(len(induced)),
                format_func=lambda p: f"request {p + 1} of {len(induced)}",
                key=f"ip-{key}-{instruction_hash(group.instruction)}",
            )
            _show_call(induced[pick].get("call_id"), "induction")


# --- Judging outputs by hand ------------------------------------------------------------------------------------


def _judging(run: run_store.Run, report: InductionReport, task: str | None, key: str) -> None:
    st.subheader("Judge outputs by hand")
    st.caption(
        "These test inputs have no known answer. Judge each output: 👍 right, 👎 wrong. A judgement is "
        "stored with the run and is final."
    )
    prefix = f"{report.task}/" if task else ""
    stored = run_store.results(engine(), run.id, f"{prefix}judge/")
    saved = False
    for kind, groups in (("induced", report.groups), ("gold", report.gold)):
        for n, group in enumerate(groups, start=1):
            pending = [
                (i, row)
                for i, row in zip(group.test_indices, group.inputs, strict=True)
                if not report.tests[i].answers
            ]
            if not pending:
                continue
            label = f"#{n}" if kind == "induced" else f"H{n} (gold)"
            with st.container(border=True):
                st.caption(f"{label} instruction")
                st.text(group.instruction or "(empty)")
                for i, row in pending:
                    jkey = judge_key(group.instruction, i, prefix)
                    c1, c2, c3 = st.columns([3, 5, 1])
                    c1.text(f"input: {row.input}")
                    c2.code(row.prediction or "(empty)", language=None, wrap_lines=True)
                    verdict = stored.get(jkey)
                    if verdict is not None:
                        c3.text("👍" if verdict.get("ok") else "👎")
                        continue
                    choice = c3.feedback("thumbs", key=f"jd-{key}-{jkey}")
                    if choice is not None:
                        run_store.save_result(engine(), run.id, jkey, {"ok": bool(choice)})
                        saved = True
    if saved:
        st.rerun()  # the summary above was computed before this judgement


# --- Two runs side by side --------------------------------------------------------------------------------------


def summary_row(run: run_store.Run, report: InductionReport) -> dict[str, Any]:
    p = run.params
    s = report.summary
    return {
        "run": run_label(run),
        "task": report.task,
        "model": model_label(p.get("model")),
        "decoding": decoding_label(p),
        "K × sets": f"{p.get('k')} × {len(report.demo_sets)}",
        "template": p.get("template_version", "?"),
        "held-out inputs": len(report.tests),
        "induced accuracy": pct(s.induced),
        "human accuracy": pct(s.human) if report.gold else "—",
        "% of human": "—" if s.percent_of_human is None else f"{s.percent_of_human:.1f}%",
        "selected-instruction accuracy": "—" if report.selected is None else pct(report.selected_accuracy),
        "departures from the paper": "; ".join(paper_departures(p)) or "none",
        "BERTScore F1": "—" if s.bertscore_f1 is None else f"{s.bertscore_f1:.3f}",
        "distinct / induced": f"{len(report.candidates)} / {len(report.induced_raw)}",
        "search": "—"
        if not report.search
        else f"{report.search['evaluations']} of {report.search['brute_force_evaluations']} scorings",
    }


def compare_view(a: run_store.Run, b: run_store.Run) -> None:
    ra, rb = report_for(a), report_for(b)
    rows_a, rows_b = summary_row(a, ra), summary_row(b, rb)
    table = pd.DataFrame(
        {"": list(rows_a), "A": [str(v) for v in rows_a.values()], "B": [str(v) for v in rows_b.values()]}
    )
    plain_table(table)  # every row, and long values (departures, model names) wrap instead of being cut
    cols = st.columns(2)
    for col, run, report, name in ((cols[0], a, ra, "A"), (cols[1], b, rb, "B")):
        with col:
            st.markdown(f"**{name}: run {run.id}**")
            executed = {g.instruction: g.mean for g in report.groups}
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "instruction": c.text or "(empty)",
                            "count": c.count,
                            "accuracy": executed.get(c.text),
                        }
                        for c in report.candidates
                    ]
                ),
                hide_index=True,
                column_config={
                    "instruction": st.column_config.TextColumn(width="medium"),
                    "accuracy": st.column_config.NumberColumn(format="percent"),
                },
            )
