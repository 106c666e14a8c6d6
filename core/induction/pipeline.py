"""An induction run as a background job: induce, group, execute, score — every unit stored as it finishes.

Stored results of a run (keys are prefixed with "<task>/" in a multi-task benchmark run):
- `induce/<set>/<sample>`: the raw and cleaned instruction of one induction request;
- `exec/<instruction hash>/<input index>`: one instruction's output on one held-out input;
- `bert/<instruction hash>`: BERTScore of an induced instruction against the gold instructions;
- `search`: the early-stopping search's choice and the calls it saved.
Scores are not stored: `build_report` computes them from the stored outputs, so a finished run can be
re-scored (say, after a metric fix) without a single model call.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from core.datasets import load_task
from core.datasets.records import InductionTask
from core.induction import bertscore
from core.induction.postprocess import clean_instruction, group_instructions
from core.induction.prompts import (
    EXECUTION_TEMPLATE,
    INDUCTION_TEMPLATE,
    Demo,
    render_execution_messages,
    render_execution_prompt,
    render_induction_messages,
    render_induction_prompt,
    template_version,
)
from core.induction.scoring import InputResult, InstructionResult, TaskSummary, score_input, summarize_task
from core.induction.search import successive_halving
from core.jobs.context import JobContext
from core.jobs.registry import job_kind
from core.llm import GenParams, LLMClient, Request

INDUCE_MAX_TOKENS = 64
EXECUTE_MAX_TOKENS = 40
DEMOS_PER_SET = 5


def instruction_hash(instruction: str) -> str:
    return hashlib.sha256(instruction.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class TestInput:
    input: str
    answers: tuple[str, ...]  # empty: no answer known, the user judges the output by hand


@dataclass(frozen=True)
class InductionSpec:
    """Everything a run needs, resolved from its stored parameters."""

    task: str
    metric: str
    demo_sets: tuple[tuple[Demo, ...], ...]
    tests: tuple[TestInput, ...]
    gold: tuple[str, ...]
    k: int = 1
    temperature: float = 0.0
    template: str = INDUCTION_TEMPLATE
    execute_template: str = EXECUTION_TEMPLATE
    seed: int = 0
    bertscore: bool = True
    search_examples: tuple[TestInput, ...] = ()

    @property
    def n_induce(self) -> int:
        return len(self.demo_sets) * self.k


def induction_params(
    *,
    model: dict[str, Any],
    task: str | None = None,
    demo_source: str = "random",
    demos: list[tuple[str, str]] | None = None,
    tests: list[tuple[str, list[str]]] | None = None,
    gold: list[str] | None = None,
    metric: str = "em",
    n_sets: int = 1,
    k: int = 5,
    temperature: float = 0.7,
    template: str = INDUCTION_TEMPLATE,
    limit: int | None = None,
    seed: int = 0,
    bertscore: bool = True,
    search: int | None = None,
) -> dict[str, Any]:
    """The stored parameters of an induction run (JSON; no secrets — `model` is a public settings dict).

    demo_source: "random" samples `n_sets` sets of five from the task's pool, "paper" takes the paper's first
    `n_sets` demonstration sets, "user" uses `demos` (with `tests`, `gold` and `metric` given here).
    search: induce, then pick the best instruction by successive halving on this many held-out examples.
    """
    return {
        "model": model,
        "task": task,
        "demo_source": demo_source,
        "demos": [list(d) for d in demos or []],
        "tests": [[i, list(a)] for i, a in tests or []],
        "gold": list(gold or []),
        "metric": metric,
        "n_sets": n_sets,
        "k": k,
        "temperature": temperature,
        "template": template,
        "template_version": template_version(template),
        "limit": limit,
        "seed": seed,
        "bertscore": bertscore,
        "search": search,
    }


def _sample_sets(task: InductionTask, n_sets: int, seed: int) -> list[tuple[Demo, ...]]:
    sets = []
    for j in range(n_sets):
        rng = random.Random(f"{seed}/{task.name}/{j}")
        picked = rng.sample(task.induce, min(DEMOS_PER_SET, len(task.induce)))
        sets.append(tuple(Demo(e.input, e.output) for e in picked))
    return sets


def resolve_spec(params: dict[str, Any], task_name: str | None = None) -> InductionSpec:
    """Turn stored parameters into the demonstration sets, test inputs and gold instructions of a task."""
    name = task_name or params.get("task")
    limit = params.get("limit")
    common = dict(
        k=int(params.get("k", 1)),
        temperature=float(params.get("temperature", 0.0)),
        template=params.get("template") or INDUCTION_TEMPLATE,
        seed=int(params.get("seed", 0)),
        bertscore=bool(params.get("bertscore", True)),
    )
    if params.get("demo_source") == "user" or not name:
        demos = tuple(Demo(str(i), str(o)) for i, o in params.get("demos", []))
        if not demos:
            raise ValueError("an induction run on your own demonstrations needs at least one demonstration")
        tests = tuple(TestInput(str(i), tuple(map(str, a))) for i, a in params.get("tests", []))[:limit]
        search = tests[: params["search"]] if params.get("search") else ()
        return InductionSpec(
            task=name or "custom",
            metric=params.get("metric") or "em",
            demo_sets=(demos,),
            tests=tests,
            gold=tuple(params.get("gold", [])),
            search_examples=search,
            **common,
        )
    task = load_task(name)
    n_sets = int(params.get("n_sets", 1))
    if params.get("demo_source") == "paper" and task.paper_demos:
        sets = [tuple(Demo(i, o) for i, o in d.demos) for d in task.paper_demos[:n_sets]]
    else:
        sets = _sample_sets(task, n_sets, common["seed"])
    tests = tuple(TestInput(e.input, tuple(e.answers)) for e in task.execute)[:limit]
    search: tuple[TestInput, ...] = ()
    if params.get("search"):
        # Held-out examples for choosing among candidates: induce-pool examples no demonstration uses.
        shown = {d.input for s in sets for d in s}
        pool = [TestInput(e.input, tuple(e.answers)) for e in task.induce if e.input not in shown]
        search = tuple(pool[: int(params["search"])])
    return InductionSpec(
        task=task.name,
        metric=task.metric,
        demo_sets=tuple(sets),
        tests=tests,
        gold=tuple(task.annotations),
        search_examples=search,
        **common,
    )


def _style(llm: LLMClient) -> str:
    # Both papers prompt base models with plain text; a chat-only endpoint gets the same request as a message.
    return "completion" if llm.supports("completion") else "chat"


def induce_request(spec: InductionSpec, demos: tuple[Demo, ...], sample: int, style: str) -> Request:
    params = GenParams(
        max_tokens=INDUCE_MAX_TOKENS,
        temperature=spec.temperature,
        top_p=1.0,
        seed=None if spec.temperature == 0 else spec.seed + sample,
    )
    if style == "completion":
        return Request(
            prompt=render_induction_prompt(demos, spec.template), params=params, sample_index=sample
        )
    return Request(
        messages=render_induction_messages(demos, spec.template), params=params, sample_index=sample
    )


def execute_request(spec: InductionSpec, instruction: str, input_: str, style: str) -> Request:
    params = GenParams(max_tokens=EXECUTE_MAX_TOKENS, temperature=0.0)  # greedy, as in the paper
    if style == "completion":
        return Request(
            prompt=render_execution_prompt(instruction, input_, spec.execute_template), params=params
        )
    return Request(
        messages=render_execution_messages(instruction, input_, spec.execute_template), params=params
    )


@dataclass
class _Progress:
    ctx: JobContext
    done: int = 0
    total: int = 0

    def step(self, message: str, n: int = 1) -> None:
        self.done += n
        self.ctx.progress(self.done, self.total, message)


def _induce(
    ctx: JobContext, spec: InductionSpec, prefix: str, llm: LLMClient, progress: _Progress
) -> list[str]:
    style = _style(llm)
    units = [(j, s) for j in range(len(spec.demo_sets)) for s in range(spec.k)]
    todo = [(j, s) for j, s in units if not ctx.done(f"{prefix}induce/{j}/{s}")]
    progress.step(f"{spec.task}: inducing", len(units) - len(todo))
    requests = [induce_request(spec, spec.demo_sets[j], s, style) for j, s in todo]
    for index, response in llm.generate_many(requests):
        j, s = todo[index]
        ctx.save(
            f"{prefix}induce/{j}/{s}",
            {
                "raw": response.text,
                "instruction": clean_instruction(response.text),
                "finish_reason": response.finish_reason,
                "call_id": response.call_id,
            },
        )
        progress.step(f"{spec.task}: induced {index + 1}/{len(todo)}")
    stored = ctx.results(f"{prefix}induce/")
    return [stored[f"{prefix}induce/{j}/{s}"]["instruction"] for j, s in units]


def _execute(
    ctx: JobContext,
    spec: InductionSpec,
    prefix: str,
    llm: LLMClient,
    instructions: list[str],
    tests: tuple[TestInput, ...],
    progress: _Progress,
) -> None:
    style = _style(llm)
    units = [(ins, i) for ins in instructions for i in range(len(tests))]
    todo = [(ins, i) for ins, i in units if not ctx.done(f"{prefix}exec/{instruction_hash(ins)}/{i}")]
    progress.step(f"{spec.task}: executing", len(units) - len(todo))
    requests = [execute_request(spec, ins, tests[i].input, style) for ins, i in todo]
    for index, response in llm.generate_many(requests):
        ins, i = todo[index]
        ctx.save(
            f"{prefix}exec/{instruction_hash(ins)}/{i}",
            {"prediction": response.text, "call_id": response.call_id},
        )
        progress.step(f"{spec.task}: executed {index + 1}/{len(todo)}")


def _search(ctx: JobContext, spec: InductionSpec, prefix: str, llm: LLMClient, candidates: list[str]) -> str:
    """Successive halving over the distinct candidates on the search split; returns the winner."""
    key = f"{prefix}search"
    if ctx.done(key):
        return ctx.results(key)[key]["best"]
    style = _style(llm)
    examples = spec.search_examples

    def score(instruction: str, i: int) -> float:
        unit = f"{prefix}search-exec/{instruction_hash(instruction)}/{i}"
        if not ctx.done(unit):
            response = llm.generate(execute_request(spec, instruction, examples[i].input, style))
            ctx.save(unit, {"prediction": response.text, "call_id": response.call_id})
            ctx.check_cancelled()
        prediction = ctx.results(unit)[unit]["prediction"]
        return score_input(spec.metric, examples[i].input, prediction, examples[i].answers).score

    result = successive_halving(candidates, len(examples), score, seed=spec.seed)
    ctx.save(
        key,
        {
            "best": result.best_instruction,
            "evaluations": result.evaluations,
            "brute_force_evaluations": result.brute_force_evaluations,
            "calls_saved": result.calls_saved,
            "estimates": [
                {
                    "instruction": e.instruction,
                    "mean": e.mean,
                    "n": e.n_evaluated,
                    "eliminated": e.eliminated_in_round,
                }
                for e in result.estimates
            ],
        },
    )
    return result.best_instruction


def _bertscore(ctx: JobContext, spec: InductionSpec, prefix: str, instructions: list[str]) -> None:
    todo = [ins for ins in instructions if not ctx.done(f"{prefix}bert/{instruction_hash(ins)}")]
    if not todo or not spec.gold:
        return
    for res in bertscore.score_many(todo, list(spec.gold)):
        ctx.save(
            f"{prefix}bert/{instruction_hash(res.candidate)}",
            {
                "model": res.model,
                "per_reference": [[r.reference, r.precision, r.recall, r.f1] for r in res.per_reference],
                "best_index": res.best_index,
            },
        )


def run_task(
    ctx: JobContext, spec: InductionSpec, prefix: str = "", progress: _Progress | None = None
) -> None:
    llm = ctx.llm()
    progress = progress or _Progress(ctx, total=spec.n_induce)
    induced = _induce(ctx, spec, prefix, llm, progress)
    groups = [g.text for g in group_instructions(induced, clean=False)]
    if spec.search_examples and len(groups) > 1:
        best = _search(ctx, spec, prefix, llm, groups)
        executed = [best]
    else:
        executed = groups
    to_run = list(dict.fromkeys(executed + list(spec.gold)))
    progress.total += len(to_run) * len(spec.tests)
    _execute(ctx, spec, prefix, llm, to_run, spec.tests, progress)
    if spec.bertscore:
        ctx.progress(progress.done, progress.total, f"{spec.task}: BERTScore")
        _bertscore(ctx, spec, prefix, groups)


@job_kind("induction")
def run_induction(ctx: JobContext) -> None:
    run_task(ctx, resolve_spec(ctx.params))


@job_kind("induction_benchmark")
def run_benchmark(ctx: JobContext) -> None:
    """Several tasks in one run (the paper's 24-task table), each under its own key prefix."""
    specs = [resolve_spec(ctx.params, name) for name in ctx.params["tasks"]]
    progress = _Progress(ctx, total=sum(s.n_induce for s in specs))
    for spec in specs:
        run_task(ctx, spec, prefix=f"{spec.task}/", progress=progress)


# --- Reports: scores computed from stored outputs ----------------------------------------------------------


@dataclass
class GroupReport:
    instruction: str
    count: int
    inputs: list[InputResult]
    call_ids: list[int | None]
    bert: dict[str, Any] | None = None

    @property
    def mean(self) -> float | None:
        scored = [r.score for r, t in zip(self.inputs, self._answered, strict=True) if t]
        return sum(scored) / len(scored) if scored else None

    _answered: list[bool] = field(default_factory=list)


@dataclass
class InductionReport:
    task: str
    metric: str
    induced_raw: list[dict[str, Any]]
    groups: list[GroupReport]
    gold: list[GroupReport]
    summary: TaskSummary
    search: dict[str, Any] | None
    complete: bool
    tests: tuple[TestInput, ...]


def _group_report(
    spec: InductionSpec, results: dict[str, Any], prefix: str, instruction: str, count: int
) -> GroupReport:
    h = instruction_hash(instruction)
    inputs, calls, answered = [], [], []
    for i, test in enumerate(spec.tests):
        stored = results.get(f"{prefix}exec/{h}/{i}")
        if stored is None:
            continue
        inputs.append(score_input(spec.metric, test.input, stored["prediction"], test.answers))
        calls.append(stored.get("call_id"))
        answered.append(bool(test.answers))
    bert = results.get(f"{prefix}bert/{h}")
    return GroupReport(instruction, count, inputs, calls, bert, answered)


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
    if search:
        # The search executes only its winner on the test inputs: it stands for every induced instruction.
        chosen = [(search["best"], sum(g.count for g in grouped))]
    else:
        chosen = [(g.text, g.count) for g in grouped]
    groups = [_group_report(spec, results, prefix, ins, count) for ins, count in chosen]
    gold = [_group_report(spec, results, prefix, ins, 1) for ins in spec.gold]
    bert_f1 = [
        (g.bert["per_reference"][g.bert["best_index"]][3], g.count)
        for g in groups
        if g.bert and g.bert.get("best_index") is not None
    ]
    total = sum(c for _, c in bert_f1)
    summary = summarize_task(
        spec.task,
        [InstructionResult(g.instruction, g.count, g.inputs) for g in groups],
        [InstructionResult(g.instruction, 1, g.inputs) for g in gold],
        bertscore_f1=sum(f * c for f, c in bert_f1) / total if total else None,
    )
    complete = len(raw) == spec.n_induce and all(len(g.inputs) == len(spec.tests) for g in groups + gold)
    return InductionReport(spec.task, spec.metric, raw, groups, gold, summary, search, complete, spec.tests)
