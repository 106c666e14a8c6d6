"""Loopback servers for model tests: the real llama.cpp server, and a fault injector."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx


class KeepAliveHandler(BaseHTTPRequestHandler):
    """A test endpoint's request handler: HTTP/1.1 keep-alive, as model servers answer, and no access log
    on the test output."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` serving the embedded GGUF file on 127.0.0.1; its access log counts calls."""

    def __init__(self, model_path: Path, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "2",
                "--model_alias",
                "gemma-3-270m",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        raise RuntimeError("llama_cpp.server did not start within 120 s")

    def requests_served(self, path: str) -> int:
        self._log.flush()
        return sum(1 for line in self.log_path.read_text().splitlines() if f'"POST {path} HTTP' in line)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def completion_body(text: str = "ok", style: str = "completion", finish: str | None = "stop") -> bytes:
    choice: dict = {"index": 0, "finish_reason": finish, "logprobs": None}
    if style == "chat":
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    return json.dumps(
        {
            "id": "cmpl-1",
            "object": "chat.completion" if style == "chat" else "text_completion",
            "created": 0,
            "model": "m",
            "choices": [choice],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    ).encode()


def stream_event(text: str, style: str = "completion", finish: str | None = None) -> bytes:
    choice: dict = {"index": 0, "finish_reason": finish}
    if style == "chat":
        choice["delta"] = {"content": text}
    else:
        choice["text"] = text
    obj = "chat.completion.chunk" if style == "chat" else "text_completion"
    chunk = {"id": "cmpl-1", "object": obj, "created": 0, "model": "m", "choices": [choice]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


# What each fault does; any other word is answered as a whole, correct response with that word as its text.
FAULTS = {
    "429": "429 with Retry-After: 0.2",
    "500": "500",
    "401": "401",
    "401-echo": "401 quoting the Authorization header back, as OpenAI's 'Incorrect API key provided' does",
    "500-echo": "500 quoting the Authorization header back",
    "slow": "a correct answer after 2 s",
    "hang": "holds the request until the server stops (or `release` is set)",
    "truncated": "a JSON body cut in half",
    "garbage": "200 with a body that is not JSON",
    "html": "200 with an HTML page",
    "empty-choices": "200 with a JSON body whose choices are empty",
    "no-finish": "200 with a whole JSON body whose choice has no finish_reason",
    "cut-stream": "an event stream that stops (connection closed) before any finish_reason or [DONE]",
    "cut-chunked": "a chunked event stream whose connection drops in the middle of a chunk",
    "empty-stream": "200 text/event-stream with no events at all",
    "done-only": "an event stream holding only [DONE]",
    "error-event": "an event stream with some text, then an error event (quoting the Authorization header)",
    "json-for-stream": "a whole, correct JSON answer to a request that asked for a stream",
}


class FaultServer:
    """A fault injector (not a model): answers from a script of faults, one per request, then succeeds.

    A success is a correct answer in the requested format (completion or chat, whole or streamed) whose
    text is "ok" or the script's word. `seen` lists the faults served, `requests` the request bodies and
    `authorization` the Authorization headers received.
    """

    def __init__(self, script: list[str]):
        self.script = list(script)
        self.seen: list[str] = []
        self.requests: list[dict] = []
        self.authorization: list[str] = []
        self.release = threading.Event()
        outer = self

        class Handler(KeepAliveHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                auth = self.headers.get("authorization", "")
                outer.requests.append(body)
                outer.authorization.append(auth)
                style = "chat" if self.path.endswith("/chat/completions") else "completion"
                stream = bool(body.get("stream"))
                fault = outer.script.pop(0) if outer.script else "ok"
                outer.seen.append(fault)
                self.close_connection = True
                if fault == "429":
                    self._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0.2"})
                elif fault == "500":
                    self._send(500, b'{"error": {"message": "boom"}}')
                elif fault == "401":
                    self._send(401, b'{"error": {"message": "bad key"}}')
                elif fault in ("401-echo", "500-echo"):
                    message = f"Incorrect API key provided: {auth.split(' ', 1)[-1]} (header: {auth})"
                    status = 401 if fault == "401-echo" else 500
                    self._send(status, json.dumps({"error": {"message": message}}).encode())
                elif fault == "slow":
                    time.sleep(2.0)
                    self._answer(style, stream, "ok")
                elif fault == "hang":
                    outer.release.wait()
                    with contextlib.suppress(OSError):  # the client has usually gone by now
                        self._send(503, b'{"error": {"message": "released"}}')
                elif fault == "truncated":
                    body = completion_body(style=style)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                elif fault == "garbage":
                    self._send(200, b"{not json at all")
                elif fault == "html":
                    page = b"<!doctype html><html><body><h1>Sign in</h1><p>Proxy login</p></body></html>"
                    self._send(200, page, content_type="text/html; charset=utf-8")
                elif fault == "empty-choices":
                    self._send(200, b'{"id": "x", "object": "text_completion", "choices": []}')
                elif fault == "no-finish":
                    self._send(200, completion_body("half an ans", style, finish=None))
                elif fault == "cut-stream":
                    self._open_stream()
                    self.wfile.write(stream_event("half ", style) + stream_event("an ans", style))
                elif fault == "cut-chunked":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    event = stream_event("half ", style)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                    self.wfile.write(b'400\r\ndata: {"id"')  # a chunk promised, never delivered
                elif fault == "empty-stream":
                    self._open_stream()
                elif fault == "done-only":
                    self._open_stream()
                    self.wfile.write(b"data: [DONE]\n\n")
                elif fault == "error-event":
                    self._open_stream()
                    error = {"error": {"message": f"overloaded; your key {auth}", "type": "server_error"}}
                    self.wfile.write(stream_event("half ", style))
                    self.wfile.write(b"data: " + json.dumps(error).encode() + b"\n\n")
                elif fault == "json-for-stream":
                    self._send(200, completion_body("whole", style))
                else:
                    self._answer(style, stream, fault)
                self.wfile.flush()

            def _answer(self, style: str, stream: bool, text: str) -> None:
                if not stream:
                    self._send(200, completion_body(text, style))
                    return
                self._open_stream()
                head, tail = text[: len(text) // 2], text[len(text) // 2 :]
                for piece in (head, tail):
                    if piece:
                        self.wfile.write(stream_event(piece, style))
                self.wfile.write(stream_event("", style, finish="stop") + b"data: [DONE]\n\n")

            def _open_stream(self) -> None:
                # No length and no chunking: the stream ends when the connection closes.
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()

            def _send(
                self,
                status: int,
                body: bytes,
                headers: dict[str, str] | None = None,
                content_type: str = "application/json",
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url_with_credentials(self, user: str, password: str) -> str:
        return self.base_url.replace("http://", f"http://{user}:{password}@")

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
