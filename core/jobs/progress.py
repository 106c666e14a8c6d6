"""Running a job in the foreground of a command line: a progress bar read from the database, and Ctrl-C
(or SIGTERM) that stops within seconds, leaving the run resumable. Both command lines share it, and the
`--take-over` option of their `--resume`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from sqlalchemy import Engine

from core.jobs.registry import load_all
from core.jobs.runner import busy_message, execute, resume_here
from core.llm import ModelSettings
from core.store import runs as run_store

# How long a stopped run may take to wind down before this process gives up on the model call in
# progress (one that cannot be interrupted, e.g. a non-streamed HTTP request) and exits.
STOP_GRACE_S = float(os.environ.get("WORKBENCH_STOP_GRACE_S", "3"))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def add_take_over_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--take-over",
        action="store_true",
        help="with --resume: take the run now from a process that still holds it (e.g. one just killed)",
    )


def claim_for_resume(engine: Engine, run_id: int, take_over: bool) -> tuple[run_store.Run, str] | None:
    """Claim a run to resume it here, or say on stderr who holds it and when the claim expires."""
    claimed = resume_here(engine, run_id, take_over=take_over)
    if claimed is None:
        print(busy_message(engine, run_id), file=sys.stderr)
    return claimed


def execute_with_progress(engine: Engine, run_id: int, worker: str, settings: ModelSettings | None) -> str:
    """Execute a claimed run in a thread while this thread draws its progress; returns the final status."""
    from tqdm import tqdm

    load_all()
    run = run_store.get_run(engine, run_id)
    assert run is not None
    outcome: dict[str, str] = {}
    finished = threading.Event()
    stop = threading.Event()

    def work() -> None:
        try:
            outcome["status"] = execute(engine, run, worker, settings, stop=stop)
        finally:
            finished.set()

    # Waiting on an Event, not Thread.join: a Ctrl-C that interrupts join() can leave Python 3.11 believing
    # the thread has ended, and the process would exit mid-call with the run still marked running.
    threading.Thread(target=work, name=f"run-{run_id}", daemon=True).start()
    bar = tqdm(total=max(run.progress_total, 1), desc=f"run {run_id}", dynamic_ncols=True)
    # A polite kill (SIGTERM) stops like Ctrl-C, so the run is left resumable and marked as such.
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
        bar.write(f"stopping; go on later with --resume {run_id}")
        stop.set()  # the model call in progress gives up between tokens, chunks or retries
        run_store.request_cancel(engine, run_id)
        try:
            stopped = finished.wait(STOP_GRACE_S)
        except KeyboardInterrupt:  # a second Ctrl-C: do not wait at all
            stopped = False
        if not stopped:
            _abandon(engine, run_id, worker)
    finally:
        signal.signal(signal.SIGTERM, previous)
        bar.close()
    return outcome.get("status", "failed")


def _abandon(engine: Engine, run_id: int, worker: str) -> None:
    """A call that would not stop (it stores nothing until it ends): mark the run cancelled and leave now.

    `os._exit`, not a return: interpreter shutdown would join the request threads and wait out the call.
    Everything stored so far is committed; the run resumes from it."""
    run_store.finish_run(engine, run_id, worker, "cancelled")
    print(
        f"\nrun {run_id} cancelled (a model call in progress was abandoned); go on with --resume {run_id}",
        file=sys.stderr,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
