"""Your own demonstrations, pasted as a table or as JSON lines, read as induction examples."""

from __future__ import annotations

import csv
import io
import json

from core.datasets import parse_upload
from core.datasets.errors import DatasetError
from core.datasets.records import InductionExample

_TSV_COLUMNS = ("input", "output", "answers", "split")


def parse_pasted_demos(text: str) -> list[InductionExample]:
    """Demonstrations pasted as JSON (array, JSON Lines or {"examples": …}) or TSV, validated whole.

    TSV: one `input<TAB>output` per line, or a header row naming `input`, `output` and optionally
    `answers` (a JSON array) and `split` (induce / execute). Errors name the line of the pasted text.
    """
    stripped = text.strip()
    if not stripped:
        raise DatasetError("pasted text", "nothing pasted", expected="TSV lines or JSON")
    if stripped[0] in "[{":
        kind = ".json"
        if stripped[0] == "{":
            try:
                json.loads(stripped)
            except json.JSONDecodeError:
                kind = ".jsonl"  # one object per line
        return _reparse(f"pasted{kind}", stripped.encode("utf-8"), "pasted JSON", 0)
    rows = list(csv.reader(io.StringIO(stripped, newline=""), delimiter="\t"))
    header = [c.strip().lower() for c in rows[0]]
    shift = 0
    if "input" in header and "output" in header:
        unknown = [c for c in header if c not in _TSV_COLUMNS]
        if unknown:
            raise DatasetError(
                "pasted text", f"unknown column {unknown[0]!r}", line=1, expected=", ".join(_TSV_COLUMNS)
            )
    else:
        for line, cells in enumerate(rows, start=1):
            if any(c.strip() for c in cells) and len(cells) != 2:
                raise DatasetError(
                    "pasted text",
                    f"expected input<TAB>output (2 cells), got {len(cells)}: separate input and output with "
                    "a tab, or start with a header row (input, output, answers, split)",
                    line=line,
                )
        rows = [["input", "output"], *rows]
        shift = 1  # the header we added is not a line of the pasted text
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return _reparse("pasted.csv", out.getvalue().encode("utf-8"), "pasted text", shift)


def _reparse(name: str, data: bytes, label: str, shift: int) -> list[InductionExample]:
    try:
        return parse_upload(name, data, "demonstrations")
    except DatasetError as exc:
        line = None if exc.line is None else exc.line - shift
        raise DatasetError(label, exc.message, line=line, field=exc.field, expected=exc.expected) from None
