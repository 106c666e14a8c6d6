"""What every page shares: the database engine, the job runner, the model settings of this session."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from sqlalchemy import Engine

from core.config import setting
from core.jobs import JobRunner
from core.llm import ModelSettings, settings_from_env
from core.plaintext import escape_markdown
from core.store import database_url, get_engine
from core.store import runs as run_store


def _route_through_app() -> None:
    """Make a direct link to a page go through app.py's navigation.

    Streamlit decides per process, before any script runs, to treat a `pages/` folder as a legacy multipage
    app; only app.py's st.navigation call turns that off. So when the first request after a server start
    is a direct link (/humaneval), the page file would run on its own, with every module of `pages/` in the
    sidebar. Turning the flag off and rerunning runs app.py instead, which routes to the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_route_through_app()


def escape(text: object) -> str:
    """Text from outside (model output, endpoint errors, uploads, dataset fields, typed names) made safe to
    put inside Markdown (st.markdown, st.error/warning/info/success/toast, st.caption, labels): every markup
    character is escaped, so it renders exactly as written: no images, links, emphasis, math or HTML."""
    return escape_markdown(str(text))


@st.cache_resource
def _engine(url: str) -> Engine:
    return get_engine(url)


def engine() -> Engine:
    return _engine(database_url())


@st.cache_resource
def _runner(url: str) -> JobRunner:
    # One runner per server process and database: jobs outlive the page that started them.
    # WORKBENCH_JOB_THREADS=0 leaves the work to `python -m core.jobs worker` processes (and to tests).
    return JobRunner(_engine(url), threads=int(setting("WORKBENCH_JOB_THREADS") or 2))


def runner() -> JobRunner:
    return _runner(database_url())


def model_settings() -> ModelSettings:
    """This browser session's model: changes made in Settings, else the environment's."""
    return st.session_state.get("model_settings") or settings_from_env()


def model_banner() -> None:
    s = model_settings()
    if s.provider == "embedded":
        st.info(
            "Running on the **embedded Gemma 3 270M base model**, offline. It is tiny and not "
            "instruction-tuned: expect weak instructions and outputs. Connect a real model in **Settings** "
            "(OpenAI, vLLM, Ollama, llama.cpp server) to see the methods at their strength.",
            icon=":material/memory:",
        )
    else:
        st.caption(f"Model: {escape(s.label)}")


def run_status(
    run_id: int,
    describe: Callable[[run_store.Run], tuple[float, str]] | None = None,
    show_live: bool = True,
) -> run_store.Run | None:
    """A live view of a background run: progress, message, cancel. Re-renders on its own every second.

    `describe` gives the bar's fraction and text from what the run stored (a page that knows its run's
    records better than the job's last message); `show_live=False` leaves the model's live text to the page.
    """

    @st.fragment(run_every=1.0)
    def _view() -> None:
        run = run_store.get_run(engine(), run_id)
        if run is None:
            st.warning(f"Run {int(run_id)} no longer exists.")
            return
        label = f"Run {run.id} · {run.kind} · {run.status}"
        if describe is None:
            fraction, text = run.fraction, f"{run.progress_done}/{run.progress_total} {run.message}"
        else:
            fraction, text = describe(run)
        st.progress(min(1.0, max(0.0, fraction)), text=escape(f"{label} — {text}"))
        if run.status in run_store.ACTIVE and st.button("Cancel", key=f"cancel-{run.id}"):
            run_store.request_cancel(engine(), run.id)
        if show_live and run.status in run_store.ACTIVE and run.live:
            st.caption("The model is writing:")
            st.code(run.live, language=None, wrap_lines=True)
        if run.status == "failed" and run.error:
            st.error(escape(run.error.splitlines()[0]))
        if run.status in ("failed", "cancelled") and st.button("Resume", key=f"resume-{run.id}"):
            # Resume with the run's own model; this session's settings only travel along (with their API
            # key) when they are that same model.
            session = model_settings()
            runner().resume(run.id, session if session.public_dict() == run.params.get("model") else None)

    _view()
    return run_store.get_run(engine(), run_id)
