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

import csv
import dataclasses
import hashlib
import io
import json
import random
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from core.datasets import load_task, parse_upload
from core.datasets.errors import DatasetError
from core.datasets.records import InductionExample, InductionTask
from core.induction import bertscore
from core.induction.cost import CostEstimate, estimate_cost, estimate_tokens, sum_estimates
from core.induction.postprocess import InstructionGroup, clean_instruction, group_instructions
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
from core.induction.scoring import (
    InputResult,
    InstructionResult,
    OverallSummary,
    TaskSummary,
    score_input,
    summarize_overall,
    summarize_task,
)
from core.induction.search import halving_evaluations, successive_halving
from core.jobs.context import JobContext
from core.jobs.registry import job_kind
from core.llm import GenParams, LLMClient, ModelSettings, Request
from core.llm.redact import public_url
from core.llm.settings import settings_from_public

# The reference's decoding (induction.py, execute_instructions.py): greedy through top_p 0 (temperature 1),
# 50 new tokens to induce, 30 to execute. Our defaults take the lengths; `paper_settings` takes all of it.
INDUCE_MAX_TOKENS = 50
EXECUTE_MAX_TOKENS = 30
PAPER_TOP_P = 0.0
PAPER_TEMPERATURE = 1.0
PAPER_N_SETS = 100
DEMOS_PER_SET = 5
POSTPROCESSING = ("ours", "paper_exact")


def instruction_hash(instruction: str) -> str:
    return hashlib.sha256(instruction.encode("utf-8")).hexdigest()[:16]


def judge_key(instruction: str, index: int, prefix: str = "") -> str:
    """Where a person's verdict on one output (instruction x test input) is stored in the run."""
    return f"{prefix}judge/{instruction_hash(instruction)}/{index}"


@dataclass(frozen=True)
class TestInput:
    __test__ = False  # not a pytest test class, despite the name

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
    bertscore_model: str | None = None
    bertscore_rescale: bool = False
    search_examples: tuple[TestInput, ...] = ()
    top_p: float = 1.0
    induce_max_tokens: int = INDUCE_MAX_TOKENS
    execute_max_tokens: int = EXECUTE_MAX_TOKENS
    execute_temperature: float = 0.0
    execute_top_p: float = 1.0
    postprocess: str = "ours"
    # Which examples the run uses, as indices into the task's files (paper sets by id): stored with the run.
    sample: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # Test rows (indices into `tests`) that are also in the search split: a selected instruction's
    # accuracy leaves them out (only with your own demonstrations, where the two come from one table).
    search_in_tests: tuple[int, ...] = ()

    @property
    def n_induce(self) -> int:
        return len(self.demo_sets) * self.k

    @property
    def greedy(self) -> bool:
        return self.temperature == 0 or self.top_p == 0

    def planned_units(self) -> int:
        """Units of work at most (induction, search scorings, executions): the progress bar's first total."""
        search = self.search_examples and self.n_induce > 1
        scorings = halving_evaluations(self.n_induce, len(self.search_examples)) if search else 0
        return self.n_induce + scorings + (self.n_induce + len(set(self.gold))) * len(self.tests)


