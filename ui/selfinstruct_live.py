"""One Self-Instruct run as it happens: a forward-only counter, the running step (its prompt, the streaming
response, then its candidates, in that order), and the finished iterations kept apart from the running one.

Everything here is read from what the run stored, through its page index (core.selfinstruct.index: counts
and kept texts in SQL, one iteration's records by key), and from its live text; the job is not asked for
anything, and the whole run is never read to draw the page.
The iteration numbers shown are 1-based (the stored keys and exports count from 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.selfinstruct import pages as si_pages
from core.selfinstruct.fidelity import departures
from core.selfinstruct.index import last_result_id
from core.selfinstruct.job import STALL_PREFIX
from core.selfinstruct.records import Task
from core.selfinstruct.requests import plan_iteration
from core.selfinstruct.spec import RunSpec
from core.selfinstruct.view import IterationView, RunView
from core.store import runs as run_store
from ui import selfinstruct_analysis as analysis_views
from ui import selfinstruct_pool as pool_views
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


def running_iteration(spec: RunSpec, t: int, pool: int, seeds: Sequence[Task]) -> bool:
    """Whether an active run is generating iteration `t` (else only classification/instances are left).
    Iterations are stored in order, so the running one is the first not stored."""
    return spec.goes_on(t, pool) and bool(seeds)


Planned = tuple[tuple[tuple[str, str], ...], str]  # the first request's (origin, text) sample and prompt


def first_request(spec: RunSpec, seeds: Sequence[Task], machine: Sequence[Task], t: int) -> Planned:
    """The (origin, text) sample and the prompt of iteration t's first request, planned again exactly as
    the job plans it (same seed, same pool: every kept instruction, in the order kept)."""
    first = plan_iteration(spec, seeds, machine, t, "completion")[0]
    return tuple((s.origin, s.text) for s in first.sample.items), first.prompt


def counter(run: run_store.Run, spec: RunSpec, n: int, pool: int) -> tuple[float, str]:
    """The progress bar's fraction and text from the stored iterations (`n`) and kept instructions (`pool`,
    the job's pool size): it only ever moves forward (an extended run's total grows; what is done never
    shrinks)."""
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


def _iteration_nav(run_id: int, n: int, state: int, active: bool) -> tuple[IterationView, RunView] | None:
    key = f"si_it_{run_id}"
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
    found = views.iteration_view(run_id, t, state)  # one iteration's records, read by key
    if found is None:
        return None
    it = found[0]
    c4.caption(
        f"{'Finished iteration' if active else 'Iteration'} {t + 1} of {n} · "
        f"pool {it.pool_before} → {it.pool_after}"
    )
    return found


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


@st.cache_data(max_entries=8, show_spinner=False)
def _seeds(run_id: int, state: int) -> list[Task]:
    # Per state, not once per run: the job stores its seeds when it starts, after the page may have looked.
    return si_pages.seeds(engine(), run_id)


@st.cache_data(max_entries=8, show_spinner=False)
def _stages_done(run_id: int, state: int, instances: bool) -> int:
    return si_pages.stages_done(engine(), run_id, instances)


@st.cache_data(max_entries=8, show_spinner=False)
def _planned(run_id: int, t: int, pool: int, n_seeds: int) -> Planned:
    # The plan depends on the seeds and the kept texts only, which change only when an iteration is stored
    # (edits never reach the job's pool): planned once per running iteration, not on every tick.
    run = run_store.get_run(engine(), run_id)
    spec = RunSpec.from_params(run.params if run else {})
    return first_request(spec, si_pages.seeds(engine(), run_id), si_pages.job_pool(engine(), run_id), t)


def live_step(run: run_store.Run, spec: RunSpec, state: int) -> LiveStep:
    """The step of an active run, from its index at this state (a few small queries, each cached)."""
    s = views.summary(run.id, state)
    common = {"iterations": spec.iterations, "target": spec.target, "pool": s.items}
    seeds = _seeds(run.id, state)
    if running_iteration(spec, s.iterations, s.items, seeds):
        sample, prompt = _planned(run.id, s.iterations, s.items, len(seeds))
        return LiveStep(
            "generating", s.iterations, n_requests=spec.requests_per_iteration, sample=sample, prompt=prompt,
            response=run.live, **common,
        )  # fmt: skip
    return LiveStep(
        "stages", s.iterations, n_requests=0, sample=(), prompt="", response=None,
        stages_done=_stages_done(run.id, state, spec.instances),
        stages_total=s.items if (spec.classify or spec.instances) else 0, **common,
    )  # fmt: skip


def step_tab(run: run_store.Run, spec: RunSpec, state: int, active: bool) -> None:
    if active:

        @st.fragment(run_every=1.0)
        def live() -> None:
            now = run_store.get_run(engine(), run.id)
            if now is None or now.status not in run_store.ACTIVE:
                return
            # Reads only what was stored since the last tick into the index; a new record shows here at once.
            with st.container(border=True):
                show_live_step(live_step(now, spec, views.open_run(run.id)))

        live()
    found = _iteration_nav(run.id, views.summary(run.id, state).iterations, state, active)
    if found is None:
        if not active:
            st.info("No iteration stored yet.")
        return
    if active:
        st.markdown("**Finished iterations**")
    it, view = found
    views.show_iteration(view, it)


def _header(run: run_store.Run, spec: RunSpec) -> None:
    model = run.params.get("model") or {}
    model_label = (
        "embedded Gemma 3 270M"
        if model.get("provider") == "embedded"
        else (model.get("model") or "not recorded")
    )
    # Model names and upload file names come from outside: plain text, not a Markdown caption.
    st.text(
        f"Model: {model_label} · seeds: {spec.seeds} · {spec.k_human}+{spec.k_machine} per prompt · "
        f"{spec.requests_per_iteration} request(s) per iteration · seed {spec.seed} · threshold {spec.threshold} · "
        f"stops at {spec.iterations if spec.iterations is not None else '∞'} iterations / pool "
        f"{spec.target if spec.target is not None else '∞'} · template "
        f"{run.params.get('prompt_version') or spec.prompt.version} · "
        f"{spec.prompt.templates_label} · instance max_tokens {spec.prompt.instance_decoding.max_tokens} "
        f"(classification {spec.prompt.instance_decoding_classification.max_tokens})"
        + (" · classification-only" if spec.classification_only else "")
    )
    start.show_departures(run.params.get("departures") or departures(spec))


def run_page(run_id: int) -> None:
    """A run: its settings, a forward-only status bar, Go on, then the Step/Run/Analysis/Pool/Export tabs.

    Everything is read from the run's index (synced from what is new) and a screenful of records by key; the
    whole run is read only to build an export, on its button.
    """

    def describe(now: run_store.Run) -> tuple[float, str]:
        s = views.summary(run_id, views.open_run(run_id))
        return counter(now, RunSpec.from_params(now.params), s.iterations, s.items)

    run = run_status(run_id, describe=describe, show_live=False)
    if run is None:
        return
    spec = RunSpec.from_params(run.params)
    _header(run, spec)
    if run.status == "failed" and (run.error or "").startswith(STALL_PREFIX):
        start.stall_resume(run, spec)

    seen = (run.status, last_result_id(engine(), run_id))

    @st.fragment(run_every=2.0)
    def watch() -> None:
        # Cheap polling: redraw the page only when the run changed status or stored something new (a unit
        # done, a step started from the progress bar's Resume button, an edit): one max() over its results.
        now = run_store.get_run(engine(), run_id)
        if now is not None and (now.status, last_result_id(engine(), run_id)) != seen:
            st.rerun()

    @st.fragment
    def body() -> None:
        now = run_store.get_run(engine(), run_id)
        if now is None:
            return
        active = now.status in run_store.ACTIVE
        spec_now = RunSpec.from_params(now.params)
        state = views.open_run(run_id)
        s = views.summary(run_id, state)
        start.continue_form(now, s, _seeds(run_id, state), active)
        if s.missing:
            st.warning(f"Iterations missing from the records: {s.missing}")
        step, runs_tab, analysis, pool, export = st.tabs(["Step", "Run", "Analysis", "Pool", "Export"])
        with step:
            step_tab(now, spec_now, state, active)
        with runs_tab:
            views.run_tab(now, state)
        with analysis:
            analysis_views.analysis_tab(now, state)
        with pool:
            pool_views.pool_tab(now, state)
        with export:
            views.export_tab(now, state)

    watch()
    body()
