"""Scores of a run, computed from its stored outputs: per task, per benchmark, and as CSV/Markdown rows."""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass, field
from typing import Any

from core.induction import bertscore
from core.induction.postprocess import InstructionGroup, group_instructions
from core.induction.prompts import (
    Demo,
)
from core.induction.scoring import (
    InputResult,
    InstructionResult,
    OverallSummary,
    TaskSummary,
    score_input,
    summarize_overall,
    summarize_task,
)
from core.induction.spec import (
    InductionSpec,
    TestInput,
    benchmark_tasks,
    instruction_hash,
    paper_departures,
    resolve_spec,
)


@dataclass
class GroupReport:
    """One instruction's outputs on the test inputs, scored; `scored[i]` says whether row i counts.

    A row counts when its input has accepted answers, or when a person judged its output.
    """

    instruction: str
    count: int
    inputs: list[InputResult]
    call_ids: list[int | None]
    bert: dict[str, Any] | None = None
    scored: list[bool] = field(default_factory=list)
    judged: list[bool | None] = field(default_factory=list)  # None: no verdict (or not needed)
    test_indices: list[int] = field(default_factory=list)  # index of each row in the report's tests

    @property
    def counted(self) -> list[InputResult]:
        return [r for r, s in zip(self.inputs, self.scored, strict=True) if s]

    @property
    def mean(self) -> float | None:
        rows = self.counted
        return sum(r.score for r in rows) / len(rows) if rows else None

    @property
    def best_bert_f1(self) -> float | None:
        if not self.bert or self.bert.get("best_index") is None:
            return None
        return self.bert["per_reference"][self.bert["best_index"]][3]

    @property
    def best_reference(self) -> str | None:
        if not self.bert or self.bert.get("best_index") is None:
            return None
        return self.bert["per_reference"][self.bert["best_index"]][0]


@dataclass
class InductionReport:
    task: str
    metric: str
    induced_raw: list[dict[str, Any]]
    groups: list[GroupReport]  # every distinct induced instruction, executed on the test inputs
    gold: list[GroupReport]
    summary: TaskSummary
    search: dict[str, Any] | None
    complete: bool
    tests: tuple[TestInput, ...]
    candidates: list[InstructionGroup] = field(default_factory=list)  # every distinct induced instruction
    bert_error: str | None = None
    demo_sets: tuple[tuple[Demo, ...], ...] = ()
    candidate_bert: dict[str, dict[str, Any]] = field(default_factory=dict)  # instruction -> stored BERTScore
    search_requested: bool = False
    # The search's winner scored on test inputs it was not selected on (None without a search).
    selected: GroupReport | None = None
    bert_model: str | None = None
    bert_rescaled: bool = False
    sample: dict[str, Any] = field(default_factory=dict)

    @property
    def selected_accuracy(self) -> float | None:
        return None if self.selected is None else self.selected.mean

    @property
    def bert_scale_note(self) -> str:
        return bertscore.scale_note(self.bert_model, self.bert_rescaled)

    @property
    def needs_judging(self) -> bool:
        return any(not t.answers for t in self.tests)


def _group_report(
    spec: InductionSpec, results: dict[str, Any], prefix: str, instruction: str, count: int
) -> GroupReport:
    h = instruction_hash(instruction)
    report = GroupReport(instruction, count, [], [], results.get(f"{prefix}bert/{h}"))
    for i, test in enumerate(spec.tests):
        stored = results.get(f"{prefix}exec/{h}/{i}")
        if stored is None:
            continue
        row = score_input(spec.metric, test.input, stored["prediction"], test.answers)
        verdict = results.get(f"{prefix}judge/{h}/{i}")
        judged = None if verdict is None else bool(verdict.get("ok"))
        if not test.answers and judged is not None:
            row = dataclasses.replace(row, score=1.0 if judged else 0.0)
        report.inputs.append(row)
        report.call_ids.append(stored.get("call_id"))
        report.scored.append(bool(test.answers) or judged is not None)
        report.judged.append(judged)
        report.test_indices.append(i)
    return report


