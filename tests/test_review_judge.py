"""The model judge, pure parts: prompts, strict parsing, judge-vs-human agreement."""

from __future__ import annotations

import math
import random

import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from core.humaneval.records import Rating
from core.review.judge import (
    DEFAULT_QUALITY_TEMPLATE,
    DEFAULT_RATING_TEMPLATE,
    JudgePrompt,
    parse_quality,
    parse_rating,
    render,
    template_problems,
)
from core.review.judge_agreement import kappa_interval, quality_agreement, rating_agreement
from core.review.judge_run import judge_params, judge_ratings, read_reply, summary
from core.review.records import ReviewLabel

RATING = JudgePrompt("rating", DEFAULT_RATING_TEMPLATE)
QUALITY = JudgePrompt("quality", DEFAULT_QUALITY_TEMPLATE)


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ("Rating: A", "A"),
        ("  Rating: D  \n", "D"),
        ("\n\nRating: B\nThe response has a small slip in the second sentence.", "B"),
        ("", None),
        ("   \n  ", None),
        ("Rating: A or B", None),
        ("Rating: a", None),
        ("rating: A", None),
        ("**Rating: A**", None),
        ("`Rating: C`", None),
        ("<b>Rating: A</b>", None),
        ("Rating: E", None),
        ("Rating: AB", None),
        ("Rating: A.", None),
        ("I would say the rating is B because it is mostly right.", None),
        ("The response is good.\nRating: A", None),
        ("A", None),
    ],
)
def test_rating_parse_is_strict(reply, label):
    assert parse_rating(reply) == label


def test_completion_reply_is_read_after_the_cue_and_chat_reply_as_is():
    assert read_reply(RATING, " B\nbecause", chat=False) == {
        "reply": " B\nbecause",
        "label": "B",
        "parsed": True,
    }
    assert read_reply(RATING, "B", chat=True)["parsed"] is False
    assert read_reply(RATING, "Rating: C", chat=True)["label"] == "C"
    stored = read_reply(RATING, " maybe A or B", chat=False)
    assert stored == {"reply": " maybe A or B", "label": None, "parsed": False}


@pytest.mark.parametrize(
    ("reply", "answers"),
    [
        ("1: yes\n2: no\n3: yes", {"instruction": True, "input": False, "output": True}),
        (
            "1: Yes\n\n2: NO\n3: no\nThe output misses the point.",
            {"instruction": True, "input": False, "output": False},
        ),
        ("", None),
        ("1: yes\n2: no", None),
        ("1: yes\n3: no\n2: yes", None),
        ("1: yes\n2: maybe\n3: no", None),
        ("1: yes or no\n2: no\n3: no", None),
        ("**1: yes**\n2: no\n3: no", None),
        ("Yes, yes and no.", None),
        ("1. yes\n2. no\n3. no", None),
    ],
)
def test_quality_parse_is_strict(reply, answers):
    assert parse_quality(reply) == answers


def test_prompts_render_once_and_check_their_placeholders():
    values = {"instruction": "Say {input} literally.", "input": "", "response": "{instruction}"}
    text = RATING.completion_prompt(values)
    assert (
        "Say {input} literally." in text and "Input:\n(none)" in text and "Response:\n{instruction}" in text
    )
    assert text.endswith("Rating:") and not RATING.chat_prompt(values).endswith("Rating:")
    assert render("{a}{b}", {"a": "{b}", "b": "x"}) == "{b}x"
    assert template_problems("rating", "no placeholders\nRating:")
    assert template_problems("quality", DEFAULT_QUALITY_TEMPLATE.removesuffix("1:"))
    assert template_problems("rating", DEFAULT_RATING_TEMPLATE) == []
    with pytest.raises(ValueError):
        JudgePrompt("rating", "Rate {instruction}\nRating:")


def _ratings(labels, rater, models=("m1",)):
    return [Rating(f"t{i}", models[i % len(models)], rater, label) for i, label in enumerate(labels)]


