"""Model responses, rating campaigns and ratings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from core.humaneval.generate import PARAMS_KEY, response_text
from core.humaneval.records import Rating, ResponseItem, item_id
from core.store import runs as runs_store
from core.store.db import latest_per_item, utcnow
from core.store.evalset import get_task, list_tasks
from core.store.schema import campaigns, ratings, responses, run_results, server_keys


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


BLINDING_KEY = "blinding"


def blinding_key(engine: Engine) -> bytes:
    """The server's secret HMAC key for the ids raters see, generated on first use and then kept."""
    query = select(server_keys.c.value).where(server_keys.c.name == BLINDING_KEY)
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    if value is None:
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(server_keys).values(
                        name=BLINDING_KEY, value=secrets.token_hex(32), created_at=utcnow()
                    )
                )
        except IntegrityError:
            pass  # another process created it at the same moment: theirs stands
        with engine.connect() as conn:
            value = conn.execute(query).scalar_one()
    return bytes.fromhex(value)


def create_campaign(engine: Engine, name: str, set_name: str, spec: dict[str, Any], owner: str) -> int:
    """Store a campaign; its spec gets a random salt for the assignment (see CampaignSpec.salt)."""
    spec = {**spec, "salt": spec.get("salt") or secrets.token_hex(16)}
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
    query = latest_per_item(ratings, ratings.c.campaign_id, campaign_id, ratings.c.rater, rater)
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


def response_item(engine: Engine, set_name: str, task_id: str, model: str) -> ResponseItem | None:
    """One response with its task, or None when the response or the (live) task is gone."""
    task = get_task(engine, set_name, task_id)
    if task is None:
        return None
    query = select(responses.c.response).where(
        responses.c.set_name == set_name, responses.c.task_id == task_id, responses.c.model == model
    )
    with engine.connect() as conn:
        text = conn.execute(query).scalar()
    if text is None:
        return None
    first = task.instances[0] if task.instances else None
    return ResponseItem(
        task_id=task_id,
        model=model,
        instruction=task.instruction,
        input=first.input if first else "",
        response=text,
        reference_output=first.output if first else "",
        motivation_app=task.motivation_app,
    )


def responded_tasks(engine: Engine, set_name: str) -> dict[str, set[str]]:
    """model -> the task ids it has a response for."""
    query = select(responses.c.model, responses.c.task_id).where(responses.c.set_name == set_name)
    out: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for model, task in conn.execute(query):
            out.setdefault(model, set()).add(task)
    return out


def known_raters(engine: Engine) -> list[str]:
    """Everyone named as a rater in a campaign or who has rated, for picking a local profile."""
    names: set[str] = set()
    for c in list_campaigns(engine):
        names.update(str(r) for r in c.spec.get("raters", []))
    with engine.connect() as conn:
        names.update(conn.execute(select(ratings.c.rater).distinct()).scalars())
    return sorted(names, key=str.casefold)


def generated_source(run_id: int) -> str:
    return f"run:{run_id}"


def store_generated(engine: Engine, run_id: int) -> int:
    """Store a "generate" run's results as responses (the model and set it was started for); returns how
    many were new. Safe to call again, e.g. after a cancelled run was resumed and finished."""
    run = runs_store.get_run(engine, run_id)
    meta = (run.params or {}).get(PARAMS_KEY) if run else None
    if not meta:
        raise ValueError(f"run {run_id} did not generate evaluation responses")
    by_task = {key: response_text(value) for key, value in runs_store.results(engine, run_id).items()}
    return save_responses(engine, meta["set_name"], meta["model"], by_task, source=generated_source(run_id))


def uncollected_runs(engine: Engine) -> list[int]:
    """Finished response-generation runs with results not yet stored as responses."""
    done = [
        r
        for r in runs_store.list_runs(engine, kind="generate")
        if r.status == "done" and isinstance(r.params, dict) and PARAMS_KEY in r.params
    ]
    if not done:
        return []
    ids = [r.id for r in done]
    with engine.connect() as conn:
        produced = dict(
            conn.execute(
                select(run_results.c.run_id, func.count())
                .where(run_results.c.run_id.in_(ids))
                .group_by(run_results.c.run_id)
            ).all()
        )
        stored = dict(
            conn.execute(
                select(responses.c.source, func.count())
                .where(responses.c.source.in_([generated_source(i) for i in ids]))
                .group_by(responses.c.source)
            ).all()
        )
    # A task that already had a response from that model keeps it, so "fewer stored" can be permanent;
    # a run counts as collected once any of its results were stored or it produced nothing.
    return [i for i in ids if produced.get(i, 0) and not stored.get(generated_source(i), 0)]
