"""The curated evaluation set: tasks, soft deletes, and a history of every change that can be reverted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from core.datasets.loaders import export_eval_tasks
from core.datasets.records import EvalTask, Instance
from core.humaneval.curation import CurationError, validate_set, validate_task
from core.store.db import utcnow
from core.store.schema import eval_task_history, eval_tasks

EDITABLE = ("instruction", "motivation_app", "instances")


@dataclass(frozen=True)
class Change:
    id: int
    task_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    actor: str
    at: datetime


def _state(row) -> dict[str, Any]:
    return {
        "motivation_app": row.motivation_app,
        "instruction": row.instruction,
        "instances": row.instances,
        "extra": row.extra,
        "deleted": row.deleted,
    }


def _task(row) -> EvalTask:
    return EvalTask(
        id=row.task_id,
        motivation_app=row.motivation_app,
        instruction=row.instruction,
        instances=[Instance(i["input"], i["output"]) for i in row.instances],
        source=row.source,
        extra=row.extra,
    )


def _instances(task: EvalTask) -> list[dict[str, str]]:
    return [{"input": i.input, "output": i.output} for i in task.instances]


def _log(conn: Connection, set_name: str, task_id: str, action: str, before, after, actor: str) -> None:
    conn.execute(
        insert(eval_task_history).values(
            set_name=set_name,
            task_id=task_id,
            action=action,
            before=before,
            after=after,
            actor=actor,
            at=utcnow(),
        )
    )


def set_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(eval_tasks.c.set_name).distinct().order_by(eval_tasks.c.set_name)).scalars()
        )


def import_set(engine: Engine, set_name: str, tasks: list[EvalTask], actor: str, source: str = "") -> int:
    """Store a whole set in one transaction; a set of that name already stored is left untouched."""
    validate_set(tasks)
    now = utcnow()
    with engine.begin() as conn:
        exists = conn.execute(select(func.count()).where(eval_tasks.c.set_name == set_name)).scalar_one()
        if exists:
            raise CurationError(f"an evaluation set named {set_name!r} already exists; choose another name")
        for position, task in enumerate(tasks):
            conn.execute(
                insert(eval_tasks).values(
                    set_name=set_name,
                    task_id=task.id,
                    position=position,
                    motivation_app=task.motivation_app,
                    instruction=task.instruction,
                    instances=_instances(task),
                    extra=task.extra,
                    source=source or task.source,
                    deleted=False,
                    updated_at=now,
                    updated_by=actor,
                )
            )
        _log(conn, set_name, "*", "import", None, {"tasks": len(tasks), "source": source}, actor)
    return len(tasks)


def list_tasks(engine: Engine, set_name: str, include_deleted: bool = False) -> list[EvalTask]:
    query = select(eval_tasks).where(eval_tasks.c.set_name == set_name).order_by(eval_tasks.c.position)
    if not include_deleted:
        query = query.where(eval_tasks.c.deleted.is_(False))
    with engine.connect() as conn:
        return [_task(r) for r in conn.execute(query)]


def get_task(engine: Engine, set_name: str, task_id: str, include_deleted: bool = False) -> EvalTask | None:
    query = select(eval_tasks).where(eval_tasks.c.set_name == set_name, eval_tasks.c.task_id == task_id)
    if not include_deleted:
        query = query.where(eval_tasks.c.deleted.is_(False))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _task(row) if row is not None else None


def deleted_ids(engine: Engine, set_name: str) -> set[str]:
    query = select(eval_tasks.c.task_id).where(
        eval_tasks.c.set_name == set_name, eval_tasks.c.deleted.is_(True)
    )
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def _row(conn: Connection, set_name: str, task_id: str):
    row = conn.execute(
        select(eval_tasks).where(eval_tasks.c.set_name == set_name, eval_tasks.c.task_id == task_id)
    ).first()
    if row is None:
        raise CurationError(f"no task {task_id!r} in set {set_name!r}")
    return row


def _apply(conn: Connection, row, state: dict[str, Any], actor: str) -> None:
    conn.execute(
        update(eval_tasks)
        .where(eval_tasks.c.id == row.id)
        .values(**state, updated_at=utcnow(), updated_by=actor)
    )


def edit_task(engine: Engine, set_name: str, task: EvalTask, actor: str) -> None:
    """Save the editable fields of `task` (instruction, motivation app, instances)."""
    validate_task(task)
    with engine.begin() as conn:
        row = _row(conn, set_name, task.id)
        before = _state(row)
        after = {
            **before,
            "motivation_app": task.motivation_app,
            "instruction": task.instruction,
            "instances": _instances(task),
        }
        if after == before:
            return
        _apply(conn, row, after, actor)
        _log(conn, set_name, task.id, "edit", before, after, actor)


def add_task(engine: Engine, set_name: str, task: EvalTask, actor: str) -> None:
    with engine.begin() as conn:
        taken = conn.execute(select(eval_tasks.c.task_id).where(eval_tasks.c.set_name == set_name)).scalars()
        validate_task(task, taken)
        position = conn.execute(
            select(func.coalesce(func.max(eval_tasks.c.position), -1)).where(
                eval_tasks.c.set_name == set_name
            )
        ).scalar_one()
        state = {
            "motivation_app": task.motivation_app,
            "instruction": task.instruction,
            "instances": _instances(task),
            "extra": task.extra,
            "deleted": False,
        }
        conn.execute(
            insert(eval_tasks).values(
                set_name=set_name,
                task_id=task.id,
                position=position + 1,
                source="added",
                updated_at=utcnow(),
                updated_by=actor,
                **state,
            )
        )
        _log(conn, set_name, task.id, "create", None, state, actor)


def set_deleted(engine: Engine, set_name: str, task_id: str, deleted: bool, actor: str) -> None:
    """Soft delete (or restore): the row stays, so nothing is lost and the change can be undone."""
    with engine.begin() as conn:
        row = _row(conn, set_name, task_id)
        if row.deleted == deleted:
            return
        before = _state(row)
        after = {**before, "deleted": deleted}
        _apply(conn, row, after, actor)
        _log(conn, set_name, task_id, "delete" if deleted else "restore", before, after, actor)


def history(engine: Engine, set_name: str, task_id: str | None = None, limit: int = 500) -> list[Change]:
    query = (
        select(eval_task_history)
        .where(eval_task_history.c.set_name == set_name)
        .order_by(eval_task_history.c.id.desc())
        .limit(limit)
    )
    if task_id is not None:
        query = query.where(eval_task_history.c.task_id == task_id)
    with engine.connect() as conn:
        return [
            Change(r.id, r.task_id, r.action, r.before, r.after, r.actor, r.at) for r in conn.execute(query)
        ]


def revert(engine: Engine, change_id: int, actor: str) -> None:
    """Put a task back to how it was before the given change (itself recorded as a change)."""
    with engine.begin() as conn:
        change = conn.execute(select(eval_task_history).where(eval_task_history.c.id == change_id)).first()
        if change is None:
            raise CurationError(f"no change #{change_id}")
        if change.before is None:
            if change.action == "create":
                # Reverting a creation removes the task again, softly.
                row = _row(conn, change.set_name, change.task_id)
                before = _state(row)
                after = {**before, "deleted": True}
            else:
                raise CurationError(f"change #{change_id} ({change.action}) cannot be reverted")
        else:
            row = _row(conn, change.set_name, change.task_id)
            before, after = _state(row), change.before
        _apply(conn, row, after, actor)
        _log(conn, change.set_name, change.task_id, "revert", before, after, actor)


def export_set(engine: Engine, set_name: str) -> str:
    """The set in the original JSONL shape (deleted tasks left out)."""
    return export_eval_tasks(list_tasks(engine, set_name))
