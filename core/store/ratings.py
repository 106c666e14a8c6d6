"""Model responses, rating campaigns and ratings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, insert, select

from core.humaneval.records import Rating, ResponseItem, item_id
from core.store.db import utcnow
from core.store.evalset import list_tasks
from core.store.schema import campaigns, ratings, responses


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    set_name: str
    spec: dict[str, Any]
    owner: str


def save_responses(engine: Engine, set_name: str, model: str, by_task: dict[str, str], source: str) -> int:
    """Store one model's responses; a task that already has a response from that model keeps it
    (ratings may refer to it). Returns how many were new."""
    now = utcnow()
    with engine.begin() as conn:
        have = set(
            conn.execute(
                select(responses.c.task_id).where(
                    responses.c.set_name == set_name, responses.c.model == model
                )
            ).scalars()
        )
        new = [
            {
                "set_name": set_name,
                "task_id": t,
                "model": model,
                "response": r,
                "source": source,
                "created_at": now,
            }
            for t, r in by_task.items()
            if t not in have
        ]
        if new:
            conn.execute(insert(responses), new)
    return len(new)


def response_models(engine: Engine, set_name: str) -> dict[str, int]:
    query = (
        select(responses.c.model, func.count())
        .where(responses.c.set_name == set_name)
        .group_by(responses.c.model)
        .order_by(responses.c.model)
    )
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def response_items(engine: Engine, set_name: str, models: list[str] | None = None) -> list[ResponseItem]:
    """Every (task, model) response of the set's live tasks, with what the rater needs to see."""
    tasks = {t.id: t for t in list_tasks(engine, set_name)}
    query = select(responses).where(responses.c.set_name == set_name).order_by(responses.c.id)
    if models:
        query = query.where(responses.c.model.in_(models))
    items = []
    with engine.connect() as conn:
        for row in conn.execute(query):
            task = tasks.get(row.task_id)
            if task is None:
                continue
            first = task.instances[0] if task.instances else None
            items.append(
                ResponseItem(
                    task_id=row.task_id,
                    model=row.model,
                    instruction=task.instruction,
                    input=first.input if first else "",
                    response=row.response,
                    reference_output=first.output if first else "",
                    motivation_app=task.motivation_app,
                )
            )
    return items


def create_campaign(engine: Engine, name: str, set_name: str, spec: dict[str, Any], owner: str) -> int:
    with engine.begin() as conn:
        return conn.execute(
            insert(campaigns)
            .values(name=name, set_name=set_name, spec=spec, owner=owner, created_at=utcnow())
            .returning(campaigns.c.id)
        ).scalar_one()


def list_campaigns(engine: Engine) -> list[Campaign]:
    with engine.connect() as conn:
        rows = conn.execute(select(campaigns).order_by(campaigns.c.id.desc()))
        return [Campaign(r.id, r.name, r.set_name, r.spec, r.owner) for r in rows]


def get_campaign(engine: Engine, campaign_id: int) -> Campaign | None:
    return next((c for c in list_campaigns(engine) if c.id == campaign_id), None)


def add_rating(engine: Engine, campaign_id: int, rating: Rating) -> int:
    """Append a rating, saved the moment it is given."""
    with engine.begin() as conn:
        return conn.execute(
            insert(ratings)
            .values(
                campaign_id=campaign_id,
                item_id=item_id(rating.task_id, rating.model),
                task_id=rating.task_id,
                model=rating.model,
                rater=rating.rater,
                label=rating.label,
                comment=rating.comment,
                flagged=rating.flagged,
                created_at=utcnow(),
            )
            .returning(ratings.c.id)
        ).scalar_one()


def latest_ratings(engine: Engine, campaign_id: int, rater: str | None = None) -> list[Rating]:
    """The latest rating per rater and item (a newer one replaces an older one; skips included)."""
    latest = (
        select(func.max(ratings.c.id))
        .where(ratings.c.campaign_id == campaign_id)
        .group_by(ratings.c.item_id, ratings.c.rater)
    )
    query = select(ratings).where(ratings.c.id.in_(latest)).order_by(ratings.c.id)
    if rater is not None:
        query = query.where(ratings.c.rater == rater)
    with engine.connect() as conn:
        return [
            Rating(
                task_id=r.task_id,
                model=r.model,
                rater=r.rater,
                label=r.label,
                comment=r.comment,
                flagged=r.flagged,
                rated_at=r.created_at.isoformat(),
            )
            for r in conn.execute(query)
        ]


def count_rating_rows(engine: Engine, campaign_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(ratings.c.campaign_id == campaign_id)).scalar_one()
