"""Running a job in the foreground of a command line: a progress bar read from the database, and Ctrl-C
(or SIGTERM) that cancels cleanly, leaving the run resumable."""

from __future__ import annotations

import signal
import threading

from sqlalchemy import Engine

from core.jobs.registry import load_all
from core.jobs.runner import execute
from core.llm import ModelSettings
from core.store import runs as run_store


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def execute_with_progress(engine: Engine, run_id: int, worker: str, settings: ModelSettings | None) -> str:
    """Execute a claimed run in a thread while this thread draws its progress; returns the final status."""
    from tqdm import tqdm

    load_all()
    run = run_store.get_run(engine, run_id)
    assert run is not None
    outcome: dict[str, str] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            outcome["status"] = execute(engine, run, worker, settings)
        finally:
            finished.set()

    # Waiting on an Event, not Thread.join: a Ctrl-C that interrupts join() can leave Python 3.11 believing
    # the thread has ended, and the process would exit mid-call with the run still marked running.
    threading.Thread(target=work, name=f"run-{run_id}", daemon=True).start()
    bar = tqdm(total=max(run.progress_total, 1), desc=f"run {run_id}", dynamic_ncols=True)
    # A polite kill (SIGTERM) cancels like Ctrl-C, so the run is left resumable and marked as such.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        while not finished.wait(0.5):
            now = run_store.get_run(engine, run_id)
            if now is None:
                break
            bar.total = max(now.progress_total, 1)
            bar.n = min(now.progress_done, bar.total)
            bar.set_postfix_str(now.message[:60], refresh=False)
            bar.refresh()
    except KeyboardInterrupt:
        bar.write(f"cancelling after the current model call; go on later with --resume {run_id}")
        run_store.request_cancel(engine, run_id)
        while not finished.wait(0.5):
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        bar.close()
    return outcome.get("status", "failed")
