"""Execution accuracy: per input, per instruction, per task, and against the gold human instructions.

The arithmetic follows the paper's evaluation code: an instruction's score is the plain mean over the test
inputs; a task's score is the mean over its distinct instructions weighted by how often each was induced.
The gold instructions go through the same code with a count of 1 each, which gives the human baseline.
Scores are fractions in [0, 1]; only the "% of human" figures are percentages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from core import metrics


@dataclass(frozen=True)
class InputResult:
    """One test input run under one instruction: what came back, what was accepted, and the score."""

    input: str
    prediction: str
    answers: tuple[str, ...]
    normalized_prediction: str
    normalized_answers: tuple[str, ...]
    score: float


def score_input(metric: str, input: str, prediction: str, answers: Iterable[str] | str) -> InputResult:
    """Score one prediction with a metric name ("em", "f1", "es", "contains"), keeping the drill-down."""
    answers_t = (answers,) if isinstance(answers, str) else tuple(answers)
    forms = metrics.normalized_forms(prediction, answers_t)
    return InputResult(
        input=input,
        prediction=prediction,
        answers=answers_t,
        normalized_prediction=forms.prediction,
        normalized_answers=forms.answers,
        score=metrics.score_with_metric(metric, prediction, answers_t),
    )


def score_task_input(
    task_name: str, input: str, prediction: str, answers: Iterable[str] | str
) -> InputResult:
    """`score_input` with the metric of one of the 24 tasks (KeyError naming them for anything else)."""
    return score_input(metrics.metric_for_task(task_name), input, prediction, answers)


@dataclass
class InstructionResult:
    """One distinct instruction, how many times it was induced (1 for a gold one), and its inputs."""

    instruction: str
    count: int
    inputs: list[InputResult] = field(default_factory=list)

    @property
    def mean_score(self) -> float:
        """Mean over inputs (0.0 before any input is scored, rather than the reference's ZeroDivisionError)."""
        if not self.inputs:
            return 0.0
        return sum(r.score for r in self.inputs) / len(self.inputs)


def score_instruction(
    metric: str,
    instruction: str,
    count: int,
    rows: Iterable[tuple[str, str, Sequence[str]]],
) -> InstructionResult:
    """An instruction's result from (input, prediction, answers) rows, scored with a metric name.

    For a task among the 24, pass `metrics.metric_for_task(task)`. Gold instructions are used as written
    (not post-processed) and counted once each, as in the paper.
    """
    return InstructionResult(instruction, count, [score_input(metric, i, p, a) for i, p, a in rows])


def weighted_task_score(results: Sequence[InstructionResult]) -> float:
    """Mean of the instructions' scores weighted by their counts; 0.0 when there is none."""
    total = sum(r.count for r in results)
    if total == 0:
        return 0.0
    # Accumulated term by term exactly as the reference does, so the float matches to the last bit.
    score = 0.0
    for r in results:
        score += (r.mean_score * r.count) / total
    return score


def human_baseline(gold_results: Sequence[InstructionResult]) -> float:
    """The gold instructions' task score: each counts once, whatever `count` it carries."""
    return weighted_task_score(
        [InstructionResult(r.instruction, 1, r.inputs) for r in gold_results]  # weight 1 each
    )


def weighted_mean(values: Sequence[float | None], counts: Sequence[int]) -> float | None:
    """Mean of per-instruction values (e.g. best BERTScore F1) weighted by counts, skipping None."""
    pairs = [(v, c) for v, c in zip(values, counts, strict=True) if v is not None and c > 0]
    total = sum(c for _, c in pairs)
    return sum(v * c for v, c in pairs) / total if total else None


def percent_of_human(induced: float, human: float) -> float | None:
    """induced / human x 100; None when the human baseline is 0 (undefined: the UI shows "n/a").

    Such a task is left out of `OverallSummary.mean_of_ratios` but still counts in the ratio of means.
    """
    if human <= 0:
        return None
    return induced / human * 100.0


@dataclass(frozen=True)
class TaskSummary:
    task: str
    induced: float
    human: float
    n_instructions: int = 0  # induced instructions in all (the sum of the counts)
    n_unique: int = 0
    n_inputs: int = 0
    bertscore_f1: float | None = None  # best-reference F1, averaged over induced instructions by count

    @property
    def percent_of_human(self) -> float | None:
        return percent_of_human(self.induced, self.human)


def summarize_task(
    task: str,
    induced: Sequence[InstructionResult],
    gold: Sequence[InstructionResult],
    bertscore_f1: float | None = None,
) -> TaskSummary:
    return TaskSummary(
        task=task,
        induced=weighted_task_score(induced),
        human=human_baseline(gold),
        n_instructions=sum(r.count for r in induced),
        n_unique=len(induced),
        n_inputs=max((len(r.inputs) for r in induced), default=0),
        bertscore_f1=bertscore_f1,
    )


Aggregation = Literal["ratio_of_means", "mean_of_ratios"]


@dataclass(frozen=True)
class OverallSummary:
    """Across tasks. `percent_of_human` is the headline; both aggregations are kept for transparency."""

    n_tasks: int
    mean_induced: float
    mean_human: float
    ratio_of_means: float | None
    mean_of_ratios: float | None
    headline: Aggregation = "ratio_of_means"

    @property
    def percent_of_human(self) -> float | None:
        return self.ratio_of_means if self.headline == "ratio_of_means" else self.mean_of_ratios


def summarize_overall(
    tasks: Sequence[TaskSummary], headline: Aggregation = "ratio_of_means"
) -> OverallSummary:
    """Average over tasks (each task counts once, whatever its number of inputs).

    Headline choice: the paper states its result as "InstructGPT achieves 65.7% of human performance in our
    execution-based metric" and reports per-task execution accuracy next to the gold annotations' and the
    average over the 24 tasks; its released evaluation code (evaluate.py) stops at per-task weighted scores
    and does no cross-task aggregation. We therefore take the reading "average induced accuracy over tasks
    divided by average human accuracy over tasks" (ratio of means) as the headline, which cannot be
    dominated by a task whose human baseline is near 0. The mean of the per-task ratios is reported beside
    it, skipping tasks with a human baseline of 0. We could not check the paper's full text offline: if it
    turns out to average the per-task ratios, pass headline="mean_of_ratios".
    """
    if not tasks:
        return OverallSummary(0, 0.0, 0.0, None, None, headline)
    mean_induced = sum(t.induced for t in tasks) / len(tasks)
    mean_human = sum(t.human for t in tasks) / len(tasks)
    ratios = [p for p in (t.percent_of_human for t in tasks) if p is not None]
    return OverallSummary(
        n_tasks=len(tasks),
        mean_induced=mean_induced,
        mean_human=mean_human,
        ratio_of_means=percent_of_human(mean_induced, mean_human),
        mean_of_ratios=sum(ratios) / len(ratios) if ratios else None,
        headline=headline,
    )
