"""How far a model judge agrees with human raters, wherever both labelled the same item.

Every human label of an item is paired with the judge's label of that item, so an item rated by two people
gives two pairs. Intervals are approximate 95% intervals: for Cohen's kappa the large-sample standard error
sqrt(p_o (1 - p_o) / (n (1 - p_e)^2)) (Cohen, 1960); for Spearman's rho Fisher's z with standard error
1.03 / sqrt(n - 3) (Fieller et al., 1957). Undefined figures are nan.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.humaneval.agreement import ACCEPTABLE, LABELS, agreement
from core.humaneval.records import Rating
from core.review.questions import ALL_VALID, QUESTION_KEYS
from core.review.records import ReviewLabel
from core.review.results import binary_agreement

NAN = float("nan")
Z95 = 1.959963984540054


def kappa_interval(a: Sequence, b: Sequence, kappa: float) -> tuple[float, float]:
    n = len(a)
    if n == 0 or math.isnan(kappa):
        return NAN, NAN
    labels = sorted(set(a) | set(b), key=str)
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    p_e = sum((list(a).count(k) / n) * (list(b).count(k) / n) for k in labels)
    if math.isclose(p_e, 1.0):
        return NAN, NAN
    se = math.sqrt(p_o * (1 - p_o) / (n * (1 - p_e) ** 2))
    return max(-1.0, kappa - Z95 * se), min(1.0, kappa + Z95 * se)


def spearman_interval(rho: float, n: int) -> tuple[float, float]:
    if n <= 3 or math.isnan(rho) or abs(rho) >= 1:
        return (rho, rho) if not math.isnan(rho) and n > 3 else (NAN, NAN)
    z, se = math.atanh(rho), 1.03 / math.sqrt(n - 3)
    return math.tanh(z - Z95 * se), math.tanh(z + Z95 * se)


@dataclass(frozen=True)
class RatingAgreement:
    """Judge vs humans on A/B/C/D for one model (or "all")."""

    model: str
    n: int
    kappa: float
    kappa_ci: tuple[float, float]
    kappa_acceptable: float
    kappa_acceptable_ci: tuple[float, float]
    spearman: float
    spearman_ci: tuple[float, float]
    confusion: dict[str, dict[str, int]]  # human label -> judge label -> count


def rating_pairs(human: Iterable[Rating], judge: Iterable[Rating]) -> list[tuple[str, str, str]]:
    """(model, human label, judge label) for every human rating of an item the judge labelled."""
    by_item = {r.item_id: r.label for r in judge if r.label is not None}
    return [
        (r.model, r.label, by_item[r.item_id]) for r in human if r.label is not None and r.item_id in by_item
    ]


def _rating_agreement(model: str, pairs: list[tuple[str, str]]) -> RatingAgreement:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    stats = agreement(a, b)
    acc_a, acc_b = [x in ACCEPTABLE for x in a], [x in ACCEPTABLE for x in b]
    confusion = {h: {j: 0 for j in LABELS} for h in LABELS}
    for h, j in pairs:
        confusion[h][j] += 1
    return RatingAgreement(
        model=model,
        n=int(stats["n"]),
        kappa=float(stats["kappa"]),
        kappa_ci=kappa_interval(a, b, float(stats["kappa"])),
        kappa_acceptable=float(stats["kappa_acceptable"]),
        kappa_acceptable_ci=kappa_interval(acc_a, acc_b, float(stats["kappa_acceptable"])),
        spearman=float(stats["spearman"]),
        spearman_ci=spearman_interval(float(stats["spearman"]), int(stats["n"])),
        confusion=confusion,
    )


def rating_agreement(human: Iterable[Rating], judge: Iterable[Rating]) -> list[RatingAgreement]:
    """One row per model with pairs, then "all" (over every pair); empty when there are no pairs."""
    pairs = rating_pairs(human, judge)
    if not pairs:
        return []
    models = sorted({m for m, _, _ in pairs})
    rows = [_rating_agreement(m, [(h, j) for mm, h, j in pairs if mm == m]) for m in models]
    rows.append(_rating_agreement("all", [(h, j) for _, h, j in pairs]))
    return rows


@dataclass(frozen=True)
class QualityAgreement:
    """Judge vs human reviewers on one quality question (or all-valid)."""

    question: str
    n: int
    kappa: float
    kappa_ci: tuple[float, float]
    agreement: float
    confusion: dict[str, dict[str, int]]  # human yes/no -> judge yes/no -> count


def quality_agreement(
    human: Iterable[ReviewLabel], judge: Mapping[str, Mapping[str, bool]]
) -> list[QualityAgreement]:
    """Per question and for all-valid, over every complete human label of an item the judge answered."""
    pairs = [(label, judge[label.item_id]) for label in human if label.complete and label.item_id in judge]
    rows = []
    for key in (*QUESTION_KEYS, ALL_VALID):
        if key == ALL_VALID:
            a = [bool(label.all_valid) for label, _ in pairs]
            b = [all(answers[k] for k in QUESTION_KEYS) for _, answers in pairs]
        else:
            a = [bool(label.answer(key)) for label, _ in pairs]
            b = [bool(answers[key]) for _, answers in pairs]
        stats = binary_agreement(a, b)
        confusion = {h: {j: 0 for j in ("yes", "no")} for h in ("yes", "no")}
        for x, y in zip(a, b, strict=True):
            confusion["yes" if x else "no"]["yes" if y else "no"] += 1
        rows.append(
            QualityAgreement(
                key,
                int(stats["n"]),
                float(stats["kappa"]),
                kappa_interval(a, b, float(stats["kappa"])),
                float(stats["agreement"]),
                confusion,
            )
        )
    return rows
