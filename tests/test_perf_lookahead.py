"""The lookahead option (a named departure): generation requests of later iterations go out before the current
iteration is judged, their prompts sampled from an older pool; decisions stay sequential and a run resumed
part-way builds exactly the prompts an uninterrupted run builds.

The loopback endpoint (tests/si_scale_endpoint.py) is the fault injector: it holds iteration 0's generation
requests until a generation request of iteration 1 arrives, which only a run that looks ahead sends.
"""

from __future__ import annotations

from core.jobs import run_once
from core.selfinstruct.fidelity import departures
from core.selfinstruct.spec import RunSpec, selfinstruct_params
from core.store import runs as run_store
from tests.test_si_scale_overlap import loopback_model, run_to_end, small_prompts

PER_ITERATION = 2


def iterations(results: dict) -> dict:
    return {k: v for k, v in results.items() if k.startswith("iter/")}


def machine_ids(record: dict) -> set[str]:
    return {s["id"] for r in record["requests"] for s in r["sample"] if s["origin"] == "machine"}


def test_lookahead_sends_the_next_iteration_before_this_one_is_judged(sqlite_engine, endpoint_factory):
    def gate(kind: str, seen: list) -> bool:
        # Iteration 0's generation requests wait until iteration 1's first one has arrived.
        generated = sum(s.kind == "generate" for s in seen)
        return kind != "generate" or generated > PER_ITERATION

    endpoint = endpoint_factory(gate=gate, gate_timeout_s=60)
    options = dict(
        seeds="starter", iterations=4, requests_per_iteration=PER_ITERATION, prompt=small_prompts()
    )
    run = run_to_end(
        sqlite_engine, selfinstruct_params(loopback_model(endpoint, 8), lookahead=2, seed=5, **options)
    )
    assert run.status == "done", run.error
    assert endpoint.gate_timeouts == 0
    # Named in the stored run as a departure; the paper's setting names none.
    assert any("iteration(s) ahead" in d for d in run.params["departures"])
    assert not any("ahead" in d for d in departures(RunSpec(iterations=1, requests_per_iteration=5)))
    # With lookahead 2, iteration t samples only instructions kept by iterations before t-2.
    records = iterations(run_store.results(sqlite_engine, run.id))
    assert len(records) == 4
    for key, record in records.items():
        t = record["t"]
        assert all(int(i.split("/")[0]) < t - 2 for i in machine_ids(record)), key
    assert sum(len(r["kept"]) for r in records.values()) > 0


def test_a_lookahead_run_resumed_builds_the_prompts_of_an_uninterrupted_one(sqlite_engine, endpoint_factory):
    """The same run stopped after 3 iterations and resumed to 6, against one run straight to 6: the stored
    iterations are identical (the resumed run planned from the stored pool sizes, not from timing), and the
    straight run was answered from the call log alone."""
    endpoint = endpoint_factory()
    model = loopback_model(endpoint, 8)
    options = dict(
        seeds="starter", requests_per_iteration=PER_ITERATION, prompt=small_prompts(), lookahead=1, seed=7
    )
    stopped = run_to_end(sqlite_engine, selfinstruct_params(model, iterations=3, **options))
    assert stopped.status == "done", stopped.error
    run_store.update_run(sqlite_engine, stopped.id, params={**stopped.params, "iterations": 6})
    run_store.requeue(sqlite_engine, stopped.id)
    assert run_once(sqlite_engine) == stopped.id
    resumed = run_store.get_run(sqlite_engine, stopped.id)
    assert resumed.status == "done", resumed.error
    asked = len(endpoint.seen)

    straight = run_to_end(sqlite_engine, selfinstruct_params(model, iterations=6, **options))
    assert straight.status == "done", straight.error
    a = iterations(run_store.results(sqlite_engine, resumed.id))
    b = iterations(run_store.results(sqlite_engine, straight.id))
    assert len(a) == 6 and a == b
    # Every prompt of the straight run had been asked before (the same requests): no new generation request.
    new_kinds = [s.kind for s in endpoint.seen[asked:]]
    assert "generate" not in new_kinds
