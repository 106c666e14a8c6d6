"""Typed loaders for the four dataset formats, validating every field before returning anything.

The same validators serve the official files and user uploads, so both get the same precise errors.
A file is refused by its size before it is read, so a huge upload costs nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from core.config import setting
from core.datasets.errors import DatasetError, missing, wrong_type
from core.datasets.manifest import (
    EVAL_FILE,
    INDUCTION_DIR,
    PREDICTIONS_DIR,
    PREDICTIONS_SUFFIX,
    SEED_FILE,
)
from core.datasets.records import (
    OFFICIAL,
    EvalTask,
    InductionExample,
    InductionTask,
    Instance,
    PaperDemoSet,
    Prediction,
    SeedTask,
)
from core.datasets.registry import TASK_ANSWER_KEYS, TASK_METRICS

MB = 1024 * 1024
_MISSING = object()


def max_bytes() -> int:
    """Largest dataset file read (uploads included): `WORKBENCH_MAX_DATASET_MB`, default 20 MB."""
    value = setting("WORKBENCH_MAX_DATASET_MB", "20")
    try:
        return int(float(value) * MB)
    except ValueError:
        return 20 * MB


# ---------------------------------------------------------------------------------------------------
# Reading text


def human_size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.0f} kB"


def check_size(file: str, size: int, limit: int | None = None) -> None:
    limit = max_bytes() if limit is None else limit
    if size > limit:
        raise DatasetError(
            file,
            f"the file is {human_size(size)}, over the {human_size(limit)} limit "
            "(WORKBENCH_MAX_DATASET_MB); it was not read",
            expected=f"at most {limit} bytes",
        )


def decode(file: str, data: bytes) -> str:
    """UTF-8 text (a leading BOM is dropped, as spreadsheet exports add one); errors name the line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(file, f"not valid UTF-8 text (byte {exc.start})", line=line) from None
    if not text.strip():
        raise DatasetError(file, "the file is empty", expected="at least one record")
    return text


def read_text(path: Path, file: str | None = None, limit: int | None = None) -> str:
    file = file or path.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DatasetError(file, f"file not found at {path}") from None
    check_size(file, size, limit)
    return decode(file, path.read_bytes())


