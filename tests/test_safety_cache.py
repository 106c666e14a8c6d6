"""The cache at a real llama.cpp server, counted at the server: it hits exactly when the request is the
same, misses when anything that changes the answer differs, and identical requests in flight at once
(two runs asking the same thing) reach the server once."""

from __future__ import annotations

import threading
from dataclasses import replace

from core.llm import GenParams, LLMClient, Request
from core.llm.openai_compat import OpenAICompatProvider
from core.store import calls as call_log
from core.store import runs as run_store
from tests.llm_servers import LlamaServer

PATH = "/v1/completions"


def _client(server: LlamaServer, engine, model: str = "gemma-3-270m", run_id: int | None = None) -> LLMClient:
    return LLMClient(OpenAICompatProvider(server.base_url, model, max_concurrency=4), engine, run_id=run_id)


def test_a_request_differing_only_in_a_parameter_model_or_sample_reaches_the_server(
    llama_server, sqlite_engine
):
    base = Request(prompt="Colours: red, green,", params=GenParams(max_tokens=6, temperature=0.8, seed=3))
    variants = {
        "base": (base, "gemma-3-270m"),
        "max_tokens": (replace(base, params=replace(base.params, max_tokens=7)), "gemma-3-270m"),
        "temperature": (replace(base, params=replace(base.params, temperature=0.9)), "gemma-3-270m"),
        "stop": (replace(base, params=replace(base.params, stop=("\n",))), "gemma-3-270m"),
        "sample index": (replace(base, sample_index=1), "gemma-3-270m"),
        "model": (base, "gemma-3-270m-renamed"),
    }
    before = llama_server.requests_served(PATH)
    first = {}
    for n, (name, (request, model)) in enumerate(variants.items(), start=1):
        first[name] = _client(llama_server, sqlite_engine, model).generate(request)
        assert not first[name].cached, f"{name}: answered from the cache"
        assert llama_server.requests_served(PATH) == before + n, f"{name}: did not reach the server"
    # Each one again: every one a hit, none reaches the server, each gets its own stored answer.
    for name, (request, model) in variants.items():
        again = _client(llama_server, sqlite_engine, model).generate(request)
        assert again.cached and again.call_id == first[name].call_id and again.text == first[name].text
    assert llama_server.requests_served(PATH) == before + len(variants)
    assert len(call_log.list_calls(sqlite_engine)) == len(variants)


def test_responses_are_matched_to_their_prompts_by_call_id(llama_server, sqlite_engine):
    requests = [Request(prompt=f"Q: {i} + {i} =", params=GenParams(max_tokens=4)) for i in range(8)]
    client = _client(llama_server, sqlite_engine)
    got = list(client.generate_many(requests))
    assert sorted(i for i, _ in got) == list(range(8))
    for i, response in got:
        logged = call_log.get_call(sqlite_engine, response.call_id)
        assert logged.prompt == requests[i].prompt  # this answer belongs to this prompt, whatever the order
        assert logged.choices[0]["text"] == response.text


def test_identical_requests_in_flight_at_once_reach_the_server_once(llama_server, sqlite_engine):
    """Two runs (two clients) ask the same thing at the same moment, twice each."""
    runs = [run_store.create_run(sqlite_engine, "generate", {}, worker=f"w{i}") for i in range(2)]
    request = Request(prompt="A long list of animals: cat, dog,", params=GenParams(max_tokens=48))
    clients = [_client(llama_server, sqlite_engine, run_id=run_id) for run_id in runs for _ in range(2)]
    start = threading.Barrier(len(clients))
    answers: list = [None] * len(clients)

    def ask(i: int) -> None:
        start.wait()
        answers[i] = clients[i].generate(request)

    before = llama_server.requests_served(PATH)
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert llama_server.requests_served(PATH) == before + 1
    (logged,) = call_log.list_calls(sqlite_engine)
    assert sum(not a.cached for a in answers) == 1
    assert {a.call_id for a in answers} == {logged.id} and {a.text for a in answers} == {
        logged.choices[0]["text"]
    }


def test_a_batch_looks_up_its_requests_at_once_and_still_reaches_the_server_once_per_new_request(
    llama_server, sqlite_engine, monkeypatch
):
    """`generate_many` looks its requests up in the log a chunk at a time, not one query each. Answers
    logged before are hits; a request repeated within the batch reaches the server once, because the
    repeat sees that this process logged its key after the chunk was looked up, and looks again."""
    client = _client(llama_server, sqlite_engine)
    old = [Request(prompt=f"Count: {i}, {i + 1},", params=GenParams(max_tokens=3)) for i in range(3)]
    earlier = [client.generate(r) for r in old]
    new = [Request(prompt=f"Letters: {c}, {c}{c},", params=GenParams(max_tokens=3)) for c in "abc"]
    batch = [old[0], new[0], new[0], old[1], new[1], new[1], new[1], old[2], new[2]]
    looks: dict[str, list] = {"one": [], "many": []}
    real_one, real_many = call_log.find_cached, call_log.find_cached_many

    def one(engine, key):
        looks["one"].append(key)
        return real_one(engine, key)

    def many(engine, keys):
        looks["many"].append(list(keys))
        return real_many(engine, keys)

    monkeypatch.setattr(call_log, "find_cached", one)
    monkeypatch.setattr(call_log, "find_cached_many", many)
    before = llama_server.requests_served(PATH)
    got = dict(client.generate_many(batch))
    assert llama_server.requests_served(PATH) == before + len(new)
    for i in (0, 3, 7):
        assert got[i].cached and got[i].call_id == earlier[old.index(batch[i])].call_id
    for request in new:
        answers = [got[i] for i, r in enumerate(batch) if r == request]
        assert len({a.call_id for a in answers}) == 1 and sum(not a.cached for a in answers) == 1
    # One query for the batch; after it, only the repeats looked again (each a query for its own key).
    assert len(looks["many"][0]) == len(batch)
    assert len(looks["one"]) == len(batch) - len(set(batch))
    assert sorted(looks["many"][1:]) == sorted([key] for key in looks["one"])
    assert len(call_log.list_calls(sqlite_engine)) == len(old) + len(new)


def test_a_look_up_older_than_the_window_of_recent_calls_is_looked_up_again(sqlite_engine, monkeypatch):
    monkeypatch.setattr(call_log, "RECENT_MAX", 4)
    start = call_log.log_sequence()
    record = call_log.CallRecord(
        cache_key="a" * 64,
        provider="openai",
        endpoint="http://x/v1",
        model="m",
        style="completion",
        prompt="p",
        messages=None,
        params={},
        sample_index=0,
        choices=[{"text": "t", "finish_reason": "stop"}],
    )
    assert not call_log.logged_since("a" * 64, start)
    call_log.log_call(sqlite_engine, record)
    assert call_log.logged_since("a" * 64, start) and not call_log.logged_since("b" * 64, start)
    failed = replace(record, cache_key="b" * 64, choices=None, error="boom")
    call_log.log_call(sqlite_engine, failed)
    assert not call_log.logged_since("b" * 64, start)  # a failure is never a cache answer
    for i in range(4):
        call_log.log_call(sqlite_engine, replace(record, cache_key=f"{i:064d}"))
    assert call_log.logged_since("z" * 64, start)  # too far back to tell: look again
    assert call_log.find_cached_many(sqlite_engine, ["a" * 64, "b" * 64, "0" * 64, "c" * 64]) == {
        "a" * 64: call_log.find_cached(sqlite_engine, "a" * 64).id,
        "0" * 64: call_log.find_cached(sqlite_engine, "0" * 64).id,
    }
