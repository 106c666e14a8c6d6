"""Background jobs: a run killed mid-way resumes and finishes with every result exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import func, select

import core.jobs.runner as runner_mod
from core.generation import GenerationItem, generation_params
from core.jobs import JobRunner, submit
from core.llm import ModelSettings
from core.store import runs as run_store
from core.store.schema import calls, run_results
from tests.conftest import REPO_ROOT

EMBEDDED = ModelSettings().public_dict()


def _items(n: int) -> list[GenerationItem]:
    return [
        GenerationItem(key=f"item-{i}", prompt=f"Q: What is {i} plus {i}?\nA:", params={"max_tokens": 24})
        for i in range(n)
    ]


def test_killed_job_resumes_with_every_result_exactly_once(sqlite_engine, data_dir, monkeypatch):
    run_id = submit(sqlite_engine, "generate", generation_params(_items(8), EMBEDDED), name="kill me")
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(data_dir)}
    worker = subprocess.Popen([sys.executable, "-m", "core.jobs", "worker", "--once"], cwd=REPO_ROOT, env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(run_store.results(sqlite_engine, run_id)) < 2:
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    partial = run_store.results(sqlite_engine, run_id)
    assert 2 <= len(partial) < 8, "the worker should have been killed mid-way"
    assert run_store.get_run(sqlite_engine, run_id).status == "running"  # as the dead worker left it

    # The run stopped heartbeating: the next worker takes it over and resumes.
    monkeypatch.setattr(runner_mod, "STALE_AFTER", timedelta(seconds=0))
    assert runner_mod.run_once(sqlite_engine) == run_id
    run = run_store.get_run(sqlite_engine, run_id)
    assert run.status == "done" and run.progress_done == run.progress_total == 8
    final = run_store.results(sqlite_engine, run_id)
    assert sorted(final) == sorted(f"item-{i}" for i in range(8))
    for key, value in partial.items():
        assert final[key] == value  # nothing done before the kill was redone
    with sqlite_engine.connect() as conn:
        stored = conn.execute(
            select(func.count()).select_from(run_results).where(run_results.c.run_id == run_id)
        )
        assert stored.scalar_one() == 8
        # One successful model call per item: the resumed worker did not ask again for what was answered.
        answered = conn.execute(
            select(func.count(func.distinct(calls.c.cache_key))).where(
                calls.c.run_id == run_id, calls.c.error.is_(None)
            )
        ).scalar_one()
        assert answered == 8


def test_runner_thread_runs_and_cancels(sqlite_engine):
    runner = JobRunner(sqlite_engine, threads=1, poll_s=0.1)
    try:
        run_id = runner.submit("generate", generation_params(_items(2), EMBEDDED))
        deadline = time.time() + 120
        while time.time() < deadline and run_store.get_run(sqlite_engine, run_id).status != "done":
            time.sleep(0.1)
        assert run_store.get_run(sqlite_engine, run_id).status == "done"
        # A cancelled run stops at its next unit of work and can be resumed to completion.
        long_id = runner.submit("generate", generation_params(_items(30), EMBEDDED))
        while run_store.get_run(sqlite_engine, long_id).progress_done < 1 and time.time() < deadline:
            time.sleep(0.05)
        run_store.request_cancel(sqlite_engine, long_id)
        while run_store.get_run(sqlite_engine, long_id).status == "running" and time.time() < deadline:
            time.sleep(0.05)
        cancelled = run_store.get_run(sqlite_engine, long_id)
        assert cancelled.status == "cancelled" and cancelled.progress_done < 30
        runner.resume(long_id)
        while run_store.get_run(sqlite_engine, long_id).status != "done" and time.time() < deadline:
            time.sleep(0.1)
        assert len(run_store.results(sqlite_engine, long_id)) == 30
    finally:
        runner.stop()


def test_live_text_is_written_while_running_and_cleared_at_the_end(sqlite_engine, monkeypatch):
    from core.jobs.registry import JOB_KINDS

    seen: list[str | None] = []

    def job(ctx) -> None:
        ctx.live("partial text")
        seen.append(run_store.get_run(sqlite_engine, ctx.run_id).live)

    monkeypatch.setitem(JOB_KINDS, "live-demo", job)
    run, worker = runner_mod.start_here(sqlite_engine, "live-demo", {})
    assert runner_mod.execute(sqlite_engine, run, worker) == "done"
    assert seen == ["partial text"]
    assert run_store.get_run(sqlite_engine, run.id).live is None