def parse_json(file: str, text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(file, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None


def jsonl_rows(file: str, text: str) -> Iterator[tuple[int, object]]:
    """(line number, value) for every non-blank line of a JSON Lines text."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(file, f"invalid JSON: {exc.msg} (column {exc.colno})", line=number) from None


def json_array_rows(file: str, text: str) -> list[tuple[int, object]]:
    """(line number, value) for each element of a top-level JSON array, so errors can name the line."""
    decoder = json.JSONDecoder()
    ws = " \t\r\n"
    pos = len(text) - len(text.lstrip(ws))
    if not text.startswith("[", pos):
        kind = type(parse_json(file, text)).__name__
        raise DatasetError(file, f"expected a JSON array of records, got {kind}", line=1)
    rows: list[tuple[int, object]] = []
    pos += 1
    line, counted = 1, 0
    try:
        while True:
            pos = _skip(text, pos, ws)
            if text.startswith("]", pos) and not rows:
                break
            line += text.count("\n", counted, pos)
            counted = pos
            value, pos = decoder.raw_decode(text, pos)
            rows.append((line, value))
            pos = _skip(text, pos, ws)
            if text.startswith(",", pos):
                pos += 1
                continue
            if text.startswith("]", pos):
                break
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
    except json.JSONDecodeError as exc:
        raise DatasetError(file, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    if text[pos + 1 :].strip():
        raise DatasetError(file, "unexpected text after the JSON array", line=text.count("\n", 0, pos) + 1)
    return rows


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


# ---------------------------------------------------------------------------------------------------
# Field validation


class Record:
    """One JSON object being validated; `prefix` makes nested field names such as "examples.3.input"."""

    def __init__(self, file: str, value: object, line: int | None = None, prefix: str = "") -> None:
        if not isinstance(value, dict):
            raise wrong_type(file, "a JSON object", value, line=line, field=prefix.rstrip(".") or None)
        self.file, self.data, self.line, self.prefix = file, value, line, prefix

    def _get(self, key: str, expected: str, default: object) -> object:
        if key in self.data:
            return self.data[key]
        if default is not _MISSING:
            return default
        raise missing(self.file, expected, line=self.line, field=self.prefix + key)

    def fail(self, key: str, expected: str, value: object) -> DatasetError:
        return wrong_type(self.file, expected, value, line=self.line, field=self.prefix + key)

    def str(self, key: str, *, empty_ok: bool = True, default: object = _MISSING) -> str:
        expected = "a string" if empty_ok else "a non-empty string"
        value = self._get(key, expected, default)
        if not isinstance(value, str) or (not empty_ok and not value.strip()):
            raise self.fail(key, expected, value)
        return value

    def bool(self, key: str) -> bool:
        value = self._get(key, "true or false", _MISSING)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def str_list(self, key: str, *, default: object = _MISSING) -> list[str]:
        expected = "a non-empty list of strings"
        if key not in self.data and default is not _MISSING:
            return default
        value = self._get(key, expected, default)
        if not isinstance(value, list) or not value:
            raise self.fail(key, expected, value)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{key}[{index}]", "a string", item)
        return value

    def list(self, key: str) -> list:
        value = self._get(key, "a non-empty list", _MISSING)
        if not isinstance(value, list) or not value:
            raise self.fail(key, "a non-empty list", value)
        return value

    def child(self, key: str) -> Record:
        return Record(self.file, self._get(key, "a JSON object", _MISSING), self.line, f"{self.prefix}{key}.")

    def extra(self, known: tuple[str, ...]) -> dict:
        return {k: v for k, v in self.data.items() if k not in known}


# ---------------------------------------------------------------------------------------------------
# Self-Instruct: seed tasks, evaluation tasks, predictions

SEED_KEYS = ("id", "name", "instruction", "instances", "is_classification")
EVAL_KEYS = ("id", "motivation_app", "instruction", "instances")
PREDICTION_KEYS = ("prompt", "instruction", "input", "response", "target")


def instances_of(rec: Record) -> list[Instance]:
    result = []
    for index, item in enumerate(rec.list("instances")):
        inst = Record(rec.file, item, rec.line, f"{rec.prefix}instances[{index}].")
        result.append(Instance(input=inst.str("input"), output=inst.str("output", empty_ok=False)))
    return result


def seed_from(rec: Record, source: str, default_id: str) -> SeedTask:
    return SeedTask(
        id=rec.str("id", empty_ok=False, default=default_id),
        name=rec.str("name", empty_ok=False),
        instruction=rec.str("instruction", empty_ok=False),
        instances=instances_of(rec),
        is_classification=rec.bool("is_classification"),
        source=source,
        extra=rec.extra(SEED_KEYS),
    )


def eval_from(rec: Record, source: str, default_id: str) -> EvalTask:
    return EvalTask(
        id=rec.str("id", empty_ok=False, default=default_id),
        motivation_app=rec.str("motivation_app", default=""),
        instruction=rec.str("instruction", empty_ok=False),
        instances=instances_of(rec),
        source=source,
        extra=rec.extra(EVAL_KEYS),
    )


def _unique_ids(file: str, tasks: list, lines: list[int | None]) -> None:
    seen: dict[str, int | None] = {}
    for task, line in zip(tasks, lines, strict=True):
        if task.id in seen:
            where = f" (first on line {seen[task.id]})" if seen[task.id] else ""
            raise DatasetError(file, f"duplicate id {task.id!r}{where}", line=line, field="id")
        seen[task.id] = line


def parse_seed_tasks(file: str, text: str, source: str = OFFICIAL) -> list[SeedTask]:
    rows = list(jsonl_rows(file, text))
    tasks = [seed_from(Record(file, v, n), source, f"seed_task_{i}") for i, (n, v) in enumerate(rows)]
    _unique_ids(file, tasks, [n for n, _ in rows])
    return tasks


def parse_eval_tasks(file: str, text: str, source: str = OFFICIAL) -> list[EvalTask]:
    rows = list(jsonl_rows(file, text))
    tasks = [eval_from(Record(file, v, n), source, f"user_task_{i}") for i, (n, v) in enumerate(rows)]
    _unique_ids(file, tasks, [n for n, _ in rows])
    return tasks


def load_seed_tasks(path: Path, source: str = OFFICIAL, limit: int | None = None) -> list[SeedTask]:
    return parse_seed_tasks(path.name, read_text(path, limit=limit), source)


def load_eval_tasks(path: Path, source: str = OFFICIAL, limit: int | None = None) -> list[EvalTask]:
    return parse_eval_tasks(path.name, read_text(path, limit=limit), source)


def model_of(path: Path) -> str:
    name = path.name
    return name[: -len(PREDICTIONS_SUFFIX)] if name.endswith(PREDICTIONS_SUFFIX) else path.stem


def load_predictions(path: Path, model: str | None = None, limit: int | None = None) -> list[Prediction]:
    file, model = path.name, model or model_of(path)
    rows = []
    for row, (number, value) in enumerate(jsonl_rows(file, read_text(path, limit=limit))):
        rec = Record(file, value, number)
        rows.append(Prediction(model, row, *(rec.str(k) for k in PREDICTION_KEYS)))
    return rows


def load_all_predictions(root: Path) -> dict[str, list[Prediction]]:
    """Every `*_predictions.jsonl` under `root/self-instruct/predictions`, by model name."""
    folder = root / PREDICTIONS_DIR
    paths = sorted(folder.glob("*" + PREDICTIONS_SUFFIX)) if folder.is_dir() else []
    return {model_of(p): load_predictions(p) for p in paths}


def seed_task_dict(task: SeedTask) -> dict:
    """The original JSONL shape and key order of a seed task."""
    return {
        "id": task.id,
        "name": task.name,
        "instruction": task.instruction,
        "instances": [{"input": i.input, "output": i.output} for i in task.instances],
        "is_classification": task.is_classification,
        **task.extra,
    }


def eval_task_dict(task: EvalTask) -> dict:
    return {
        "id": task.id,
        "motivation_app": task.motivation_app,
        "instruction": task.instruction,
        "instances": [{"input": i.input, "output": i.output} for i in task.instances],
        **task.extra,
    }


def to_jsonl(rows: list[dict]) -> str:
    # json.dumps defaults (ASCII escapes, ", " and ": " separators) are how the upstream files were written.
    return "".join(json.dumps(row) + "\n" for row in rows)


def export_seed_tasks(tasks: list[SeedTask]) -> str:
    return to_jsonl([seed_task_dict(t) for t in tasks])


def export_eval_tasks(tasks: list[EvalTask]) -> str:
    return to_jsonl([eval_task_dict(t) for t in tasks])


# ---------------------------------------------------------------------------------------------------
# Instruction Induction


def induction_examples(task: str, rec: Record) -> list[InductionExample]:
    """One file record as examples, with the task's answer key; cause_and_effect yields both orders."""
    if task == "cause_and_effect":
        cause, effect = rec.str("cause", empty_ok=False), rec.str("effect", empty_ok=False)
        return [
            InductionExample(f"Sentence 1: {cause} Sentence 2: {effect}", cause, [cause], dict(rec.data)),
            InductionExample(f"Sentence 1: {effect} Sentence 2: {cause}", cause, [cause], dict(rec.data)),
        ]
    if task == "common_concept":
        items = rec.str_list("items")
        answers = rec.str_list("all_common_concepts")
        return [InductionExample(", ".join(items), rec.str("concept", empty_ok=False), answers, rec.data)]
    output = rec.str("output")
    key = TASK_ANSWER_KEYS.get(task)
    answers = rec.str_list(key) if key else [output]
    return [InductionExample(rec.str("input", empty_ok=False), output, answers, rec.data)]


def _examples_dict(file: str, doc: object) -> dict:
    top = Record(file, doc)
    examples = top._get("examples", "an object of examples keyed by id", _MISSING)
    if not isinstance(examples, dict) or not examples:
        raise top.fail("examples", "a non-empty object of examples keyed by id", examples)
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    declared = meta.get("num_examples") if isinstance(meta, dict) else None
    if isinstance(declared, int) and declared != len(examples):
        raise DatasetError(
            file, f"metadata.num_examples is {declared} but there are {len(examples)}", field="examples"
        )
    return examples


def _plain_examples(examples: dict, answer_key: str | None) -> list[InductionExample] | None:
    """Input/output records checked in one tight pass (the 24 tasks hold ~70,000 of them, and a benchmark
    run waited for them before its first request); None at the first record that is not plainly valid,
    which the field-by-field pass then reports by name."""
    result = []
    for value in examples.values():
        if not isinstance(value, dict):
            return None
        given, output = value.get("input"), value.get("output")
        if not isinstance(given, str) or not given.strip() or not isinstance(output, str):
            return None
        answers = [output]
        if answer_key is not None:
            answers = value.get(answer_key)
            if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
                return None
        result.append(InductionExample(given, output, answers, value))
    return result


def parse_induction_examples(file: str, text: str, task: str) -> list[InductionExample]:
    examples = _examples_dict(file, parse_json(file, text))
    if task not in ("cause_and_effect", "common_concept"):
        plain = _plain_examples(examples, TASK_ANSWER_KEYS.get(task))
        if plain is not None:
            return plain
    result: list[InductionExample] = []
    for key, value in examples.items():
        result.extend(induction_examples(task, Record(file, value, prefix=f"examples.{key}.")))
    return result


def parse_annotations(file: str, text: str) -> list[str]:
    return Record(file, parse_json(file, text)).str_list("annotations")


def parse_demos(text: str) -> list[tuple[str, str]] | None:
    """`Input: …\\nOutput: …` blocks separated by blank lines, or None when the text is not shaped so."""
    demos = []
    for block in text.split("\n\n"):
        if not block.startswith("Input: ") or "\nOutput: " not in block:
            return None
        given, output = block[len("Input: ") :].split("\nOutput: ", 1)
        demos.append((given, output))
    return demos


def parse_paper_demos(file: str, text: str) -> list[PaperDemoSet]:
    examples = _examples_dict(file, parse_json(file, text))
    sets = []
    for key, value in examples.items():
        rec = Record(file, value, prefix=f"examples.{key}.")
        seen = rec.child("metadata").str("examples_seen", empty_ok=False)
        demos = parse_demos(seen)
        if demos is None:
            raise DatasetError(
                file,
                "expected 'Input: …' / 'Output: …' blocks separated by blank lines",
                field=f"examples.{key}.metadata.examples_seen",
            )
        sets.append(PaperDemoSet(id=key, prompt=rec.str("input", empty_ok=False), demos=demos))
    return sets


def induction_path(root: Path, kind: str, task: str) -> Path:
    return root / INDUCTION_DIR / kind / f"{task}.json"


# Parsed tasks by folder, name, limit and the files' (mtime, size): a benchmark run resolves each task
# several times (its estimate, its spec, its report), and parsing the files was a third of its client time.
_parsed: dict[tuple, InductionTask] = {}
_parsed_lock = threading.Lock()
_KINDS = ("induce", "execute", "annotations", "induction_input")


def load_induction_task(root: Path, task: str, limit: int | None = None) -> InductionTask:
    """One of the 24 tasks from a datasets folder (`root/instruction-induction/...`). Each call returns its
    own lists (a caller may reorder them), parsed once while the files stay unchanged."""
    if task not in TASK_METRICS:
        raise KeyError(f"unknown Instruction Induction task {task!r}")
    try:
        stamps = tuple(
            (st.st_mtime_ns, st.st_size) for st in (induction_path(root, k, task).stat() for k in _KINDS)
        )
    except OSError:
        stamps = None  # a file is missing: parse, which says which one
    key = (str(root), task, limit, stamps)
    with _parsed_lock:
        found = _parsed.get(key) if stamps is not None else None
    if found is None:
        found = _parse_induction_task(root, task, limit)
        if stamps is not None:
            with _parsed_lock:
                _parsed[key] = found
    return replace(
        found,
        induce=list(found.induce),
        execute=list(found.execute),
        annotations=list(found.annotations),
        paper_demos=list(found.paper_demos),
    )


def _parse_induction_task(root: Path, task: str, limit: int | None) -> InductionTask:
    def text(kind: str) -> str:
        return read_text(induction_path(root, kind, task), f"{kind}/{task}.json", limit)

    return InductionTask(
        name=task,
        metric=TASK_METRICS[task],
        induce=parse_induction_examples(f"induce/{task}.json", text("induce"), task),
        execute=parse_induction_examples(f"execute/{task}.json", text("execute"), task),
        annotations=parse_annotations(f"annotations/{task}.json", text("annotations")),
        paper_demos=parse_paper_demos(f"induction_input/{task}.json", text("induction_input")),
        source=OFFICIAL,
    )


def seed_path(root: Path) -> Path:
    return root / SEED_FILE


def eval_path(root: Path) -> Path:
    return root / EVAL_FILE
