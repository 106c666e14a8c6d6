"""Self-Instruct: choosing a run, starting one, and sending a run on (each start shows what it will take)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import core.datasets as datasets
from core.datasets import DatasetError
from core.humaneval.display import escape_markdown
from core.selfinstruct.cost import estimate_cost
from core.selfinstruct.fidelity import departures, departures_label
from core.selfinstruct.filters import DEFAULT_BLACKLIST
from core.selfinstruct.job import extend_run, resolve_seeds, set_idle_limits
from core.selfinstruct.pages import RunSummary
from core.selfinstruct.prompts import (
    CLASSIFICATION_HEADER,
    FALLBACK_SOURCE,
    INSTANCE_DECODING,
    INSTANCE_DECODING_CLASSIFICATION,
    INSTRUCTION_HEADER,
    TEMPLATE_FIELDS,
    PromptConfig,
)
from core.selfinstruct.records import Task
from core.selfinstruct.spec import KIND, MAX_IDLE, PAPER_REQUESTS, RunSpec, with_decoding
from core.selfinstruct.templates import base_config, with_templates
from core.store import runs as run_store
from ui import run_estimate
from ui.common import engine, model_settings, runner

RUN_KEY = "si_run"
FIDELITY_DOC = Path(__file__).resolve().parent.parent / "docs" / "fidelity.md"


def fidelity_section() -> str:
    """The Self-Instruct section of docs/fidelity.md (this project's own text)."""
    try:
        text = FIDELITY_DOC.read_text(encoding="utf-8")
    except OSError:
        return "docs/fidelity.md is missing from this installation."
    start = text.find("## Self-Instruct")
    if start < 0:
        return text
    end = text.find("\n## ", start + 3)
    return text[start : end if end > 0 else None]


def _run_label(run_id: int | None, by_id: dict[int, run_store.Run]) -> str:
    if run_id is None:
        return "New run"
    run = by_id[run_id]
    # No status here: a keyed selectbox keeps showing the label it was first drawn with.
    return f"Run {run.id} · {run.name or 'Self-Instruct'}"


def run_selector() -> int | None:
    """The run chosen in the selector (None: a new run), following a run just started."""
    runs = run_store.list_runs(engine(), kind=KIND)
    by_id = {r.id: r for r in runs}
    if (started := st.session_state.pop("si_started", None)) in by_id:
        st.session_state[RUN_KEY] = started  # set before the selectbox exists, as Streamlit requires
    if st.session_state.get(RUN_KEY) not in (None, *by_id):
        st.session_state[RUN_KEY] = None
    return st.selectbox("Run", [None, *by_id], format_func=lambda r: _run_label(r, by_id), key=RUN_KEY)


# --- Start a run -----


def _seed_options() -> list[str]:
    options = ["official"] if datasets.has_official("seed_tasks") else []
    options.append("starter")
    try:
        uploads = sorted({t.source for t in datasets.uploaded("seed_tasks")})
    except DatasetError as exc:  # a stored upload that no longer parses: say so, offer the rest
        st.warning(escape_markdown(str(exc)))
        uploads = []
    return options + uploads


SEED_LABELS = {"official": "The 175 seed tasks (official)", "starter": "Starter seeds (this project's)"}


def start_form() -> None:
    st.subheader("Start a run")
    options = _seed_options()
    if (just_added := st.session_state.pop("si_seeds_added", None)) in options:
        st.session_state["si_seeds"] = just_added  # before the radio exists, so it may be set
    source = st.radio(
        "Seed tasks",
        options,
        format_func=lambda s: SEED_LABELS.get(s, f"Uploaded: {s.removeprefix('upload:')}"),
        horizontal=True,
        key="si_seeds",
    )
    with st.expander("Upload seed tasks (JSON Lines like seed_tasks.jsonl, JSON, or CSV)"):
        upload = st.file_uploader("Seed file", type=["jsonl", "json", "csv"], key="si_upload")
        if upload is not None and st.button("Add this seed file"):
            try:
                stored = datasets.save_upload(upload.name, upload.getvalue(), "seed_tasks")
            except DatasetError as exc:
                st.error(escape_markdown(str(exc)))
            else:
                st.session_state["si_seeds_added"] = f"upload:{stored.name}"
                st.rerun()
    try:
        seeds = resolve_seeds(source)
    except (ValueError, DatasetError) as exc:
        st.error(escape_markdown(str(exc)))
        return
    n_clf = sum(bool(s.is_classification) for s in seeds)
    with st.expander(f"{len(seeds)} seed tasks ({n_clf} classification)"):
        st.dataframe(
            pd.DataFrame(
                [{"instruction": s.instruction, "classification": s.is_classification} for s in seeds]
            ),
            hide_index=True,
        )

    settings = model_settings()
    embedded = settings.provider == "embedded"
    st.caption("Model (change it in Settings)")
    st.text(settings.label)
    c = st.columns(4)
    k_human = c[0].number_input("Human seeds per prompt", 0, 32, 6, key="si_k_human")
    k_machine = c[1].number_input("Machine instructions per prompt", 0, 32, 2, key="si_k_machine")
    # The paper sends 5 prompts per iteration; on the slow embedded model one keeps a step short (a departure
    # the page names before the run starts).
    requests = c[2].number_input(
        f"Requests per iteration (paper: {PAPER_REQUESTS})",
        1,
        256,
        1 if embedded else PAPER_REQUESTS,
        key="si_requests",
    )
    seed = c[3].number_input("Random seed", 0, 2**31 - 1, 0, key="si_seed")
    c = st.columns(1)
    # The paper's limit is 1024 tokens; the embedded model is slow, so it starts lower (the label says so).
    max_tokens = c[0].number_input(
        "Max tokens per generation (paper: 1024)", 8, 4096, 128 if embedded else 1024, key="si_max_tokens"
    )
    c = st.columns(2)
    instance_max_tokens = c[0].number_input(
        f"Max tokens for instances of other tasks (paper: {INSTANCE_DECODING.max_tokens})",
        1,
        4096,
        INSTANCE_DECODING.max_tokens,
        key="si_inst_tokens",
    )
    clf_instance_max_tokens = c[1].number_input(
        f"Max tokens for instances of classification tasks (paper: {INSTANCE_DECODING_CLASSIFICATION.max_tokens})",
        1,
        4096,
        INSTANCE_DECODING_CLASSIFICATION.max_tokens,
        key="si_clf_inst_tokens",
    )
    templates = templates_section()
    with st.expander("Prompt and filter settings"):
        classification_only = st.toggle(
            "Classification tasks only (the paper's second run: only the classification seeds are sampled "
            "and count for novelty; every kept instruction is still classified)",
            key="si_clf_only",
        )
        header = st.text_area("Prompt header", INSTRUCTION_HEADER, key="si_header")
        clf_header = st.text_area(
            "Header in classification-only mode", CLASSIFICATION_HEADER, key="si_clf_header"
        )
        c = st.columns(3)
        temperature = c[0].number_input("temperature", 0.0, 2.0, 0.7, step=0.1, key="si_temperature")
        top_p = c[1].number_input("top_p", 0.0, 1.0, 0.5, step=0.05, key="si_top_p")
        presence = c[2].number_input("presence_penalty", -2.0, 2.0, 2.0, step=0.1, key="si_presence")
        on_length = st.radio(
            "When generation stops at the token limit",
            ["drop_all", "drop_last"],
            format_func=lambda v: {
                "drop_all": "drop the whole response (paper)",
                "drop_last": "drop only the last, possibly cut, candidate",
            }[v],
            horizontal=True,
            key="si_on_length",
        )
        st.caption("Blacklist: " + ", ".join(DEFAULT_BLACKLIST))
        extra = st.text_input("More blacklisted words (comma-separated)", key="si_blacklist")
        threshold = st.slider("ROUGE-L threshold (above it a candidate is too similar)", 0.0, 1.0, 0.7, 0.05)
        instances = st.toggle(
            "Classify kept instructions and generate their instances", True, key="si_instances"
        )
        classification_rule = st.radio(
            "Reading the classifier's answer",
            ["paper", "lenient"],
            format_func=lambda v: {
                "paper": "exactly Yes / yes / YES counts (paper)",
                "lenient": "the first yes/no word counts (for chat models that answer in a sentence)",
            }[v],
            horizontal=True,
            key="si_clf_rule",
        )
        c = st.columns(2)
        max_idle = c[0].number_input(
            "Stop after this many iterations in a row keep nothing",
            1,
            1_000_000,
            MAX_IDLE,
            key="si_max_idle",
            help="A model that cannot produce novel instructions stops here instead of looping; resume with a "
            "larger limit.",
        )
        max_idle_inst = c[1].number_input(
            "Stop after this many instructions in a row get no instance",
            1,
            1_000_000,
            MAX_IDLE,
            key="si_max_idle_inst",
        )
    mode = st.radio(
        "How far",
        ["step", "iterations", "target"],
        format_func=lambda m: {
            "step": "Step mode: one iteration, then step on",
            "iterations": "A number of iterations",
            "target": "Up to a pool size",
        }[m],
        horizontal=True,
        key="si_mode",
    )
    iterations: int | None = 1
    target: int | None = None
    if mode == "iterations":
        # On the slow embedded model the defaults stay within a few minutes; the estimate below says how long.
        default = 2 if embedded else 10
        iterations = int(st.number_input("Iterations", 1, 1_000_000, default, key="si_iterations"))
    elif mode == "target":
        iterations = None
        default = 10 if embedded else 100
        target = int(
            st.number_input("Target pool size (paper: 52,000)", 1, 10_000_000, default, key="si_target")
        )
    if k_human + k_machine == 0:
        st.error("A prompt needs at least one instruction.")
        return
    if classification_only and not n_clf:
        st.error("Classification-only mode needs seed tasks marked as classification.")
        return
    config = with_decoding(
        templates,
        header=header,
        classification_header=clf_header,
        temperature=temperature,
        top_p=top_p,
        presence_penalty=presence,
        max_tokens=int(max_tokens),
        instance_max_tokens=int(instance_max_tokens),
        clf_instance_max_tokens=int(clf_instance_max_tokens),
    )
    spec = RunSpec(
        seeds=source,
        k_human=int(k_human),
        k_machine=int(k_machine),
        classification_only=classification_only,
        classification_rule=classification_rule,
        prompt=config,
        on_length=on_length,
        blacklist_extra=tuple(w.strip() for w in extra.split(",") if w.strip()),
        threshold=float(threshold),
        iterations=iterations,
        target=target,
        requests_per_iteration=int(requests),
        seed=int(seed),
        classify=instances,
        instances=instances,
        max_idle_iterations=int(max_idle),
        max_idle_instances=int(max_idle_inst),
    )
    st.caption(f"Prompt template version {config.version} · {config.templates_label}")
    show_departures(departures(spec))
    label = {
        "step": "Start: run the first iteration",
        "iterations": "Start the run",
        "target": "Start the run",
    }
    name = f"{SEED_LABELS.get(source, source).split(' (')[0]} · {settings.model or 'embedded'}"
    confirmed = show_estimate(spec, seeds, settings.public_dict(), key="si")
    # Acting on the click in the script (not in a callback) uses the settings as they are now.
    if st.button(label[mode], type="primary", disabled=not confirmed, key="si_start"):
        run_id = runner().submit(KIND, spec.to_params(settings.public_dict()), name=name, settings=settings)
        st.session_state["si_started"] = run_id
        st.rerun()


def show_estimate(
    spec: RunSpec, seeds: Sequence[Any], model: dict[str, Any], *, key: str, pool_now: int = 0
) -> bool:
    """Calls, tokens, cost and duration of `spec` from here on; False until a long one is confirmed."""
    est = estimate_cost(spec, seeds, pool_now)
    cost = run_estimate.price(model, est.prompt_tokens, est.completion_tokens)
    run_estimate.show_estimate(est.calls, est.prompt_tokens + est.completion_tokens, cost, model)
    st.caption(
        f"Estimate: about {est.iterations:,} iteration(s), {est.calls:,} model calls, "
        f"{est.prompt_tokens:,} prompt + up to {est.completion_tokens:,} completion tokens; "
        f"{run_estimate.price_note(model, cost is not None)}. Assumes every response runs to its token limit "
        "and two new instructions kept per request (a weak model keeps fewer, so a pool target takes longer)."
    )
    return run_estimate.confirm_long_run(est.calls, model, key)


def show_departures(items: list[str]) -> None:
    """How these settings differ from the paper's method (docs/fidelity.md), or that they do not."""
    label = escape_markdown(departures_label(items))  # may quote typed words and file names
    if items:
        st.warning(label, icon=":material/rule:")
    else:
        st.success(label, icon=":material/verified:")


def templates_section() -> PromptConfig:
    """The few-shot templates of a new run: view each; optionally edit a copy (stored with the run and
    labelled as a departure)."""
    paper = datasets.paper_templates()
    base = base_config(paper)
    with st.expander(f"Few-shot templates · {base.templates_label}"):
        if base.template_source == FALLBACK_SOURCE:
            st.warning(
                "The paper's template files are not in the datasets folder, so this project's own example sets "
                "stand in (workbench fallback). Download or import the Self-Instruct prompt templates in "
                "Settings to use the paper's."
            )
        else:
            st.caption("The paper's published templates (clf_task_template.py, instance_gen_template.py).")
        texts: dict[str, str | None] = {}
        for tab, (name, label) in zip(
            st.tabs(list(TEMPLATE_FIELDS.values())), TEMPLATE_FIELDS.items(), strict=True
        ):
            with tab:
                original = getattr(base, name)
                if st.toggle("Edit a copy for this run (a departure)", key=f"si_edit_{name}"):
                    texts[name] = st.text_area(label, original, height=300, key=f"si_tpl_{name}")
                else:
                    st.code(original, language=None, wrap_lines=True)
        try:
            config = with_templates(base, **texts)
        except ValueError as exc:
            st.error(str(exc))
            config = base
        if config.edited_templates:
            st.warning(config.templates_label)
    return config


# --- Send a run on -----


def stall_resume(run: run_store.Run, spec: RunSpec) -> None:
    """A stalled run: raise its stall limits and queue it again."""
    with st.container(border=True):
        st.caption("This run stopped because it stalled. Raise the limit to let it go on.")
        c = st.columns([2, 2, 1], vertical_alignment="bottom")
        iters = c[0].number_input(
            "Max idle iterations", 1, 1_000_000, spec.max_idle_iterations * 2, key=f"si_idle_{run.id}"
        )
        insts = c[1].number_input(
            "Max idle instances", 1, 1_000_000, spec.max_idle_instances * 2, key=f"si_idle_inst_{run.id}"
        )
        if c[2].button("Resume", key=f"si_idle_go_{run.id}"):
            try:
                set_idle_limits(engine(), run.id, iterations=int(iters), instances=int(insts))
            except (ValueError, KeyError) as exc:
                st.session_state["si_error"] = str(exc)
            else:
                settings = model_settings()
                same = settings.public_dict() == run.params.get("model")  # a key held in memory travels along
                runner().resume(run.id, settings if same else None)
            st.rerun()


def _requeue(run_id: int, *, iterations: int | None = None, target: int | None = None) -> None:
    """Give the run a new stopping point, queue it, and redraw the page with its live refresh on."""
    try:
        extend_run(engine(), run_id, iterations=iterations, target=target)
    except ValueError as exc:
        st.session_state["si_error"] = str(exc)
    else:
        run = run_store.get_run(engine(), run_id)
        settings = model_settings()
        # A run keeps the model it started with: this session's settings travel along (for a key kept in
        # memory) only when they are that model; otherwise the worker rebuilds it from the run's parameters.
        same = run is not None and settings.public_dict() == run.params.get("model")
        runner().resume(run_id, settings if same else None)
        st.session_state[f"si_it_{run_id}"] = None  # follow the newest iteration
    st.rerun()


def continue_form(run: run_store.Run, stored: RunSummary, seeds: Sequence[Task], active: bool) -> None:
    """Send a stopped run on: one more iteration, a number more, or up to a pool size, each with its
    estimate (and a tick when long) before the button. `stored` is the run's summary from its index."""
    spec = RunSpec.from_params(run.params)
    done = stored.iterations
    pool = stored.items  # the job's pool size: every kept instruction, deleted ones included
    model = run.params.get("model") or {}
    embedded = model.get("provider", "embedded") == "embedded"
    with st.expander("Go on", expanded=not active):
        how = st.radio(
            "How far",
            ["next", "more", "target"],
            format_func=lambda m: {
                "next": "One more iteration",
                "more": "A number of iterations more",
                "target": "Up to a pool size",
            }[m],
            horizontal=True,
            key=f"si_how_{run.id}",
        )
        if how == "next":
            upto: dict[str, int | None] = {"iterations": done + 1, "target": None}
            label, key = "Run next iteration", f"si_next_{run.id}"
        elif how == "more":
            # The embedded model takes seconds a call: one more is its default, ten for a served model.
            more = int(
                st.number_input("More iterations", 1, 100_000, 1 if embedded else 10, key=f"si_more_{run.id}")
            )
            upto = {"iterations": done + more, "target": None}
            label, key = f"Run {more} more", f"si_more_btn_{run.id}"
        else:
            target = int(
                st.number_input(
                    "Up to a pool size of",
                    1,
                    10_000_000,
                    pool + (5 if embedded else 50),
                    key=f"si_target_{run.id}",
                )
            )
            upto = {"iterations": None, "target": target}
            label, key = "Run to target", f"si_target_btn_{run.id}"
        # The estimate covers what is still to run: the new stopping point less what is stored.
        ahead = upto["iterations"] - done if upto["iterations"] is not None else None
        ahead_spec = dataclasses.replace(spec, iterations=ahead, target=upto["target"])
        confirmed = show_estimate(ahead_spec, seeds, model, key=f"si_go_{run.id}", pool_now=pool)
        if st.button(
            label,
            type="primary",
            disabled=active or not confirmed,
            key=key,
            help="Runs as a background job; classification and instances of the kept instructions follow.",
        ):
            _requeue(run.id, **upto)
