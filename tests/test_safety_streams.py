"""Only whole answers are stored: broken streams and bodies are retried, never cached, never a success.

Each fault is served by the loopback fault injector (tests/llm_servers.py) to the real client and call log,
with a marker key configured; after every test the whole data folder (database, WAL) is searched for the key.
"""

from __future__ import annotations

import pytest

from core.llm import GenParams, LLMClient, LLMError, Request
from core.llm.openai_compat import OpenAICompatProvider
from core.store import calls as call_log
from tests.llm_servers import FaultServer
from tests.safety import KEY, assert_no_secret_in

STREAM_FAULTS = ["cut-stream", "cut-chunked", "empty-stream", "done-only", "html", "error-event", "garbage"]
WHOLE_FAULTS = ["html", "garbage", "truncated", "empty-choices", "no-finish", "500-echo", "cut-stream"]
# What the final error must say about each fault (the endpoint is named in all of them).
SAYS = {
    "cut-stream": "stream ended before the answer was finished",
    "cut-chunked": "connection failed",
    "empty-stream": "stream was empty",
    "done-only": "stream was empty",
    "html": "text/html",
    "error-event": "stream reported an error: overloaded",
    "garbage": "{not json at all",
    "truncated": "connection failed",
    "empty-choices": "no choices",
    "no-finish": "no finish_reason",
    "500-echo": "HTTP 500: Incorrect API key provided",
}
SAYS_WHOLE = {**SAYS, "cut-stream": "answered 200 with text/event-stream, not JSON"}


@pytest.fixture()
def no_key_left(data_dir, monkeypatch):
    """The marker key is the configured key; afterwards no file under the data folder holds it."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    yield
    assert_no_secret_in(data_dir, KEY)


def _client(server: FaultServer, engine, retries: int = 2) -> LLMClient:
    provider = OpenAICompatProvider(
        server.base_url, "m", api_key=KEY, max_retries=retries, timeout_s=5.0, sleep=lambda s: None
    )
    return LLMClient(provider, engine)


def _request(style: str) -> Request:
    params = GenParams(max_tokens=8)
    if style == "chat":
        return Request(messages=(("user", "hi"),), params=params)
    return Request(prompt="hi", params=params)


def _successes(engine) -> list[call_log.CallRecord]:
    return [c for c in call_log.list_calls(engine) if c.error is None]


def _check_persistent(engine, server: FaultServer, fault: str, style: str, stream: bool) -> None:
    client = _client(server, engine)
    seen: list[str] = []
    with pytest.raises(LLMError) as info:
        client.generate(_request(style), on_text=seen.append if stream else None)
    message = str(info.value)
    path = "chat/completions" if style == "chat" else "completions"
    assert f"{server.base_url}/{path} failed after 3 attempts" in message
    assert (SAYS if stream else SAYS_WHOLE)[fault] in message, message
    assert KEY not in message and "MARKER" not in message
    assert server.seen == [fault] * 3  # retried as a server error is
    # Logged as a failure, never as an answer, so nothing is served from the cache afterwards.
    (logged,) = call_log.list_calls(engine)
    assert logged.error == message and logged.choices is None
    assert _successes(engine) == []
    assert call_log.find_cached(engine, logged.cache_key) is None


@pytest.mark.parametrize("style", ["completion", "chat"])
@pytest.mark.parametrize("fault", STREAM_FAULTS)
def test_a_broken_stream_is_retried_and_never_stored_as_an_answer(sqlite_engine, no_key_left, fault, style):
    server = FaultServer([fault] * 3)
    try:
        _check_persistent(sqlite_engine, server, fault, style, stream=True)
        # Once the endpoint recovers, the same request reaches it again and gets the whole answer.
        seen: list[str] = []
        again = _client(server, sqlite_engine).generate(_request(style), on_text=seen.append)
        assert not again.cached and again.text == "ok" and again.finish_reason == "stop"
        assert server.seen == [fault] * 3 + ["ok"] and seen[-1] == "ok"
    finally:
        server.stop()


@pytest.mark.parametrize("style", ["completion", "chat"])
@pytest.mark.parametrize("fault", WHOLE_FAULTS)
def test_a_broken_whole_body_is_retried_and_never_stored_as_an_answer(
    sqlite_engine, no_key_left, fault, style
):
    server = FaultServer([fault] * 3)
    try:
        _check_persistent(sqlite_engine, server, fault, style, stream=False)
    finally:
        server.stop()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fault", sorted(set(STREAM_FAULTS + WHOLE_FAULTS)))
def test_one_broken_answer_then_the_whole_one_is_stored(sqlite_engine, no_key_left, fault, stream):
    server = FaultServer([fault])
    try:
        seen: list[str] = []
        response = _client(server, sqlite_engine).generate(
            _request("completion"), on_text=seen.append if stream else None
        )
        assert response.text == "ok" and response.finish_reason == "stop"
        assert server.seen == [fault, "ok"]
        if stream:
            assert seen[-1] == "ok"  # the retry started the text over
        (stored,) = call_log.list_calls(sqlite_engine)
        assert stored.error is None and stored.choices == [{"text": "ok", "finish_reason": "stop"}]
        assert stored.id == response.call_id
    finally:
        server.stop()


@pytest.mark.parametrize("style", ["completion", "chat"])
def test_a_whole_json_answer_to_a_stream_request_is_taken_as_it_is(sqlite_engine, no_key_left, style):
    """An endpoint that ignores stream=True and answers with the whole body gives a correct answer."""
    server = FaultServer(["json-for-stream"])
    try:
        seen: list[str] = []
        response = _client(server, sqlite_engine).generate(_request(style), on_text=seen.append)
        assert response.text == "whole" and seen == ["whole"] and server.seen == ["json-for-stream"]
        assert server.requests[0]["stream"] is True
    finally:
        server.stop()


def test_an_error_event_becomes_a_clear_error_not_a_raw_sdk_exception(sqlite_engine, no_key_left):
    server = FaultServer(["error-event"] * 2)
    try:
        with pytest.raises(LLMError) as info:
            _client(server, sqlite_engine, retries=1).generate(_request("completion"), on_text=lambda t: None)
        assert type(info.value) is LLMError and info.value.retryable
        assert info.value.__cause__ is None  # the SDK's exception, quoting the endpoint, is not chained
        assert "Bearer [redacted]" in str(info.value)
    finally:
        server.stop()
