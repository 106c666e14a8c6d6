"""Self-Instruct (Wang et al., ACL 2023): grow an instruction set from seed tasks and watch every decision."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import core.datasets as datasets
from core.datasets import DatasetError
from core.selfinstruct.filters import DEFAULT_BLACKLIST
from core.selfinstruct.pipeline import KIND, RunSpec, estimate_cost, resolve_seeds, with_decoding
from core.selfinstruct.prompts import CLASSIFICATION_HEADER, INSTRUCTION_HEADER, PromptConfig
from core.store import calls as call_log
from core.store import runs as run_store
from pages import selfinstruct_views as views
from pages.common import engine, model_banner, model_settings, run_status, runner

RUN_KEY = "si_run"

st.title("Self-Instruct")
st.caption(
    "Wang et al., ACL 2023. Sample instructions from the seed tasks and the growing pool, ask the model for "
    "more, and keep only the well-formed, novel ones; then classify each and generate its instances."
)
model_banner()

if error := st.session_state.pop("si_error", None):
    st.error(error)


def _run_label(run_id: int | None, by_id: dict[int, run_store.Run]) -> str:
    if run_id is None:
        return "➕ Start a new run"
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
        st.warning(str(exc))
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
                st.error(str(exc))
            else:
                st.session_state["si_seeds_added"] = f"upload:{stored.name}"
                st.rerun()
    try:
        seeds = resolve_seeds(source)
    except (ValueError, DatasetError) as exc:
        st.error(str(exc))
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
    st.caption(f"Model: {settings.label} (change it in Settings)")
    c = st.columns(4)
    k_human = c[0].number_input("Human seeds per prompt", 0, 32, 6, key="si_k_human")
    k_machine = c[1].number_input("Machine instructions per prompt", 0, 32, 2, key="si_k_machine")
    requests = c[2].number_input("Requests per iteration", 1, 256, 1, key="si_requests")
    seed = c[3].number_input("Random seed", 0, 2**31 - 1, 0, key="si_seed")
    c = st.columns(2)
    # The paper's limits are 1024 and 350 tokens; the embedded model is slow, so it starts lower.
    max_tokens = c[0].number_input(
        "Max tokens per generation (paper: 1024)", 8, 4096, 128 if embedded else 1024, key="si_max_tokens"
    )
    instance_max_tokens = c[1].number_input(
        "Max tokens per instance generation (paper: 350)",
        8,
        4096,
        96 if embedded else 350,
        key="si_inst_tokens",
    )
    with st.expander("Prompt and filter settings"):
        classification_only = st.toggle(
            "Classification tasks only (classification seeds and header, as the paper's second run)",
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
        PromptConfig(),
        header=header,
        classification_header=clf_header,
        temperature=temperature,
        top_p=top_p,
        presence_penalty=presence,
        max_tokens=int(max_tokens),
        instance_max_tokens=int(instance_max_tokens),
    )
    spec = RunSpec(
        seeds=source,
        k_human=int(k_human),
        k_machine=int(k_machine),
        classification_only=classification_only,
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
    st.caption(f"Prompt template version {config.version}")
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


# --- One run -----------------------------------------------------------------------------------------------------


def run_page(run_id: int) -> None:
    run = run_status(run_id)
    if run is None:
        return
    spec = RunSpec.from_params(run.params)
    model = run.params.get("model") or {}
    model_label = "embedded Gemma 3 270M" if model.get("provider") == "embedded" else model.get("model", "?")
    st.caption(
        f"Model: {model_label} · seeds: {spec.seeds} · {spec.k_human}+{spec.k_machine} per prompt · {spec.requests_per_iteration} "
        f"request(s) per iteration · seed {spec.seed} · threshold {spec.threshold} · "
        f"stops at {spec.iterations if spec.iterations is not None else '∞'} iterations / pool "
        f"{spec.target if spec.target is not None else '∞'} · template {run.params.get('prompt_version', '')}"
    )

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


if selected is None:
    start_form()
else:
    run_page(selected)
