"""The OpenAI Batch JSONL format: request lines written from our requests, result lines read back.

A request line is `{"custom_id", "method": "POST", "url": "/v1/completions" | "/v1/chat/completions",
"body": {...}}`, the body holding exactly the fields the OpenAI-compatible provider sends. The custom_id is
`wb:<sample index>:<cache key>`: the cache key ties the answer to the call-log entry a later run looks up,
and lets ingest check that the request still is the one that was written (same body, same endpoint).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.llm.types import GenParams, Request, cache_key

PROVIDER = "openai"  # batch answers stand in for calls to an OpenAI-compatible endpoint
URLS = {"completion": "/v1/completions", "chat": "/v1/chat/completions"}


class BatchFileError(ValueError):
    """A file that cannot be used at all (missing, unreadable); per-line problems are reported, not raised."""


def endpoint_of(base_url: str) -> str:
    # The same normalisation as the provider, so cache keys agree.
    return base_url.rstrip("/")


def body_for(request: Request, model: str) -> dict[str, Any]:
    """The request body the OpenAI-compatible provider would send for this request (not streamed)."""
    p = request.params
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": p.max_tokens,
        "temperature": p.temperature,
        "top_p": p.top_p,
        "n": p.n,
        "presence_penalty": p.presence_penalty,
        "frequency_penalty": p.frequency_penalty,
    }
    if p.stop:
        body["stop"] = list(p.stop)
    if p.seed is not None:
        body["seed"] = p.seed
    if request.style == "completion":
        body["prompt"] = request.prompt
    else:
        body["messages"] = request.messages_list()
    return body


def custom_id(request: Request, endpoint: str, model: str) -> str:
    return f"wb:{request.sample_index}:{cache_key(PROVIDER, endpoint, model, request)}"


def request_line(request: Request, endpoint: str, model: str) -> dict[str, Any]:
    return {
        "custom_id": custom_id(request, endpoint, model),
        "method": "POST",
        "url": URLS[request.style],
        "body": body_for(request, model),
    }


def write_requests(path: Path, requests: Iterable[Request], base_url: str, model: str) -> int:
    """Write one line per distinct request (identical requests share one answer); returns the line count."""
    endpoint = endpoint_of(base_url)
    seen: set[str] = set()
    with Path(path).open("w", encoding="utf-8") as f:
        for request in requests:
            line = request_line(request, endpoint, model)
            if line["custom_id"] in seen:
                continue
            seen.add(line["custom_id"])
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    return len(seen)


def request_from_body(body: dict[str, Any], sample_index: int) -> Request:
    """Our request back from a request line's body (the inverse of `body_for`)."""
    params = GenParams(
        max_tokens=int(body["max_tokens"]),
        temperature=float(body["temperature"]),
        top_p=float(body["top_p"]),
        n=int(body.get("n", 1)),
        stop=tuple(body.get("stop") or ()),
        presence_penalty=float(body.get("presence_penalty", 0.0)),
        frequency_penalty=float(body.get("frequency_penalty", 0.0)),
        seed=body.get("seed"),
    )
    if "prompt" in body:
        return Request(prompt=body["prompt"], params=params, sample_index=sample_index)
    messages = tuple((m["role"], m["content"]) for m in body["messages"])
    return Request(messages=messages, params=params, sample_index=sample_index)


@dataclass(frozen=True)
class RequestEntry:
    line: int
    custom_id: str
    url: str
    model: str
    request: Request


@dataclass(frozen=True)
class Answer:
    """One successful result line, parsed."""

    line: int
    custom_id: str
    choices: list[dict[str, str]]
    prompt_tokens: int
    completion_tokens: int


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with Path(path).open(encoding="utf-8") as f:
            for number, raw in enumerate(f, start=1):
                if raw.strip():
                    yield number, raw
    except OSError as exc:
        raise BatchFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise BatchFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def read_requests(path: Path, base_url: str) -> tuple[dict[str, RequestEntry], list[str]]:
    """The request file's entries by custom_id, and one-line problems ("FILE:LINE: what")."""
    endpoint = endpoint_of(base_url)
    entries: dict[str, RequestEntry] = {}
    problems: list[str] = []
    for number, raw in _lines(path):
        where = f"{path}:{number}"
        try:
            obj = json.loads(raw)
            cid, url, body = obj["custom_id"], obj["url"], obj["body"]
            sample_index = int(str(cid).split(":")[1])
            request = request_from_body(body, sample_index)
            model = str(body["model"])
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"{where}: not a request line of this workbench ({type(exc).__name__}: {exc})")
            continue
        if cid in entries:
            problems.append(f"{where}: custom_id {cid} repeats line {entries[cid].line}")
            continue
        if custom_id(request, endpoint, model) != cid:
            problems.append(
                f"{where}: custom_id {cid} does not match its request at {endpoint}: the line was edited, or "
                "written for another endpoint (give the --base-url the run will use)"
            )
            continue
        entries[cid] = RequestEntry(number, cid, url, model, request)
    return entries, problems


def _choices(body: dict[str, Any], chat: bool) -> list[dict[str, str]]:
    out = []
    for c in body["choices"]:
        text = (c.get("message") or {}).get("content") if chat else c.get("text")
        out.append(
            {"text": text if isinstance(text, str) else "", "finish_reason": c.get("finish_reason") or "stop"}
        )
    if not out:
        raise ValueError("no choices")
    return out


def read_results(path: Path, entries: dict[str, RequestEntry]) -> tuple[list[Answer], list[str]]:
    """Every successful result for a known request, and one-line problems for everything else: lines that
    are not JSON, unknown or repeated custom_ids, error objects, non-200 responses, and requests with no
    result line at all."""
    answers: list[Answer] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in _lines(path):
        where = f"{path}:{number}"
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        cid = obj.get("custom_id") if isinstance(obj, dict) else None
        if not isinstance(cid, str):
            problems.append(f"{where}: no custom_id")
            continue
        entry = entries.get(cid)
        if entry is None:
            problems.append(f"{where}: custom_id {cid} is not in the request file")
            continue
        if cid in seen:
            problems.append(f"{where}: custom_id {cid} repeats line {seen[cid]}")
            continue
        seen[cid] = number
        error, response = obj.get("error"), obj.get("response")
        if error:
            message = error.get("message", error) if isinstance(error, dict) else error
            problems.append(f"{where}: {cid} failed: {str(message)[:200]}")
            continue
        if not isinstance(response, dict) or response.get("status_code") != 200:
            status = response.get("status_code") if isinstance(response, dict) else None
            detail = json.dumps(response.get("body"))[:200] if isinstance(response, dict) else "no response"
            problems.append(f"{where}: {cid} answered HTTP {status}: {detail}")
            continue
        try:
            body = response["body"]
            usage = body.get("usage") or {}
            answers.append(
                Answer(
                    number,
                    cid,
                    _choices(body, chat=entry.request.style == "chat"),
                    int(usage.get("prompt_tokens") or 0),
                    int(usage.get("completion_tokens") or 0),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"{where}: {cid} has a malformed response body ({type(exc).__name__}: {exc})")
    for cid, entry in entries.items():
        if cid not in seen:
            problems.append(f"{path}: no result for {cid} (request line {entry.line})")
    return answers, problems