def induction_params(
    *,
    model: dict[str, Any],
    task: str | None = None,
    tasks: list[str] | None = None,
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
    bertscore_model: str | None = None,
    search: int | None = None,
    execute_model: dict[str, Any] | None = None,
    top_p: float = 1.0,
    induce_max_tokens: int = INDUCE_MAX_TOKENS,
    execute_max_tokens: int = EXECUTE_MAX_TOKENS,
    execute_temperature: float = 0.0,
    execute_top_p: float = 1.0,
    postprocess: str = "ours",
    bertscore_rescale: bool = False,
    preset: str | None = None,
) -> dict[str, Any]:
    """The stored parameters of an induction run (JSON; no secrets — models are public settings dicts).

    demo_source: "random" samples `n_sets` sets of five from the task's pool, "paper" takes `n_sets` of the
    paper's demonstration sets (all of them at 100; fewer: a seeded random choice), "user" uses `demos`
    (with `tests`, `gold` and `metric` given here; a test with no answers is judged by hand).
    tasks: the tasks of an "induction_benchmark" run (each resolved like `task`).
    limit: held-out inputs per task, a seeded random sample (None: all of them, as in the paper).
    search: after inducing, also pick one instruction by successive halving on this many held-out examples
    (a seeded random split); the induced accuracy stays the paper's figure over every instruction.
    execute_model: another model to execute instructions with (and the gold ones); None: the run's model.
    postprocess: "ours" (the paper's steps with whole-word prefixes) or "paper_exact" (the reference's).
    preset: "paper" when the run was started from the paper's settings (see `paper_departures`).
    Use `record_samples` before storing, so the exact sample is kept with the run.
    """
    if postprocess not in POSTPROCESSING:
        raise ValueError(f"postprocess must be one of {', '.join(POSTPROCESSING)}, not {postprocess!r}")
    return {
        "model": model,
        "execute_model": execute_model,
        "task": task,
        "tasks": list(tasks) if tasks else None,
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
        "bertscore_model": bertscore_model,
        "bertscore_rescale": bertscore_rescale,
        "search": search,
        "top_p": top_p,
        "induce_max_tokens": induce_max_tokens,
        "execute_max_tokens": execute_max_tokens,
        "execute_temperature": execute_temperature,
        "execute_top_p": execute_top_p,
        "postprocess": postprocess,
        "preset": preset,
        "sampling": "seeded",  # runs stored before this key took the files' first N: see resolve_spec
    }


def paper_settings() -> dict[str, Any]:
    """The paper's method as `induction_params` keywords: its 100 demonstration sets per task, one greedy
    instruction per set (top_p 0), 50/30 new tokens, every held-out input, its post-processing, no search."""
    return {
        "demo_source": "paper",
        "n_sets": PAPER_N_SETS,
        "k": 1,
        "temperature": PAPER_TEMPERATURE,
        "top_p": PAPER_TOP_P,
        "induce_max_tokens": INDUCE_MAX_TOKENS,
        "execute_max_tokens": EXECUTE_MAX_TOKENS,
        "execute_temperature": PAPER_TEMPERATURE,
        "execute_top_p": PAPER_TOP_P,
        "limit": None,
        "postprocess": "paper_exact",
        "search": None,
        "template": INDUCTION_TEMPLATE,
        "preset": "paper",
    }


def paper_departures(params: dict[str, Any]) -> list[str]:
    """How a run's settings differ from the paper's, in words (empty: the paper's method throughout)."""
    paper = paper_settings()
    out = []
    if params.get("demo_source") != "paper":
        out.append(
            "your own demonstrations" if params.get("demo_source") == "user" else "random demonstration sets"
        )
    if int(params.get("n_sets") or 1) != PAPER_N_SETS and params.get("demo_source") != "user":
        out.append(f"{params.get('n_sets')} demonstration set(s) per task, not {PAPER_N_SETS}")
    if int(params.get("k") or 1) != 1:
        out.append(f"{params.get('k')} instructions per set, not 1")
    greedy = float(params.get("temperature") or 0) == 0 or float(params.get("top_p", 1.0)) == 0
    if not greedy:
        out.append(f"sampled induction (temperature {params.get('temperature')}), not greedy")
    elif (params.get("temperature"), params.get("top_p")) != (paper["temperature"], paper["top_p"]):
        out.append("greedy by temperature 0, not the reference's top_p 0 (same decoding, other request)")
    for key, label in (("induce_max_tokens", "induction"), ("execute_max_tokens", "execution")):
        value = params.get(key)
        if value is not None and int(value) != paper[key]:
            out.append(f"{label} max tokens {value}, not {paper[key]}")
    ex = (params.get("execute_temperature", 0.0), params.get("execute_top_p", 1.0))
    if ex != (paper["execute_temperature"], paper["execute_top_p"]):
        if float(ex[0] or 0) == 0 or float(ex[1]) == 0:
            out.append("execution greedy by temperature 0, not top_p 0 (same decoding, other request)")
        else:
            out.append(f"sampled execution (temperature {ex[0]}, top_p {ex[1]})")
    if params.get("limit"):
        out.append(f"a seeded sample of {params['limit']} held-out input(s) per task, not all")
    if (params.get("postprocess") or "ours") != "paper_exact":
        out.append("our post-processing (whole-word prefixes), not the reference's")
    if params.get("search"):
        out.append(f"search on {params['search']} held-out examples (reported separately)")
    if (params.get("template") or INDUCTION_TEMPLATE) != INDUCTION_TEMPLATE:
        out.append("an edited induction template")
    if params.get("execute_model"):
        out.append("another model executes the instructions")
    return out


