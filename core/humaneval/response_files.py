"""Reading a user's file of model responses (JSON Lines, or a JSON array) into rows to match to tasks.

Each record needs `response` and either a task id (`id` or `task_id`) or the `instruction` it answered (with
its `input`, if any) — so the official prediction files are accepted as they are. Records are validated
whole, with the file, line and field in every error, before anything is matched or stored.
"""

from __future__ import annotations

from pathlib import Path

from core.datasets.errors import DatasetError
from core.datasets.loaders import Record, check_size, decode, json_array_rows, jsonl_rows
from core.datasets.manifest import PREDICTIONS_SUFFIX
from core.datasets.records import Prediction
from core.datasets.uploads import nesting_errors
from core.humaneval.matching import ResponseRow

ID_KEYS = ("task_id", "id")


def model_name_for(file_name: str) -> str:
    """A default model name from a file name: `davinci_predictions.jsonl` -> `davinci`."""
    name = Path(file_name).name
    return name[: -len(PREDICTIONS_SUFFIX)] if name.endswith(PREDICTIONS_SUFFIX) else Path(name).stem


def _row(rec: Record) -> ResponseRow:
    response = rec.str("response")
    task_id = next((rec.str(k, empty_ok=False) for k in ID_KEYS if k in rec.data), None)
    if task_id is None and "instruction" not in rec.data:
        raise DatasetError(
            rec.file,
            "missing (expected a task id in 'task_id' or 'id', or the task's 'instruction')",
            line=rec.line,
            field="instruction",
        )
    instruction = rec.str("instruction") if "instruction" in rec.data else None
    input_ = rec.str("input") if "input" in rec.data else ""
    return ResponseRow(
        line=rec.line or 0, response=response, task_id=task_id, instruction=instruction, input=input_
    )


def parse_response_file(name: str, data: bytes, limit: int | None = None) -> list[ResponseRow]:
    if Path(name).suffix.lower() not in (".jsonl", ".json"):
        raise DatasetError(name, "expected a .jsonl file (or a .json array) of responses")
    check_size(name, len(data), limit)
    text = decode(name, data)
    is_array = name.lower().endswith(".json")
    with nesting_errors(name, text):
        values = json_array_rows(name, text) if is_array else list(jsonl_rows(name, text))
    rows = [_row(Record(name, value, line)) for line, value in values]
    if not rows:
        raise DatasetError(name, "the file holds no records", expected="at least one record")
    return rows


def prediction_rows(predictions: list[Prediction]) -> list[ResponseRow]:
    """The official prediction files answer by instruction and input; line numbers are 1-based."""
    return [
        ResponseRow(line=p.row + 1, response=p.response, instruction=p.instruction, input=p.input)
        for p in predictions
    ]
