"""One Self-Instruct run as it happens: a forward-only counter, the running step (its prompt, the streaming
response, then its candidates, in that order), and the finished iterations kept apart from the running one.

Everything here is read from what the run stored and from its live text; the job is not asked for anything.
The iteration numbers shown are 1-based (the stored keys and exports count from 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.selfinstruct.fidelity import departures
from core.selfinstruct.job import STALL_PREFIX
from core.selfinstruct.records import Task
from core.selfinstruct.requests import plan_iteration
from core.selfinstruct.spec import RunSpec
from core.selfinstruct.view import IterationView, RunView
from core.store import runs as run_store
from ui import selfinstruct_start as start
from ui import selfinstruct_views as views
from ui.common import engine, run_status


@dataclass(frozen=True)
class LiveStep:
    """What a running Self-Instruct job is doing now, as its stored records and live text tell."""

    phase: str  # "generating": iteration `t` is at the model; "stages": only classification/instances left
    t: int  # the running iteration (0-based), or the number generated when phase == "stages"
    iterations: int | None  # the planned number of iterations (None: up to a pool size)
    target: int | None
    pool: int  # kept instructions so far (the job's pool size)
    n_requests: int
    sample: tuple[tuple[str, str], ...]  # (origin, text) of the first request's sampled instructions
    prompt: str  # the first request's prompt
    response: str | None  # what the model has written so far for that prompt
    stages_done: int = 0
    stages_total: int = 0


def _machine(view: RunView) -> list[Task]:
    # The pool as the job builds it: every kept instruction, in the order kept (edits come later).
    return [Task(text, id=f"{it.t}/{i}") for it in view.iterations for i, text in enumerate(it.kept)]


def live_step(spec: RunSpec, view: RunView, live: str | None) -> LiveStep:
    """The step of an active run. Iterations are stored in order, so the running one is the first not
    stored; its prompt is planned again exactly as the job plans it (same seed, same pool)."""
    t = len(view.iterations)
    pool = sum(len(it.kept) for it in view.iterations)
    common = {"iterations": spec.iterations, "target": spec.target, "pool": pool}
    if not spec.goes_on(t, pool) or not view.seeds:
        needs_instances = spec.instances
        total = len(view.items) if (spec.classify or spec.instances) else 0
        done = sum(
            (x.instances is not None) if needs_instances else (x.verdict is not None) for x in view.items
        )
        return LiveStep(
            "stages", t, n_requests=0, sample=(), prompt="", response=None,
            stages_done=done, stages_total=total, **common,
        )  # fmt: skip
    first = plan_iteration(spec, view.seeds, _machine(view), t, "completion")[0]
    sample = tuple((s.origin, s.text) for s in first.sample.items)
    return LiveStep(
        "generating", t, n_requests=spec.requests_per_iteration, sample=sample, prompt=first.prompt,
        response=live, **common,
    )  # fmt: skip


def counter(run: run_store.Run, spec: RunSpec, view: RunView) -> tuple[float, str]:
    """The progress bar's fraction and text from the stored iterations: it only ever moves forward (an
    extended run's total grows; what is done never shrinks)."""
    n = len(view.iterations)
    pool = sum(len(it.kept) for it in view.iterations)
    if spec.target is not None:
        fraction = pool / spec.target if spec.target else 1.0
        goal = f"pool {pool:,} of {spec.target:,}"
    else:
        total = spec.iterations or 0
        fraction = n / total if total else 1.0
        goal = f"pool {pool:,}"
    if run.status == "running":
        if spec.goes_on(n, pool):
            of = f" of {spec.iterations:,}" if spec.iterations is not None else ""
            return fraction, f"iteration {n + 1}{of} running · {goal}"
        return fraction, f"{n:,} iteration(s) generated; classifying and generating instances · {goal}"
    if run.status == "queued":
        return fraction, f"waiting for a worker · {n:,} iteration(s) stored · {goal}"
    return fraction, f"{n:,} iteration(s) · {goal}"


