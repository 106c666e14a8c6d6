"""The lean transport's own HTTP/1.1: answers framed every way a server may frame them (Content-Length,
chunks, until close, after a 100 Continue), headers in any case, and answers cut short failing with the
provider's usual words.

The server here writes scripted bytes on a loopback socket (a fault injector); the real path against a
llama.cpp server is tested in tests/test_llm.py.
"""

from __future__ import annotations

import socket
import threading

import pytest

from core.llm import GenParams, LLMClient, LLMError, Request
from core.llm.openai_compat import OpenAICompatProvider
from core.llm.transport import Transport
from tests.llm_servers import completion_body


class RawServer:
    """Answers each request with the next scripted bytes; a script ending in `None` closes the connection
    after writing. `requests` keeps each request's raw bytes."""

    def __init__(self, answers: list[tuple[bytes, bool]]):
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while self.answers:
                    request = self._read_request(conn)
                    if request is None:
                        break
                    self.requests.append(request)
                    data, close = self.answers.pop(0)
                    conn.sendall(data)
                    if close:
                        break

    @staticmethod
    def _read_request(conn: socket.socket) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += conn.recv(65536)
        return data

    def stop(self) -> None:
        self.sock.close()


def _framed(body: bytes, *, how: str, status: str = "200 OK", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nCoNtEnT-TyPe: application/json\r\n{extra}"
    if how == "length":
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    if how == "chunked":
        cut = len(body) // 2
        chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in (body[:cut], body[cut:]))
        return f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\nX-Trailer: t\r\n\r\n"
    assert how == "close"
    return f"{head}Connection: close\r\n\r\n".encode() + body


def _client(server: RawServer, engine, **provider) -> LLMClient:
    options = {"max_concurrency": 1, "max_retries": 0, **provider}
    return LLMClient(OpenAICompatProvider(server.base_url, "m", **options), engine)


def _ask(client: LLMClient, i: int = 0) -> str:
    return client.generate(Request(prompt=f"say {i}", params=GenParams(max_tokens=4))).text


@pytest.mark.parametrize("how", ["length", "chunked", "close"])
def test_every_framing_of_a_body_reads_the_whole_answer(sqlite_engine, how):
    body = completion_body("framed")
    server = RawServer([(_framed(body, how=how), how == "close"), (_framed(body, how="length"), False)])
    try:
        client = _client(server, sqlite_engine)
        texts = [_ask(client, i) for i in range(2)]
    finally:
        server.stop()
    assert texts == ["framed", "framed"]
    # Kept alive after a framed body; a body that ran until close needs a new connection.
    assert server.connections == (2 if how == "close" else 1)
    head = server.requests[0].split(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /v1/completions HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.base_url.rsplit(':', 1)[1].split('/')[0]}" in head


def test_a_100_continue_before_the_answer_is_skipped(sqlite_engine):
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + _framed(completion_body("after"), how="length")
    server = RawServer([(answer, False)])
    try:
        assert _ask(_client(server, sqlite_engine)) == "after"
    finally:
        server.stop()


def test_a_rate_limit_answer_is_retried_after_the_time_it_names(sqlite_engine):
    waits: list[float] = []
    limited = _framed(
        b'{"error": {"message": "slow down"}}',
        how="length",
        status="429 Too Many",
        extra="RETRY-AFTER: 7\r\n",
    )
    server = RawServer([(limited, False), (_framed(completion_body("ok"), how="length"), False)])
    try:
        text = _ask(_client(server, sqlite_engine, max_retries=1, sleep=waits.append))
    finally:
        server.stop()
    assert text == "ok" and waits == [7.0]  # the header's name in any case


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"choices"', "connection failed (IncompleteRead)"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "connection failed (IncompleteRead)",
        ),
        (b"SMTP ready\r\n\r\n", "connection failed (BadStatusLine)"),
        (b"", "connection failed (RemoteDisconnected)"),
    ],
)
def test_an_answer_cut_short_or_not_http_fails_naming_the_endpoint(sqlite_engine, answer, problem):
    server = RawServer([(answer, True)])
    try:
        with pytest.raises(LLMError) as info:
            _ask(_client(server, sqlite_engine))
    finally:
        server.stop()
    assert str(info.value) == f"{server.base_url}/completions failed after 1 attempts: {problem}"


def test_a_keep_alive_connection_closed_while_idle_is_replaced_without_an_attempt():
    """A reused connection that the server closed gets one fresh connection, not an error."""
    body = completion_body("again")
    server = RawServer([(_framed(body, how="length"), True), (_framed(body, how="length"), False)])
    transport = Transport(server.base_url, {}, timeout_s=5, pool_size=1)
    try:
        first = transport.post("/completions", b"{}")
        second = transport.post("/completions", b"{}")  # its pooled connection was closed by the server
    finally:
        transport.close()
        server.stop()
    assert (first.status, second.status) == (200, 200)
    assert first.headers["content-type"] == "application/json" and second.body == body
    assert server.connections == 2
