"""What is rated and what a rating is, plus the blinded view a rater sees."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass

from core.humaneval.agreement import LABELS


def item_id(task_id: str, model: str) -> str:
    """The stored id of one model's response to one task (ratings are grouped by it).

    Anyone who can guess model names can recompute it, so it never reaches a rater's page: that page uses
    `blind_id` instead.
    """
    digest = hashlib.sha256(f"{task_id}\x1f{model}".encode()).hexdigest()
    return f"item-{digest[:16]}"


def blind_id(key: bytes, campaign_id: int, item: str) -> str:
    """The id a rater's page uses for an item (widget keys, the DOM): an HMAC under the server's secret key,
    so it cannot be recomputed from task and model names, and different in every campaign."""
    mac = hmac.new(key, f"{campaign_id}\x1f{item}".encode(), hashlib.sha256).hexdigest()
    return f"r-{mac[:20]}"


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

    blind_id: str  # from `blind_id`, never the stored item id
    instruction: str
    input: str
    response: str
    reference_output: str
    position: int  # 0-based place in this rater's order
    total: int


def blind(item: ResponseItem, blind_id: str, position: int = 0, total: int = 1) -> RaterView:
    return RaterView(
        blind_id=blind_id,
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
