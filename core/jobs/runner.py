"""Run queued jobs in worker threads of this process (the app) or from the command line.

Runs are claimed from the database, so a run survives the process that started it: after a restart, a
run left 'running' stops heartbeating, and the next worker takes it over and resumes from its results.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from core.jobs.context import Cancelled, JobContext, Stopped
from core.jobs.registry import JOB_KINDS, load_all
from core.llm import LLMError, ModelSettings
from core.llm.redact import redact
from core.llm.settings import settings_from_public
from core.llm.types import Aborted
from core.store import runs as run_store
from core.store.db import utcnow

log = logging.getLogger(__name__)
# A run whose worker has been silent for longer than this is taken over (its process is presumed dead).
STALE_AFTER = timedelta(seconds=float(os.environ.get("WORKBENCH_JOB_STALE_S", "30")))
# How often a working run heartbeats; unset, a sixth of STALE_AFTER. Both are injectable (environment, or
# these module attributes) so tests need no timing margins.
HEARTBEAT_S: float | None = (
    float(os.environ["WORKBENCH_JOB_HEARTBEAT_S"]) if os.environ.get("WORKBENCH_JOB_HEARTBEAT_S") else None
)


def heartbeat_every() -> float:
    return HEARTBEAT_S if HEARTBEAT_S else max(0.5, STALE_AFTER.total_seconds() / 6)


def submit(engine: Engine, kind: str, params: dict[str, Any], name: str = "") -> int:
    """Queue a run; a worker picks it up. Params must not hold secrets (they are stored)."""
    load_all()
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}; known: {', '.join(sorted(JOB_KINDS))}")
    return run_store.create_run(engine, kind, params, name=name)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@contextmanager
def _keepalive(engine: Engine, run_id: int, worker: str, run_stop: threading.Event) -> Iterator[None]:
    """Heartbeat from a side thread while the job works: one model call can take longer than STALE_AFTER,
    and a silent run would be taken over by another worker as if this process had died. A beat that finds
    the run cancelled or taken over sets `run_stop`, which cuts short the model call in progress."""
    stop = threading.Event()
    every = heartbeat_every()

    def beat() -> None:
        while not stop.wait(every):
            with suppress(Exception):  # the database may be busy for a moment: the next beat will do
                if run_store.heartbeat(engine, run_id, worker):
                    run_stop.set()

    thread = threading.Thread(target=beat, name=f"heartbeat-run-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def start_here(
    engine: Engine, kind: str, params: dict[str, Any], name: str = ""
) -> tuple[run_store.Run, str]:
    """Create a run already claimed by this thread (for command lines that execute their own run)."""
    load_all()
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}; known: {', '.join(sorted(JOB_KINDS))}")
    worker = worker_id()
    run_id = run_store.create_run(engine, kind, params, name=name, worker=worker)
    run = run_store.get_run(engine, run_id)
    assert run is not None
    return run, worker


def resume_here(engine: Engine, run_id: int, take_over: bool = False) -> tuple[run_store.Run, str] | None:
    """Claim a given stopped (or abandoned) run for this thread to resume it; None if a live worker has it
    (unless `take_over`: then that worker stops at its next heartbeat)."""
    load_all()
    worker = worker_id()
    run = run_store.claim(engine, run_id, worker, STALE_AFTER, take_over=take_over)
    return (run, worker) if run else None


def busy_message(engine: Engine, run_id: int) -> str:
    """Why a run cannot be resumed now, and when it can: its worker's last heartbeat and the claim's expiry."""
    run = run_store.get_run(engine, run_id)
    if run is None:
        return f"run {run_id} does not exist"
    if run.heartbeat_at is None:
        return f"run {run_id} is {run.status}"
    heartbeat_at = run.heartbeat_at
    if heartbeat_at.tzinfo is None:  # SQLite hands back naive UTC
        heartbeat_at = heartbeat_at.replace(tzinfo=utcnow().tzinfo)
    age = max(0.0, (utcnow() - heartbeat_at).total_seconds())
    left = max(0.0, STALE_AFTER.total_seconds() - age)
    return (
        f"run {run_id} is held by another process ({run.worker}), which heartbeat {age:.0f} s ago. If that "
        f"process is gone, the run is free to resume in {left:.0f} s; to take it now, add --take-over "
        "(a process still working on it stops at its next heartbeat)."
    )


def execute(
    engine: Engine,
    run: run_store.Run,
    worker: str,
    model_settings: ModelSettings | None = None,
    stop: threading.Event | None = None,
) -> str:
    """Run one claimed run to its end; returns the final status ("taken over" if another worker took it).

    Without explicit settings the model is the one the run stored (with the key from the environment).
    Setting `stop` stops the run as a cancel does, cutting short the model call in progress.
    """
    settings = model_settings or settings_from_public(run.params.get("model"))
    ctx = JobContext(
        engine=engine, run=run, worker=worker, model_settings=settings, stop=stop or threading.Event()
    )
    try:
        with _keepalive(engine, run.id, worker, ctx.stop):
            JOB_KINDS[run.kind](ctx)
    except (Cancelled, Aborted):
        status, error = "cancelled", None
    except (LLMError, Stopped) as exc:
        status, error = "failed", str(exc)
    except Exception as exc:  # a job's bug must not kill the worker; the run shows the error
        status, error = "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        log.error("run %s failed: %s", run.id, redact(error))  # redacted: logs are read by others
    else:
        status, error = "done", None
    if not run_store.finish_run(engine, run.id, worker, status, error):
        return "taken over"
    return status


def run_once(
    engine: Engine, kinds: tuple[str, ...] | None = None, model_settings: ModelSettings | None = None
) -> int | None:
    """Claim and execute one run if any is waiting; returns its id."""
    load_all()
    worker = worker_id()
    run = run_store.claim_next(engine, worker, STALE_AFTER, kinds or tuple(JOB_KINDS))
    if run is None:
        return None
    execute(engine, run, worker, model_settings)
    return run.id


class JobRunner:
    """A small pool of daemon threads polling for queued runs. One per app process."""

    def __init__(self, engine: Engine, threads: int = 2, poll_s: float = 1.0):
        self.engine = engine
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        # Settings chosen in a browser session (e.g. an API key) travel to the job in memory only.
        self._settings: dict[int, ModelSettings] = {}
        self._threads = [
            threading.Thread(target=self._loop, name=f"job-worker-{i}", daemon=True) for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def submit(
        self, kind: str, params: dict[str, Any], name: str = "", settings: ModelSettings | None = None
    ) -> int:
        run_id = submit(self.engine, kind, params, name)
        if settings is not None:
            self._settings[run_id] = settings
        self._wake.set()
        return run_id

    def resume(self, run_id: int, settings: ModelSettings | None = None) -> None:
        if settings is not None:
            self._settings[run_id] = settings
        run_store.requeue(self.engine, run_id)
        self._wake.set()

    def _loop(self) -> None:
        load_all()
        while not self._stop.is_set():
            worker = worker_id()
            try:
                run = run_store.claim_next(self.engine, worker, STALE_AFTER, tuple(JOB_KINDS))
            except Exception:  # database briefly unavailable: try again at the next poll
                log.exception("claiming a run failed")
                run = None
            if run is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            execute(self.engine, run, worker, self._settings.get(run.id))

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
