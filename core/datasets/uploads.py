"""User uploads: demonstrations, seed tasks or evaluation tasks as JSON, JSON Lines or CSV.

A file is validated whole before anything is returned or stored, so a bad row never half-imports it, and
it is saved with a temporary file and an atomic rename, so a failed import leaves stored data untouched.

Shapes (CSV holds one instance per row):
- demonstrations: rows with `input`, `output`, optional `answers` (list of strings; in CSV a JSON array)
  and `split` ("induce", the default, or "execute"); JSON may also use the official
  `{"examples": {"1": {...}}}` shape.
- seed_tasks: the seed_tasks.jsonl shape; CSV columns `name, instruction, input, output,
  is_classification` and optional `id`.
- eval_tasks: the user_oriented_instructions.jsonl shape; CSV columns `instruction, input, output` and
  optional `id, motivation_app`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.datasets.errors import DatasetError
from core.datasets.loaders import (
    Record,
    check_size,
    decode,
    eval_from,
    json_array_rows,
    jsonl_rows,
    parse_json,
    seed_from,
)
from core.datasets.records import InductionExample, InductionTask, upload_source

KINDS = ("demonstrations", "seed_tasks", "eval_tasks")
FORMATS = (".json", ".jsonl", ".csv")
SPLITS = ("induce", "execute")

CSV_REQUIRED = {
    "demonstrations": ("input", "output"),
    "seed_tasks": ("name", "instruction", "input", "output", "is_classification"),
    "eval_tasks": ("instruction", "input", "output"),
}
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown upload kind {kind!r}; expected one of {', '.join(KINDS)}")


def file_format(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise DatasetError(
            name, f"unsupported file type {suffix or '(none)'!r}; expected .json, .jsonl or .csv"
        )
    return suffix


# Python's JSON reader recurses once per level and gives up near the interpreter's recursion limit (about
# 1,000 levels); a file that deep is refused with the line where it passes this depth.
DEEP_JSON = 500
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def too_deep_line(text: str, limit: int = DEEP_JSON) -> int | None:
    """The line where JSON `text` first nests deeper than `limit` (strings skipped), or None."""
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return text.count("\n", 0, match.start()) + 1
        elif token in "]}":
            depth -= 1
    return None


@contextmanager
def nesting_errors(name: str, text: str) -> Iterator[None]:
    """Turn the RecursionError of a too deeply nested JSON document into a one-line DatasetError."""
    try:
        yield
    except RecursionError:
        raise DatasetError(
            name,
            f"JSON nested too deeply to read (more than {DEEP_JSON} levels of lists or objects)",
            line=too_deep_line(text),
        ) from None


def parse_upload(name: str, data: bytes, kind: str, limit: int | None = None) -> list:
    """Validate an uploaded file whole and return its records (all of them, or a DatasetError)."""
    _check_kind(kind)
    fmt = file_format(name)
    check_size(name, len(data), limit)
    text = decode(name, data)
    source = upload_source(name)
    with nesting_errors(name, text):
        if fmt == ".csv":
            rows = _csv_rows(name, text, kind)
        elif fmt == ".jsonl":
            rows = [Record(name, value, line) for line, value in jsonl_rows(name, text)]
        else:
            rows = _json_rows(name, text, kind)
    if not rows:
        raise DatasetError(name, "the file holds no records", expected="at least one record")
    stem = Path(name).stem
    if kind == "demonstrations":
        return [demo_from(rec) for rec in rows]
    build = seed_from if kind == "seed_tasks" else eval_from
    tasks = [_renaming_csv_fields(fmt, build, rec, source, f"{stem}_{i}") for i, rec in enumerate(rows)]
    seen: set[str] = set()
    for task, rec in zip(tasks, rows, strict=True):
        if task.id in seen:
            raise DatasetError(name, f"duplicate id {task.id!r}", line=rec.line, field="id")
        seen.add(task.id)
    return tasks


def demo_from(rec: Record) -> InductionExample:
    output = rec.str("output")
    answers = rec.str_list("answers", default=None) or [output]
    split = rec.str("split", default="induce")
    if split not in SPLITS:
        raise DatasetError(
            rec.file,
            f"expected 'induce' or 'execute', got {split!r}",
            line=rec.line,
            field=rec.prefix + "split",
        )
    return InductionExample(rec.str("input", empty_ok=False), output, answers, dict(rec.data, split=split))


def _json_rows(name: str, text: str, kind: str) -> list[Record]:
    if text.lstrip().startswith("["):
        return [Record(name, value, line) for line, value in json_array_rows(name, text)]
    doc = parse_json(name, text)
    if kind == "demonstrations" and isinstance(doc, dict) and "examples" in doc:
        examples = doc["examples"]
        if not isinstance(examples, dict):
            raise Record(name, doc).fail("examples", "an object of examples keyed by id", examples)
        return [Record(name, value, prefix=f"examples.{key}.") for key, value in examples.items()]
    shape = "a JSON array of records" + (" or {'examples': {...}}" if kind == "demonstrations" else "")
    raise DatasetError(name, f"expected {shape}, got {type(doc).__name__}", line=1, expected=shape)


def csv_problem(exc: csv.Error, start: int, end: int) -> str:
    """A strict csv reader's error in words a user can act on. `start` is the line where the failing row
    begins, `end` the line the reader had reached."""
    message = str(exc)
    if "unexpected end of data" in message:
        return f'unterminated quote: the quoted cell opened in the row on line {start} never closes (a " is missing)'
    if "expected after" in message and end > start:
        # The quoted cell ran on over line breaks to some later quote: almost always a missing quote.
        return (
            f"unterminated quote: the quoted cell opened in the row on line {start} runs on to line {end} "
            '(a " is missing, or a quote inside the cell is not doubled as "")'
        )
    if "expected after" in message:
        return 'text after a closing quote: a quoted cell must end at a comma or the end of the row (write a quote inside a cell as "")'
    return f"invalid CSV: {message}"


def _csv_rows(name: str, text: str, kind: str) -> list[Record]:
    # strict: an unterminated quote is an error, instead of a cell that swallows the rest of the file
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous = 0
    try:
        header = [h.strip() for h in next(reader)]
        for column in CSV_REQUIRED[kind]:
            if column not in header:
                raise DatasetError(
                    name, f"missing column (expected a column named {column!r})", line=1, field=column
                )
        rows, previous = [], reader.line_num
        for cells in reader:
            line, previous = previous + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                raise DatasetError(
                    name, f"expected {len(header)} cells (one per header column), got {len(cells)}", line=line
                )
            rows.append(
                Record(name, _csv_record(name, line, kind, dict(zip(header, cells, strict=True))), line)
            )
    except csv.Error as exc:
        raise DatasetError(name, csv_problem(exc, previous + 1, reader.line_num), line=previous + 1) from None
    return rows


def _csv_record(name: str, line: int, kind: str, row: dict[str, str]) -> dict:
    """A CSV row in the JSON shape of its kind; blank optional cells count as absent."""
    record: dict = {k: v for k, v in row.items() if v.strip() or k in CSV_REQUIRED[kind]}
    if kind == "demonstrations":
        if "answers" in record:
            try:
                record["answers"] = json.loads(record["answers"])
            except (json.JSONDecodeError, RecursionError):
                raise DatasetError(
                    name, 'expected a JSON array of strings, e.g. ["a", "b"]', line=line, field="answers"
                ) from None
        return record
    record["instances"] = [{"input": record.pop("input"), "output": record.pop("output")}]
    if kind == "seed_tasks":
        flag = record["is_classification"].strip().lower()
        if flag not in _TRUE | _FALSE:
            raise DatasetError(
                name,
                f"expected true or false, got {record['is_classification']!r}",
                line=line,
                field="is_classification",
            )
        record["is_classification"] = flag in _TRUE
    return record


def _renaming_csv_fields(fmt: str, build, rec: Record, source: str, default_id: str):
    """Build a task; for CSV, report 'instances[0].output' as the column 'output' the user can see."""
    try:
        return build(rec, source, default_id)
    except DatasetError as exc:
        if fmt == ".csv" and exc.field and exc.field.startswith("instances[0]."):
            exc.field = exc.field.removeprefix("instances[0].")
            exc.args = (str(exc),)
        raise


def demonstration_task(file_name: str, examples: list[InductionExample]) -> InductionTask:
    """An uploaded demonstrations file as a task: rows marked `split: execute` form its test set."""
    return InductionTask(
        name=f"upload_{Path(file_name).stem}",
        metric="em",
        induce=[e for e in examples if e.raw.get("split", "induce") == "induce"],
        execute=[e for e in examples if e.raw.get("split") == "execute"],
        annotations=[],
        paper_demos=[],
        source=upload_source(file_name),
    )


# ---------------------------------------------------------------------------------------------------
# Storage under <datasets>/uploads/<kind>/


def safe_name(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", Path(name).name).strip(" .")
    if not base:
        raise DatasetError(name, "expected a file name such as my_tasks.jsonl")
    return base


def uploads_dir(root: Path, kind: str) -> Path:
    _check_kind(kind)
    return root / "uploads" / kind


def save_upload(root: Path, name: str, data: bytes, kind: str, limit: int | None = None) -> Path:
    """Validate, then store atomically; returns the stored path. Nothing is written when invalid."""
    name = safe_name(name)
    parse_upload(name, data, kind, limit)
    folder = uploads_dir(root, kind)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def stored_uploads(root: Path, kind: str) -> list[Path]:
    folder = uploads_dir(root, kind)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)


def load_uploads(root: Path, kind: str) -> list:
    """Stored uploads of one kind: tasks for demonstrations, else seed or evaluation tasks."""
    result: list = []
    for path in stored_uploads(root, kind):
        check_size(path.name, path.stat().st_size)
        records = parse_upload(path.name, path.read_bytes(), kind)
        result.extend([demonstration_task(path.name, records)] if kind == "demonstrations" else records)
    return result


def delete_upload(root: Path, kind: str, name: str) -> bool:
    path = uploads_dir(root, kind) / safe_name(name)
    if path.is_file():
        path.unlink()
        return True
    return False
