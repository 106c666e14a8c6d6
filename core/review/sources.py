"""Where reviewed tasks come from: a stored Self-Instruct run, or an uploaded dataset.

Uploads are JSON (an array) or JSON Lines in one of three forms, told apart by the first record's fields and
then required of every record, each validated with the same one-line errors as every upload (file, line, field):

- Self-Instruct: `instruction` and `instances` (a list of `input`, `output`), optional `id`;
- Alpaca: `instruction`, `output` and optional `input`; rows sharing an instruction form one task, as the
  paper samples instructions and then one instance of each;
- chat: `messages`, an optional system turn, then one user turn and one assistant turn. A chat turn does not
  separate instruction from input, so the whole user turn is the instruction and the input is empty.
"""

from __future__ import annotations

from pathlib import Path

from core.datasets.errors import DatasetError
from core.datasets.loaders import Record, check_size, decode, json_array_rows, jsonl_rows
from core.review.records import SourceTask
from core.selfinstruct.view import RunView

FORMS = ("selfinstruct", "alpaca", "chat")
FORM_TITLES = {
    "selfinstruct": "Self-Instruct (instruction, instances)",
    "alpaca": "Alpaca (instruction, input, output)",
    "chat": "chat (messages)",
}


def tasks_from_run(view: RunView) -> list[SourceTask]:
    """The run's pool after edits and deletions, each generated task with the instances it kept."""
    out = []
    for item in view.pool:
        kept = item.instances.kept if item.instances is not None else ()
        out.append(SourceTask(item.key, item.instruction, tuple((x.input, x.output) for x in kept)))
    return out


def _records(name: str, text: str) -> list[Record]:
    suffix = Path(name).suffix.lower()
    if suffix == ".jsonl":
        rows = list(jsonl_rows(name, text))
    elif suffix == ".json":
        rows = json_array_rows(name, text)
    else:
        raise DatasetError(name, f"unsupported file type {suffix or '(none)'!r}; expected .json or .jsonl")
    if not rows:
        raise DatasetError(name, "the file holds no records", expected="at least one record")
    return [Record(name, value, line) for line, value in rows]


def detect_form(first: Record) -> str:
    if "messages" in first.data:
        return "chat"
    if "instances" in first.data:
        return "selfinstruct"
    if "instruction" in first.data:
        return "alpaca"
    raise DatasetError(
        first.file,
        "cannot tell the form: expected 'instances' (Self-Instruct), 'instruction' with 'output' (Alpaca) "
        "or 'messages' (chat)",
        line=first.line,
    )


def _selfinstruct(rec: Record, index: int) -> SourceTask:
    instances = []
    for i, raw in enumerate(rec.list("instances")):
        inst = Record(rec.file, raw, rec.line, f"instances[{i}].")
        instances.append((inst.str("input", default=""), inst.str("output")))
    return SourceTask(
        rec.str("id", empty_ok=False, default=f"task-{index}"),
        rec.str("instruction", empty_ok=False),
        tuple(instances),
    )


def _chat(rec: Record, index: int) -> SourceTask:
    messages = rec.list("messages")
    turns = [Record(rec.file, m, rec.line, f"messages[{i}].") for i, m in enumerate(messages)]
    roles = [t.str("role", empty_ok=False) for t in turns]
    body = turns[1:] if roles[0] == "system" else turns
    if [t.data["role"] for t in body] != ["user", "assistant"]:
        raise DatasetError(
            rec.file,
            f"expected an optional system turn, then one user turn and one assistant turn; got roles "
            f"{', '.join(roles)}",
            line=rec.line,
            field="messages",
        )
    return SourceTask(
        f"task-{index}", body[0].str("content", empty_ok=False), ((("", body[1].str("content"))),)
    )


def parse_dataset(name: str, data: bytes, limit: int | None = None) -> tuple[str, list[SourceTask]]:
    """Validate an uploaded dataset whole; returns its form and its tasks, or raises DatasetError."""
    check_size(name, len(data), limit)
    records = _records(name, decode(name, data))
    form = detect_form(records[0])
    if form == "selfinstruct":
        tasks = [_selfinstruct(rec, i) for i, rec in enumerate(records)]
    elif form == "chat":
        tasks = [_chat(rec, i) for i, rec in enumerate(records)]
    else:
        grouped: dict[str, list[tuple[str, str]]] = {}
        for rec in records:
            instruction = rec.str("instruction", empty_ok=False)
            grouped.setdefault(instruction, []).append((rec.str("input", default=""), rec.str("output")))
        tasks = [SourceTask(f"task-{i}", ins, tuple(x)) for i, (ins, x) in enumerate(grouped.items())]
    seen: dict[str, int | None] = {}
    for task, rec in zip(tasks, records, strict=False):
        if form != "alpaca" and task.id in seen:
            raise DatasetError(name, f"duplicate id {task.id!r}", line=rec.line, field="id")
        seen[task.id] = rec.line
    return form, tasks
