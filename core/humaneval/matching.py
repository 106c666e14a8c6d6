"""Match imported model responses to evaluation tasks, and report what could not be matched."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.datasets.records import EvalTask


@dataclass(frozen=True)
class ResponseRow:
    """A response as a file gives it: by task id, or by the instruction and input it answered."""

    line: int
    response: str
    task_id: str | None = None
    instruction: str | None = None
    input: str | None = None


@dataclass
class MatchReport:
    matched: dict[str, str] = field(default_factory=dict)  # task id -> response
    unmatched: list[tuple[int, str]] = field(default_factory=list)  # (line, why)
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    tasks_without_response: list[str] = field(default_factory=list)


def _key(instruction: str, input_: str) -> tuple[str, str]:
    # The prediction files end instructions with a newline; whitespace is not what tells tasks apart.
    return " ".join(instruction.split()), " ".join(input_.split())


def match_responses(tasks: list[EvalTask], rows: list[ResponseRow]) -> MatchReport:
    by_id = {t.id: t for t in tasks}
    by_text: dict[tuple[str, str], str] = {}
    for t in tasks:
        by_text.setdefault(_key(t.instruction, t.instances[0].input if t.instances else ""), t.id)
    report = MatchReport()
    for row in rows:
        if row.task_id is not None:
            task_id = row.task_id if row.task_id in by_id else None
            why = f"no task with id {row.task_id!r}"
        else:
            task_id = by_text.get(_key(row.instruction or "", row.input or ""))
            why = "no task with this instruction and input"
        if task_id is None:
            report.unmatched.append((row.line, why))
        elif task_id in report.matched:
            report.duplicates.append(
                (row.line, f"a second response for task {task_id!r} (the first is kept)")
            )
        else:
            report.matched[task_id] = row.response
    report.tasks_without_response = [t.id for t in tasks if t.id not in report.matched]
    return report
