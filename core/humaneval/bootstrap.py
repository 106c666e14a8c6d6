"""Bootstrap confidence intervals for agreement statistics, and the small-sample warning.

A kappa or alpha from a handful of shared items looks as precise as one from hundreds; its interval does not.
Items are resampled with replacement (a rater's ratings of one item stay together), the statistic is
recomputed on each resample, and the percentile interval is read off the defined values. Resamples where the
statistic is undefined (e.g. every drawn item got the same label from everyone) are left out; when fewer than
half of them are defined, there is no interval (nan, nan). Seeded, so the same data gives the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.humaneval.agreement import LABELS, Label, krippendorff_alpha

RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 0
# Below this many shared items an agreement figure is mostly noise: the page says so in plain words.
SMALL_SAMPLE = 30


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval; `defined` is how many resamples gave a value (of `resamples`)."""

    low: float
    high: float
    defined: int
    resamples: int

    @property
    def known(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))


def bootstrap(
    n_items: int,
    statistic: Callable[[np.ndarray], float],
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Interval:
    """Percentile interval of `statistic(indices)` over item indices drawn with replacement."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    if n_items == 0:
        return Interval(math.nan, math.nan, 0, resamples)
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n_items, n_items)) for _ in range(resamples)], dtype=float)
    values = values[~np.isnan(values)]
    if len(values) * 2 < resamples:
        return Interval(math.nan, math.nan, len(values), resamples)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high), len(values), resamples)


def kappa_interval(
    ratings_a: Sequence[Label],
    ratings_b: Sequence[Label],
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Interval:
    """Cohen's kappa (A-D) interval over the items both raters rated (pairs with a None are dropped)."""
    if len(ratings_a) != len(ratings_b):
        raise ValueError(f"ratings are not aligned: {len(ratings_a)} vs {len(ratings_b)} items")
    code = {label: i for i, label in enumerate(LABELS)}
    pairs = [
        (code[a], code[b])
        for a, b in zip(ratings_a, ratings_b, strict=True)
        if a is not None and b is not None
    ]
    cells = np.array([a * len(LABELS) + b for a, b in pairs], dtype=int)

    def kappa(idx: np.ndarray) -> float:
        return _kappa_from_cells(cells[idx])

    return bootstrap(len(pairs), kappa, resamples, confidence, seed)


def _kappa_from_cells(cells: np.ndarray) -> float:
    """Cohen's kappa from confusion-cell codes (a * 4 + b): the same value as `cohen_kappa` on the labels,
    without scikit-learn's per-call overhead, which made a thousand resamples take seconds."""
    k = len(LABELS)
    table = np.bincount(cells, minlength=k * k).reshape(k, k) / len(cells)
    observed = np.trace(table)
    expected = float(table.sum(axis=1) @ table.sum(axis=0))
    if math.isclose(expected, 1.0):  # both raters used one and the same label: undefined, as in cohen_kappa
        return math.nan
    return float((observed - expected) / (1 - expected))


def alpha_interval(
    ratings: Sequence[Sequence[Label]],
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Interval:
    """Ordinal Krippendorff's alpha interval over the items (rows) rated at least twice."""
    rows = [list(row) for row in ratings if sum(c is not None for c in row) >= 2]

    def alpha(idx: np.ndarray) -> float:
        return krippendorff_alpha([rows[i] for i in idx])

    return bootstrap(len(rows), alpha, resamples, confidence, seed)


def small_sample_note(n: int, what: str = "items both raters rated") -> str | None:
    """A plain warning when agreement rests on fewer than SMALL_SAMPLE shared items, else None."""
    if n >= SMALL_SAMPLE:
        return None
    return (
        f"Only {n} {what}: with fewer than {SMALL_SAMPLE}, agreement figures swing widely from item to item; "
        "read them with their confidence intervals, not as settled values."
    )


def format_interval(interval: Interval, digits: int = 2) -> str:
    """'0.12 to 0.80', or 'n/a' when there is no interval."""
    if not interval.known:
        return "n/a"
    return f"{interval.low:.{digits}f} to {interval.high:.{digits}f}"
