"""A Self-Instruct run that can never reach its target stops with a reason instead of looping, and resumes when
given a larger limit. The model is a loopback OpenAI-compatible endpoint that only repeats its prompt (a fault
injector: every candidate it "generates" is an instruction already in the prompt)."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.jobs import run_once, submit
from core.llm import Choice, ModelSettings, Response
from core.selfinstruct import calltexts
from core.selfinstruct.job import STALL_PREFIX, set_idle_limits
from core.selfinstruct.spec import KIND, selfinstruct_params
from core.selfinstruct.view import load_run
from core.store import runs as run_store
from tests.conftest import app_env, run_cli


class EchoEndpoint:
    """/v1/completions and /v1/chat/completions answering with the prompt itself, streamed or not."""

    def __init__(self) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                outer.requests += 1
                chat = "messages" in body
                text = body["messages"][-1]["content"] if chat else body["prompt"]
                if isinstance(text, list):
                    text = text[0]
                if body.get("stream"):
                    self._stream(text, chat)
                else:
                    self._json(text, chat)

            def _choice(self, text: str, chat: bool, finish: str | None, delta: bool) -> dict:
                if chat:
                    key = "delta" if delta else "message"
                    return {"index": 0, key: {"role": "assistant", "content": text}, "finish_reason": finish}
                return {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}

            def _json(self, text: str, chat: bool) -> None:
                data = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion" if chat else "text_completion",
                        "created": 0,
                        "model": "echo",
                        "choices": [self._choice(text, chat, "stop", False)],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, text: str, chat: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                kind = "chat.completion.chunk" if chat else "text_completion"
                pieces = [(text, None), ("", "stop")]
                for piece, finish in pieces:
                    event = {
                        "id": "x",
                        "object": kind,
                        "created": 0,
                        "model": "echo",
                        "choices": [self._choice(piece, chat, finish, True)],
                    }
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def echo():
    server = EchoEndpoint()
    yield server
    server.stop()


def echo_settings(url: str) -> ModelSettings:
    return ModelSettings(
        provider="openai", base_url=url, model="echo", api_key="none", styles=("completion",)
    )


def idle_tail(view) -> int:
    """How many iterations at the end of a run kept nothing."""
    n = 0
    for it in reversed(view.iterations):
        if it.kept:
            break
        n += 1
    return n


def test_a_run_that_keeps_nothing_stops_with_a_reason_and_resumes_with_a_larger_limit(sqlite_engine, echo):
    settings = echo_settings(echo.base_url)
    params = selfinstruct_params(settings.public_dict(), seeds="starter", target=50, max_idle_iterations=4)
    run_id = submit(sqlite_engine, KIND, params)
    assert run_once(sqlite_engine) == run_id
    run = run_store.get_run(sqlite_engine, run_id)
    assert run.status == "failed" and run.error.startswith(STALL_PREFIX), run.error
    assert "4 iterations in a row kept no new instruction" in run.error and "Traceback" not in run.error
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    # The echoed prompt's header may pass once as a "new" instruction; its numbered lines never do.
    assert view.n_kept <= 1 and idle_tail(view) == 4
    assert len(view.iterations) == 4 + (1 if view.n_kept else 0)
    for it in view.iterations[-4:]:
        assert {d.code for d in it.decisions} <= {"repeats_prompt", "too_similar", "empty"}
    assert view.counts_by_reason()["repeats_prompt"] >= 4 * 6
    served = echo.requests

    # Resuming with the same limit stops at once, without a model call; a larger one goes on to it.
    run_store.requeue(sqlite_engine, run_id)
    run_once(sqlite_engine)
    assert echo.requests == served and run_store.get_run(sqlite_engine, run_id).status == "failed"
    set_idle_limits(sqlite_engine, run_id, iterations=7)
    run_store.requeue(sqlite_engine, run_id)
    run_once(sqlite_engine)
    run = run_store.get_run(sqlite_engine, run_id)
    assert run.status == "failed" and "7 iterations in a row" in run.error
    view = load_run(calltexts.results(sqlite_engine, run_id))
    assert idle_tail(view) == 7 and echo.requests == served + 3  # one generation request per new iteration
    with pytest.raises(ValueError):
        set_idle_limits(sqlite_engine, run_id, iterations=0)


class NoInstances:
    """Novel instructions every time, but instance responses that hold no usable instance."""

    kind = model = "no-instances"
    endpoint = "no-instances:"
    styles = ("completion",)
    max_concurrency = 1

    def __init__(self) -> None:
        self.n = 0

    def call(self, request, on_text=None):
        prompt = request.prompt
        if prompt.endswith("Is it classification?"):
            text = " No"
        elif prompt.endswith("\n"):
            text = "Sorry, I cannot think of any example."
        else:
            self.n += 1
            words = [
                "amber",
                "basil",
                "cedar",
                "delta",
                "ember",
                "fjord",
                "grove",
                "heron",
                "iris",
                "juniper",
                "kelp",
                "lotus",
            ]
            text = " Describe the " + " ".join(
                words[(self.n + i) % len(words)] + str(self.n) for i in range(6)
            )
        return Response((Choice(text, "stop"),), 1, 1, 0.0)


def test_a_run_whose_instances_all_fail_stops_too(sqlite_engine, use_model):
    model = NoInstances()
    use_model(model)
    params = selfinstruct_params(
        ModelSettings().public_dict(), seeds="starter", target=50, max_idle_instances=3
    )
    run_id = submit(sqlite_engine, KIND, params)
    run_once(sqlite_engine)
    run = run_store.get_run(sqlite_engine, run_id)
    assert run.status == "failed" and run.error.startswith(STALL_PREFIX)
    assert "3 instructions in a row got no usable instance" in run.error
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    # Instances overlap the generation loop, which may have kept a few more instructions meanwhile.
    assert len(view.items) >= 3 and all(not x.instances.kept for x in view.items if x.instances)


def test_the_command_line_reports_the_stall_and_resumes_with_a_larger_limit(data_dir, echo):
    env = app_env(data_dir, OPENAI_API_KEY="none")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return run_cli("core.selfinstruct", *args, env=env)

    common = ["--model", "echo", "--base-url", echo.base_url, "--styles", "completion"]
    out = cli("generate", "--seeds", "starter", "--target", "20", "--max-idle-iterations", "3", *common)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "stalled: 3 iterations in a row kept no new instruction" in out.stderr
    assert "--max-idle-iterations" in out.stderr  # the reason says what to raise
    run_id = re.search(r"^run (\d+):", out.stdout, re.MULTILINE).group(1)
    first = int(re.search(rf"^run {run_id} failed: (\d+) iterations", out.stdout, re.MULTILINE).group(1))
    assert first in (3, 4)
    again = cli("generate", "--resume", run_id, "--max-idle-iterations", "5", *common)
    assert again.returncode == 1 and "stalled: 5 iterations" in again.stderr
    assert f"run {run_id} failed: {first + 2} iterations" in again.stdout