def record_samples(params: dict[str, Any]) -> dict[str, Any]:
    """`params` with the examples each task will use (indices and paper set ids) stored under "samples"."""
    names = params.get("tasks") or [params.get("task")]
    samples = {(name or "custom"): resolve_spec(params, name).sample for name in names}
    return {**params, "samples": samples}


def _sample_set_indices(task: InductionTask, n_sets: int, seed: int) -> list[list[int]]:
    out = []
    for j in range(n_sets):
        rng = random.Random(f"{seed}/{task.name}/{j}")
        out.append(rng.sample(range(len(task.induce)), min(DEMOS_PER_SET, len(task.induce))))
    return out


def seeded_subset(n: int, size: int | None, key: str) -> list[int]:
    """`size` of range(n) drawn at random under `key` (all of them when size is None or >= n), in order.

    The task files are sorted (sum's inputs start "0 0", "0 1", …), so the first N would not be a fair
    sample; the same key always gives the same subset.
    """
    if size is None or size >= n:
        return list(range(n))
    return sorted(random.Random(key).sample(range(n), max(0, size)))


def resolve_spec(params: dict[str, Any], task_name: str | None = None) -> InductionSpec:
    """Turn stored parameters into the demonstration sets, test inputs and gold instructions of a task.

    Subsets (held-out inputs under `limit`, demonstration sets, the search split) are seeded random samples;
    a run that stored its sample (`record_samples`) uses exactly that one.
    """
    name = task_name or params.get("task")
    limit = params.get("limit")
    seed = int(params.get("seed", 0))
    seeded = params.get("sampling") == "seeded"
    stored = (params.get("samples") or {}).get(name or "custom") or {}
    common = dict(
        k=int(params.get("k", 1)),
        temperature=float(params.get("temperature", 0.0)),
        template=params.get("template") or INDUCTION_TEMPLATE,
        seed=seed,
        bertscore=bool(params.get("bertscore", True)),
        bertscore_model=params.get("bertscore_model") or None,
        bertscore_rescale=bool(params.get("bertscore_rescale", False)),
        top_p=float(params.get("top_p", 1.0)),
        # Runs stored before these keys used 64/40 new tokens.
        induce_max_tokens=int(params.get("induce_max_tokens") or 64),
        execute_max_tokens=int(params.get("execute_max_tokens") or 40),
        execute_temperature=float(params.get("execute_temperature", 0.0)),
        execute_top_p=float(params.get("execute_top_p", 1.0)),
        postprocess=params.get("postprocess") or "ours",
    )
    n_search = int(params["search"]) if params.get("search") else 0

    def pick(n: int, size: int | None, what: str) -> list[int]:
        if what in stored:
            return [int(i) for i in stored[what]]
        if not seeded:  # a run stored before seeded sampling: its first N, as it was run
            return list(range(n if size is None else min(n, size)))
        return seeded_subset(n, size, f"{seed}/{name or 'custom'}/{what}")

    if params.get("demo_source") == "user" or not name:
        demos = tuple(Demo(str(i), str(o)) for i, o in params.get("demos", []))
        if not demos:
            raise ValueError("an induction run on your own demonstrations needs at least one demonstration")
        every = [TestInput(str(i), tuple(map(str, a))) for i, a in params.get("tests", [])]
        test_idx = pick(len(every), limit, "tests")
        tests = tuple(every[i] for i in test_idx)
        # Only examples with an answer can score a candidate; they are also test inputs (there is no
        # other held-out data), which the page says, and the selected instruction's accuracy leaves them out.
        answered = [t for t, test in enumerate(tests) if test.answers]
        chosen = [answered[i] for i in pick(len(answered), n_search, "search")] if n_search else []
        return InductionSpec(
            task=name or "custom",
            metric=params.get("metric") or "em",
            demo_sets=(demos,),
            tests=tests,
            gold=tuple(params.get("gold", [])),
            search_examples=tuple(tests[t] for t in chosen),
            search_in_tests=tuple(chosen),
            sample={
                "tests": test_idx,
                **({"search": [answered.index(t) for t in chosen]} if n_search else {}),
            },
            **common,
        )
    task = load_task(name)
    n_sets = int(params.get("n_sets", 1))
    sample: dict[str, Any] = {}
    if params.get("demo_source") == "paper" and task.paper_demos:
        by_id = {d.id: d for d in task.paper_demos}
        if "paper_sets" in stored:
            ids = [str(i) for i in stored["paper_sets"]]
        else:
            ids = [task.paper_demos[i].id for i in pick(len(task.paper_demos), n_sets, "paper_sets")]
        sets = [tuple(Demo(i, o) for i, o in by_id[x].demos) for x in ids]
        sample["paper_sets"] = ids
    else:
        set_idx = stored.get("demo_sets") or _sample_set_indices(task, n_sets, seed)
        sets = [tuple(Demo(task.induce[i].input, task.induce[i].output) for i in idx) for idx in set_idx]
        sample["demo_sets"] = [list(map(int, idx)) for idx in set_idx]
    test_idx = pick(len(task.execute), limit, "tests")
    tests = tuple(TestInput(task.execute[i].input, tuple(task.execute[i].answers)) for i in test_idx)
    sample["tests"] = test_idx
    search: tuple[TestInput, ...] = ()
    if n_search:
        # Held-out examples for choosing among candidates: induce-pool examples no demonstration uses.
        shown = {d.input for s in sets for d in s}
        pool = [i for i, e in enumerate(task.induce) if e.input not in shown]
        split = (
            [pool[i] for i in pick(len(pool), n_search, "search")]
            if "search" not in stored
            else [int(i) for i in stored["search"]]
        )
        search = tuple(TestInput(task.induce[i].input, tuple(task.induce[i].answers)) for i in split)
        sample["search"] = split
    return InductionSpec(
        task=task.name,
        metric=task.metric,
        demo_sets=tuple(sets),
        tests=tests,
        gold=tuple(task.annotations),
        search_examples=search,
        sample=sample,
        **common,
    )


