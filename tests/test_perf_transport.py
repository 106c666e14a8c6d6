"""The lean transport behind whole (non-streamed) answers: keep-alive connections reused across calls, a
connection the server dropped while idle re-opened without an error, timeouts and refused connections
failing with the provider's usual words, and the SDK kept for URLs with credentials or behind a proxy.

The servers here are loopback fault injectors (tests/llm_servers.py and a keep-alive one below); the real
path against a llama.cpp server is tested in tests/test_llm.py.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import ThreadingHTTPServer

import pytest

from core.llm import GenParams, LLMClient, LLMError, Request
from core.llm.openai_compat import OpenAICompatProvider
from core.llm.transport import lean_path_for
from core.store import calls as call_log
from tests.llm_servers import FaultServer, KeepAliveHandler, completion_body


class KeepAliveServer:
    """Answers every completion with "ok", keeping connections open (HTTP/1.1) unless `drop_after_answer`:
    then it closes each connection after its answer without saying so (as a server whose idle timeout
    expired does). `peers` lists the client address of every request."""

    def __init__(self, drop_after_answer: bool = False):
        self.peers: list[tuple[str, int]] = []
        outer = self

        class Handler(KeepAliveHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.peers.append(self.client_address)
                body = completion_body("ok")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = drop_after_answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _request(i: int) -> Request:
    return Request(prompt=f"say ok {i}", params=GenParams(max_tokens=4))


@pytest.mark.parametrize("drop", [False, True])
def test_whole_answers_reuse_connections_and_survive_a_dropped_one(sqlite_engine, drop):
    server = KeepAliveServer(drop_after_answer=drop)
    try:
        provider = OpenAICompatProvider(server.base_url, "m", max_concurrency=1, max_retries=0)
        client = LLMClient(provider, sqlite_engine)
        texts = [client.generate(_request(i)).text for i in range(5)]
    finally:
        server.stop()
    assert texts == ["ok"] * 5  # no retries allowed, yet no error: a dropped idle connection is re-opened
    assert len(server.peers) == 5  # each request reached the server once
    distinct = len(set(server.peers))
    assert distinct == (5 if drop else 1)
    assert [c.error for c in call_log.list_calls(sqlite_engine)] == [None] * 5


def test_a_slow_answer_times_out_with_the_usual_words(sqlite_engine):
    server = FaultServer(["slow"])
    try:
        provider = OpenAICompatProvider(server.base_url, "m", timeout_s=0.3, max_retries=0)
        with pytest.raises(LLMError) as info:
            LLMClient(provider, sqlite_engine).generate(_request(0))
    finally:
        server.stop()
    assert str(info.value) == f"{server.base_url}/completions failed after 1 attempts: timed out"
    (logged,) = call_log.list_calls(sqlite_engine)
    assert logged.error == str(info.value) and logged.choices is None


def test_a_refused_connection_fails_naming_the_endpoint(sqlite_engine):
    with socket.socket() as s:  # a port nobody listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    provider = OpenAICompatProvider(base_url, "m", max_retries=1, sleep=lambda s: None)
    with pytest.raises(LLMError) as info:
        LLMClient(provider, sqlite_engine).generate(Request(messages=(("user", "hi"),)))
    assert str(info.value) == (
        f"{base_url}/chat/completions failed after 2 attempts: connection failed (ConnectionRefusedError)"
    )


def test_an_error_status_reads_the_endpoint_words_as_the_sdk_does(sqlite_engine):
    server = FaultServer(["401"])
    try:
        provider = OpenAICompatProvider(server.base_url, "m", max_retries=3)
        with pytest.raises(LLMError) as info:
            LLMClient(provider, sqlite_engine).generate(_request(0))
    finally:
        server.stop()
    assert str(info.value) == f"{server.base_url}/completions refused the request: HTTP 401: bad key"
    assert server.seen == ["401"]  # not retried
    # The same request body the SDK sends, with the key as a bearer token.
    assert server.requests[0] == {
        "model": "m",
        "max_tokens": 4,
        "temperature": 0.0,
        "top_p": 1.0,
        "n": 1,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "prompt": "say ok 0",
    }
    assert server.authorization == ["Bearer no-key"]


def test_urls_with_credentials_or_behind_a_proxy_keep_the_sdk(monkeypatch):
    for name in (
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    assert lean_path_for("http://127.0.0.1:8000/v1")
    assert lean_path_for("https://api.openai.com/v1")
    assert not lean_path_for("http://user:secret@127.0.0.1:8000/v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert not lean_path_for("https://api.openai.com/v1")
    assert lean_path_for("http://127.0.0.1:8000/v1")  # no proxy for plain http here
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert lean_path_for("https://api.openai.com/v1")


def test_a_whole_answer_body_is_parsed_like_the_sdks(sqlite_engine):
    """The body's choices, finish reasons and usage reach the log unchanged."""
    server = FaultServer(["hello"])
    try:
        provider = OpenAICompatProvider(server.base_url, "m")
        response = LLMClient(provider, sqlite_engine).generate(_request(1))
    finally:
        server.stop()
    assert (response.text, response.finish_reason) == ("hello", "stop")
    (logged,) = call_log.list_calls(sqlite_engine)
    body = json.loads(completion_body("hello"))
    assert logged.prompt_tokens == body["usage"]["prompt_tokens"]
    assert logged.completion_tokens == body["usage"]["completion_tokens"]
