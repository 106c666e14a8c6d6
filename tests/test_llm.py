"""Model access for real: the embedded model, a real llama.cpp server, faults, and the cache."""

from __future__ import annotations

import pytest

from core.llm import GenParams, LLMClient, LLMError, Request
from core.llm.embedded import EmbeddedProvider
from core.llm.openai_compat import OpenAICompatProvider
from core.store import calls as call_log
from tests.llm_servers import FaultServer

SHORT = GenParams(max_tokens=8)


def test_embedded_model_generates_offline(sqlite_engine):
    client = LLMClient(EmbeddedProvider(), sqlite_engine)
    response = client.generate(Request(prompt="The capital of France is", params=SHORT))
    assert response.text.strip()
    assert response.completion_tokens > 0 and response.prompt_tokens > 0
    assert response.finish_reason in ("stop", "length")
    # Logged, with the prompt and parameters, and answered from the log the second time.
    again = client.generate(Request(prompt="The capital of France is", params=SHORT))
    assert again.cached and again.text == response.text
    assert client.stats.model_calls == 1 and client.stats.cache_hits == 1
    (rec,) = call_log.list_calls(sqlite_engine)
    assert rec.prompt == "The capital of France is" and rec.params["max_tokens"] == 8


def test_embedded_sampling_draws_distinct_samples_per_index(sqlite_engine):
    client = LLMClient(EmbeddedProvider(), sqlite_engine)
    params = GenParams(max_tokens=12, temperature=1.0, n=1)
    texts = {
        client.generate(Request(prompt="Once upon a time", params=params, sample_index=i)).text
        for i in range(4)
    }
    assert len(texts) > 1


@pytest.mark.parametrize("style", ["completion", "chat"])
def test_openai_compatible_server_end_to_end(llama_server, sqlite_engine, style):
    provider = OpenAICompatProvider(llama_server.base_url, "gemma-3-270m", max_concurrency=2)
    client = LLMClient(provider, sqlite_engine)
    request = (
        Request(prompt="1, 2, 3, 4,", params=SHORT)
        if style == "completion"
        else Request(messages=(("user", "Count to five."),), params=SHORT)
    )
    path = "/v1/completions" if style == "completion" else "/v1/chat/completions"
    before = llama_server.requests_served(path)
    first = client.generate(request)
    assert first.completion_tokens > 0 or first.finish_reason == "stop"
    assert llama_server.requests_served(path) == before + 1
    second = client.generate(request)
    assert second.cached and second.text == first.text
    assert llama_server.requests_served(path) == before + 1  # the repeat never reached the server


def test_many_requests_in_flight_keep_their_order_by_index(llama_server, sqlite_engine):
    provider = OpenAICompatProvider(llama_server.base_url, "gemma-3-270m", max_concurrency=4)
    client = LLMClient(provider, sqlite_engine)
    requests = [Request(prompt=f"Number {i}:", params=GenParams(max_tokens=4)) for i in range(6)]
    got = dict(client.generate_many(requests))
    assert sorted(got) == list(range(6))
    logged = {rec.prompt for rec in call_log.list_calls(sqlite_engine)}
    assert logged == {f"Number {i}:" for i in range(6)}


def _fault_client(server: FaultServer, engine, **kw) -> tuple[LLMClient, list[float]]:
    sleeps: list[float] = []
    provider = OpenAICompatProvider(
        server.base_url,
        "m",
        api_key="sk-secret-test-key",
        timeout_s=kw.pop("timeout_s", 5.0),
        sleep=sleeps.append,
        **kw,
    )
    return LLMClient(provider, engine), sleeps


@pytest.mark.parametrize("fault", ["429", "500", "truncated", "garbage", "slow"])
def test_transient_faults_are_retried(sqlite_engine, fault):
    server = FaultServer([fault, fault])
    try:
        client, sleeps = _fault_client(server, sqlite_engine, max_retries=3, timeout_s=1.0)
        response = client.generate(Request(prompt="hi", params=SHORT))
        assert response.text == "ok"
        assert server.seen == [fault, fault, "ok"]
        assert len(sleeps) == 2
        if fault == "429":
            assert sleeps == [0.2, 0.2]  # Retry-After honoured
    finally:
        server.stop()


def test_persistent_failure_gives_a_clear_error_without_the_key(sqlite_engine):
    server = FaultServer(["500"] * 10)
    try:
        client, _ = _fault_client(server, sqlite_engine, max_retries=2)
        with pytest.raises(LLMError) as info:
            client.generate(Request(prompt="hi", params=SHORT))
        message = str(info.value)
        assert server.base_url in message and "HTTP 500" in message and "3 attempts" in message
        assert "sk-secret" not in message
        (rec,) = call_log.list_calls(sqlite_engine)
        assert rec.error == message
        assert "sk-secret" not in repr(rec.__dict__)
    finally:
        server.stop()


def test_client_errors_are_not_retried(sqlite_engine):
    server = FaultServer(["401"])
    try:
        client, sleeps = _fault_client(server, sqlite_engine, max_retries=3)
        with pytest.raises(LLMError, match="HTTP 401"):
            client.generate(Request(prompt="hi", params=SHORT))
        assert sleeps == [] and server.seen == ["401"]
    finally:
        server.stop()


