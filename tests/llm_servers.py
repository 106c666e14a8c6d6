"""Loopback servers for model tests: the real llama.cpp server, and a fault injector."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx


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


def completion_body(text: str = "ok") -> bytes:
    return json.dumps(
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    ).encode()


class FaultServer:
    """Answers from a script of faults, one per request, then succeeds: 429, 500, slow, truncated, garbage."""

    def __init__(self, script: list[str]):
        self.script = list(script)
        self.seen: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                fault = outer.script.pop(0) if outer.script else "ok"
                outer.seen.append(fault)
                if fault == "429":
                    self._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0.2"})
                elif fault == "500":
                    self._send(500, b'{"error": {"message": "boom"}}')
                elif fault == "401":
                    self._send(401, b'{"error": {"message": "bad key"}}')
                elif fault == "slow":
                    time.sleep(2.0)
                    self._send(200, completion_body())
                elif fault == "truncated":
                    body = completion_body()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif fault == "garbage":
                    self._send(200, b"{not json at all")
                else:
                    self._send(200, completion_body(fault if fault != "ok" else "ok"))

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