def build_report(
    params: dict[str, Any], results: dict[str, Any], task_name: str | None = None
) -> InductionReport:
    """Score a run (or one task of a benchmark run) from its stored outputs: no model call."""
    spec = resolve_spec(params, task_name)
    prefix = f"{spec.task}/" if task_name else ""
    raw = [
        results[f"{prefix}induce/{j}/{s}"]
        for j in range(len(spec.demo_sets))
        for s in range(spec.k)
        if f"{prefix}induce/{j}/{s}" in results
    ]
    grouped = group_instructions([r["instruction"] for r in raw], clean=False)
    search = results.get(f"{prefix}search")
    groups = [_group_report(spec, results, prefix, g.text, g.count) for g in grouped]
    selected = None
    if search:
        selected = _group_report(spec, results, prefix, search["best"], 1)
        # Only rows the search did not see: with your own demonstrations the split is part of the tests.
        seen = set(spec.search_in_tests)
        keep = [n for n, i in enumerate(selected.test_indices) if i not in seen]
        selected = GroupReport(
            selected.instruction,
            1,
            [selected.inputs[n] for n in keep],
            [selected.call_ids[n] for n in keep],
            selected.bert,
            [selected.scored[n] for n in keep],
            [selected.judged[n] for n in keep],
            [selected.test_indices[n] for n in keep],
        )
    gold = [_group_report(spec, results, prefix, ins, 1) for ins in spec.gold]
    bert_f1 = [(g.best_bert_f1, g.count) for g in groups if g.best_bert_f1 is not None]
    total = sum(c for _, c in bert_f1)
    summary = summarize_task(
        spec.task,
        # Rows no answer or verdict can score (hand-judged tests not judged yet) do not count.
        [InstructionResult(g.instruction, g.count, g.counted) for g in groups],
        [InstructionResult(g.instruction, 1, g.counted) for g in gold],
        bertscore_f1=sum(f * c for f, c in bert_f1) / total if total else None,
    )
    complete = len(raw) == spec.n_induce and all(len(g.inputs) == len(spec.tests) for g in groups + gold)
    error = results.get(f"{prefix}bert-error")
    return InductionReport(
        task=spec.task,
        metric=spec.metric,
        induced_raw=raw,
        groups=groups,
        gold=gold,
        summary=summary,
        search=search,
        complete=complete,
        tests=spec.tests,
        candidates=grouped,
        bert_error=error["error"] if error and not any(g.bert for g in groups) else None,
        demo_sets=spec.demo_sets,
        candidate_bert={
            g.text: bert for g in grouped if (bert := results.get(f"{prefix}bert/{instruction_hash(g.text)}"))
        },
        search_requested=bool(spec.search_examples),
        selected=selected,
        bert_model=spec.bertscore_model,
        bert_rescaled=spec.bertscore_rescale,
        sample=spec.sample,
    )


@dataclass
class BenchmarkReport:
    reports: list[InductionReport]
    overall: OverallSummary  # over the complete tasks only
    notes: list[str] = field(default_factory=list)  # see `run_notes`
    departures: list[str] = field(default_factory=list)  # see `paper_departures`

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.reports)


def build_benchmark(params: dict[str, Any], results: dict[str, Any]) -> BenchmarkReport:
    """Every task of a benchmark run scored from its stored outputs, and the overall summary."""
    reports = [build_report(params, results, name) for name in benchmark_tasks(params)]
    return BenchmarkReport(
        reports,
        summarize_overall([r.summary for r in reports if r.complete]),
        run_notes(params, reports),
        paper_departures(params),
    )


BENCHMARK_COLUMNS = (
    "task",
    "metric",
    "induced",
    "human",
    "percent_of_human",
    "selected_accuracy",
    "bertscore_f1",
    "bertscore_scale",
    "instructions",
    "unique",
    "inputs",
    "complete",
    "departures_from_paper",
)


