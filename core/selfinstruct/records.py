"""The task and instance records every Self-Instruct stage reads and writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Instance:
    input: str
    output: str


@dataclass(frozen=True)
class Task:
    """An instruction with its instances: a seed task or a generated one.

    `is_classification` is None while unknown (a generated instruction before stage 5).
    """

    instruction: str
    instances: tuple[Instance, ...] = ()
    is_classification: bool | None = None
    id: str | None = None

    @classmethod
    def from_dict(cls, row: Mapping) -> Task:
        """From the seed_tasks.jsonl shape (`id`, `instruction`, `instances`, `is_classification`)."""
        return cls(
            instruction=row["instruction"],
            instances=tuple(
                Instance(i.get("input", ""), i.get("output", "")) for i in row.get("instances", ())
            ),
            is_classification=row.get("is_classification"),
            id=row.get("id"),
        )