def benchmark_tasks(params: dict[str, Any]) -> list[str]:
    tasks = params.get("tasks") or ([params["task"]] if params.get("task") else [])
    if not tasks:
        raise ValueError("a benchmark run needs params['tasks']: the task names to run")
    return list(tasks)


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


def execute_request(spec: InductionSpec, instruction: str, input_: str, style: str) -> Request:
    # Greedy, as in the paper: by default through temperature 0; the paper preset sends its top_p 0.
    params = GenParams(
        max_tokens=spec.execute_max_tokens, temperature=spec.execute_temperature, top_p=spec.execute_top_p
    )
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


# --- Reports: scores computed from stored outputs ----------------------------------------------------------


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


# --- Cost before a run ------------------------------------------------------------------------------------


def estimate_spec_cost(spec: InductionSpec, price: tuple[float, float] | None = None) -> CostEstimate:
    """Calls and tokens of one task's run (upper bounds), and money when `price` (per 1k in/out) is set."""
    prompt_price, completion_price = price if price else (None, None)
    demo_set = spec.demo_sets[0] if spec.demo_sets else ()
    induce_tokens = estimate_tokens(render_induction_prompt(demo_set, spec.template)) if demo_set else 0
    sample_input = spec.tests[0].input if spec.tests else "x"
    # An induced instruction is about as long as a gold one (or a dozen words when there is none).
    instruction = spec.gold[0] if spec.gold else "Write the word that answers the input."
    exec_tokens = estimate_tokens(render_execution_prompt(instruction, sample_input, spec.execute_template))
    priced = dict(price_per_1k=prompt_price, completion_price_per_1k=completion_price)
    inducing = dict(
        n_demo_sets=len(spec.demo_sets),
        k_samples=spec.k,
        induction_prompt_tokens=induce_tokens,
        execution_prompt_tokens=exec_tokens,
        induction_completion_tokens=spec.induce_max_tokens,
        execution_completion_tokens=spec.execute_max_tokens,
        **priced,
    )
    full = estimate_cost(n_heldout=len(spec.tests), n_gold=len(set(spec.gold)), **inducing)
    if not (spec.search_examples and spec.n_induce > 1):
        return full
    # Search: its scorings on the split come on top of the paper's evaluation of every instruction.
    scorings = halving_evaluations(spec.n_induce, len(spec.search_examples))
    as_runs = estimate_cost(  # `scorings` executions of one instruction, priced like any other
        n_demo_sets=0,
        k_samples=0,
        n_heldout=scorings,
        n_gold=1,
        induction_prompt_tokens=0,
        execution_prompt_tokens=exec_tokens,
        execution_completion_tokens=spec.execute_max_tokens,
        **priced,
    )
    extra = dataclasses.replace(as_runs, execution_calls=as_runs.human_calls, human_calls=0)
    return sum_estimates([full, extra])


