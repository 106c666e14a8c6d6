"""Self-Instruct keeps the endpoint busy: classification and instances overlap the generation loop, in one
in-flight budget, with novelty decisions, pool and stored results identical to a sequential run; a crashed
run resumes redoing nothing; the stall stop still stops.

The equivalence runs on the real embedded model. The loopback endpoint (tests/si_scale_endpoint.py) is a
fault injector: it holds requests until a point only an overlapping run reaches, kills nothing itself, and
answers instance requests with nothing usable for the stall test.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import core.jobs.runner as runner_mod
from core.jobs import run_once, submit
from core.llm import ModelSettings
from core.selfinstruct.spec import KIND, selfinstruct_params
from core.selfinstruct.stages import unit_threads
from core.selfinstruct.view import load_run
from core.store import runs as run_store
from core.store.schema import calls
from tests.conftest import app_env, count_call_rows, kill_worker_when
from tests.si_scale_endpoint import LoopbackEndpoint
from tests.test_selfinstruct_pipeline import share_model, small_prompts

EMBEDDED = ModelSettings().public_dict()


def loopback_model(endpoint: LoopbackEndpoint, concurrency: int) -> dict:
    return ModelSettings(
        provider="openai",
        base_url=endpoint.base_url,
        model="loopback",
        styles=("completion",),
        max_concurrency=concurrency,
        max_retries=0,
    ).public_dict()


def run_to_end(engine, params: dict) -> run_store.Run:
    run_id = submit(engine, KIND, params)
    assert run_once(engine) == run_id
    run = run_store.get_run(engine, run_id)
    assert run is not None
    return run


def stage_rows(results: dict) -> dict:
    return {k: v for k, v in results.items() if k.startswith(("clf/", "inst/"))}


def assert_same_records(a: dict, b: dict) -> None:
    """Two runs' stored results are the same records: iterations, classifications and instances."""
    assert sorted(a) == sorted(b)
    assert {k: v for k, v in a.items() if k.startswith("iter/")} == {
        k: v for k, v in b.items() if k.startswith("iter/")
    }
    assert stage_rows(a) == stage_rows(b)


def test_overlap_on_and_off_give_the_same_decisions_pool_and_results(sqlite_engine, data_dir):
    """On the real embedded model: the overlapped run first (its stages share the model with the generation
    loop), then the sequential run with the same seed, answered by the call log (the same responses). Every
    stored record is identical."""
    share_model(data_dir)
    common = dict(
        seeds="starter",
        iterations=2,
        requests_per_iteration=2,
        prompt=small_prompts(48, 16),
        on_length="drop_last",
        seed=3,
    )
    overlapped = run_to_end(sqlite_engine, selfinstruct_params(EMBEDDED, overlap=True, **common))
    assert overlapped.status == "done", overlapped.error
    sequential = run_to_end(sqlite_engine, selfinstruct_params(EMBEDDED, overlap=False, **common))
    assert sequential.status == "done", sequential.error

    a = run_store.results(sqlite_engine, overlapped.id)
    b = run_store.results(sqlite_engine, sequential.id)
    view = load_run(a, overlapped.params)
    assert view.n_kept > 0, "the model kept nothing: nothing to compare"
    assert_same_records(a, b)
    # Every kept instruction was classified and got instances, each exactly once.
    n = view.n_kept
    assert len([k for k in a if k.startswith("clf/")]) == len([k for k in a if k.startswith("inst/")]) == n
    # The overlapped run asked each request once; the sequential one found all of them in the log.
    assert count_call_rows(sqlite_engine, overlapped.id) == (2 * 2 + 2 * n, 0)
    assert count_call_rows(sqlite_engine, sequential.id) == (0, 0)
    # The run's progress message carries the throughput achieved.
    assert "req/s" in overlapped.message and "tok/s" in overlapped.message


