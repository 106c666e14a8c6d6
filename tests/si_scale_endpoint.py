"""A loopback endpoint for the scale tests: a load generator and fault injector, not a model.

It answers like `benchmarks/selfinstruct_scale.py`'s load generator (grammar-made instructions, Yes/No,
instances, deterministic in the prompt) and records, for each request, its kind and the number of requests
in flight when it arrived. A `gate` can hold requests of one kind until a condition on the requests seen so
far holds (e.g. "a generation request of the next iteration has arrived"): a run that cannot reach that
point without answering the held request fails after `gate_timeout_s` (HTTP 500), never hangs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from benchmarks.selfinstruct_scale import answer
from tests.llm_servers import KeepAliveHandler


def request_kind(prompt: str) -> str:
    if prompt.rstrip().endswith("Is it classification?"):
        return "classify"
    if prompt.startswith(("Given the classification task definition", "Come up with examples")):
        return "instances"
    if prompt.startswith("Come up with a series of tasks"):
        return "generate"
    if "Output:" in prompt[-40:]:
        return "execute"
    return "induce"


@dataclass
class Seen:
    kind: str
    prompt: str
    in_flight: int  # requests in flight when this one arrived, itself included


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of connections may open at once


class LoopbackEndpoint:
    def __init__(
        self,
        gate: Callable[[str, list[Seen]], bool] | None = None,
        gate_timeout_s: float = 60.0,
        barrier: int = 0,
        answers: Callable[[str, str], str | None] | None = None,
        refuse: Callable[[str], tuple[int, str] | None] | None = None,
    ):
        """`gate(kind, seen)`: True when a request of `kind` may be answered now. `barrier`: hold every
        request until this many are in flight at once. `answers(kind, prompt)`: a text to answer instead of
        the load generator's (None: the usual answer). `refuse(kind)`: (HTTP status, error message) to
        answer a request of `kind` with instead (None: answer it)."""
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate_timeouts = 0
        self._cond = threading.Condition()
        outer = self

        class Handler(KeepAliveHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                chat = self.path.endswith("/chat/completions")
                prompt = "\n".join(m["content"] for m in body["messages"]) if chat else body["prompt"]
                kind = request_kind(prompt)
                with outer._cond:
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                    outer.seen.append(Seen(kind, prompt, outer.in_flight))
                    outer._cond.notify_all()
                    ok = True
                    if gate is not None:
                        ok = outer._cond.wait_for(lambda: gate(kind, outer.seen), timeout=gate_timeout_s)
                    if barrier:
                        ok = ok and outer._cond.wait_for(
                            lambda: outer.max_in_flight >= barrier, timeout=gate_timeout_s
                        )
                    if not ok:
                        outer.gate_timeouts += 1
                try:
                    if not ok:
                        self._send(500, {"error": {"message": "gate timed out"}})
                        return
                    refused = refuse(kind) if refuse else None
                    if refused is not None:
                        self._send(refused[0], {"error": {"message": refused[1]}})
                        return
                    text = (answers(kind, prompt) if answers else None) or answer(prompt)
                    if chat:
                        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
                    else:
                        choice = {"index": 0, "text": text}
                    choice["finish_reason"] = "stop"
                    usage = {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(text) // 4 + 1}
                    self._send(
                        200, {"id": "x", "object": "x", "model": "m", "choices": [choice], "usage": usage}
                    )
                finally:
                    with outer._cond:
                        outer.in_flight -= 1
                        outer._cond.notify_all()

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kinds(self) -> list[str]:
        return [s.kind for s in self.seen]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