def _iteration_nav(run_id: int, view: RunView, active: bool) -> IterationView | None:
    key = f"si_it_{run_id}"
    n = len(view.iterations)
    if n == 0:
        return None
    current = st.session_state.get(key)
    t = n - 1 if current is None or current >= n else current  # None: follow the newest iteration

    def go(to: int | None) -> None:
        st.session_state[key] = to

    c1, c2, c3, c4 = st.columns([1, 1, 1, 4], vertical_alignment="center")
    c1.button("◀ Back", disabled=t == 0, on_click=go, args=(t - 1,), key=f"si_back_{run_id}")
    c2.button("Forward ▶", disabled=t >= n - 1, on_click=go, args=(t + 1,), key=f"si_fwd_{run_id}")
    c3.button("Latest", disabled=current is None, on_click=go, args=(None,), key=f"si_latest_{run_id}")
    it = view.iterations[t]
    c4.caption(
        f"{'Finished iteration' if active else 'Iteration'} {t + 1} of {n} · "
        f"pool {it.pool_before} → {it.pool_after}"
    )
    return it


def show_live_step(step: LiveStep) -> None:
    """The running step in the order it happens: the sample and prompt, the response as it streams, then
    where its candidates will appear."""
    if step.phase == "stages":
        st.markdown("**Now: classification and instances**")
        st.caption(
            f"All {step.t} iteration(s) are generated. Kept instructions classified"
            f"{' and given instances' if step.stages_total else ''}: {step.stages_done} of {step.stages_total}."
        )
        return
    of = f" of {step.iterations}" if step.iterations is not None else ""
    st.markdown(f"**Now: iteration {step.t + 1}{of}**")
    if step.n_requests > 1:
        st.caption(f"Request 1 of {step.n_requests} is shown; the others run alongside it.")
    st.markdown("**1 · Sampled instructions**")
    st.dataframe(
        pd.DataFrame(
            [{"#": n, "from": origin, "instruction": text} for n, (origin, text) in enumerate(step.sample, 1)]
        ),
        hide_index=True,
    )
    st.markdown("**2 · The exact prompt**")
    st.code(step.prompt, language=None, wrap_lines=True)
    st.markdown("**3 · Response, as the model writes it**")
    if step.response:
        st.code(step.response, language=None, wrap_lines=True)
    else:
        st.caption("Waiting for the model's response… (a complete response is judged and stored at once)")
    st.markdown("**4 · Candidates**")
    st.caption("They appear here, with each filter's decision, once the whole response is in.")


def step_tab(run: run_store.Run, spec: RunSpec, view: RunView, active: bool) -> None:
    if active:

        @st.fragment(run_every=1.0)
        def live() -> None:
            now = run_store.get_run(engine(), run.id)
            if now is None or now.status not in run_store.ACTIVE:
                return
            # The view is cached per stored-result count: a new record shows here at the next tick.
            fresh = views.load_view(run.id)
            with st.container(border=True):
                show_live_step(live_step(spec, fresh, now.live))

        live()
    it = _iteration_nav(run.id, view, active)
    if it is None:
        if not active:
            st.info("No iteration stored yet.")
        return
    if active:
        st.markdown("**Finished iterations**")
    views.show_iteration(view, it)


def _header(run: run_store.Run, spec: RunSpec) -> None:
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
    start.show_departures(run.params.get("departures") or departures(spec))


def run_page(run_id: int) -> None:
    """A run: its settings, a forward-only status bar, Go on, then the Step/Run/Analysis/Pool/Export tabs."""

    def describe(now: run_store.Run) -> tuple[float, str]:
        return counter(now, RunSpec.from_params(now.params), views.load_view(run_id))

    run = run_status(run_id, describe=describe, show_live=False)
    if run is None:
        return
    spec = RunSpec.from_params(run.params)
    _header(run, spec)
    if run.status == "failed" and (run.error or "").startswith(STALL_PREFIX):
        start.stall_resume(run, spec)

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
        spec_now = RunSpec.from_params(now.params)
        view = views.load_view(run_id)
        start.continue_form(now, view, active)
        if view.missing:
            st.warning(f"Iterations missing from the records: {view.missing}")
        step, runs_tab, analysis, pool, export = st.tabs(["Step", "Run", "Analysis", "Pool", "Export"])
        with step:
            step_tab(now, spec_now, view, active)
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