def test_classification_runs_while_the_next_iteration_generates(sqlite_engine, endpoint_factory):
    """Fault injector: classification answers are held until a generation request of iteration 1 arrives,
    which a run that waits for its stages never sends (it would fail after the gate's timeout). In-flight
    requests never exceed the one budget."""
    per_iteration = 2

    def gate(kind: str, seen: list) -> bool:
        return kind != "classify" or sum(s.kind == "generate" for s in seen) > per_iteration

    endpoint = endpoint_factory(gate=gate, gate_timeout_s=60)
    params = selfinstruct_params(
        loopback_model(endpoint, concurrency=6),
        seeds="starter",
        iterations=3,
        requests_per_iteration=per_iteration,
        prompt=small_prompts(),
        seed=1,
    )
    run = run_to_end(sqlite_engine, params)
    assert run.status == "done", run.error
    # Answered without waiting out the gate: a classification was answered only once iteration 1 was
    # generating. (Whether it reached the endpoint before or after that iteration's requests is up to the
    # scheduler: both are an overlap.)
    assert endpoint.gate_timeouts == 0
    kinds = endpoint.kinds()
    assert endpoint.max_in_flight <= 6
    view = load_run(run_store.results(sqlite_engine, run.id))
    assert all(x.verdict is not None and x.instances is not None for x in view.items)
    assert len(view.items) == kinds.count("classify") == kinds.count("instances")


def test_the_stall_stop_still_stops_an_overlapped_run(sqlite_engine, endpoint_factory):
    """Fault injector: instance answers hold nothing usable. The run stops with the stall reason, keeping
    every stage result it got; resumed with a larger limit it goes on from there and redoes nothing."""
    endpoint = endpoint_factory(answers=lambda kind, prompt: " nothing here" if kind == "instances" else None)
    params = selfinstruct_params(
        loopback_model(endpoint, concurrency=8),
        seeds="starter",
        target=400,
        requests_per_iteration=2,
        prompt=small_prompts(),
        seed=2,
        max_idle_instances=5,
    )
    run = run_to_end(sqlite_engine, params)
    assert run.status == "failed" and run.error.startswith("stalled: ")
    assert "instructions in a row got no usable instance (limit 5)" in run.error
    results = run_store.results(sqlite_engine, run.id)
    view = load_run(results)
    assert 0 < len(view.pool) < 400
    stored_inst = {k for k in results if k.startswith("inst/")}
    assert len(stored_inst) >= 5 and all(not x.instances.kept for x in view.items if x.instances)
    # Every unit stored has its call in the log; nothing was asked twice.
    rows_before = count_call_rows(sqlite_engine, run.id)
    assert rows_before[1] == 0
    assert len(endpoint.seen) == rows_before[0]

    run_store.update_run(sqlite_engine, run.id, params={**run.params, "max_idle_instances": 10})
    run_store.requeue(sqlite_engine, run.id)
    assert run_once(sqlite_engine) == run.id
    again = run_store.get_run(sqlite_engine, run.id)
    assert again.status == "failed" and "(limit 10)" in again.error
    after = run_store.results(sqlite_engine, run.id)
    assert all(after[k] == v for k, v in results.items())  # nothing stored was redone or changed
    assert count_call_rows(sqlite_engine, run.id)[0] == len(endpoint.seen)  # no request asked twice