def benchmark_rows(bench: BenchmarkReport) -> list[dict[str, Any]]:
    """The per-task table: execution accuracy of induced vs gold instructions (fractions), % of human."""
    return [
        {
            "task": r.task,
            "metric": r.metric,
            "induced": r.summary.induced,
            "human": r.summary.human,
            "percent_of_human": r.summary.percent_of_human,
            "selected_accuracy": r.selected_accuracy,
            "bertscore_f1": r.summary.bertscore_f1,
            "bertscore_scale": r.bert_scale_note if r.summary.bertscore_f1 is not None else "",
            "instructions": r.summary.n_instructions,
            "unique": r.summary.n_unique,
            "inputs": len(r.tests),
            "complete": r.complete,
            "departures_from_paper": "; ".join(bench.departures) or "none",
        }
        for r in bench.reports
    ]


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(BENCHMARK_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k in BENCHMARK_COLUMNS})
    return out.getvalue()


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def rows_to_markdown(
    rows: list[dict[str, Any]], overall: OverallSummary | None = None, notes: list[str] | None = None
) -> str:
    """A Markdown table with accuracies as percentages; the overall line uses the complete tasks.

    `notes` (see `run_notes`) are printed under the table: how the run departs from the paper, what the
    BERTScore and selected-instruction figures are.
    """
    selected = any(r.get("selected_accuracy") is not None for r in rows)
    head = "| task | metric | induced (%) | human (%) | % of human |"
    rule = "|---|---|---:|---:|---:|"
    if selected:
        head += " selected instruction (%) |"
        rule += "---:|"
    lines = [head + " BERTScore F1 | unique / induced | inputs |", rule + "---:|---:|---:|"]
    for r in rows:
        bert = "n/a" if r["bertscore_f1"] is None else f"{r['bertscore_f1']:.3f}"
        flag = "" if r["complete"] else " (incomplete)"
        extra = ""
        if selected:
            value = r.get("selected_accuracy")
            extra = f" {'n/a' if value is None else f'{value * 100:.1f}'} |"
        lines.append(
            f"| {r['task']}{flag} | {r['metric']} | {r['induced'] * 100:.1f} | {r['human'] * 100:.1f} | "
            f"{_pct(r['percent_of_human'])} |{extra} {bert} | {r['unique']} / {r['instructions']} | "
            f"{r['inputs']} |"
        )
    if overall is not None and overall.n_tasks:
        lines.append(
            f"| **overall ({overall.n_tasks} tasks)** | | {overall.mean_induced * 100:.1f} | "
            f"{overall.mean_human * 100:.1f} | **{_pct(overall.percent_of_human)}** |"
            + (" |" if selected else "")
            + " | | |"
        )
        lines.append("")
        lines.append(
            f"% of human performance: {_pct(overall.ratio_of_means)} (mean induced / mean human over tasks, "
            f"the headline); mean of per-task ratios: {_pct(overall.mean_of_ratios)}."
        )
    if notes:
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    return "\n".join(lines) + "\n"


SELECTED_NOTE = (
    "Selected instruction: the search's winner, scored on test inputs it was not selected on. Induced "
    "accuracy and % of human stay the paper's figure: every induced instruction, weighted by how often it "
    "was induced."
)


def run_notes(params: dict[str, Any], reports: list[InductionReport]) -> list[str]:
    """Labels that travel with a run's figures (page, stored run, exports)."""
    departures = paper_departures(params)
    notes = [
        "Settings: the paper's method."
        if not departures
        else "Departures from the paper: " + "; ".join(departures) + "."
    ]
    if any(r.selected is not None for r in reports):
        notes.append(SELECTED_NOTE)
    if params.get("bertscore", True):
        notes.append(
            "BERTScore: "
            + bertscore.scale_note(params.get("bertscore_model"), bool(params.get("bertscore_rescale")))
            + "."
        )
    return notes