def test_an_error_keeps_the_results_already_returned(sqlite_engine):
    # Sequential requests: the first two succeed, the third fails for good.
    server = FaultServer(["first", "second", "500", "500"])
    try:
        client, _ = _fault_client(server, sqlite_engine, max_retries=1, max_concurrency=1)
        requests = [Request(prompt=f"p{i}", params=SHORT) for i in range(3)]
        got = []
        with pytest.raises(LLMError):
            for i, response in client.generate_many(requests):
                got.append((i, response.text))
        assert got == [(0, "first"), (1, "second")]
        # The answered ones are in the log, so a retry of the batch only asks for the failed one.
        server.script = ["third"]
        again = dict(client.generate_many(requests))
        assert [again[i].text for i in range(3)] == ["first", "second", "third"]
        assert again[0].cached and again[1].cached and not again[2].cached
    finally:
        server.stop()


def test_streaming_reports_growing_text_and_logs_the_whole(sqlite_engine):
    client = LLMClient(EmbeddedProvider(), sqlite_engine)
    request = Request(prompt="Here is a list of fruits: apple,", params=GenParams(max_tokens=12))
    seen: list[str] = []
    streamed = client.generate(request, on_text=seen.append)
    assert len(seen) > 1 and all(b.startswith(a) for a, b in zip(seen, seen[1:], strict=False))
    assert seen[-1] == streamed.text and streamed.completion_tokens == len(seen)
    # The same greedy request unstreamed gives the same text (from a fresh client without the cache).
    plain = LLMClient(EmbeddedProvider(), sqlite_engine, use_cache=False).generate(request)
    assert plain.text == streamed.text
    # From the cache, the whole text arrives at once.
    cached: list[str] = []
    assert client.generate(request, on_text=cached.append).cached and cached == [streamed.text]


def test_streaming_from_an_openai_compatible_server(llama_server, sqlite_engine):
    provider = OpenAICompatProvider(llama_server.base_url, "gemma-3-270m")
    client = LLMClient(provider, sqlite_engine)
    seen: list[str] = []
    response = client.generate(
        Request(prompt="Monday, Tuesday,", params=GenParams(max_tokens=10)), on_text=seen.append
    )
    assert len(seen) > 1 and seen[-1] == response.text
    (rec,) = [r for r in call_log.list_calls(sqlite_engine) if r.id == response.call_id]
    assert rec.choices[0]["text"] == response.text


@pytest.mark.parametrize("style", ["completion", "chat"])
def test_a_stream_on_the_lean_path_equals_the_sdks(llama_server, style):
    """The plain-HTTP path reads a stream's events itself: the same growing text, answer and usage as the
    openai SDK's stream from the same server, without making the SDK's client."""
    params = GenParams(max_tokens=10)
    if style == "chat":
        request = Request(messages=(("user", "Name three colours."),), params=params)
    else:
        request = Request(prompt="Monday, Tuesday,", params=params)
    answers = []
    for lean in (True, False):
        provider = OpenAICompatProvider(llama_server.base_url, "gemma-3-270m")
        if not lean:
            provider._lean = None  # the SDK's path, as for a proxy or credentials in the URL
        seen: list[str] = []
        response = provider.call(request, on_text=seen.append)
        assert (provider._sdk_client is None) == lean
        assert seen == [] or seen[-1] == response.text
        answers.append((response.choices, response.prompt_tokens, response.completion_tokens, seen))
    assert answers[0] == answers[1]
    if style == "completion":
        assert len(answers[0][3]) > 1  # the text arrived in pieces


def test_streaming_a_chat_response(sqlite_engine):
    # The base model usually ends a chat turn at once; with this sampled seed it writes something.
    params = GenParams(max_tokens=10, temperature=1.0, seed=1)
    request = Request(messages=(("user", "Write a sentence about cats."),), params=params)
    seen: list[str] = []
    response = LLMClient(EmbeddedProvider(), sqlite_engine).generate(request, on_text=seen.append)
    assert len(seen) > 1 and seen[-1] == response.text


def test_a_request_that_cannot_be_sent_fails_the_batch_instead_of_vanishing(sqlite_engine, monkeypatch):
    """Requests after the first chunk are sent from the threads of requests that ended: one that cannot be
    prepared there (here its cache key fails) is an error the caller sees, not a shorter result."""
    server = FaultServer([])
    try:
        client, _ = _fault_client(server, sqlite_engine, max_concurrency=2)
        real_key = LLMClient._key

        def key(self, request):
            if request.prompt == "p70":
                raise ValueError("no key for p70")
            return real_key(self, request)

        monkeypatch.setattr(LLMClient, "_key", key)
        requests = [Request(prompt=f"p{i}", params=SHORT) for i in range(80)]
        got = []
        with pytest.raises(ValueError, match="no key for p70"):
            for i, _ in client.generate_many(requests):
                got.append(i)
        assert sorted(got) == list(range(64))  # the first chunk, whose keys were made before it was sent
    finally:
        server.stop()
