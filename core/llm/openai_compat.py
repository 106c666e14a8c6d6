"""Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server, LM Studio).

Answers, whole or streamed, go over the lean transport (`core.llm.transport`) where it can serve the URL;
proxied endpoints and URLs with credentials go through the openai SDK. Both paths build the same request
body, read a stream's events the same way and fail with the same errors.

Retries are ours, not the SDK's, so the policy is visible and testable: exponential backoff with full
jitter on 429, 5xx, timeouts, dropped connections and unparseable or incomplete bodies, honouring
Retry-After.

An answer counts only when it is whole: a body whose every choice carries a finish_reason, or a stream
that delivered one. A stream cut before it, an empty stream, an HTML page or an error event sent with
status 200 is retried like a 5xx and, if it keeps happening, fails with an error naming the endpoint and
what was wrong; it is never returned (so never logged as a success, nor cached).
"""

from __future__ import annotations

import email.utils
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from core.llm import abort, limit
from core.llm.redact import public_url, redact, register_secret, register_url_credentials
from core.llm.transport import Transport, TransportError, lean_path_for
from core.llm.types import Choice, LLMError, Request, Response


class _NotRaised(Exception):
    """Stands for the SDK's exception classes in `except` clauses while the SDK is not imported: nothing
    can have raised one then."""


class _LazySDK:
    """The openai SDK, imported when first used: plain-HTTP endpoints go through the lean path and never
    need it, and importing it takes ~0.6 s, which every Self-Instruct stage worker process would pay. An
    error on the lean path does not import it either."""

    def __getattr__(self, name: str) -> Any:
        if name.endswith(("Error", "Exception")) and "openai" not in sys.modules:
            return _NotRaised
        import openai as sdk

        return getattr(sdk, name)


openai: Any = _LazySDK()

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}


class Malformed(Exception):
    """A 200 answer that is not a whole response; retried like a server error."""


class StatusError(Exception):
    """An error status from the lean transport, carrying what the SDK's `APIStatusError` would."""

    def __init__(self, status: int, detail: str, headers: Any):
        super().__init__(detail)
        self.status_code = status
        self.detail = detail
        self.headers = headers


