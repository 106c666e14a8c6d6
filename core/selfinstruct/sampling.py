"""Stage 1: pick the in-context instructions for one generation prompt."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.selfinstruct.records import Task

Origin = Literal["human", "machine"]


@dataclass(frozen=True)
class SampledInstruction:
    text: str
    origin: Origin
    id: str | None = None


@dataclass(frozen=True)
class PromptSample:
    """The instructions of one prompt, in prompt order, each marked human or machine."""

    items: tuple[SampledInstruction, ...]
    classification_only: bool = False

    @property
    def texts(self) -> list[str]:
        return [item.text for item in self.items]

    @property
    def n_human(self) -> int:
        return sum(item.origin == "human" for item in self.items)

    @property
    def n_machine(self) -> int:
        return sum(item.origin == "machine" for item in self.items)


def _as_task(item: Any) -> Task:
    """A string, a Task, or anything with .instruction (and optionally .is_classification, .id), such as
    core.datasets' SeedTask."""
    if isinstance(item, Task):
        return item
    if isinstance(item, str):
        return Task(instruction=item)
    return Task(
        instruction=item.instruction,
        is_classification=getattr(item, "is_classification", None),
        id=getattr(item, "id", None),
    )


def sample_instructions(
    human: Sequence[Any],
    machine: Sequence[Any],
    rng: random.Random,
    *,
    k_human: int = 6,
    k_machine: int = 2,
    classification_only: bool = False,
) -> PromptSample:
    """`k_machine` machine instructions (fewer while the pool is small) topped up with human seeds so the
    prompt holds `k_human + k_machine`, then shuffled.

    This is what the paper's code does: it takes min(2, pool size) machine instructions and fills the rest of
    the 8 from the seeds, so the first prompts are all-human. If the seeds are too few as well, the prompt is
    simply shorter. In classification-only mode the human side is limited to seeds marked as classification
    (the paper filters its seed file the same way); the machine pool is used as given, since that run's pool
    is its own. Random calls: machine sample, human sample, shuffle, all from `rng`.
    """
    if k_human < 0 or k_machine < 0 or k_human + k_machine == 0:
        raise ValueError("k_human and k_machine must be non-negative and not both zero")
    seeds = [_as_task(t) for t in human]
    if classification_only:
        seeds = [t for t in seeds if t.is_classification]
        if not seeds:
            raise ValueError("classification-only mode needs seed tasks marked is_classification")
    # Sampled from the sequence as given and converted after: converting the whole pool for every prompt
    # made each iteration linear in the pool (quadratic over a run). `random.sample` uses only the length
    # and indexing, so the picks are the ones a converted list would give.
    picked_machine = [_as_task(t) for t in rng.sample(machine, min(k_machine, len(machine)))]
    picked_human = rng.sample(seeds, min(k_human + k_machine - len(picked_machine), len(seeds)))
    items = [SampledInstruction(t.instruction, "machine", t.id) for t in picked_machine]
    items += [SampledInstruction(t.instruction, "human", t.id) for t in picked_human]
    rng.shuffle(items)
    return PromptSample(items=tuple(items), classification_only=classification_only)
