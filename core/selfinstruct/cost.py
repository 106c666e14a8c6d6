"""What a Self-Instruct run will cost before it starts: calls and tokens."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.selfinstruct.spec import RunSpec


@dataclass(frozen=True)
class CostEstimate:
    iterations: int
    calls: int
    prompt_tokens: int
    completion_tokens: int


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)  # a rough English average; real counts come back in the call log


def estimate_cost(
    spec: RunSpec, seeds: Sequence[Any], pool_now: int = 0, kept_per_request: float = 2.0
) -> CostEstimate:
    """An upper-bound-ish guess before a run: each response at its token limit and `kept_per_request` new
    instructions per request (the embedded model keeps fewer; a strong model more)."""
    per_iteration_kept = max(kept_per_request * spec.requests_per_iteration, 1e-9)
    n = spec.iterations if spec.iterations is not None else 10**9
    if spec.target is not None:
        n = min(n, math.ceil(max(spec.target - pool_now, 0) / per_iteration_kept))
    texts = [s.instruction for s in seeds][: spec.k_human + spec.k_machine] or ["An instruction."]
    gen_prompt = _tokens(spec.prompt.instruction_prompt(texts, spec.classification_only))
    kept = n * per_iteration_kept
    calls = n * spec.requests_per_iteration
    prompt_tokens = calls * gen_prompt
    completion = calls * spec.prompt.instruction_decoding.max_tokens
    if spec.classify or spec.instances:
        calls += math.ceil(kept)
        prompt_tokens += math.ceil(kept * _tokens(spec.prompt.classify_prompt(texts[0])))
        completion += math.ceil(kept * spec.prompt.classify_decoding.max_tokens)
    if spec.instances:
        calls += math.ceil(kept)
        prompt_tokens += math.ceil(kept * _tokens(spec.prompt.instance_prompt(texts[0], False)))
        completion += math.ceil(kept * spec.prompt.instance_decoding.max_tokens)
    return CostEstimate(n, calls, prompt_tokens, completion)