def status_detail(status: int, body: bytes) -> str:
    """The endpoint's own words for an error status, read from the body as the SDK reads it."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text or f"Error code: {status}"
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
    return f"Error code: {status} - {data}"


def _retry_after_seconds(headers: Any) -> float | None:
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
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _snippet(body: bytes | str, limit: int = 120) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def _body(raw: Any) -> bytes:
    """The whole body of a raw answer; a connection that breaks while it is read is a retryable fault."""
    try:
        return raw.http_response.read()
    except Exception as exc:  # the transport's own error types (httpx, httpx2) differ between SDK versions
        raise Malformed(f"the connection broke while reading the body ({type(exc).__name__})") from None


def _status_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
    return str(exc.message)


def _finish(choice: dict, index: int) -> str:
    finish = choice.get("finish_reason")
    if not isinstance(finish, str) or not finish:
        raise Malformed(f"choice {index} has no finish_reason, so the answer may be cut short")
    return finish


def parse_body(style: str, data: Any) -> tuple[list[Choice], int, int]:
    """Choices and token usage of a whole (non-streamed) response body, or `Malformed` saying what is wrong."""
    if not isinstance(data, dict):
        raise Malformed(f"the body is not a JSON object: {_snippet(json.dumps(data))}")
    if data.get("error"):
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise Malformed(f"the body reports an error: {str(message)[:300]}")
    raw = data.get("choices")
    if not isinstance(raw, list) or not raw:
        raise Malformed(f"the response has no choices: {_snippet(json.dumps(data))}")
    choices = []
    for i, c in enumerate(sorted(raw, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)):
        if not isinstance(c, dict):
            raise Malformed(f"choice {i} is not an object")
        if style == "completion":
            text = c.get("text")
        else:
            message = c.get("message")
            if not isinstance(message, dict):
                raise Malformed(f"choice {i} has no message")
            text = message.get("content") if message.get("content") is not None else ""
        if not isinstance(text, str):
            raise Malformed(f"choice {i} has no text")
        choices.append(Choice(text=text, finish_reason=_finish(c, i)))
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return choices, _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _whole_for_stream(
    style: str, body: bytes, on_text: Callable[[str], None]
) -> tuple[list[Choice], int, int]:
    """A whole JSON answer to a stream request (the endpoint ignored stream=True), taken as it is."""
    try:
        data = json.loads(body)
    except ValueError:
        raise Malformed(f"answered a stream request with unparseable JSON: {_snippet(body)}") from None
    choices, p_tok, c_tok = parse_body(style, data)
    on_text(choices[0].text)
    return choices, p_tok, c_tok


class _EventStream:
    """A streamed answer's server-sent events, read as they arrive: the text so far goes to `on_text`.

    On the lean path `feed` reads the bytes as the SDK's stream does: `data:` lines make an event, a blank
    line ends it, `[DONE]` ends the stream, an event holding an "error" stops it with that error's message.
    On the SDK's path `take` gets each chunk the SDK read. Either way `result` says whether it was whole."""

    def __init__(self, style: str, on_text: Callable[[str], None]):
        self.style = style
        self.on_text = on_text
        self.pending = b""
        self.data: list[bytes] = []
        self.done = False
        self.text = ""
        self.finish: str | None = None
        self.pieces = 0
        self.chunks = 0
        self.usage: dict[str, Any] | None = None

    def feed(self, piece: bytes) -> None:
        abort.check()
        lines = (self.pending + piece).split(b"\n")
        self.pending = lines.pop()
        for line in lines:
            line = line.removesuffix(b"\r")
            if not line:
                self._dispatch()
            elif not line.startswith(b":"):  # a comment otherwise
                field, _, value = line.partition(b":")
                if field == b"data":
                    self.data.append(value.removeprefix(b" "))

    def _dispatch(self) -> None:
        data, self.data = b"\n".join(self.data), []
        if not data or self.done:
            return
        if data.startswith(b"[DONE]"):
            self.done = True
            return
        chunk = json.loads(data)  # a ValueError is a malformed answer, as the SDK's is
        if isinstance(chunk, dict) and chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else None
            if not isinstance(message, str) or not message:
                message = "An error occurred during streaming"
            raise Malformed(f"the stream reported an error: {message[:300]}")
        if not isinstance(chunk, dict):
            raise Malformed(f"a stream event is not a JSON object: {_snippet(data)}")
        self.take(chunk)

    def take(self, chunk: dict[str, Any]) -> None:
        """One event's chunk: its text added to the text so far, its finish_reason and usage noted."""
        self.chunks += 1
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choices = chunk.get("choices")
        if not choices:
            return  # e.g. a final usage-only chunk
        c = choices[0]
        if not isinstance(c, dict):
            raise Malformed("a stream event's choice is not an object")
        if self.style == "completion":
            delta = c.get("text")
        else:
            delta = c.get("delta").get("content") if isinstance(c.get("delta"), dict) else None
        if isinstance(delta, str) and delta:
            self.text += delta
            self.pieces += 1
            self.on_text(self.text)
        self.finish = c.get("finish_reason") or self.finish

    def result(self, content_type: str) -> tuple[list[Choice], int, int]:
        if self.finish is None:
            if "event-stream" not in content_type:
                raise Malformed(
                    f"answered a stream request with {content_type or 'no content type'}, not an event stream"
                )
            if self.chunks == 0:
                raise Malformed("the stream was empty")
            raise Malformed(
                f"the stream ended before the answer was finished ({len(self.text)} characters in)"
            )
        # Servers that send no usage in a stream get one token counted per streamed piece.
        if self.usage:
            return (
                [Choice(self.text, self.finish)],
                _int(self.usage.get("prompt_tokens")),
                _int(self.usage.get("completion_tokens")),
            )
        return [Choice(self.text, self.finish)], 0, self.pieces


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
        sleep: Callable[[float], None] = abort.sleep,
    ):
        register_secret(api_key)
        register_url_credentials(base_url)
        # The endpoint's name (logged, cached on, shown) carries no `user:password@`; requests still do.
        self.endpoint = public_url(base_url.rstrip("/"))
        self.model = model
        self.styles = styles
        self.max_concurrency = max(1, max_concurrency)
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        # Servers without auth (vLLM, llama.cpp) still need a non-empty key for the SDK.
        self._sdk_options = dict(
            base_url=base_url.rstrip("/"), api_key=api_key or "no-key", timeout=timeout_s, max_retries=0
        )
        self._sdk_client: Any = None
        self._sdk_lock = threading.Lock()
        self._lean: Transport | None = None
        if lean_path_for(base_url):
            auth = {"Authorization": f"Bearer {api_key or 'no-key'}", "User-Agent": "instruction-workbench"}
            self._lean = Transport(base_url, auth, timeout_s, pool_size=self.max_concurrency)

    @property
    def _client(self) -> Any:
        """The SDK's client, made on first use (proxies, URLs with credentials)."""
        with self._sdk_lock:
            if self._sdk_client is None:
                self._sdk_client = openai.OpenAI(**self._sdk_options)
            return self._sdk_client

    def _body_of(self, request: Request, stream: bool = False) -> dict[str, Any]:
        """The request body, the same whichever path sends it."""
        p = request.params
        body: dict[str, Any] = dict(
            model=self.model,
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            n=p.n,
            presence_penalty=p.presence_penalty,
            frequency_penalty=p.frequency_penalty,
        )
        if p.stop:
            body["stop"] = list(p.stop)
        if p.seed is not None:
            body["seed"] = p.seed
        if stream:
            body["stream"] = True
        return body

    def _send(self, request: Request, stream: bool = False) -> Any:
        """The raw answer: status and headers checked by the SDK, the body left to us."""
        common = self._body_of(request, stream)
        if request.style == "completion":
            return self._client.completions.with_raw_response.create(prompt=request.prompt, **common)
        return self._client.chat.completions.with_raw_response.create(
            messages=request.messages_list(), **common
        )

    def _lean_request(self, request: Request, stream: bool = False) -> tuple[str, bytes]:
        """The path below the base URL and the JSON body of a request on the lean transport."""
        body = self._body_of(request, stream)
        if request.style == "completion":
            body["prompt"] = request.prompt
            return "/completions", json.dumps(body).encode()
        body["messages"] = request.messages_list()
        return "/chat/completions", json.dumps(body).encode()

    def _complete_lean(self, lean: Transport, request: Request) -> tuple[list[Choice], int, int]:
        answer = lean.post(*self._lean_request(request))
        if answer.status >= 400:
            raise StatusError(answer.status, status_detail(answer.status, answer.body), answer.headers)
        try:
            data = json.loads(answer.body)
        except ValueError:
            kind = answer.headers.get("content-type", "no content type")
            raise Malformed(
                f"answered {answer.status} with {kind}, not JSON: {_snippet(answer.body)}"
            ) from None
        return parse_body(request.style, data)

    def _complete(self, request: Request) -> tuple[list[Choice], int, int]:
        if self._lean is not None:
            return self._complete_lean(self._lean, request)
        raw = self._send(request)
        body = _body(raw)
        try:
            data = json.loads(body)
        except ValueError:
            kind = raw.headers.get("content-type", "no content type")
            raise Malformed(f"answered {raw.status_code} with {kind}, not JSON: {_snippet(body)}") from None
        return parse_body(request.style, data)

    def _stream(self, request: Request, on_text: Callable[[str], None]) -> tuple[list[Choice], int, int]:
        if self._lean is not None:
            return self._stream_lean(self._lean, request, on_text)
        raw = self._send(request, stream=True)
        content_type = raw.headers.get("content-type", "")
        if "json" in content_type:
            return _whole_for_stream(request.style, _body(raw), on_text)
        events = _EventStream(request.style, on_text)
        for chunk in raw.parse():  # the SDK reads the events (and raises on an error event)
            abort.check()
            events.take(chunk.model_dump())
        return events.result(content_type)

    def _stream_lean(
        self, lean: Transport, request: Request, on_text: Callable[[str], None]
    ) -> tuple[list[Choice], int, int]:
        """`_stream` on the lean transport: the same answers, errors and messages as the SDK's path."""
        path, body = self._lean_request(request, stream=True)
        events = _EventStream(request.style, on_text)

        def pieces(status: int, headers: dict[str, str]) -> Callable[[bytes], None] | None:
            # An error or a whole JSON body (an endpoint that ignores stream=True) is read whole.
            if status >= 400 or "json" in headers.get("content-type", ""):
                return None
            return events.feed

        answer = lean.post(path, body, pieces)
        if answer.status >= 400:
            raise StatusError(answer.status, status_detail(answer.status, answer.body), answer.headers)
        content_type = answer.headers.get("content-type", "")
        if "json" in content_type:
            return _whole_for_stream(request.style, answer.body, on_text)
        return events.result(content_type)

    def _url(self, request: Request) -> str:
        return f"{self.endpoint}/{'completions' if request.style == 'completion' else 'chat/completions'}"

    def call(self, request: Request, on_text: Callable[[str], None] | None = None) -> Response:
        """One request, retried on transient failures; with `on_text` (and n=1) the text is streamed, and a
        retry starts the text over."""
        url = self._url(request)
        attempt = 0
        started = time.perf_counter()
        while True:
            abort.check()
            wait: float | None = None
            status: int | None = None
            try:
                if on_text is not None and request.params.n == 1:
                    choices, p_tok, c_tok = self._stream(request, on_text)
                else:
                    choices, p_tok, c_tok = self._complete(request)
                return Response(
                    choices=tuple(choices),
                    prompt_tokens=p_tok,
                    completion_tokens=c_tok,
                    latency_ms=(time.perf_counter() - started) * 1000,
                )
            except (openai.APIStatusError, StatusError) as exc:
                status = exc.status_code
                lean = isinstance(exc, StatusError)
                problem = f"HTTP {status}: {(exc.detail if lean else _status_detail(exc))[:300]}"
                if status not in RETRY_STATUSES and status < 500:
                    raise LLMError(
                        f"{url} refused the request: {problem}", endpoint=url, status=status
                    ) from None
                wait = _retry_after_seconds(exc.headers if lean else exc.response.headers)
                if status == 429:
                    limit.throttled()  # the client's in-flight budget shrinks, then grows back
            except TransportError as exc:
                problem = exc.problem
            except openai.APITimeoutError:
                problem = "timed out"
            except openai.APIConnectionError as exc:
                problem = f"connection failed ({type(exc.__cause__ or exc).__name__})"
            except openai.APIResponseValidationError as exc:
                problem = f"malformed response ({str(exc.message)[:200]})"
            except openai.APIError as exc:  # an error event inside a 200 stream
                problem = f"the stream reported an error: {str(exc.message)[:300]}"
            except Malformed as exc:
                problem = str(exc)
            except (ValueError, AttributeError, TypeError, KeyError) as exc:
                problem = f"malformed response ({exc.__class__.__name__}: {str(exc)[:120]})"
            if attempt >= self.max_retries:
                # `from None`: the SDK's exception (which may quote the endpoint's words) is not chained on.
                raise LLMError(
                    f"{url} failed after {attempt + 1} attempts: {redact(problem)}",
                    endpoint=url,
                    status=status,
                    retryable=True,
                ) from None
            if wait is None:
                wait = random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))
            self._sleep(min(wait, self.backoff_max_s * 4))
            attempt += 1
