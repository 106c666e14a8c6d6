"""Agreement between raters on the paper's A/B/C/D scale.

Undefined statistics are `float("nan")`, never None: a kappa with no variation to explain (both raters used one
and the same label), a Spearman correlation with a constant side, no usable pairs, or a Krippendorff's alpha
over a single observed value. Callers test with `math.isnan`. Statistics come from scikit-learn, scipy and
`krippendorff`; only Fleiss' kappa is computed here, because none of those libraries offers it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import krippendorff
import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

LABELS: tuple[str, ...] = ("A", "B", "C", "D")
ACCEPTABLE: frozenset[str] = frozenset({"A", "B"})
# A > B > C > D; a higher number is a better rating.
ORDINAL: dict[str, int] = {"A": 4, "B": 3, "C": 2, "D": 1}

NAN = float("nan")

Label = str | None


def _check(label: Label) -> Label:
    if label is not None and label not in ORDINAL:
        raise ValueError(f"unknown rating {label!r}; expected one of {', '.join(LABELS)} or None")
    return label


def cohen_kappa(a: list, b: list, labels: list) -> float:
    """Cohen's kappa over aligned labels from `labels`; nan when undefined (see the module docstring)."""
    # Expected agreement is 1 (kappa is 0/0) exactly when both raters used one and the same label.
    if not a or (len(set(a)) == 1 and set(a) == set(b)):
        return NAN
    return float(cohen_kappa_score(a, b, labels=labels))


_kappa = cohen_kappa


def _spearman(x: list[int], y: list[int]) -> float:
    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return NAN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(x, y).statistic)


def agreement(ratings_a: Sequence[Label], ratings_b: Sequence[Label]) -> dict[str, float | int]:
    """Two raters' labels aligned by item; pairs where either side is None are dropped.

    Returns `kappa` (Cohen's, 4 classes), `kappa_acceptable` (A/B vs C/D), `spearman` (A>B>C>D) and `n`
    (pairs used). See the module docstring for when a value is nan.
    """
    if len(ratings_a) != len(ratings_b):
        raise ValueError(f"ratings are not aligned: {len(ratings_a)} vs {len(ratings_b)} items")
    for label in (*ratings_a, *ratings_b):
        _check(label)
    pairs = [(a, b) for a, b in zip(ratings_a, ratings_b, strict=True) if a is not None and b is not None]
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    acc_a = [x in ACCEPTABLE for x in a]
    acc_b = [x in ACCEPTABLE for x in b]
    return {
        "kappa": _kappa(a, b, list(LABELS)),
        "kappa_acceptable": _kappa(acc_a, acc_b, [True, False]),
        "spearman": _spearman([ORDINAL[x] for x in a], [ORDINAL[x] for x in b]),
        "n": len(pairs),
    }


def _matrix(ratings: Sequence[Sequence[Label]]) -> list[list[Label]]:
    rows = [list(row) for row in ratings]
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise ValueError("every item needs one cell per rater (None where a rater did not rate it)")
    for row in rows:
        for cell in row:
            _check(cell)
    return rows


def krippendorff_alpha(ratings: Sequence[Sequence[Label]]) -> float:
    """Ordinal Krippendorff's alpha over an items x raters matrix (None = missing)."""
    rows = _matrix(ratings)
    if not rows or not rows[0]:
        return NAN
    # krippendorff wants raters x units with nan for missing.
    data = np.array([[np.nan if c is None else ORDINAL[c] for c in row] for row in rows], dtype=float).T
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    if not pairable.any() or len(np.unique(data[:, pairable][~np.isnan(data[:, pairable])])) < 2:
        return NAN
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))


def fleiss_kappa_from_counts(counts: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa from an items x categories table of how many raters chose each category.

    Fleiss (1971) assumes the same number of raters per item; when counts differ, each item's agreement uses
    its own rater count and category shares are pooled over all ratings (the usual generalisation, identical
    to Fleiss' formula when counts are equal). Items with fewer than two ratings carry no agreement and are
    left out.
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2:
        raise ValueError("counts must be a 2-D items x categories table")
    n_i = table.sum(axis=1)
    table, n_i = table[n_i >= 2], n_i[n_i >= 2]
    if len(table) == 0:
        return NAN
    p_i = ((table * (table - 1)).sum(axis=1)) / (n_i * (n_i - 1))
    p_bar = p_i.mean()
    p_j = table.sum(axis=0) / n_i.sum()
    p_e = float((p_j**2).sum())
    if math.isclose(p_e, 1.0):
        return NAN
    return float((p_bar - p_e) / (1 - p_e))


def fleiss_kappa(ratings: Sequence[Sequence[Label]]) -> float:
    """Fleiss' kappa (4 classes) over an items x raters matrix (None = missing)."""
    rows = _matrix(ratings)
    counts = [[sum(1 for c in row if c == label) for label in LABELS] for row in rows]
    return fleiss_kappa_from_counts(counts) if counts else NAN


def multi_rater_agreement(ratings: Sequence[Sequence[Label]]) -> dict[str, float | int]:
    """Agreement for any number of raters: `krippendorff_alpha` (ordinal), `fleiss_kappa`, `n_items`
    (items with at least two ratings) and `n_ratings` (non-missing cells in those items)."""
    rows = _matrix(ratings)
    rated = [row for row in rows if sum(c is not None for c in row) >= 2]
    return {
        "krippendorff_alpha": krippendorff_alpha(rows),
        "fleiss_kappa": fleiss_kappa(rows),
        "n_items": len(rated),
        "n_ratings": sum(c is not None for row in rated for c in row),
    }
