"""What a quality review looks at (one instance of one generated task) and what a reviewer answers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from core.review.questions import QUESTION_KEYS


@dataclass(frozen=True)
class SourceTask:
    """A generated task as read from a run or an upload: an instruction and its instances (input, output)."""

    id: str
    instruction: str
    instances: tuple[tuple[str, str], ...]


def review_item_id(task_id: str, instance: int) -> str:
    """A stable id for one sampled instance; a hash so it can sit in widget keys and URLs."""
    digest = hashlib.sha256(f"{task_id}\x1f{instance}".encode()).hexdigest()
    return f"ritem-{digest[:16]}"


@dataclass(frozen=True)
class ReviewItem:
    """One sampled instance of one task: everything a reviewer sees, and nothing else."""

    task_id: str
    instance: int  # index of the instance within its task
    instruction: str
    input: str
    output: str

    @property
    def item_id(self) -> str:
        return review_item_id(self.task_id, self.instance)

    def to_dict(self) -> dict:
        return {
            "task_id": self.task_id,
            "instance": self.instance,
            "instruction": self.instruction,
            "input": self.input,
            "output": self.output,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ReviewItem:
        return cls(
            str(data["task_id"]), int(data["instance"]), data["instruction"], data["input"], data["output"]
        )


Answer = bool | None


@dataclass(frozen=True)
class ReviewLabel:
    """One reviewer's answers for one item. An answer is None until given; `skipped` marks a skip."""

    item_id: str
    reviewer: str
    answers: dict[str, Answer] = field(default_factory=dict)
    skipped: bool = False
    comment: str = ""
    labeled_at: str = ""  # ISO 8601, set by the store

    def __post_init__(self) -> None:
        unknown = set(self.answers) - set(QUESTION_KEYS)
        if unknown:
            raise ValueError(f"unknown question {sorted(unknown)[0]!r}; expected {', '.join(QUESTION_KEYS)}")
        for key, value in self.answers.items():
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"answer to {key!r} must be yes, no or unanswered, got {value!r}")

    def answer(self, key: str) -> Answer:
        return self.answers.get(key)

    @property
    def complete(self) -> bool:
        """Every question answered (and not skipped): the label counts in the results."""
        return not self.skipped and all(self.answer(k) is not None for k in QUESTION_KEYS)

    @property
    def all_valid(self) -> Answer:
        if not self.complete:
            return None
        return all(self.answer(k) for k in QUESTION_KEYS)

    def with_answer(self, key: str, value: Answer) -> ReviewLabel:
        if key not in QUESTION_KEYS:
            raise ValueError(f"unknown question {key!r}")
        return ReviewLabel(self.item_id, self.reviewer, {**self.answers, key: value}, False, self.comment)
