"""Review labels as JSONL and CSV, and the Table-2 results as Markdown and CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping

from core.review.questions import PAPER_N, ROW_TITLES
from core.review.records import ReviewItem, ReviewLabel
from core.review.results import Table2Row

LABEL_COLUMNS: tuple[str, ...] = (
    "item_id",
    "task_id",
    "instance",
    "reviewer",
    "instruction_valid",
    "input_appropriate",
    "output_correct",
    "all_valid",
    "skipped",
    "comment",
    "labeled_at",
    "instruction",
    "input",
    "output",
)


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def label_rows(labels: Iterable[ReviewLabel], items: Mapping[str, ReviewItem]) -> list[dict]:
    """One row per (latest) label with the item it is about; answers are "yes", "no" or null."""
    rows = []
    for label in labels:
        item = items.get(label.item_id)
        rows.append(
            {
                "item_id": label.item_id,
                "task_id": item.task_id if item else None,
                "instance": item.instance if item else None,
                "reviewer": label.reviewer,
                "instruction_valid": _yes_no(label.answer("instruction")),
                "input_appropriate": _yes_no(label.answer("input")),
                "output_correct": _yes_no(label.answer("output")),
                "all_valid": _yes_no(label.all_valid),
                "skipped": label.skipped,
                "comment": label.comment,
                "labeled_at": label.labeled_at,
                "instruction": item.instruction if item else None,
                "input": item.input if item else None,
                "output": item.output if item else None,
            }
        )
    return rows


def labels_to_jsonl(labels: Iterable[ReviewLabel], items: Mapping[str, ReviewItem]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in label_rows(labels, items))


def labels_to_csv(labels: Iterable[ReviewLabel], items: Mapping[str, ReviewItem]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LABEL_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in label_rows(labels, items):
        writer.writerow({k: "" if row[k] is None else row[k] for k in LABEL_COLUMNS})
    return buf.getvalue()


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.0f}%"


def table_rows(rows: Iterable[Table2Row]) -> list[dict]:
    return [
        {
            "quality review question": ROW_TITLES[r.key],
            "yes": r.yes,
            "n": r.n,
            "% yes": _pct(r.share),
            "95% CI (Wilson)": "n/a" if math.isnan(r.ci_low) else f"{_pct(r.ci_low)}–{_pct(r.ci_high)}",
            f"paper (n={PAPER_N})": _pct(r.paper),
        }
        for r in rows
    ]


def table_to_csv(rows: Iterable[Table2Row]) -> str:
    data = table_rows(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(data[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(data)
    return buf.getvalue()


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table_to_markdown(rows: Iterable[Table2Row], title: str, notes: Iterable[str] = ()) -> str:
    """The Table-2 layout with the paper's figures beside ours; `notes` say how this review differs."""
    data = table_rows(rows)
    header = list(data[0])
    lines = [f"# Data quality review: {_cell(title)}", ""]
    lines += [f"- {_cell(note)}" for note in notes]
    if notes:
        lines.append("")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(_cell(row[h]) for h in header) + " |" for row in data]
    return "\n".join(lines) + "\n"
