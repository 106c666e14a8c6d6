"""The model requests of one iteration: sampled prompts, decoding settings, per-request seeds."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from core.llm import GenParams, Request
from core.selfinstruct.prompts import (
    DecodingSettings,
    PromptConfig,
)
from core.selfinstruct.records import Task
from core.selfinstruct.sampling import PromptSample, sample_instructions
from core.selfinstruct.spec import RunSpec, Style


def gen_params(decoding: DecodingSettings, seed: int | None = None, chat: bool = False) -> GenParams:
    stop = tuple(decoding.stop)
    if chat:
        # A chat reply may open with a line of its own before the list; a blank-line stop would end it there.
        stop = tuple(s for s in stop if s.strip())
    return GenParams(
        max_tokens=decoding.max_tokens,
        temperature=decoding.temperature,
        top_p=decoding.top_p,
        stop=stop,
        presence_penalty=decoding.presence_penalty,
        frequency_penalty=decoding.frequency_penalty,
        seed=seed,
    )


def render_request(
    prompt: str,
    stage: str,
    style: Style,
    config: PromptConfig,
    decoding: DecodingSettings,
    *,
    seed: int | None = None,
    sample_index: int = 0,
) -> Request:
    """The completion prompt as it is, or its chat rendering for a chat-only endpoint."""
    params = gen_params(decoding, seed, chat=style == "chat")
    if style == "completion":
        return Request(prompt=prompt, params=params, sample_index=sample_index)
    messages = tuple((m["role"], m["content"]) for m in config.chat(prompt, stage))
    return Request(messages=messages, params=params, sample_index=sample_index)


def request_seed(seed: int, t: int, j: int) -> int:
    """A decoding seed per (run seed, iteration, request): reproducible, and different requests never share
    a cache entry even when their prompts happen to be equal."""
    return zlib.crc32(f"{seed}/{t}/{j}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class PlannedRequest:
    j: int
    sample: PromptSample
    prompt: str
    request: Request


def plan_iteration(
    spec: RunSpec, seeds: Sequence[Task], machine: Sequence[Task], t: int, style: Style
) -> list[PlannedRequest]:
    """Stages 1-2 for iteration t: every request samples from the pool as it stood when the iteration began."""
    rng = random.Random(f"{spec.seed}/{t}")
    planned = []
    for j in range(spec.requests_per_iteration):
        sample = sample_instructions(
            seeds,
            machine,
            rng,
            k_human=spec.k_human,
            k_machine=spec.k_machine,
            classification_only=spec.classification_only,
        )
        prompt = spec.prompt.instruction_prompt(sample.texts, classification=spec.classification_only)
        request = render_request(
            prompt,
            "instructions",
            style,
            spec.prompt,
            spec.prompt.instruction_decoding,
            seed=request_seed(spec.seed, t, j),
            sample_index=j,
        )
        planned.append(PlannedRequest(j, sample, prompt, request))
    return planned
