"""Browsing the evaluation set: search and filters, and the rows of the task table."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from core.datasets.records import EvalTask

HAS_INPUT_CHOICES = ("Any", "With input", "Without input")


def has_input(task: EvalTask) -> bool:
    return any(i.input.strip() for i in task.instances)


def matches(task: EvalTask, query: str) -> bool:
    """Case-insensitive search over id, motivation app, instruction and every input and output."""
    needle = query.strip().casefold()
    if not needle:
        return True
    fields = [task.id, task.motivation_app, task.instruction]
    fields += [part for i in task.instances for part in (i.input, i.output)]
    return any(needle in f.casefold() for f in fields)


def filter_tasks(
    tasks: Iterable[EvalTask],
    query: str = "",
    apps: Collection[str] = (),
    input_filter: str = "Any",
) -> list[EvalTask]:
    if input_filter not in HAS_INPUT_CHOICES:
        raise ValueError(f"input filter must be one of {HAS_INPUT_CHOICES}")
    out = []
    for task in tasks:
        if apps and task.motivation_app not in apps:
            continue
        if input_filter != "Any" and has_input(task) != (input_filter == "With input"):
            continue
        if matches(task, query):
            out.append(task)
    return out


def task_rows(tasks: Iterable[EvalTask], deleted: Collection[str] = ()) -> list[dict[str, object]]:
    """One table row per task (the first instance; the 252 tasks have exactly one)."""
    rows = []
    for t in tasks:
        first = t.instances[0] if t.instances else None
        rows.append(
            {
                "id": t.id,
                "motivation app": t.motivation_app,
                "instruction": t.instruction,
                "input": first.input if first else "",
                "output": first.output if first else "",
                "instances": len(t.instances),
                "deleted": t.id in deleted,
            }
        )
    return rows


def next_task_id(taken: Iterable[str], prefix: str = "user_task_") -> str:
    """The first free `<prefix><n>`, a suggestion for a new task's id."""
    used = set(taken)
    n = len(used)
    while f"{prefix}{n}" in used:
        n += 1
    return f"{prefix}{n}"
