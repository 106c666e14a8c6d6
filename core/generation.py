"""Batch generation: a list of keyed requests answered by the run's model, one stored result per key.

Used to generate model responses for evaluation tasks and anywhere a page needs many completions in the
background. Resumable: a key with a stored result is not generated again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.jobs.context import JobContext
from core.jobs.registry import job_kind
from core.llm import GenParams, Request


@dataclass(frozen=True)
class GenerationItem:
    key: str
    prompt: str | None = None
    messages: list[tuple[str, str]] | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def request(self) -> Request:
        params = GenParams(**{**self.params, "stop": tuple(self.params.get("stop", ()))})
        messages = tuple((r, c) for r, c in self.messages) if self.messages is not None else None
        return Request(prompt=self.prompt, messages=messages, params=params)


def generation_params(items: list[GenerationItem], model: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": model,
        "items": [
            {"key": i.key, "prompt": i.prompt, "messages": i.messages, "params": i.params} for i in items
        ],
    }


@job_kind("generate")
def run_generation(ctx: JobContext) -> None:
    items = [GenerationItem(**raw) for raw in ctx.params["items"]]
    todo = [item for item in items if not ctx.done(item.key)]
    total = len(items)
    finished = total - len(todo)
    ctx.progress(finished, total, "generating")
    llm = ctx.llm()
    for index, response in llm.generate_many(item.request() for item in todo):
        item = todo[index]
        ctx.save(
            item.key,
            {"text": response.text, "finish_reason": response.finish_reason, "call_id": response.call_id},
        )
        finished += 1
        ctx.progress(finished, total, f"generated {item.key}")
