"""Data quality reviews and their labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from core.review.records import ReviewLabel
from core.store.db import latest_per_item, utcnow
from core.store.schema import review_labels, reviews

_COLUMNS = {"instruction": "instruction_ok", "input": "input_ok", "output": "output_ok"}


@dataclass(frozen=True)
class Review:
    id: int
    name: str
    spec: dict[str, Any]
    owner: str


def create_review(engine: Engine, name: str, spec: dict[str, Any], owner: str) -> int:
    with engine.begin() as conn:
        return conn.execute(
            insert(reviews)
            .values(name=name, spec=spec, owner=owner, created_at=utcnow())
            .returning(reviews.c.id)
        ).scalar_one()


def list_reviews(engine: Engine) -> list[Review]:
    with engine.connect() as conn:
        rows = conn.execute(select(reviews).order_by(reviews.c.id.desc()))
        return [Review(r.id, r.name, r.spec, r.owner) for r in rows]


def get_review(engine: Engine, review_id: int) -> Review | None:
    with engine.connect() as conn:
        r = conn.execute(select(reviews).where(reviews.c.id == review_id)).first()
    return Review(r.id, r.name, r.spec, r.owner) if r else None


def add_label(engine: Engine, review_id: int, label: ReviewLabel) -> int:
    """Append the reviewer's answers for an item, saved the moment they are given."""
    values = {column: label.answer(key) for key, column in _COLUMNS.items()}
    with engine.begin() as conn:
        return conn.execute(
            insert(review_labels)
            .values(
                review_id=review_id,
                item_id=label.item_id,
                reviewer=label.reviewer,
                skipped=label.skipped,
                comment=label.comment,
                created_at=utcnow(),
                **values,
            )
            .returning(review_labels.c.id)
        ).scalar_one()


def latest_labels(engine: Engine, review_id: int, reviewer: str | None = None) -> list[ReviewLabel]:
    """The latest label per reviewer and item (a newer row replaces an older one)."""
    query = latest_per_item(
        review_labels, review_labels.c.review_id, review_id, review_labels.c.reviewer, reviewer
    )
    with engine.connect() as conn:
        return [
            ReviewLabel(
                item_id=r.item_id,
                reviewer=r.reviewer,
                answers={key: getattr(r, column) for key, column in _COLUMNS.items()},
                skipped=r.skipped,
                comment=r.comment,
                labeled_at=r.created_at.isoformat(),
            )
            for r in conn.execute(query)
        ]
