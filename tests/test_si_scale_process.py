"""Self-Instruct's classification and instances in a worker process of their own (the machine's second core):
what it stores is what the run's own threads store; a worker that dies stops the run with a reason and the
run resumes redoing nothing; a model error inside the worker fails the run with the endpoint's words and
never the key; a run killed under it takes the worker with it.

The equivalence runs on the real llama.cpp server. The loopback endpoint (tests/si_scale_endpoint.py) is a
fault injector only: it holds, refuses or outlives requests at points the tests choose.
"""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

import core.jobs.runner as runner_mod
import core.selfinstruct.job as si_job
from core.jobs import run_once, submit
from core.selfinstruct import stage_process
from core.selfinstruct.spec import KIND, selfinstruct_params
from core.selfinstruct.view import load_run
from core.store import runs as run_store
from core.store.schema import si_items
from tests.conftest import app_env, count_call_rows, kill_worker_when, llama_settings, wait_for
from tests.test_selfinstruct_pipeline import small_prompts
from tests.test_si_scale_overlap import assert_same_records, loopback_model, run_to_end


def small_run(endpoint, seed: int, iterations: int = 3) -> dict:
    """A run of a few small iterations on the loopback endpoint, 8 requests in flight."""
    return selfinstruct_params(
        loopback_model(endpoint, concurrency=8),
        seeds="starter",
        iterations=iterations,
        requests_per_iteration=2,
        prompt=small_prompts(),
        seed=seed,
    )


@pytest.fixture()
def workers(monkeypatch) -> list[stage_process.ProcessUnits]:
    """Stages forced into a worker process (whatever the budget), every worker started recorded, and the
    run's own process unable to run a stage unit: a unit run there fails the run."""
    monkeypatch.setenv(stage_process.MODE_SETTING, "on")
    started: list[stage_process.ProcessUnits] = []
    real_init = stage_process.ProcessUnits.__init__

    def recording(self, *args, **kwargs) -> None:
        real_init(self, *args, **kwargs)
        started.append(self)

    def not_here(self, unit):
        raise AssertionError(f"stage unit {unit.t}/{unit.i} ran in the run's own process")

    monkeypatch.setattr(stage_process.ProcessUnits, "__init__", recording)
    monkeypatch.setattr(si_job._Loop, "stage_unit", not_here)
    return started


def test_a_worker_process_stores_what_the_threads_store(engine, data_dir, llama_server, workers, monkeypatch):
    """On the real llama.cpp server, SQLite and PostgreSQL: the run with its stages in a worker process,
    then the same run with them on threads, answered by the call log. Every stored record is identical, the
    worker exited cleanly, and the page's index holds each item's classification and instance count. One
    request at a time (the server interrupts a stream for a second request), and stages not overlapped, so
    the run and its worker never ask at once."""
    common = dict(
        overlap=False,
        seeds="starter",
        iterations=2,
        requests_per_iteration=2,
        prompt=small_prompts(48, 16),
        on_length="drop_last",
        seed=5,
    )
    model = llama_settings(llama_server, styles=("completion",)).public_dict()
    in_worker = run_to_end(engine, selfinstruct_params(model, **common))
    assert in_worker.status == "done", in_worker.error
    assert len(workers) == 1 and workers[0]._proc.returncode == 0

    monkeypatch.undo()  # threads from here on, with the stage unit back
    monkeypatch.setenv(stage_process.MODE_SETTING, "off")
    on_threads = run_to_end(engine, selfinstruct_params(model, **common))
    assert on_threads.status == "done", on_threads.error

    a = run_store.results(engine, in_worker.id)
    b = run_store.results(engine, on_threads.id)
    view = load_run(a, in_worker.params)
    assert view.n_kept > 0, "the model kept nothing: nothing to compare"
    assert_same_records(a, b)
    # The worker asked every stage request once, under the run; the second run found them all in the log.
    assert count_call_rows(engine, in_worker.id) == (2 * 2 + 2 * view.n_kept, 0)
    assert count_call_rows(engine, on_threads.id) == (0, 0)
    # The index folded in what the worker handed back: each item's verdict and kept instances.
    with engine.connect() as conn:
        rows = conn.execute(
            select(si_items.c.t, si_items.c.i, si_items.c.is_clf, si_items.c.n_instances).where(
                si_items.c.run_id == in_worker.id
            )
        ).all()
    expected = {
        (x.t, x.i): (x.verdict.is_classification, len([d for d in x.instances.decisions if d.kept]))
        for x in view.items
    }
    assert {(t, i): (is_clf, n) for t, i, is_clf, n in rows} == expected


