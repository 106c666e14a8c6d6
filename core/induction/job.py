"""An induction run as a background job: induce, group, execute, score — every unit stored as it finishes.

Stored results of a run (keys are prefixed with "<task>/" in a multi-task benchmark run):
- `induce/<set>/<sample>`: the raw and cleaned instruction of one induction request;
- `exec/<instruction hash>/<input index>`: one instruction's output on one held-out input;
- `search-exec/<instruction hash>/<example index>`: the search's scorings on its own split;
- `bert/<instruction hash>`: BERTScore of an induced instruction against the gold instructions;
- `bert-error`: why BERTScore could not be computed (the rest of the run is unaffected);
- `search`: the early-stopping search's choice and the calls it saved;
- `judge/<instruction hash>/<input index>`: a person's verdict on an output with no known answer.
Scores are not stored: `build_report` computes them from the stored outputs, so a finished run can be
re-scored (say, after a metric fix) without a single model call.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from core.induction import bertscore
from core.induction.postprocess import clean_instruction, group_instructions
from core.induction.prompts import (
    Demo,
    render_execution_messages,
    render_execution_prompt,
    render_induction_messages,
    render_induction_prompt,
)
from core.induction.scoring import (
    score_input,
)
from core.induction.search import halving_evaluations, successive_halving
from core.induction.spec import InductionSpec, TestInput, benchmark_tasks, instruction_hash, resolve_spec
from core.jobs.context import JobContext
from core.jobs.registry import job_kind
from core.llm import GenParams, LLMClient, ModelSettings, Request
from core.llm.redact import public_url
from core.llm.settings import settings_from_public


def _style(llm: LLMClient) -> str:
    # Both papers prompt base models with plain text; a chat-only endpoint gets the same request as a message.
    return "completion" if llm.supports("completion") else "chat"


def induce_request(spec: InductionSpec, demos: tuple[Demo, ...], sample: int, style: str) -> Request:
    params = GenParams(
        max_tokens=spec.induce_max_tokens,
        temperature=spec.temperature,
        top_p=spec.top_p,
        seed=None if spec.greedy else spec.seed + sample,
    )
    if style == "completion":
        return Request(
            prompt=render_induction_prompt(demos, spec.template), params=params, sample_index=sample
        )
    return Request(
        messages=render_induction_messages(demos, spec.template), params=params, sample_index=sample
    )


@lru_cache(maxsize=64)
def _execute_params(max_tokens: int, temperature: float, top_p: float) -> GenParams:
    # One object per setting: its dict, built once, then serves every execution request's key and log row.
    return GenParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p)


def execute_request(spec: InductionSpec, instruction: str, input_: str, style: str) -> Request:
    # Greedy, as in the paper: by default through temperature 0; the paper preset sends its top_p 0.
    params = _execute_params(spec.execute_max_tokens, spec.execute_temperature, spec.execute_top_p)
    if style == "completion":
        return Request(
            prompt=render_execution_prompt(instruction, input_, spec.execute_template), params=params
        )
    return Request(
        messages=render_execution_messages(instruction, input_, spec.execute_template), params=params
    )


def model_from_dict(public: dict[str, Any], like: ModelSettings | None = None) -> ModelSettings:
    """Settings from a stored public dict; an endpoint's key comes from `like` (same endpoint) or the env."""
    s = settings_from_public(public)
    assert s is not None
    same = (
        like is not None
        and like.provider == s.provider == "openai"
        and public_url(like.base_url) == public_url(s.base_url)
    )
    return s.with_(api_key=like.api_key, base_url=like.base_url) if same and like is not None else s


@dataclass
class _Progress:
    ctx: JobContext
    done: int = 0
    total: int = 0
    # Shown after the message: the run's throughput (a benchmark's tasks run at once and share it).
    rates: LLMClient | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def step(self, message: str, n: int = 1) -> None:
        with self._lock:
            self.done += n
            done, total = self.done, self.total
        if self.rates is not None:
            message += f" · {self.rates.rates().label()}"
        self.ctx.progress(done, total, message)

    def replan(self, planned: int, actual: int) -> None:
        # The first total is an upper bound; once grouping is known the bar only ever moves forward.
        with self._lock:
            self.total += actual - planned


def _induce(
    ctx: JobContext, spec: InductionSpec, prefix: str, llm: LLMClient, progress: _Progress
) -> list[str]:
    style = _style(llm)
    paper_exact = spec.postprocess == "paper_exact"
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
                "instruction": clean_instruction(response.text, paper_exact=paper_exact),
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


