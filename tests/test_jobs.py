"""Background jobs: a run killed mid-way resumes and finishes with every result exactly once, on SQLite and
PostgreSQL, against the real llama.cpp server (whose request count shows any work done twice)."""

from __future__ import annotations

from datetime import timedelta

import core.jobs.runner as runner_mod
from core.datasets.records import EvalTask, Instance
from core.generation import GenerationItem, generation_params
from core.humaneval.generate import response_run_params
from core.jobs import JobRunner, submit
from core.llm import ModelSettings
from core.store import evalset
from core.store import ratings as rating_store
from core.store import runs as run_store
from tests.conftest import app_env, count_call_rows, kill_worker_when, llama_settings, wait_for

EMBEDDED = ModelSettings().public_dict()


def _items(n: int) -> list[GenerationItem]:
    return [
        GenerationItem(key=f"item-{i}", prompt=f"Q: What is {i} plus {i}?\nA:", params={"max_tokens": 12})
        for i in range(n)
    ]


def test_killed_response_generation_resumes_with_every_result_exactly_once(
    engine, data_dir, llama_server, monkeypatch
):
    """The response-generation job (the "generate" kind the Human Evaluation page submits), killed after two
    answers and resumed by another worker: six responses, six call rows, six requests at the server (plus
    at most the one in flight when the worker died)."""
    tasks = [EvalTask(f"t{i}", "", f"Count from {i} to {i + 4}.", [Instance("", "")]) for i in range(6)]
    evalset.import_set(engine, "gen", tasks, actor="owner")
    model = llama_settings(llama_server).public_dict()
    params = response_run_params(tasks, model, "gen", "llama", {"max_tokens": 12, "temperature": 0.0})
    run_id = submit(engine, "generate", params, name="kill me")
    served_before = llama_server.requests_served("/v1/completions")

    kill_worker_when(
        lambda: len(run_store.result_keys(engine, run_id)) >= 2,
        app_env(data_dir),
        "two stored responses",
    )
    partial = run_store.results(engine, run_id)
    assert 2 <= len(partial) < 6, "the worker should have been killed mid-way"
    assert run_store.get_run(engine, run_id).status == "running"  # as the dead worker left it

    # The run stopped heartbeating: the next worker takes it over and resumes.
    monkeypatch.setattr(runner_mod, "STALE_AFTER", timedelta(seconds=0))
    assert runner_mod.run_once(engine) == run_id
    run = run_store.get_run(engine, run_id)
    assert run.status == "done", run.error
    assert run.progress_done == run.progress_total == 6
    final = run_store.results(engine, run_id)
    assert sorted(final) == [t.id for t in tasks]
    for key, value in partial.items():
        assert final[key] == value  # nothing stored before the kill was replaced
    # Every call row, not distinct requests: an item asked twice would show up here...
    assert count_call_rows(engine, run_id) == (6, 0)
    assert len({v["call_id"] for v in final.values()}) == 6
    # ...and at the server, which also sees a request the dead worker sent but never logged.
    served = llama_server.requests_served("/v1/completions") - served_before
    assert 6 <= served <= 7, f"{served} requests at the server for 6 items"
    assert rating_store.store_generated(engine, run_id) == 6
    assert rating_store.response_models(engine, "gen") == {"llama": 6}


def test_runner_thread_runs_and_cancels(sqlite_engine):
    runner = JobRunner(sqlite_engine, threads=1, poll_s=0.1)

    def status(run_id: int) -> str:
        return run_store.get_run(sqlite_engine, run_id).status

    try:
        run_id = runner.submit("generate", generation_params(_items(2), EMBEDDED))
        wait_for(lambda: status(run_id) not in run_store.ACTIVE, "the first run to end")
        assert status(run_id) == "done"
        # A cancelled run stops at its next unit of work and can be resumed to completion.
        long_id = runner.submit("generate", generation_params(_items(8), EMBEDDED))
        wait_for(lambda: run_store.get_run(sqlite_engine, long_id).progress_done >= 1, "a first result")
        run_store.request_cancel(sqlite_engine, long_id)
        wait_for(lambda: status(long_id) != "running", "the cancelled run to stop")
        cancelled = run_store.get_run(sqlite_engine, long_id)
        assert cancelled.status == "cancelled" and cancelled.progress_done < 8
        runner.resume(long_id)
        wait_for(lambda: status(long_id) not in run_store.ACTIVE, "the resumed run to end", timeout_s=600)
        assert status(long_id) == "done"
        assert len(run_store.results(sqlite_engine, long_id)) == 8
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
