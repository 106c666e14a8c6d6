"""Execution-accuracy metrics of the Instruction Induction paper (Honovich et al., 2022).

Every function here reproduces the paper's evaluation code operation for operation, including its quirks
(the "." cut, ASCII-only punctuation removal, the unescaped regular expression of `contains`), because
`execution_score` must give the paper's number for any prediction, not merely a similar one.

Metric names (as in `core.datasets.registry.TASK_METRICS`): "em" exact match, "f1" token F1,
"es" exact set, "contains" whole-word containment.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.datasets.registry import TASK_METRICS

_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    """The paper's normalisation of a prediction or an answer; the order of the steps matters."""
    text = text.replace(" and ", " ")
    text = text.replace("Sentence 1:", " ")
    text = text.replace("Sentence 2:", " ")
    # Strip before cutting to the first line, so a leading newline does not empty the prediction.
    text = text.strip()
    text = text.split("\n")[0]
    text = text.split(".")[0]
    text = text.lower()
    text = text.replace("-", " ")
    # Only ASCII punctuation goes: "¿", "’", "«" and the like stay, as in the paper.
    return text.translate(_DELETE_PUNCTUATION)


def _answers(answers: Iterable[str] | str) -> list[str]:
    # A bare string is one answer; iterating it would score each character as an answer.
    return [answers] if isinstance(answers, str) else list(answers)


def _prediction(prediction: str | None) -> str:
    return "" if prediction is None else prediction


def _f1_one(prediction: str, answer: str) -> float:
    pred_tokens = normalize(prediction).split()
    gold_tokens = normalize(answer).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    # Same expression order as the reference, so the float is bit-identical.
    precision = 1.0 * num_same / len(pred_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def _contains_one(prediction: str, answer: str) -> bool:
    norm_pred = normalize(prediction)
    norm_answer = normalize(answer)
    # The reference puts the normalised answer into the pattern unescaped. Normalisation has removed every
    # ASCII regex metacharacter, so the pattern always compiles; what is left (letters, digits, spaces,
    # non-ASCII symbols) matches literally. An empty answer gives r"\b()\b": any word boundary matches.
    try:
        return re.search(r"\b(" + norm_answer + r")\b", norm_pred) is not None
    except re.error:  # unreachable after normalisation; kept so a future change cannot crash scoring
        return re.search(r"\b(" + re.escape(norm_answer) + r")\b", norm_pred) is not None


def em(prediction: str, answers: Iterable[str] | str) -> float:
    """1.0 if the normalised prediction equals any normalised answer, else 0.0."""
    norm_pred = normalize(_prediction(prediction))
    return 1.0 if any(norm_pred == normalize(a) for a in _answers(answers)) else 0.0


def f1(prediction: str, answers: Iterable[str] | str) -> float:
    """The best token F1 over the answers (0.0 with no answer; the reference would crash there)."""
    prediction = _prediction(prediction)
    return max((_f1_one(prediction, a) for a in _answers(answers)), default=0.0)


def exact_set(prediction: str, answers: Iterable[str] | str) -> float:
    """1.0 if the set of normalised tokens equals that of any answer (order and repeats ignored)."""
    pred_set = set(normalize(_prediction(prediction)).split())
    return 1.0 if any(pred_set == set(normalize(a).split()) for a in _answers(answers)) else 0.0


def contains(prediction: str, answers: Iterable[str] | str) -> float:
    """1.0 if any normalised answer occurs in the normalised prediction as whole words."""
    prediction = _prediction(prediction)
    return 1.0 if any(_contains_one(prediction, a) for a in _answers(answers)) else 0.0


METRICS: dict[str, Callable[[str, Iterable[str] | str], float]] = {
    "em": em,
    "f1": f1,
    "es": exact_set,
    "contains": contains,
}

METRIC_LABELS: dict[str, str] = {
    "em": "exact match",
    "f1": "token F1",
    "es": "exact set",
    "contains": "contains (whole words)",
}


def metric_for_task(task_name: str) -> str:
    """The metric name of one of the 24 tasks; a KeyError naming the valid tasks otherwise."""
    try:
        return TASK_METRICS[task_name]
    except KeyError:
        raise KeyError(
            f"unknown Instruction Induction task {task_name!r}; valid tasks: {', '.join(TASK_METRICS)}"
            " (for your own task, call score_with_metric with one of: " + ", ".join(METRICS) + ")"
        ) from None


def score_with_metric(metric: str, prediction: str, answers: Iterable[str] | str) -> float:
    """Score with a metric chosen by name, for user tasks that are not among the 24."""
    try:
        fn = METRICS[metric]
    except KeyError:
        raise KeyError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}") from None
    return fn(prediction, answers)


def execution_score(task_name: str, prediction: str, answers: Iterable[str] | str) -> float:
    """The paper's score of one prediction for one of the 24 tasks, best over the accepted answers."""
    return score_with_metric(metric_for_task(task_name), prediction, answers)


@dataclass(frozen=True)
class NormalizedForms:
    """What the metric actually compared, for the drill-down view."""

    prediction: str
    answers: tuple[str, ...]


def normalized_forms(prediction: str, answers: Iterable[str] | str) -> NormalizedForms:
    return NormalizedForms(
        prediction=normalize(_prediction(prediction)),
        answers=tuple(normalize(a) for a in _answers(answers)),
    )
