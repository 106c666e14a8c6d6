"""Bootstrap intervals for kappa and alpha, the small-sample warning, and n on the Figure 6 bars."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from core.humaneval.agreement import agreement, krippendorff_alpha
from core.humaneval.bootstrap import (
    SMALL_SAMPLE,
    alpha_interval,
    format_interval,
    kappa_interval,
    small_sample_note,
)
from core.humaneval.charts import figure6_chart, results_frame
from core.humaneval.records import Rating
from core.humaneval.results import agreement_summary, model_results


def test_two_items_kappa_interval_is_the_hand_computed_one() -> None:
    # Items (A,A) and (B,C). Resamples: both first -> undefined; both second -> kappa 0; one of each
    # (half the time) -> kappa 1/3. The 95% percentile interval is therefore exactly 0 to 1/3.
    a, b = ["A", "B"], ["A", "C"]
    assert agreement(a, b)["kappa"] == pytest.approx(1 / 3)
    ci = kappa_interval(a, b)
    assert (ci.low, ci.high) == (pytest.approx(0.0), pytest.approx(1 / 3))
    assert 650 < ci.defined < 850  # about three quarters of the resamples are defined


def test_perfect_agreement_gives_a_point_interval_and_missing_pairs_are_dropped() -> None:
    labels = list("ABCD") * 10
    ci = kappa_interval(labels + [None], labels + ["A"])
    assert (ci.low, ci.high) == (pytest.approx(1.0), pytest.approx(1.0))
    alpha = alpha_interval([[x, x, None] for x in labels])
    assert (alpha.low, alpha.high) == (pytest.approx(1.0), pytest.approx(1.0))


def test_interval_is_seeded_contains_the_estimate_and_narrows_with_more_items() -> None:
    rng = random.Random(3)

    def noisy(n: int) -> tuple[list[str], list[str]]:
        a = [rng.choice("ABCD") for _ in range(n)]
        return a, [x if rng.random() < 0.7 else rng.choice("ABCD") for x in a]

    small, large = noisy(12), noisy(300)
    assert kappa_interval(*small) == kappa_interval(*small)
    assert kappa_interval(*small, seed=1) != kappa_interval(*small, seed=2)
    wide, narrow = kappa_interval(*small), kappa_interval(*large)
    assert narrow.low <= agreement(*large)["kappa"] <= narrow.high
    assert narrow.high - narrow.low < (wide.high - wide.low) / 2

    matrix = [[x, y] for x, y in zip(*large, strict=True)]
    alpha = alpha_interval(matrix)
    assert alpha.low < krippendorff_alpha(matrix) < alpha.high


def test_no_interval_when_the_statistic_is_mostly_undefined() -> None:
    ci = kappa_interval(["A"], ["A"])  # one item: every resample has one label on both sides
    assert not ci.known and format_interval(ci) == "n/a"
    assert not kappa_interval([], []).known


def test_small_sample_note_names_n_and_the_threshold() -> None:
    note = small_sample_note(2)
    assert note is not None and "Only 2 " in note and str(SMALL_SAMPLE) in note
    assert small_sample_note(SMALL_SAMPLE) is None


def test_summary_carries_intervals() -> None:
    ratings = [
        Rating(f"t{i}", "m", r, lab)
        for i in range(4)
        for r, lab in zip(("ann", "bob"), "ABCD"[i] * 2, strict=True)
    ]
    summary = agreement_summary(ratings)
    pair = summary["pairs"][("ann", "bob")]
    assert pair["n"] == 4 and pair["kappa_ci"].low == pytest.approx(1.0)
    assert summary["all"]["alpha_ci"].resamples == 1000


def test_figure6_bars_show_n_in_the_label_and_the_tooltip() -> None:
    results = model_results(
        [Rating("t1", "gpt", "ann", "A"), Rating("t1", "llama", "ann", "C")]
        + [Rating(f"t{i}", "llama", "bob", "D") for i in range(4)]
    )
    frame = results_frame(results)
    assert set(frame["bar"]) == {"gpt (n=1)", "llama (n=5)"}
    spec = figure6_chart(results).to_dict()
    tooltip = spec["layer"][0]["encoding"]["tooltip"]
    assert {"field": "ratings", "type": "quantitative", "title": "ratings (n)"} in tooltip
    assert not math.isnan(frame["share"].sum())


def test_fast_kappa_equals_the_library_kappa() -> None:
    from core.humaneval.agreement import LABELS, cohen_kappa
    from core.humaneval.bootstrap import _kappa_from_cells

    rng = random.Random(5)
    for n in (1, 2, 7, 50):
        a = [rng.choice("ABCD") for _ in range(n)]
        b = [rng.choice("AB") for _ in range(n)]
        cells = np.array(["ABCD".index(x) * 4 + "ABCD".index(y) for x, y in zip(a, b, strict=True)])
        expected = cohen_kappa(a, b, list(LABELS))
        got = _kappa_from_cells(cells)
        assert (math.isnan(expected) and math.isnan(got)) or got == pytest.approx(expected)


def test_report_carries_the_interval_and_the_small_sample_note() -> None:
    from core.humaneval.export import results_report

    ratings = [Rating("t1", "m", "ann", "A"), Rating("t1", "m", "bob", "A"), Rating("t2", "m", "ann", "B")]
    ratings.append(Rating("t2", "m", "bob", "C"))
    report = results_report(model_results(ratings), agreement_summary(ratings))
    assert "κ 95% CI (bootstrap)" in report and "| ann / bob | 2 | 0.33 | 0.00 to 0.33 |" in report
    assert "Only 2 items rated by both raters of a pair" in report
