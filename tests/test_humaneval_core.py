"""The pure core of human evaluation: agreement, results, campaigns, blinding, exports."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import random
import warnings

import krippendorff
import numpy as np
import pytest
from scipy.stats import binomtest, spearmanr
from sklearn.metrics import cohen_kappa_score

from core.humaneval import (
    DEFAULT_GUIDELINES,
    LABELS,
    RATING_SCALE,
    CampaignSpec,
    RaterView,
    Rating,
    ResponseItem,
    agreement,
    agreement_between,
    agreement_summary,
    assign_items,
    blind,
    blind_id,
    disagreements,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    item_id,
    krippendorff_alpha,
    model_results,
    multi_rater_agreement,
    rater_order,
    rating_matrix,
    ratings_to_csv,
    ratings_to_jsonl,
    results_report,
    resume_index,
)

ORD = {"A": 4, "B": 3, "C": 2, "D": 1}


def random_pair(rng: random.Random, n: int, missing: float = 0.1) -> tuple[list, list]:
    def label() -> str | None:
        return None if rng.random() < missing else rng.choice(LABELS)

    # Correlate the second rater with the first so the statistics are not all near zero.
    a = [label() for _ in range(n)]
    b = [x if x is not None and rng.random() < 0.6 else label() for x in a]
    return a, b


# --- agreement -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_agreement_matches_the_libraries_on_random_ratings(seed: int) -> None:
    rng = random.Random(seed)
    a, b = random_pair(rng, 80)
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    xa, xb = [p[0] for p in pairs], [p[1] for p in pairs]

    got = agreement(a, b)

    assert got["n"] == len(pairs)
    assert got["kappa"] == pytest.approx(cohen_kappa_score(xa, xb, labels=list(LABELS)))
    acc = [x in "AB" for x in xa], [x in "AB" for x in xb]
    assert got["kappa_acceptable"] == pytest.approx(cohen_kappa_score(*acc))
    assert got["spearman"] == pytest.approx(spearmanr([ORD[x] for x in xa], [ORD[x] for x in xb]).statistic)


def test_agreement_undefined_values_are_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = agreement(["A", "A", "A"], ["A", "A", "A"])
        empty = agreement([None, "A"], ["B", None])
        opposite = agreement(["A", "A"], ["D", "D"])
    assert same["n"] == 3 and math.isnan(same["kappa"]) and math.isnan(same["spearman"])
    assert math.isnan(same["kappa_acceptable"])
    assert empty["n"] == 0 and all(math.isnan(empty[k]) for k in ("kappa", "kappa_acceptable", "spearman"))
    # Different constant labels: kappa is defined (0), correlation is not.
    assert (
        opposite["kappa"] == 0.0 and opposite["kappa_acceptable"] == 0.0 and math.isnan(opposite["spearman"])
    )


def test_agreement_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="aligned"):
        agreement(["A"], ["A", "B"])
    with pytest.raises(ValueError, match="unknown rating"):
        agreement(["A", "E"], ["A", "B"])
    with pytest.raises(ValueError, match="unknown rating"):
        agreement([None], ["a"])  # lower case is not a label


def test_perfect_agreement() -> None:
    got = agreement(list("ABCDAB"), list("ABCDAB"))
    assert got == {"kappa": 1.0, "kappa_acceptable": 1.0, "spearman": pytest.approx(1.0), "n": 6}


@pytest.mark.parametrize("seed", range(5))
def test_krippendorff_matches_the_library_on_random_matrices(seed: int) -> None:
    rng = random.Random(100 + seed)
    truth = [rng.choice(LABELS) for _ in range(40)]
    matrix = [
        [None if rng.random() < 0.3 else (t if rng.random() < 0.7 else rng.choice(LABELS)) for _ in range(4)]
        for t in truth
    ]
    data = np.array([[np.nan if c is None else ORD[c] for c in row] for row in matrix], dtype=float).T
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
    assert krippendorff_alpha(matrix) == pytest.approx(expected)
    assert multi_rater_agreement(matrix)["krippendorff_alpha"] == pytest.approx(expected)


def test_fleiss_kappa_worked_example() -> None:
    # Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14 raters, 5 categories,
    # P-bar = 0.378, P-bar-e = 0.213, kappa = 0.210.
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa_from_counts(table) == pytest.approx(0.20993, abs=5e-5)
    assert round(fleiss_kappa_from_counts(table), 3) == 0.210


def test_fleiss_kappa_from_a_rating_matrix() -> None:
    matrix = [["A", "A", "B"], ["C", "C", "C"], ["D", "B", None], ["A", None, None]]
    # Built by hand: counts per item over A-D; the last item has one rating and is left out.
    counts = [[2, 1, 0, 0], [0, 0, 3, 0], [0, 1, 0, 1]]
    assert fleiss_kappa(matrix) == pytest.approx(fleiss_kappa_from_counts(counts))
    # With two raters per item, Fleiss' kappa is Scott's pi.
    a, b = list("AABCDDAB"), list("ABBCDCAA")
    pooled = {k: (a + b).count(k) / 16 for k in LABELS}
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / 8
    p_e = sum(v * v for v in pooled.values())
    assert fleiss_kappa([list(p) for p in zip(a, b, strict=True)]) == pytest.approx((p_o - p_e) / (1 - p_e))


def test_multi_rater_undefined_and_counts() -> None:
    got = multi_rater_agreement([["A", "A", None], ["A", "A", "A"], [None, "B", None]])
    assert math.isnan(got["krippendorff_alpha"]) and math.isnan(got["fleiss_kappa"])
    assert got["n_items"] == 2 and got["n_ratings"] == 5
    with pytest.raises(ValueError, match="one cell per rater"):
        multi_rater_agreement([["A", "B"], ["A"]])


# --- results ---------------------------------------------------------------------------------------------------


def sample_ratings() -> list[Rating]:
    return [
        Rating("t1", "m1", "ann", "A"),
        Rating("t1", "m1", "bob", "C", comment="rambles on"),
        Rating("t2", "m1", "ann", "B"),
        Rating("t2", "m1", "bob", "B"),
        Rating("t1", "m2", "ann", "D"),
        Rating("t1", "m2", "bob", "D"),
        Rating("t2", "m2", "ann", None),  # skipped
        Rating("t2", "m2", "bob", "B"),
    ]


def test_model_results_counts_shares_and_wilson_interval() -> None:
    results = {r.model: r for r in model_results(sample_ratings())}
    m1 = results["m1"]
    assert m1.n == 4 and m1.counts == {"A": 1, "B": 2, "C": 1, "D": 0}
    assert m1.shares["B"] == 0.5 and m1.acceptable == 3 and m1.acceptable_share == 0.75
    ci = binomtest(3, 4).proportion_ci(method="wilson")
    assert (m1.ci_low, m1.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert results["m2"].n == 3 and results["m2"].counts["D"] == 2  # the skip is not counted


def test_model_results_filter_by_motivation_app_and_empty_model() -> None:
    apps = {"t1": "Grammarly", "t2": "Gmail"}
    only = model_results(sample_ratings(), apps, {"Gmail"}, models=["m1", "m2", "m3"])
    assert [r.model for r in only] == ["m1", "m2", "m3"]
    assert only[0].counts == {"A": 0, "B": 2, "C": 0, "D": 0}
    assert only[2].n == 0 and math.isnan(only[2].acceptable_share) and math.isnan(only[2].ci_low)
    with pytest.raises(ValueError, match="mapping"):
        model_results(sample_ratings(), None, {"Gmail"})


def test_disagreements_list_items_where_raters_differ() -> None:
    found = disagreements(sample_ratings())
    assert [(d.task_id, d.model) for d in found] == [("t1", "m1")]
    assert found[0].labels == {"ann": "A", "bob": "C"} and found[0].spread == 2
    assert found[0].comments == {"bob": "rambles on"} and found[0].item_id == item_id("t1", "m1")


def test_rating_matrix_and_pairwise_agreement() -> None:
    rows, raters, matrix = rating_matrix(sample_ratings())
    assert raters == ["ann", "bob"] and rows[0] == ("t1", "m1")
    assert matrix[rows.index(("t2", "m2"))] == [None, "B"]
    assert agreement_between(sample_ratings(), "ann", "bob")["n"] == 3
    summary = agreement_summary(sample_ratings())
    assert set(summary["pairs"]) == {("ann", "bob")} and summary["all"]["n_items"] == 3


# --- campaign --------------------------------------------------------------------------------------------------


def test_guidelines_are_the_papers_four_levels() -> None:
    assert list(RATING_SCALE) == list(LABELS)
    for label in LABELS:
        assert f"**{label}: {RATING_SCALE[label][0]}.**" in DEFAULT_GUIDELINES
    assert "valid and satisfying" in DEFAULT_GUIDELINES.lower()
    assert "irrelevant or invalid" in DEFAULT_GUIDELINES.lower()


@pytest.mark.parametrize(("n_raters", "overlap"), [(1, 1), (3, 2), (4, 2), (5, 3), (4, 4)])
def test_assignment_gives_each_item_overlap_distinct_raters_with_balanced_loads(n_raters, overlap) -> None:
    items = [item_id(f"t{i}", m) for i in range(25) for m in ("m1", "m2")]
    raters = [f"r{i}" for i in range(n_raters)]
    plan = assign_items(items, raters, overlap, seed=7)
    per_item: dict[str, list[str]] = {}
    for rater, order in plan.items():
        assert len(order) == len(set(order))
        for it in order:
            per_item.setdefault(it, []).append(rater)
    assert set(per_item) == set(items)
    assert all(len(set(who)) == overlap for who in per_item.values())
    loads = [len(order) for order in plan.values()]
    assert max(loads) - min(loads) <= 1


def test_assignment_is_deterministic_and_seeded() -> None:
    items = [f"item-{i}" for i in range(30)]
    raters = ["ann", "bob", "cy"]
    plan = assign_items(items, raters, 2, seed=1)
    assert plan == assign_items(list(reversed(items)), list(reversed(raters)), 2, seed=1)
    assert plan != assign_items(items, raters, 2, seed=2)
    # Each rater's order is their own seeded shuffle of their items.
    for rater, order in plan.items():
        assert order == rater_order(order, 1, rater)
    assert plan["ann"] != sorted(plan["ann"])
    # Pairs are mixed, so every pair of raters shares items.
    shared = {(a, b): len(set(plan[a]) & set(plan[b])) for a in raters for b in raters if a < b}
    assert all(v > 0 for v in shared.values())


def test_two_raters_with_the_same_items_get_different_orders() -> None:
    items = [f"item-{i}" for i in range(20)]
    plan = assign_items(items, ["ann", "bob"], 2, seed=3)
    assert sorted(plan["ann"]) == sorted(plan["bob"]) and plan["ann"] != plan["bob"]


def test_assignment_rejects_bad_overlap() -> None:
    with pytest.raises(ValueError, match="overlap"):
        assign_items(["a"], ["ann"], 2, seed=0)
    with pytest.raises(ValueError, match="overlap"):
        assign_items(["a"], ["ann"], 0, seed=0)
    with pytest.raises(ValueError, match="rater"):
        assign_items(["a"], [], 1, seed=0)


def test_resume_index_is_the_first_unrated_item() -> None:
    order = ["x", "y", "z"]
    assert resume_index(order, []) == 0
    assert resume_index(order, {"x"}) == 1
    assert resume_index(order, ["x", "z"]) == 1  # went back past a skipped item
    assert resume_index(order, ["z", "y", "x", "other"]) == 3


def test_campaign_spec_problems_and_items() -> None:
    spec = CampaignSpec("pilot", ("t1", "t2"), ("m1", "m2"), ("ann", "bob"), overlap=2, seed=5)
    assert spec.problems() == []
    assert spec.item_ids() == [item_id(t, m) for t in ("t1", "t2") for m in ("m1", "m2")]
    assert spec.assignments() == assign_items(spec.item_ids(), ["ann", "bob"], 2, 5)
    assert CampaignSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    bad = CampaignSpec(" ", (), ("m1", "m1"), ("ann",), overlap=3, guidelines="")
    assert len(bad.problems()) == 5


# --- blinding --------------------------------------------------------------------------------------------------


def test_the_rater_view_carries_no_model_name() -> None:
    item = ResponseItem(
        task_id="user_oriented_task_3",
        model="text-davinci-003",
        instruction="Summarise the email.",
        input="Hi all, the meeting moved to 3pm.",
        response="The meeting is now at 3pm.",
        reference_output="Meeting moved to 3pm.",
        motivation_app="Gmail",
    )
    view = blind(item, blind_id(b"k" * 32, 7, item.item_id), position=4, total=10)
    assert "model" not in {f.name for f in dataclasses.fields(RaterView)}
    assert not hasattr(view, "model")
    rendered = json.dumps(dataclasses.asdict(view)) + repr(view) + str(view)
    assert "davinci" not in rendered
    assert item.item_id not in rendered  # the stored id is a plain hash of (task, model): never shown
    assert view.blind_id == blind_id(b"k" * 32, 7, item.item_id) != blind_id(b"j" * 32, 7, item.item_id)
    assert view.position == 4 and view.response == item.response
    assert item_id("t", "model-a") != item_id("t", "model-b")


# --- exports ---------------------------------------------------------------------------------------------------


def test_ratings_csv_and_jsonl_round_trip() -> None:
    ratings = [
        *sample_ratings(),
        Rating("t3", "m1", "ann", "A", comment='says "hi",\nthen\tstops', flagged=True),
    ]
    rows = list(csv.DictReader(io.StringIO(ratings_to_csv(ratings))))
    assert len(rows) == len(ratings)
    assert rows[-1]["comment"] == 'says "hi",\nthen\tstops' and rows[-1]["flagged"] == "True"
    assert rows[6]["label"] == "" and rows[0]["item_id"] == item_id("t1", "m1")
    lines = ratings_to_jsonl(ratings).splitlines()
    assert [json.loads(line)["label"] for line in lines] == [r.label for r in ratings]
    assert json.loads(lines[0]).keys() >= {"item_id", "task_id", "model", "rater", "label", "rated_at"}


def test_results_report_markdown() -> None:
    ratings = sample_ratings()
    report = results_report(
        model_results(ratings), agreement_summary(ratings), disagreements(ratings), filter_note="All apps."
    )
    assert report.startswith("# Human evaluation results\n")
    assert "| m1 | 4 | 1 (25%) | 2 (50%) | 1 (25%) | 0 (0%) | 3 (75.0%) |" in report
    assert "ann / bob" in report and "Krippendorff" in report and "1 items with differing ratings" in report
    # A pipe in a model name does not break the table.
    assert "a\\|b" in results_report(model_results([Rating("t", "a|b", "ann", "A")]))


def test_rating_rejects_unknown_label() -> None:
    with pytest.raises(ValueError):
        Rating("t", "m", "ann", "E")
