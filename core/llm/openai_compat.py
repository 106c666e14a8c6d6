"""Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server, LM Studio) via the openai SDK.

Retries are ours, not the SDK's, so the policy is visible and testable: exponential backoff with full
jitter on 429, 5xx, timeouts, dropped connections and unparseable bodies, honouring Retry-After.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai

from core.llm.types import Choice, LLMError, Request, Response

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}


def _retry_after_seconds(headers: httpx.Headers | None) -> float | None:
    if not headers:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class OpenAICompatProvider:
    kind = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        styles: tuple[str, ...] = ("completion", "chat"),
        max_concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.endpoint = base_url.rstrip("/")
        self.model = model
        self.styles = styles
        self.max_concurrency = max(1, max_concurrency)
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        # Servers without auth (vLLM, llama.cpp) still need a non-empty key for the SDK.
        self._client = openai.OpenAI(
            base_url=self.endpoint, api_key=api_key or "no-key", timeout=timeout_s, max_retries=0
        )

    def _send(self, request: Request, stream: bool = False) -> Any:
        p = request.params
        common: dict[str, Any] = dict(
            model=self.model,
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            n=p.n,
            presence_penalty=p.presence_penalty,
            frequency_penalty=p.frequency_penalty,
        )
        if p.stop:
            common["stop"] = list(p.stop)
        if p.seed is not None:
            common["seed"] = p.seed
        if stream:
            common["stream"] = True
        if request.style == "completion":
            return self._client.completions.create(prompt=request.prompt, **common)
        return self._client.chat.completions.create(messages=request.messages_list(), **common)

    def _parse(self, request: Request, out: Any) -> tuple[list[Choice], int, int]:
        choices_raw = getattr(out, "choices", None)
        if not isinstance(choices_raw, list) or not choices_raw:
            raise ValueError(f"response has no choices: {str(out)[:200]!r}")
        choices = []
        for c in choices_raw:
            text = c.text if request.style == "completion" else (c.message.content if c.message else "")
            if not isinstance(text, str):
                text = ""
            choices.append(Choice(text=text, finish_reason=c.finish_reason or "stop"))
        usage = getattr(out, "usage", None)
        return choices, (usage.prompt_tokens if usage else 0), (usage.completion_tokens if usage else 0)

    def _stream(self, request: Request, on_text: Callable[[str], None]) -> tuple[list[Choice], int, int]:
        text, finish, pieces, usage = "", "stop", 0, None
        for chunk in self._send(request, stream=True):
            usage = getattr(chunk, "usage", None) or usage
            if not getattr(chunk, "choices", None):
                continue  # e.g. a final usage-only chunk
            c = chunk.choices[0]
            delta = c.text if request.style == "completion" else (c.delta.content if c.delta else None)
            if isinstance(delta, str) and delta:
                text += delta
                pieces += 1
                on_text(text)
            finish = c.finish_reason or finish
        # Servers that send no usage in a stream get one token counted per streamed piece.
        if usage:
            return [Choice(text, finish)], usage.prompt_tokens, usage.completion_tokens
        return [Choice(text, finish)], 0, pieces

    def _url(self, request: Request) -> str:
        return f"{self.endpoint}/{'completions' if request.style == 'completion' else 'chat/completions'}"

    def call(self, request: Request, on_text: Callable[[str], None] | None = None) -> Response:
        """One request, retried on transient failures; with `on_text` (and n=1) the text is streamed, and a
        retry starts the text over."""
        url = self._url(request)
        attempt = 0
        started = time.perf_counter()
        while True:
            wait: float | None = None
            try:
                if on_text is not None and request.params.n == 1:
                    choices, p_tok, c_tok = self._stream(request, on_text)
                else:
                    choices, p_tok, c_tok = self._parse(request, self._send(request))
                return Response(
                    choices=tuple(choices),
                    prompt_tokens=p_tok,
                    completion_tokens=c_tok,
                    latency_ms=(time.perf_counter() - started) * 1000,
                )
            except openai.APIStatusError as exc:
                status = exc.status_code
                problem = f"HTTP {status}"
                if status not in RETRY_STATUSES and status < 500:
                    detail = str(exc.message)[:300]
                    raise LLMError(
                        f"{url} refused the request: {problem}: {detail}", endpoint=url, status=status
                    ) from exc
                wait = _retry_after_seconds(exc.response.headers)
            except openai.APITimeoutError:
                status, problem = None, "timed out"
            except openai.APIConnectionError as exc:
                status, problem = None, f"connection failed ({type(exc.__cause__ or exc).__name__})"
            except (openai.APIResponseValidationError, ValueError, AttributeError, TypeError) as exc:
                status, problem = None, f"malformed response ({exc.__class__.__name__}: {str(exc)[:120]})"
            if attempt >= self.max_retries:
                raise LLMError(
                    f"{url} failed after {attempt + 1} attempts: {problem}",
                    endpoint=url,
                    status=status,
                    retryable=True,
                )
            if wait is None:
                wait = random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))
            self._sleep(min(wait, self.backoff_max_s * 4))
            attempt += 1
