"""A tiny judge run on real models: the embedded one, and a real llama.cpp server (a handful of calls)."""

from __future__ import annotations

from core.humaneval.records import ResponseItem
from core.jobs import run_once, submit
from core.llm import ModelSettings
from core.review.judge_run import KIND, judge_params, quality_items, rating_items, summary
from core.review.records import ReviewItem
from core.store import calls as call_log
from core.store import runs as run_store

RESPONSES = [
    ResponseItem("t1", "m1", "Name the capital of France.", "", "Paris"),
    ResponseItem("t2", "m1", "Add the numbers.", "2 3", "7"),
    ResponseItem("t3", "m2", "Translate to French.", "Good morning", "Bonjour"),
]


def _check_stored(engine, run_id: int, n: int) -> dict:
    run = run_store.get_run(engine, run_id)
    assert run.status == "done", run.error
    results = run_store.results(engine, run_id)
    assert len(results) == n
    for value in results.values():
        assert isinstance(value["reply"], str) and isinstance(value["parsed"], bool)
        # Every call is in the call log under the run, with the reply stored whole.
        (call,) = [c for c in call_log.list_calls(engine) if c.id == value["call_id"]]
        assert call.run_id == run_id and call.choices[0]["text"] == value["reply"]
    return results


def test_embedded_judge_rates_resumes_and_counts_unparseable(sqlite_engine):
    items = rating_items(RESPONSES)
    params = judge_params("rating", items, {"provider": "embedded"}, chat=False, source={"kind": "test"})
    run_id = submit(sqlite_engine, KIND, params, name="tiny judge")
    # As if an earlier attempt had stopped after the first item: resuming must not judge it again.
    run_store.save_result(
        sqlite_engine,
        run_id,
        items[0].key,
        {"reply": " A", "label": "A", "parsed": True, "task_id": "t1", "model": "m1", "call_id": None},
    )
    before = len(call_log.list_calls(sqlite_engine))
    assert run_once(sqlite_engine, model_settings=ModelSettings(provider="embedded")) == run_id
    run = run_store.get_run(sqlite_engine, run_id)
    assert run.status == "done", run.error
    assert len(call_log.list_calls(sqlite_engine)) == before + 2
    results = run_store.results(sqlite_engine, run_id)
    assert results[items[0].key]["call_id"] is None  # the pre-stored unit was kept, not redone
    s = summary(params, results)
    assert s.judged == 3
    for value in list(results.values())[1:]:
        assert value["parsed"] == (value["label"] is not None)
    assert s.unparseable == sum(1 for v in results.values() if not v["parsed"])


def test_llama_server_judge_on_quality_items_in_chat(llama_server, sqlite_engine):
    items = quality_items(
        [ReviewItem("t1", 0, "Add the numbers.", "2 3", "5"), ReviewItem("t2", 0, "Say hi.", "", "Hello")]
    )
    model = ModelSettings(
        provider="openai",
        base_url=llama_server.base_url,
        model="gemma-3-270m",
        styles=("chat",),
        max_concurrency=2,
    )
    params = judge_params("quality", items, model.public_dict(), chat=True)
    run_id = submit(sqlite_engine, KIND, params)
    served = llama_server.requests_served("/v1/chat/completions")
    assert run_once(sqlite_engine, model_settings=model) == run_id
    assert llama_server.requests_served("/v1/chat/completions") == served + 2
    results = _check_stored(sqlite_engine, run_id, 2)
    for value in results.values():
        assert value["parsed"] == (value["answers"] is not None)