def _search(
    ctx: JobContext,
    spec: InductionSpec,
    prefix: str,
    llm: LLMClient,
    candidates: list[str],
    progress: _Progress,
) -> str:
    """Successive halving over the distinct candidates on the search split; returns the winner."""
    key = f"{prefix}search"
    if ctx.done(key):
        stored = ctx.results(key)[key]
        progress.step(f"{spec.task}: search done", stored["evaluations"])
        return stored["best"]
    style = _style(llm)
    examples = spec.search_examples

    def score(instruction: str, i: int) -> float:
        unit = f"{prefix}search-exec/{instruction_hash(instruction)}/{i}"
        if not ctx.done(unit):
            response = llm.generate(execute_request(spec, instruction, examples[i].input, style))
            ctx.save(unit, {"prediction": response.text, "call_id": response.call_id})
        progress.step(f"{spec.task}: searching")  # also notices a cancel request
        prediction = ctx.results(unit)[unit]["prediction"]
        return score_input(spec.metric, examples[i].input, prediction, examples[i].answers).score

    result = successive_halving(candidates, len(examples), score, seed=spec.seed)
    ctx.save(
        key,
        {
            "method": result.method,
            "best": result.best_instruction,
            "n_examples": len(examples),
            "evaluations": result.evaluations,
            "brute_force_evaluations": result.brute_force_evaluations,
            "calls_saved": result.calls_saved,
            "rounds": [
                {
                    "round": r.round,
                    "candidates": len(r.candidates),
                    "examples_per_candidate": r.examples_per_candidate,
                    "evaluations": r.evaluations,
                }
                for r in result.rounds
            ],
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
    try:
        scored = bertscore.score_many(
            todo, list(spec.gold), model=spec.bertscore_model, rescale_with_baseline=spec.bertscore_rescale
        )
    except bertscore.BertScoreUnavailable as exc:
        # Execution accuracy stands on its own: keep the run, say why this column is empty.
        ctx.save(f"{prefix}bert-error", {"model": spec.bertscore_model, "error": str(exc)})
        return
    for res in scored:
        ctx.save(
            f"{prefix}bert/{instruction_hash(res.candidate)}",
            {
                "model": res.model,
                "rescaled": spec.bertscore_rescale,
                "per_reference": [[r.reference, r.precision, r.recall, r.f1] for r in res.per_reference],
                "best_index": res.best_index,
            },
        )


def _execute_llm(ctx: JobContext, induce_llm: LLMClient) -> LLMClient:
    """The client that executes instructions: the run's model unless params name another one."""
    other = ctx.params.get("execute_model")
    if not other:
        return induce_llm
    return ctx.llm(model_from_dict(other, like=ctx.model_settings))


def run_task(
    ctx: JobContext,
    spec: InductionSpec,
    prefix: str = "",
    progress: _Progress | None = None,
    clients: tuple[LLMClient, LLMClient] | None = None,
) -> None:
    """One task; `clients` (induce, execute) are shared with the other tasks of a benchmark run."""
    llm, exec_llm = clients or (ctx.llm(), None)
    exec_llm = exec_llm or _execute_llm(ctx, llm)
    planned = spec.planned_units()
    if progress is None:
        progress = _Progress(ctx, total=planned)
    induced = _induce(ctx, spec, prefix, llm, progress)
    groups = [g.text for g in group_instructions(induced, clean=False)]
    searching = bool(spec.search_examples) and len(groups) > 1
    scorings = halving_evaluations(len(groups), len(spec.search_examples)) if searching else 0
    upper_runs = (len(groups) + len(set(spec.gold))) * len(spec.tests)
    progress.replan(planned, spec.n_induce + scorings + upper_runs)
    if searching:
        before = progress.done
        _search(ctx, spec, prefix, exec_llm, groups, progress)
        progress.replan(scorings, progress.done - before)
    # Every distinct instruction runs on the test inputs, search or not: the induced accuracy is the paper's
    # frequency-weighted figure, and the search's winner (one of them) is reported beside it.
    to_run = list(dict.fromkeys(groups + list(spec.gold)))
    progress.replan(upper_runs, len(to_run) * len(spec.tests))
    _execute(ctx, spec, prefix, exec_llm, to_run, spec.tests, progress)
    if spec.bertscore:
        ctx.progress(progress.done, progress.total, f"{spec.task}: BERTScore")
        _bertscore(ctx, spec, prefix, groups)


@job_kind("induction")
def run_induction(ctx: JobContext) -> None:
    run_task(ctx, resolve_spec(ctx.params))


@job_kind("induction_benchmark")
def run_benchmark(ctx: JobContext) -> None:
    """Several tasks in one run (the paper's 24-task table), each under its own key prefix."""
    specs = [resolve_spec(ctx.params, name) for name in benchmark_tasks(ctx.params)]
    # One client per model for the whole run: every task's induction and execution requests share its one
    # in-flight budget. Several tasks run at once, so a task's tail (its last few requests, its search, its
    # BERTScore) leaves the budget to the others instead of idling it.
    llm = ctx.llm()
    clients = (llm, _execute_llm(ctx, llm))
    progress = _Progress(ctx, total=sum(s.planned_units() for s in specs), rates=llm)
    with ThreadPoolExecutor(max_workers=min(len(specs), BENCHMARK_TASKS_AT_ONCE) or 1) as pool:
        futures = [pool.submit(run_task, ctx, spec, f"{spec.task}/", progress, clients) for spec in specs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f.exception() for f in done if f.exception() is not None), None)
        if failed is not None:
            # As a one-task-at-a-time run would: stop at the first failure. Calls in progress give up and
            # store nothing (a resume asks them again); tasks not started yet do not start.
            ctx.stop.set()
            for f in futures:
                f.cancel()
    if failed is not None:
        raise failed


BENCHMARK_TASKS_AT_ONCE = 4
