"""What is rated and what a rating is, plus the blinded view a rater sees."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from core.humaneval.agreement import LABELS


def item_id(task_id: str, model: str) -> str:
    """A stable id for one model's response to one task that does not reveal the model.

    A hash rather than "task::model" because the id reaches the rater's page (URLs, widget keys).
    """
    digest = hashlib.sha256(f"{task_id}\x1f{model}".encode()).hexdigest()
    return f"item-{digest[:16]}"


@dataclass(frozen=True)
class ResponseItem:
    """One response to rate: a task of the evaluation set answered by one model."""

    task_id: str
    model: str
    instruction: str
    input: str
    response: str
    reference_output: str = ""
    motivation_app: str = ""

    @property
    def item_id(self) -> str:
        return item_id(self.task_id, self.model)


@dataclass(frozen=True)
class RaterView:
    """Everything the rating page may show. It has no model field, so the model cannot leak through it."""

    item_id: str
    instruction: str
    input: str
    response: str
    reference_output: str
    position: int  # 0-based place in this rater's order
    total: int


def blind(item: ResponseItem, position: int = 0, total: int = 1) -> RaterView:
    return RaterView(
        item_id=item.item_id,
        instruction=item.instruction,
        input=item.input,
        response=item.response,
        reference_output=item.reference_output,
        position=position,
        total=total,
    )


@dataclass(frozen=True)
class Rating:
    """One rater's judgement of one response. `label` is None when the rater skipped the item."""

    task_id: str
    model: str
    rater: str
    label: str | None
    comment: str = ""
    flagged: bool = False
    rated_at: str = ""  # ISO 8601, set by whoever stores the rating

    def __post_init__(self) -> None:
        if self.label is not None and self.label not in LABELS:
            raise ValueError(f"unknown rating {self.label!r}; expected one of {', '.join(LABELS)}")

    @property
    def item_id(self) -> str:
        return item_id(self.task_id, self.model)

    def to_dict(self) -> dict:
        return {"item_id": self.item_id, **asdict(self)}
