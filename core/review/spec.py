"""A review as an owner configures it. Who reviews what, in which order, and where a reviewer resumes come
from the rating campaigns' machinery (core.humaneval.campaign), applied to review items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.humaneval.campaign import assign_items
from core.review.records import ReviewItem


@dataclass(frozen=True)
class ReviewSpec:
    name: str
    items: tuple[ReviewItem, ...]
    reviewers: tuple[str, ...]
    overlap: int = 1
    seed: int = 0
    sample_size: int = 200
    # Where the items came from, e.g. {"kind": "run", "run_id": 3} or {"kind": "upload", "file": ..., "form": ...}
    source: dict[str, Any] = field(default_factory=dict)
    # Every instance of each sampled task (task id -> (input, output) pairs), for the consistency check.
    task_instances: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def problems(self) -> list[str]:
        found = []
        if not self.name.strip():
            found.append("The review needs a name.")
        if not self.items:
            found.append("The source has no task with an instance to review.")
        if not self.reviewers:
            found.append("Add at least one reviewer.")
        elif not 1 <= self.overlap <= len(set(self.reviewers)):
            found.append(f"Reviewers per item must be between 1 and {len(set(self.reviewers))}.")
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "items": [i.to_dict() for i in self.items],
            "reviewers": list(self.reviewers),
            "overlap": self.overlap,
            "seed": self.seed,
            "sample_size": self.sample_size,
            "source": dict(self.source),
            "task_instances": {k: [list(x) for x in v] for k, v in self.task_instances.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewSpec:
        return cls(
            name=data["name"],
            items=tuple(ReviewItem.from_dict(i) for i in data["items"]),
            reviewers=tuple(data["reviewers"]),
            overlap=int(data.get("overlap", 1)),
            seed=int(data.get("seed", 0)),
            sample_size=int(data.get("sample_size", len(data["items"]))),
            source=dict(data.get("source", {})),
            task_instances={
                k: tuple((str(x[0]), str(x[1])) for x in v) for k, v in data.get("task_instances", {}).items()
            },
        )

    def check_tasks(self) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
        """(task id, instruction, instances) of each sampled task: all its instances when the review stored
        them, else the one sampled instance."""
        return [
            (i.task_id, i.instruction, self.task_instances.get(i.task_id) or ((i.input, i.output),))
            for i in self.items
        ]

    def by_id(self) -> dict[str, ReviewItem]:
        return {i.item_id: i for i in self.items}

    def assignments(self) -> dict[str, list[str]]:
        """Each reviewer's item ids in their own seeded order (the rating campaigns' assignment)."""
        return assign_items([i.item_id for i in self.items], self.reviewers, self.overlap, self.seed)

    def reviewer_as_listed(self, name: str) -> str | None:
        """The review's spelling of this person's name (login emails differ in case), or None."""
        wanted = name.strip().casefold()
        return next((r for r in self.reviewers if r.strip().casefold() == wanted), None)