def test_judge_human_kappa_on_known_fixtures():
    labels = list("ABCDABCD")
    # A judge that agrees with the human on every item: kappa 1 in both forms, Spearman 1.
    same = rating_agreement(_ratings(labels, "ann"), _ratings(labels, "judge:x"))
    assert [r.model for r in same] == ["m1", "all"]
    assert same[-1].kappa == pytest.approx(1.0) and same[-1].kappa_acceptable == pytest.approx(1.0)
    assert same[-1].spearman == pytest.approx(1.0) and same[-1].n == 8
    assert same[-1].confusion["A"]["A"] == 2 and same[-1].confusion["A"]["B"] == 0
    # A judge that swaps acceptable for unacceptable everywhere (balanced marginals): binary kappa -1.
    swap = {"A": "C", "B": "D", "C": "A", "D": "B"}
    flipped = rating_agreement(_ratings(labels, "ann"), _ratings([swap[x] for x in labels], "judge:x"))[-1]
    assert flipped.kappa_acceptable == pytest.approx(-1.0)
    assert flipped.confusion["A"]["C"] == 2 and flipped.spearman < 0
    # Items only one side labelled give no pair.
    assert rating_agreement(_ratings(labels, "ann"), []) == []


def test_judge_human_agreement_matches_libraries_on_random_labels():
    rng = random.Random(11)
    human = [rng.choice("ABCD") for _ in range(200)]
    judge = [h if rng.random() < 0.5 else rng.choice("ABCD") for h in human]
    rows = rating_agreement(_ratings(human, "ann", ("m1", "m2")), _ratings(judge, "judge:x", ("m1", "m2")))
    overall = rows[-1]
    assert overall.kappa == pytest.approx(cohen_kappa_score(human, judge))
    acc = lambda xs: [x in "AB" for x in xs]  # noqa: E731
    assert overall.kappa_acceptable == pytest.approx(cohen_kappa_score(acc(human), acc(judge)))
    order = {"A": 4, "B": 3, "C": 2, "D": 1}
    rho = spearmanr([order[x] for x in human], [order[x] for x in judge]).statistic
    assert overall.spearman == pytest.approx(rho)
    assert overall.kappa_ci[0] < overall.kappa < overall.kappa_ci[1]
    m1 = rows[0]
    assert m1.model == "m1" and m1.n == 100
    assert m1.kappa == pytest.approx(cohen_kappa_score(human[0::2], judge[0::2]))
    assert sum(sum(row.values()) for row in overall.confusion.values()) == 200


def test_kappa_interval_narrows_with_n():
    a = [True, False] * 20
    b = [True, False] * 15 + [False, True] * 5
    k = cohen_kappa_score(a, b)
    low, high = kappa_interval(a, b, k)
    low4, high4 = kappa_interval(a * 4, b * 4, k)
    assert low < low4 < k < high4 < high
    assert all(math.isnan(x) for x in kappa_interval([], [], float("nan")))


def test_quality_agreement_per_question():
    human, judge = [], {}
    for i in range(20):
        answers = {"instruction": True, "input": i % 2 == 0, "output": i % 4 < 2}
        human.append(ReviewLabel(f"r{i}", "ann", answers))
        judge[f"r{i}"] = {"instruction": True, "input": i % 2 == 0, "output": i % 4 >= 2}
    human.append(ReviewLabel("r-skipped", "ann", {}, skipped=True))
    judge["r-skipped"] = {"instruction": True, "input": True, "output": True}
    rows = {r.question: r for r in quality_agreement(human, judge)}
    assert rows["input"].kappa == pytest.approx(1.0) and rows["input"].n == 20
    assert rows["output"].kappa == pytest.approx(-1.0) and rows["output"].agreement == 0
    assert math.isnan(rows["instruction"].kappa)  # both always "yes": kappa undefined
    assert rows["all"].confusion["yes"]["no"] == sum(1 for i in range(20) if i % 4 == 0)


def test_unparseable_replies_are_counted_and_never_become_ratings():
    from core.review.judge_run import JudgeItem

    items = [
        JudgeItem(
            f"k{i}", {"instruction": "x", "input": "", "response": "y"}, {"task_id": f"t{i}", "model": "m"}
        )
        for i in range(3)
    ]
    params = judge_params("rating", items, {"provider": "embedded"}, chat=False)
    results = {
        "k0": {**read_reply(RATING, " A", False), "task_id": "t0", "model": "m"},
        "k1": {**read_reply(RATING, " A or B", False), "task_id": "t1", "model": "m"},
    }
    s = summary(params, results)
    assert (s.total, s.judged, s.unparseable) == (3, 2, 1)
    assert [(r.task_id, r.label, r.rater) for r in judge_ratings(results, "judge:m")] == [
        ("t0", "A", "judge:m")
    ]
