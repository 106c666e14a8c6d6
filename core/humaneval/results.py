"""Per-model results and the list of disagreements, from stored ratings."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from scipy.stats import binomtest

from core.humaneval.agreement import ACCEPTABLE, LABELS, ORDINAL, agreement, multi_rater_agreement
from core.humaneval.bootstrap import alpha_interval, kappa_interval
from core.humaneval.records import Rating


@dataclass(frozen=True)
class ModelResult:
    """One model's ratings: A/B/C/D counts and shares, and the acceptable (A+B) share with a Wilson 95% CI.

    Every rating counts, so an item rated by two raters contributes two ratings. Shares and CI bounds are
    nan when the model has no ratings.
    """

    model: str
    n: int
    counts: dict[str, int]
    shares: dict[str, float]
    acceptable: int
    acceptable_share: float
    ci_low: float
    ci_high: float


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _in_apps(rating: Rating, task_apps: Mapping[str, str] | None, apps: Collection[str] | None) -> bool:
    if not apps:
        return True
    if task_apps is None:
        raise ValueError("filtering by motivation app needs the task -> app mapping")
    return task_apps.get(rating.task_id) in apps


def rated(
    ratings: Iterable[Rating],
    task_apps: Mapping[str, str] | None = None,
    apps: Collection[str] | None = None,
) -> list[Rating]:
    """Ratings with a label (skips dropped), optionally only for tasks whose motivation app is in `apps`."""
    return [r for r in ratings if r.label is not None and _in_apps(r, task_apps, apps)]


def model_results(
    ratings: Iterable[Rating],
    task_apps: Mapping[str, str] | None = None,
    apps: Collection[str] | None = None,
    models: Iterable[str] | None = None,
) -> list[ModelResult]:
    """One ModelResult per model, in the order of `models` (default: sorted names)."""
    by_model: dict[str, Counter] = defaultdict(Counter)
    for r in rated(ratings, task_apps, apps):
        by_model[r.model][r.label] += 1
    names = list(models) if models is not None else sorted(by_model)
    out = []
    for name in names:
        counts = {label: by_model[name][label] for label in LABELS}
        n = sum(counts.values())
        good = sum(counts[label] for label in ACCEPTABLE)
        low, high = wilson_interval(good, n)
        out.append(
            ModelResult(
                model=name,
                n=n,
                counts=counts,
                shares={label: (c / n if n else math.nan) for label, c in counts.items()},
                acceptable=good,
                acceptable_share=good / n if n else math.nan,
                ci_low=low,
                ci_high=high,
            )
        )
    return out


@dataclass(frozen=True)
class Disagreement:
    """An item whose raters gave different labels; `spread` is the gap on A>B>C>D (1 = neighbours)."""

    item_id: str
    task_id: str
    model: str
    labels: dict[str, str]  # rater -> label
    spread: int
    comments: dict[str, str] = field(default_factory=dict)


def disagreements(ratings: Iterable[Rating]) -> list[Disagreement]:
    """Items where raters differ, widest spread first, for adjudication."""
    by_item: dict[tuple[str, str], dict[str, Rating]] = defaultdict(dict)
    for r in rated(ratings):
        by_item[(r.task_id, r.model)][r.rater] = r  # a rater's later rating of the same item wins
    out = []
    for (task, model), per_rater in by_item.items():
        labels = {rater: r.label for rater, r in sorted(per_rater.items())}
        if len(set(labels.values())) < 2:
            continue
        values = [ORDINAL[label] for label in labels.values()]
        out.append(
            Disagreement(
                item_id=next(iter(per_rater.values())).item_id,
                task_id=task,
                model=model,
                labels=labels,
                spread=max(values) - min(values),
                comments={rater: r.comment for rater, r in sorted(per_rater.items()) if r.comment},
            )
        )
    return sorted(out, key=lambda d: (-d.spread, d.task_id, d.model))


def rating_matrix(
    ratings: Iterable[Rating], raters: Iterable[str] | None = None
) -> tuple[list[tuple[str, str]], list[str], list[list[str | None]]]:
    """Items x raters labels (None = not rated) for the agreement functions; also the row and column keys."""
    cells: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for r in rated(ratings):
        cells[(r.task_id, r.model)][r.rater] = r.label
    columns = list(raters) if raters is not None else sorted({p for row in cells.values() for p in row})
    rows = sorted(cells)
    return rows, columns, [[cells[key].get(p) for p in columns] for key in rows]


def agreement_between(ratings: Iterable[Rating], rater_a: str, rater_b: str) -> dict[str, float | int]:
    """`agreement` for two named raters over the items both rated."""
    _, _, matrix = rating_matrix(ratings, [rater_a, rater_b])
    return agreement([row[0] for row in matrix], [row[1] for row in matrix])


def agreement_summary(ratings: Iterable[Rating]) -> dict:
    """Pairwise figures for every pair of raters with shared items, plus the multi-rater figures.

    Each pair also has `kappa_ci` and the multi-rater figures `alpha_ci`: seeded bootstrap intervals
    (`core.humaneval.bootstrap`), so a kappa from three items shows how little it says.
    """
    ratings = list(ratings)
    _, raters, matrix = rating_matrix(ratings)
    pairs = {}
    for i, a in enumerate(raters):
        for j in range(i + 1, len(raters)):
            left, right = [row[i] for row in matrix], [row[j] for row in matrix]
            stats = agreement(left, right)
            if stats["n"]:
                pairs[(a, raters[j])] = {**stats, "kappa_ci": kappa_interval(left, right)}
    overall = None
    if matrix:
        overall = {**multi_rater_agreement(matrix), "alpha_ci": alpha_interval(matrix)}
    return {"pairs": pairs, "all": overall, "raters": raters}
