"""Review results: the Table-2 layout, agreement between reviewers, and the items that failed.

Every complete label counts, so an item reviewed by two people contributes two labels (as ratings do in
the human evaluation); skipped and half-answered items are left out and counted separately.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.humaneval.agreement import cohen_kappa
from core.humaneval.results import wilson_interval
from core.review.questions import ALL_VALID, PAPER_TABLE2, QUESTION_KEYS
from core.review.records import ReviewItem, ReviewLabel

ROW_KEYS: tuple[str, ...] = (*QUESTION_KEYS, ALL_VALID)


def _value(label: ReviewLabel, key: str) -> bool | None:
    return label.all_valid if key == ALL_VALID else label.answer(key)


@dataclass(frozen=True)
class Table2Row:
    key: str  # a question key, or ALL_VALID
    n: int
    yes: int
    share: float  # nan when n is 0
    ci_low: float
    ci_high: float
    paper: float


def table2(labels: Iterable[ReviewLabel]) -> list[Table2Row]:
    """% yes per question and for all three at once, with n and a Wilson 95% interval, beside the paper."""
    done = [label for label in labels if label.complete]
    rows = []
    for key in ROW_KEYS:
        yes = sum(1 for label in done if _value(label, key))
        n = len(done)
        low, high = wilson_interval(yes, n)
        rows.append(Table2Row(key, n, yes, yes / n if n else float("nan"), low, high, PAPER_TABLE2[key]))
    return rows


def label_counts(labels: Iterable[ReviewLabel]) -> dict[str, int]:
    labels = list(labels)
    return {
        "complete": sum(label.complete for label in labels),
        "skipped": sum(label.skipped for label in labels),
        "partial": sum(not label.complete and not label.skipped for label in labels),
    }


def binary_agreement(a: list[bool | None], b: list[bool | None]) -> dict[str, float | int]:
    """Cohen's kappa and raw agreement of two aligned yes/no lists; pairs with a None are dropped."""
    if len(a) != len(b):
        raise ValueError(f"labels are not aligned: {len(a)} vs {len(b)} items")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    same = sum(x == y for x, y in pairs)
    return {
        "kappa": cohen_kappa(xs, ys, [True, False]),
        "agreement": same / len(pairs) if pairs else float("nan"),
        "n": len(pairs),
    }


def reviewer_agreement(labels: Iterable[ReviewLabel]) -> dict[tuple[str, str], dict[str, dict]]:
    """For every pair of reviewers with items in common (complete labels only): per question and for
    all-valid, Cohen's kappa, raw agreement and n."""
    cells: dict[str, dict[str, ReviewLabel]] = defaultdict(dict)
    for label in labels:
        if label.complete:
            cells[label.item_id][label.reviewer] = label
    people = sorted({p for row in cells.values() for p in row})
    out = {}
    for i, a in enumerate(people):
        for b in people[i + 1 :]:
            shared = [row for row in cells.values() if a in row and b in row]
            if not shared:
                continue
            out[(a, b)] = {
                key: binary_agreement(
                    [_value(r[a], key) for r in shared], [_value(r[b], key) for r in shared]
                )
                for key in ROW_KEYS
            }
    return out


@dataclass(frozen=True)
class FailingItem:
    """A complete label with at least one "no", with the item it is about."""

    item: ReviewItem
    reviewer: str
    failed: tuple[str, ...]  # question keys answered "no"
    comment: str


def failing_items(
    labels: Iterable[ReviewLabel], items: Mapping[str, ReviewItem], questions: Iterable[str] | None = None
) -> list[FailingItem]:
    """Labels that failed any of `questions` (default: any question), in the items' sample order."""
    wanted = set(QUESTION_KEYS if questions is None else questions)
    order = {item_id: i for i, item_id in enumerate(items)}
    out = []
    for label in labels:
        if not label.complete or label.item_id not in items:
            continue
        failed = tuple(k for k in QUESTION_KEYS if label.answer(k) is False)
        if failed and wanted & set(failed):
            out.append(FailingItem(items[label.item_id], label.reviewer, failed, label.comment))
    return sorted(out, key=lambda f: (order[f.item.item_id], f.reviewer))
