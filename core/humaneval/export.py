"""Ratings as CSV and JSONL, and a Markdown results report."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence

from core.humaneval.agreement import LABELS
from core.humaneval.bootstrap import Interval, format_interval, small_sample_note
from core.humaneval.campaign import RATING_SCALE
from core.humaneval.records import Rating
from core.humaneval.results import Disagreement, ModelResult

RATING_COLUMNS: tuple[str, ...] = (
    "item_id",
    "task_id",
    "model",
    "rater",
    "label",
    "comment",
    "flagged",
    "rated_at",
)


def ratings_to_csv(ratings: Iterable[Rating]) -> str:
    """One row per rating with a header; an empty label is a skip. Newlines are "\\n"."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RATING_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in ratings:
        row = r.to_dict()
        row["label"] = row["label"] or ""
        writer.writerow({k: row[k] for k in RATING_COLUMNS})
    return buf.getvalue()


def ratings_to_jsonl(ratings: Iterable[Rating]) -> str:
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in ratings)


def _num(x: float, pattern: str = "{:.2f}") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else pattern.format(x)


def _cell(text: str) -> str:
    # Model and rater names are user-supplied; keep them from breaking the table.
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ci(interval: Interval | None) -> str:
    return "n/a" if interval is None else format_interval(interval)


def results_report(
    results: Sequence[ModelResult],
    agreement_summary: dict | None = None,
    disagreement_list: Sequence[Disagreement] = (),
    title: str = "Human evaluation results",
    filter_note: str = "",
) -> str:
    """A Markdown report: per-model table, agreement figures, disagreement count."""
    lines = [f"# {title}", ""]
    if filter_note:
        lines += [filter_note, ""]
    lines += ["Scale: " + "; ".join(f"**{k}** {v[0].lower()}" for k, v in RATING_SCALE.items()) + ".", ""]
    lines += ["## Ratings per model", ""]
    header = ["Model", "Ratings", *LABELS, "Acceptable (A+B)", "95% CI (Wilson)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        cells = [
            _cell(r.model),
            str(r.n),
            *(f"{r.counts[k]} ({_num(r.shares[k], '{:.0%}')})" for k in LABELS),
            f"{r.acceptable} ({_num(r.acceptable_share, '{:.1%}')})",
            f"{_num(r.ci_low, '{:.1%}')} to {_num(r.ci_high, '{:.1%}')}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if agreement_summary:
        lines += ["## Agreement", ""]
        pairs = agreement_summary.get("pairs") or {}
        if pairs:
            lines += [
                "| Raters | Items (n) | Cohen's κ | κ 95% CI (bootstrap) | κ (acceptable) | Spearman |",
                "|---|---|---|---|---|---|",
            ]
            for (a, b), s in pairs.items():
                lines.append(
                    f"| {_cell(a)} / {_cell(b)} | {s['n']} | {_num(s['kappa'])} | {_ci(s.get('kappa_ci'))} | "
                    f"{_num(s['kappa_acceptable'])} | {_num(s['spearman'])} |"
                )
            lines.append("")
            note = small_sample_note(
                min(s["n"] for s in pairs.values()), "items rated by both raters of a pair"
            )
            if note:
                lines += [f"Note: {note}", ""]
        overall = agreement_summary.get("all")
        if overall:
            lines += [
                f"All raters: Krippendorff's α (ordinal) {_num(overall['krippendorff_alpha'])}, "
                f"(95% bootstrap CI {_ci(overall.get('alpha_ci'))}), "
                f"Fleiss' κ {_num(overall['fleiss_kappa'])}, over {overall['n_items']} items rated at least twice.",
                "",
            ]
    lines += [f"## Disagreements\n\n{len(disagreement_list)} items with differing ratings.", ""]
    for d in disagreement_list[:20]:
        labels = ", ".join(f"{_cell(p)}: {lab}" for p, lab in d.labels.items())
        lines.append(f"- `{d.task_id}` / {_cell(d.model)} — {labels}")
    if len(disagreement_list) > 20:
        lines.append(f"- … and {len(disagreement_list) - 20} more")
    return "\n".join(lines).rstrip() + "\n"
