"""An induction run's parameters: the paper's settings, the stored form, and the resolved InductionSpec."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from core.datasets import load_task
from core.datasets.records import InductionTask
from core.induction.prompts import (
    EXECUTION_TEMPLATE,
    INDUCTION_TEMPLATE,
    Demo,
    template_version,
)
from core.induction.search import halving_evaluations

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
