"""Checks on the evaluation set before anything is stored: every problem named with its task and field."""

from __future__ import annotations

from collections.abc import Iterable

from core.datasets.records import EvalTask


class CurationError(ValueError):
    """A task that cannot be stored; the message names the task and the field."""


def validate_task(task: EvalTask, taken_ids: Iterable[str] = ()) -> None:
    where = f"task {task.id!r}" if task.id else "new task"
    if not task.id or not task.id.strip():
        raise CurationError(f"{where}, field 'id': expected a non-empty id")
    if task.id in set(taken_ids):
        raise CurationError(f"{where}, field 'id': another task already has this id")
    if not task.instruction or not task.instruction.strip():
        raise CurationError(f"{where}, field 'instruction': expected a non-empty instruction")
    if not task.instances:
        raise CurationError(
            f"{where}, field 'instances': expected at least one instance (input may be empty)"
        )
    for i, inst in enumerate(task.instances):
        if not isinstance(inst.input, str) or not isinstance(inst.output, str):
            raise CurationError(f"{where}, field 'instances[{i}]': input and output must be text")


def validate_set(tasks: list[EvalTask]) -> None:
    seen: set[str] = set()
    for task in tasks:
        validate_task(task, seen)
        seen.add(task.id)