def estimate_params_cost(params: dict[str, Any], price: tuple[float, float] | None = None) -> CostEstimate:
    """The cost of a run's parameters: one task, or every task of a benchmark."""
    if params.get("tasks"):
        return sum_estimates([estimate_spec_cost(resolve_spec(params, t), price) for t in params["tasks"]])
    return estimate_spec_cost(resolve_spec(params), price)


def price_model_name(model: dict[str, Any]) -> str:
    """The model's name as the call log and the price table know it."""
    if model.get("provider", "embedded") == "embedded":
        from core.llm.embedded import EMBEDDED_MODEL

        return EMBEDDED_MODEL
    return str(model.get("model", ""))


# --- Your own demonstrations, pasted ----------------------------------------------------------------------

_TSV_COLUMNS = ("input", "output", "answers", "split")


def parse_pasted_demos(text: str) -> list[InductionExample]:
    """Demonstrations pasted as JSON (array, JSON Lines or {"examples": …}) or TSV, validated whole.

    TSV: one `input<TAB>output` per line, or a header row naming `input`, `output` and optionally
    `answers` (a JSON array) and `split` (induce / execute). Errors name the line of the pasted text.
    """
    stripped = text.strip()
    if not stripped:
        raise DatasetError("pasted text", "nothing pasted", expected="TSV lines or JSON")
    if stripped[0] in "[{":
        kind = ".json"
        if stripped[0] == "{":
            try:
                json.loads(stripped)
            except json.JSONDecodeError:
                kind = ".jsonl"  # one object per line
        return _reparse(f"pasted{kind}", stripped.encode("utf-8"), "pasted JSON", 0)
    rows = list(csv.reader(io.StringIO(stripped, newline=""), delimiter="\t"))
    header = [c.strip().lower() for c in rows[0]]
    shift = 0
    if "input" in header and "output" in header:
        unknown = [c for c in header if c not in _TSV_COLUMNS]
        if unknown:
            raise DatasetError(
                "pasted text", f"unknown column {unknown[0]!r}", line=1, expected=", ".join(_TSV_COLUMNS)
            )
    else:
        for line, cells in enumerate(rows, start=1):
            if any(c.strip() for c in cells) and len(cells) != 2:
                raise DatasetError(
                    "pasted text",
                    f"expected input<TAB>output (2 cells), got {len(cells)}: separate input and output with "
                    "a tab, or start with a header row (input, output, answers, split)",
                    line=line,
                )
        rows = [["input", "output"], *rows]
        shift = 1  # the header we added is not a line of the pasted text
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return _reparse("pasted.csv", out.getvalue().encode("utf-8"), "pasted text", shift)


def _reparse(name: str, data: bytes, label: str, shift: int) -> list[InductionExample]:
    try:
        return parse_upload(name, data, "demonstrations")
    except DatasetError as exc:
        line = None if exc.line is None else exc.line - shift
        raise DatasetError(label, exc.message, line=line, field=exc.field, expected=exc.expected) from None