def test_a_worker_that_dies_stops_the_run_which_resumes_redoing_nothing(
    sqlite_engine, endpoint_factory, workers, monkeypatch
):
    """Fault injector: the worker is killed when its first instance request arrives (its answer then goes
    to nobody). The run stops as failed, saying the worker ended and that resuming goes on; resumed, it
    finishes with every kept instruction classified and given instances, no answered request asked again."""
    killed = threading.Event()

    def gate(kind: str, seen: list) -> bool:
        if kind == "instances" and not killed.is_set():
            killed.set()
            os.kill(workers[-1]._proc.pid, signal.SIGKILL)
        return True

    endpoint = endpoint_factory(gate=gate)
    run = run_to_end(sqlite_engine, small_run(endpoint, seed=6))
    assert run.status == "failed"
    assert "stage worker process ended" in run.error and "Resume the run" in run.error
    assert "Traceback" not in run.error
    partial = run_store.results(sqlite_engine, run.id)

    run_store.requeue(sqlite_engine, run.id)
    assert run_once(sqlite_engine) == run.id
    run = run_store.get_run(sqlite_engine, run.id)
    assert run.status == "done", run.error
    assert len(workers) == 2 and workers[-1]._proc.returncode == 0
    final = run_store.results(sqlite_engine, run.id)
    assert all(final[k] == v for k, v in partial.items())
    view = load_run(final)
    assert all(x.verdict is not None and x.instances is not None for x in view.items)
    rows, errors = count_call_rows(sqlite_engine, run.id)
    # Every request once: those the dead worker never logged were asked again by the resumed run.
    assert errors == 0 and rows == 3 * 2 + 2 * view.n_kept


def test_a_model_error_in_the_worker_fails_the_run_without_the_key(
    sqlite_engine, endpoint_factory, workers, monkeypatch
):
    """Fault injector: instance requests are refused with an error that echoes the API key. The run fails
    with the endpoint's refusal, made inside the worker and carried back, with the key masked."""
    key = "sk-process-boundary-0123456789abcdef"
    endpoint = endpoint_factory(
        refuse=lambda kind: (400, f"bad request for key {key}") if kind == "instances" else None
    )
    monkeypatch.setenv("OPENAI_API_KEY", key)
    run = run_to_end(sqlite_engine, small_run(endpoint, seed=7, iterations=2))
    assert run.status == "failed"
    assert "HTTP 400" in run.error and "bad request for key" in run.error
    assert key not in run.error
    assert len(workers) == 1 and workers[0]._proc.returncode == 0


def test_a_killed_run_takes_its_worker_with_it(engine, data_dir, endpoint_factory):
    """Fault injector: the job worker running the run is SIGKILLed while its stage worker has requests held
    at the endpoint. The stage worker notices its run is gone and exits; the next job worker finishes the
    run."""
    release = threading.Event()

    def gate(kind: str, seen: list) -> bool:
        return release.is_set() or kind != "instances"

    endpoint = endpoint_factory(gate=gate, gate_timeout_s=600)
    run_id = submit(engine, KIND, small_run(endpoint, seed=8), name="kill me")
    env = app_env(data_dir, **{stage_process.MODE_SETTING: "on"})
    kill_worker_when(
        lambda: any(s.kind == "instances" for s in endpoint.seen) and bool(_stage_workers_of(data_dir)),
        env,
        "an instance request held by the stage worker",
    )
    # The stage worker's parent is gone: its input closes, it gives up its held calls and exits.
    wait_for(lambda: not _stage_workers_of(data_dir), "the orphaned stage worker exits", timeout_s=60)
    release.set()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner_mod, "STALE_AFTER", timedelta(0))
        assert run_once(engine) == run_id
    run = run_store.get_run(engine, run_id)
    assert run.status == "done", run.error


def _stage_workers_of(data_dir) -> list[int]:
    """The stage worker processes running on this test's data folder (from /proc: command line and
    environment)."""
    mine = f"WORKBENCH_DATA_DIR={data_dir}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmd, open(f"/proc/{pid}/environ", "rb") as env:
                if b"core.selfinstruct.stage_process" in cmd.read() and mine in env.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            continue
    return found