def test_a_killed_overlapped_run_resumes_redoing_nothing(engine, data_dir, endpoint_factory, monkeypatch):
    """On SQLite and PostgreSQL: a worker process killed while classification and instances are under way
    (several requests in flight); the next worker finishes the run. No request that was answered is asked
    again, every kept instruction has its classification and instances, and what was stored stays."""
    # Generation past the first two iterations waits until the worker is dead: the kill lands mid-run by
    # construction, not because answers are slow.
    worker_gone = threading.Event()

    def gate(kind: str, seen: list) -> bool:
        return worker_gone.is_set() or kind != "generate" or sum(s.kind == "generate" for s in seen) <= 2 * 2

    endpoint = endpoint_factory(gate=gate, gate_timeout_s=600)
    params = selfinstruct_params(
        loopback_model(endpoint, concurrency=8),
        seeds="starter",
        iterations=6,
        requests_per_iteration=2,
        prompt=small_prompts(),
        seed=4,
    )
    run_id = submit(engine, KIND, params, name="kill me")
    kill_worker_when(
        lambda: any(k.startswith("inst/") for k in run_store.result_keys(engine, run_id)),
        app_env(data_dir),
        "the first instances stored",
    )
    worker_gone.set()  # the held requests are answered (to nobody) once the next worker's requests arrive
    partial = run_store.results(engine, run_id)
    assert "iter/000005" not in partial, "the worker should have died mid-run"

    monkeypatch.setattr(runner_mod, "STALE_AFTER", timedelta(0))
    assert run_once(engine) == run_id
    run = run_store.get_run(engine, run_id)
    assert run.status == "done", run.error
    final = run_store.results(engine, run_id)
    assert all(final[k] == v for k, v in partial.items())
    view = load_run(final)
    assert [it.t for it in view.iterations] == list(range(6))
    assert all(x.verdict is not None and x.instances is not None for x in view.items)
    # Each successful request is in the log once: only requests in flight at the kill were asked again.
    from sqlalchemy import func, select

    with engine.connect() as conn:
        dup = conn.execute(
            select(calls.c.cache_key, func.count())
            .where(calls.c.run_id == run_id, calls.c.error.is_(None))
            .group_by(calls.c.cache_key)
            .having(func.count() > 1)
        ).all()
    assert dup == []
    rows, errors = count_call_rows(engine, run_id)
    assert errors == 0 and rows == 6 * 2 + 2 * view.n_kept
    # Lost at the kill: requests at the model, and answers not logged yet (a call gives its place in the
    # budget back before its row is written). Each stage thread (two per place of the 8) and each of the 2
    # generation senders holds at most one of either; at most 8 of them are at the model.
    assert len(endpoint.seen) - rows <= unit_threads(8) + 2


def test_a_run_overtaken_by_another_worker_goes_on_from_that_workers_record(
    sqlite_engine, data_dir, monkeypatch
):
    """On the real embedded model: while this run finishes iteration 1 (its record is stored while
    iteration 2's requests are out), another worker stores a different iteration 1 first (the record of a
    run with another seed). The run goes on from that record: it is the one kept, its instructions are the
    ones classified and given instances, and they are in the pool the run ends with."""
    share_model(data_dir)
    common = dict(
        seeds="starter",
        iterations=3,
        requests_per_iteration=2,
        prompt=small_prompts(48, 16),
        on_length="drop_last",
    )
    other = run_to_end(sqlite_engine, selfinstruct_params(EMBEDDED, seed=21, **common))
    assert other.status == "done", other.error
    theirs = run_store.results(sqlite_engine, other.id)["iter/000001"]
    assert theirs["kept"], "the other run kept nothing in iteration 1: nothing to tell the records apart"

    real_store = run_store.store_result
    overtaken: list[int] = []
    ours: list[list[str]] = []

    def another_worker_first(engine, run_id, key, value):
        if run_id != other.id and key == "iter/000001" and not overtaken:
            overtaken.append(run_id)
            ours.append(value["kept"])
            assert real_store(engine, run_id, key, theirs) is not None
        return real_store(engine, run_id, key, value)

    monkeypatch.setattr(run_store, "store_result", another_worker_first)
    run = run_to_end(sqlite_engine, selfinstruct_params(EMBEDDED, seed=22, **common))
    assert run.status == "done", run.error
    assert overtaken == [run.id]
    assert ours[0] != theirs["kept"], (
        "both runs kept the same in iteration 1: the records cannot be told apart"
    )
    final = run_store.results(sqlite_engine, run.id)
    assert final["iter/000001"] == theirs
    clf = {k: v["instruction"] for k, v in final.items() if k.startswith("clf/000001/")}
    assert sorted(clf.values()) == sorted(theirs["kept"])
    assert len([k for k in final if k.startswith("inst/000001/")]) == len(theirs["kept"])
    pool = [x.instruction for x in load_run(final, run.params).pool]
    assert all(text in pool for text in theirs["kept"])
    assert sorted(k for k in final if k.startswith("iter/")) == ["iter/000000", "iter/000001", "iter/000002"]
