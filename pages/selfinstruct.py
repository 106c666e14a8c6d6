"""Self-Instruct (Wang et al., ACL 2023): grow an instruction set from seed tasks and watch every decision."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

import core.datasets as datasets
from core.datasets import DatasetError
from core.humaneval.display import escape_markdown
from core.selfinstruct.cost import estimate_cost
from core.selfinstruct.fidelity import departures, departures_label
from core.selfinstruct.filters import DEFAULT_BLACKLIST
from core.selfinstruct.job import STALL_PREFIX, resolve_seeds, set_idle_limits
from core.selfinstruct.prompts import (
    CLASSIFICATION_HEADER,
    FALLBACK_SOURCE,
    INSTANCE_DECODING,
    INSTANCE_DECODING_CLASSIFICATION,
    INSTRUCTION_HEADER,
    TEMPLATE_FIELDS,
    PromptConfig,
)
from core.selfinstruct.spec import KIND, MAX_IDLE, PAPER_REQUESTS, RunSpec, with_decoding
from core.selfinstruct.templates import base_config, with_templates
from core.store import calls as call_log
from core.store import runs as run_store
from ui import selfinstruct_views as views
from ui.common import engine, model_banner, model_settings, run_status, runner

RUN_KEY = "si_run"

st.title("Self-Instruct")
st.caption(
    "Wang et al., ACL 2023. Sample instructions from the seed tasks and the growing pool, ask the model for "
    "more, and keep only the well-formed, novel ones; then classify each and generate its instances."
)
model_banner()

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


with st.expander("How this page follows the paper (docs/fidelity.md)"):
    st.markdown(fidelity_section())

if error := st.session_state.pop("si_error", None):
    st.error(escape_markdown(error))


def _run_label(run_id: int | None, by_id: dict[int, run_store.Run]) -> str:
    if run_id is None:
        return "New run"
    run = by_id[run_id]
    # No status here: a keyed selectbox keeps showing the label it was first drawn with.
    return f"Run {run.id} · {run.name or 'Self-Instruct'}"


runs = run_store.list_runs(engine(), kind=KIND)
by_id = {r.id: r for r in runs}
if (started := st.session_state.pop("si_started", None)) in by_id:
    st.session_state[RUN_KEY] = started  # set before the selectbox exists, as Streamlit requires
if st.session_state.get(RUN_KEY) not in (None, *by_id):
    st.session_state[RUN_KEY] = None
selected = st.selectbox("Run", [None, *by_id], format_func=lambda r: _run_label(r, by_id), key=RUN_KEY)


# --- Start a run -------------------------------------------------------------------------------------------------


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
        iterations = int(st.number_input("Iterations", 1, 1_000_000, 10, key="si_iterations"))
    elif mode == "target":
        iterations = None
        target = int(st.number_input("Target pool size (paper: 52,000)", 1, 10_000_000, 100, key="si_target"))
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
    est = estimate_cost(spec, seeds)
    price = call_log.estimate_cost(
        call_log.get_prices(engine()), settings.model, est.prompt_tokens, est.completion_tokens
    )
    st.caption(
        f"Estimate: about {est.iterations:,} iteration(s), {est.calls:,} model calls, "
        f"{est.prompt_tokens:,} prompt + up to {est.completion_tokens:,} completion tokens"
        + (f", about ${price:,.2f}" if price is not None else " (no price set for this model in Settings)")
        + ". Assumes every response runs to its token limit and two new instructions per request."
    )
    st.caption(f"Prompt template version {config.version} · {config.templates_label}")
    show_departures(departures(spec))
    label = {
        "step": "Start: run the first iteration",
        "iterations": "Start the run",
        "target": "Start the run",
    }
    name = f"{SEED_LABELS.get(source, source).split(' (')[0]} · {settings.model or 'embedded'}"
    # Acting on the click in the script (not in a callback) uses the settings as they are now.
    if st.button(label[mode], type="primary", key="si_start"):
        run_id = runner().submit(KIND, spec.to_params(settings.public_dict()), name=name, settings=settings)
        st.session_state["si_started"] = run_id
        st.rerun()


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


# --- One run -----------------------------------------------------------------------------------------------------


def run_page(run_id: int) -> None:
    run = run_status(run_id)
    if run is None:
        return
    spec = RunSpec.from_params(run.params)
    model = run.params.get("model") or {}
    model_label = "embedded Gemma 3 270M" if model.get("provider") == "embedded" else model.get("model", "?")
    # Model names and upload file names come from outside: plain text, not a Markdown caption.
    st.text(
        f"Model: {model_label} · seeds: {spec.seeds} · {spec.k_human}+{spec.k_machine} per prompt · "
        f"{spec.requests_per_iteration} request(s) per iteration · seed {spec.seed} · threshold {spec.threshold} · "
        f"stops at {spec.iterations if spec.iterations is not None else '∞'} iterations / pool "
        f"{spec.target if spec.target is not None else '∞'} · template {run.params.get('prompt_version', '')} · "
        f"{spec.prompt.templates_label} · instance max_tokens {spec.prompt.instance_decoding.max_tokens} "
        f"(classification {spec.prompt.instance_decoding_classification.max_tokens})"
        + (" · classification-only" if spec.classification_only else "")
    )
    show_departures(run.params.get("departures") or departures(spec))
    if run.status == "failed" and (run.error or "").startswith(STALL_PREFIX):
        stall_resume(run, spec)

    seen = (run.status, len(run_store.result_keys(engine(), run_id)))

    @st.fragment(run_every=2.0)
    def watch() -> None:
        # Cheap polling: redraw the page only when the run changed status or stored something new (a unit
        # done, a step started from the progress bar's Resume button, an edit).
        now = run_store.get_run(engine(), run_id)
        if now is not None and (now.status, len(run_store.result_keys(engine(), run_id))) != seen:
            st.rerun()

    @st.fragment
    def body() -> None:
        now = run_store.get_run(engine(), run_id)
        if now is None:
            return
        active = now.status in run_store.ACTIVE
        view = views.load_view(run_id)
        if view.missing:
            st.warning(f"Iterations missing from the records: {view.missing}")
        step, runs_tab, analysis, pool, export = st.tabs(["Step", "Run", "Analysis", "Pool", "Export"])
        with step:
            views.step_tab(now, view, active)
        with runs_tab:
            views.run_tab(now, view, active)
        with analysis:
            views.analysis_tab(now, view)
        with pool:
            views.pool_tab(now, view)
        with export:
            views.export_tab(now, view)

    watch()
    body()


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


if selected is None:
    start_form()
else:
    run_page(selected)
