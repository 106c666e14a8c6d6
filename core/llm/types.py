"""The records every model call uses, whatever serves it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from core.llm.redact import redact

Style = Literal["completion", "chat"]


@dataclass(frozen=True)
class GenParams:
    """Decoding parameters; temperature 0 means greedy."""

    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A fresh dict of the fields (built once per instance: `asdict` is slow, and every call asks)."""
        cached = self.__dict__.get("_as_dict")
        if cached is None:
            cached = {f.name: getattr(self, f.name) for f in fields(self)}
            cached["stop"] = list(self.stop)
            object.__setattr__(self, "_as_dict", cached)
        return {**cached, "stop": list(cached["stop"])}


@dataclass(frozen=True)
class Request:
    """One request: a plain prompt (completion style) or chat messages (chat style).

    `sample_index` tells apart repeated samples of the same prompt so each is cached on its own.
    """

    prompt: str | None = None
    messages: tuple[tuple[str, str], ...] | None = None  # (role, content)
    params: GenParams = field(default_factory=GenParams)
    sample_index: int = 0

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("a request has either a prompt or messages, not both or neither")

    @property
    def style(self) -> Style:
        return "completion" if self.prompt is not None else "chat"

    def messages_list(self) -> list[dict[str, str]] | None:
        return [{"role": r, "content": c} for r, c in self.messages] if self.messages is not None else None


@dataclass(frozen=True)
class Choice:
    text: str
    finish_reason: str


@dataclass(frozen=True)
class Response:
    choices: tuple[Choice, ...]
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    call_id: int | None = None
    cached: bool = False

    @property
    def text(self) -> str:
        return self.choices[0].text if self.choices else ""

    @property
    def finish_reason(self) -> str:
        return self.choices[0].finish_reason if self.choices else ""


class Aborted(Exception):
    """A call given up because its run is being stopped (Ctrl-C, Cancel): nothing of it is stored."""


class LLMError(RuntimeError):
    """A model call that failed for good; the message names the endpoint and what went wrong.

    The message is redacted here, where every model error is made: an endpoint's own words may echo the key.
    """

    def __init__(
        self, message: str, *, endpoint: str = "", status: int | None = None, retryable: bool = False
    ):
        super().__init__(redact(message))
        self.endpoint = redact(endpoint) or ""
        self.status = status
        self.retryable = retryable


def cache_key(provider: str, endpoint: str, model: str, request: Request) -> str:
    """Identity of a request for the cache: everything that changes the answer, nothing secret."""
    payload = {
        "provider": provider,
        "endpoint": endpoint,
        "model": model,
        "style": request.style,
        "prompt": request.prompt,
        "messages": request.messages_list(),
        "params": request.params.to_dict(),
        "sample_index": request.sample_index,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
