"""Benchmark: model calls and wall time of an Instruction Induction evaluation on the embedded model.

Measures, on a fresh call log, one evaluation of the tasks (K instructions induced per task, executed on the
held-out inputs, plus the gold instructions for the human baseline) four ways, and prints the ratios:

- without grouping: every induced instruction executed on every input, duplicates included, no cache;
- with grouping: each distinct instruction executed once (what the pipeline does), no cache;
- with the cache: the same evaluation run again as an "induction_benchmark" job on the same call log;
- with the early-stopping search: successive halving over the distinct instructions on --search examples of
  the induce pool, then only the winner on the held-out inputs (versus scoring every candidate on every
  search example, whose time is estimated from the search's mean call time).

All model calls are real (the cache is off for the first three measurements of each task, so the calls
that grouping or the search avoid are really made, and timed, for the "without" side).

    .venv/bin/python benchmarks/induction_eval.py [--tasks all|a,b] [--k 5] [--n-sets 1] [--temperature 0.7]
        [--limit N] [--search 8]

Defaults are the full 24-task evaluation (2,156 held-out inputs): hours on the embedded model on two cores.
The official data comes from the data folder, or is imported from ../shared/datasets (--shared) into a
temporary working folder; the call log is always a fresh temporary database.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"


@dataclass
class Measure:
    calls: int = 0
    seconds: float = 0.0

    def add(self, other: Measure) -> None:
        self.calls += other.calls
        self.seconds += other.seconds


@dataclass
class TaskMeasures:
    task: str
    induce: Measure = field(default_factory=Measure)
    distinct: Measure = field(default_factory=Measure)  # each distinct instruction on every input
    duplicates: Measure = field(default_factory=Measure)  # the repeats grouping avoids
    gold: Measure = field(default_factory=Measure)
    search: Measure = field(default_factory=Measure)
    winner: Measure = field(default_factory=Measure)  # the search's winner on every input (within distinct)
    brute_search_calls: int = 0
    n_distinct: int = 0


def _prepare(args: argparse.Namespace) -> Path:
    """A temporary working folder with the official data and (a link to) the model file."""
    work = Path(tempfile.mkdtemp(prefix="induction_eval_"))
    real_data = Path(os.environ.get("WORKBENCH_DATA_DIR", REPO_ROOT / "data"))
    os.environ["WORKBENCH_DATA_DIR"] = str(work)
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.db'}"
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "WORKBENCH_PROVIDER"):
        os.environ.pop(name, None)  # the embedded model, whatever the shell says
    if (real_data / "models" / MODEL_NAME).exists():
        (work / "models").mkdir()
        (work / "models" / MODEL_NAME).symlink_to(real_data / "models" / MODEL_NAME)
    from core.datasets import group_present, import_folder

    source = real_data / "datasets"
    if not group_present("instruction_induction", source):
        source = Path(args.shared)
    if group_present("instruction_induction", source) or (source / "MANIFEST.tsv").exists():
        report = import_folder(source, work / "datasets", groups=["instruction_induction"])
        print(f"official data imported from {source} ({len(report.fetched)} files)", file=sys.stderr)
    else:
        print(f"no official data at {source}: using the starter tasks", file=sys.stderr)
    return work


def _timed(fn) -> tuple[object, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def _measure_task(client, spec, search_spec) -> TaskMeasures:
    """One task without the cache: induce, execute (distinct, then repeats), gold, and the search."""
    from core.induction.job import execute_request, induce_request
    from core.induction.postprocess import clean_instruction, group_instructions
    from core.induction.scoring import score_input
    from core.induction.search import successive_halving

    m = TaskMeasures(spec.task)
    style = "completion"
    induced = []
    for demos in spec.demo_sets:
        for s in range(spec.k):
            response, seconds = _timed(
                lambda d=demos, s=s: client.generate(induce_request(spec, d, s, style))
            )
            induced.append(clean_instruction(response.text))
            m.induce.add(Measure(1, seconds))
    groups = group_instructions(induced, clean=False)
    m.n_distinct = len(groups)
    per_instruction: dict[str, float] = {}

    def run_on_tests(instruction: str, bucket: Measure) -> None:
        for test in spec.tests:
            _, seconds = _timed(
                lambda t=test: client.generate(execute_request(spec, instruction, t.input, style))
            )
            bucket.add(Measure(1, seconds))
            per_instruction[instruction] = per_instruction.get(instruction, 0.0) + seconds

    for g in groups:
        run_on_tests(g.text, m.distinct)
    for g in groups:
        for _ in range(g.count - 1):  # what executing without grouping adds: the same text again
            run_on_tests(g.text, m.duplicates)
    distinct = {g.text for g in groups}
    for gold in dict.fromkeys(spec.gold):
        if gold not in distinct:
            run_on_tests(gold, m.gold)
    if search_spec.search_examples and len(groups) > 1:
        examples = search_spec.search_examples

        def score(instruction: str, i: int) -> float:
            request = execute_request(search_spec, instruction, examples[i].input, style)
            response, seconds = _timed(lambda: client.generate(request))
            m.search.add(Measure(1, seconds))
            return score_input(spec.metric, examples[i].input, response.text, examples[i].answers).score

        result = successive_halving([g.text for g in groups], len(examples), score, seed=spec.seed)
        m.brute_search_calls = result.brute_force_evaluations
        m.winner = Measure(len(spec.tests), per_instruction[result.best_instruction])
    else:  # nothing to choose: the search mode executes the one instruction
        m.winner = Measure(m.distinct.calls, m.distinct.seconds)
    return m


def _job(engine, params: dict, label: str) -> tuple[int, float, object]:
    """Run the real job on the shared call log; returns (new model calls, seconds, benchmark report)."""
    from core.induction.report import build_benchmark
    from core.jobs import run_once, submit
    from core.llm import ModelSettings
    from core.store import calls as call_log
    from core.store import runs as run_store

    run_id = submit(engine, "induction_benchmark", params, name=label)
    before = call_log.count_calls(engine)
    _, seconds = _timed(lambda: run_once(engine, ("induction_benchmark",), ModelSettings()))
    run = run_store.get_run(engine, run_id)
    if run.status != "done":
        raise SystemExit(f"{label}: run {run_id} {run.status}: {run.error}")
    return (
        call_log.count_calls(engine) - before,
        seconds,
        build_benchmark(params, run_store.results(engine, run_id)),
    )


def _ratio(a: float, b: float) -> str:
    return "—" if b == 0 else f"{a / b:.2f}×"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--tasks", default="all", help="all, or task names separated by commas")
    parser.add_argument("--k", type=int, default=5, help="instructions induced per demonstration set")
    parser.add_argument("--n-sets", type=int, default=1, help="demonstration sets per task")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature for induction")
    parser.add_argument("--limit", type=int, help="held-out inputs per task (default: all)")
    parser.add_argument("--search", type=int, default=8, help="search examples per task (0: no search)")
    parser.add_argument("--paper-demos", action="store_true", help="the paper's demonstration set")
    parser.add_argument("--shared", default=str(REPO_ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary working folder")
    args = parser.parse_args(argv)
    work = _prepare(args)
    try:
        return _evaluate(args, work)
    finally:
        from core.store import dispose_all

        dispose_all()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _evaluate(args: argparse.Namespace, work: Path) -> int:

    from core.datasets import instruction_task_names
    from core.induction.spec import induction_params, resolve_spec
    from core.llm import LLMClient, ModelSettings, make_provider
    from core.store import get_engine

    tasks = instruction_task_names() if args.tasks == "all" else [t.strip() for t in args.tasks.split(",")]
    common = dict(
        model=ModelSettings().public_dict(),
        tasks=tasks,
        demo_source="paper" if args.paper_demos else "random",
        k=args.k,
        n_sets=args.n_sets,
        temperature=args.temperature,
        limit=args.limit,
        bertscore=False,  # no model call; it would only add the same time to every configuration
    )
    params = induction_params(**common)
    search_params = induction_params(**common, search=args.search or None)
    engine = get_engine()
    client = LLMClient(make_provider(ModelSettings()), engine, use_cache=False)
    print(f"working folder {work}; {len(tasks)} task(s), K={args.k}, limit={args.limit}", file=sys.stderr)

    measures: list[TaskMeasures] = []
    for n, task in enumerate(tasks, start=1):
        spec, search_spec = resolve_spec(params, task), resolve_spec(search_params, task)
        m = _measure_task(client, spec, search_spec)
        measures.append(m)
        print(
            f"[{n}/{len(tasks)}] {task}: {m.n_distinct} distinct of {spec.k}, {len(spec.tests)} inputs, "
            f"{m.induce.calls + m.distinct.calls + m.duplicates.calls + m.gold.calls + m.search.calls} calls",
            file=sys.stderr,
        )

    cached_calls, cached_seconds, bench = _job(engine, params, "second run (cache)")
    search_cached_calls, _, search_bench = _job(engine, search_params, "search, second run (cache)")

    total = {name: Measure() for name in ("induce", "distinct", "duplicates", "gold", "search", "winner")}
    brute_calls = 0
    for m in measures:
        for name, bucket in total.items():
            bucket.add(getattr(m, name))
        brute_calls += m.brute_search_calls
    base = Measure()
    for name in ("induce", "distinct", "duplicates", "gold"):
        base.add(total[name])
    grouped = Measure()
    for name in ("induce", "distinct", "gold"):
        grouped.add(total[name])
    search = Measure()
    for name in ("induce", "search", "winner", "gold"):
        search.add(total[name])
    mean_search_call = total["search"].seconds / total["search"].calls if total["search"].calls else 0.0
    brute_search = Measure(
        total["induce"].calls + brute_calls + total["winner"].calls + total["gold"].calls,
        total["induce"].seconds
        + brute_calls * mean_search_call
        + total["winner"].seconds
        + total["gold"].seconds,
    )

    rows = [
        ("no grouping, no cache", base),
        ("grouping, no cache", grouped),
        ("grouping + cache (second run)", Measure(cached_calls, cached_seconds)),
        ("search: successive halving", search),
        ("search: every candidate on every example (time est.)", brute_search),
    ]
    print()
    print(
        f"{len(tasks)} task(s), {args.n_sets} demo set(s) x K={args.k}, T={args.temperature}, {sum(len(r.tests) for r in bench.reports)} held-out inputs in all"
    )
    print(
        f"{'configuration':<56}{'model calls':>12}{'wall time (s)':>15}{'calls ratio':>13}{'time ratio':>12}"
    )
    for label, m in rows:
        print(
            f"{label:<56}{m.calls:>12}{m.seconds:>15.1f}{_ratio(m.calls, base.calls):>13}{_ratio(m.seconds, base.seconds):>12}"
        )
    print()
    print(
        f"grouping: {grouped.calls} / {base.calls} calls ({_ratio(grouped.calls, base.calls)}), "
        f"time {_ratio(grouped.seconds, base.seconds)}; "
        f"{total['duplicates'].calls} executions of repeated instructions avoided"
    )
    print(
        f"cache: the second run made {cached_calls} model calls in {cached_seconds:.1f} s, "
        f"{_ratio(cached_seconds, grouped.seconds)} of the first run's time "
        f"(search run again: {search_cached_calls} calls)"
    )
    print(
        f"search: {total['search'].calls} scorings instead of {brute_calls} "
        f"({_ratio(total['search'].calls, brute_calls)}); whole evaluation {search.calls} calls vs "
        f"{grouped.calls} with grouping ({_ratio(search.calls, grouped.calls)}), "
        f"time {_ratio(search.seconds, grouped.seconds)}"
    )
    o, so = bench.overall, search_bench.overall
    print(
        f"accuracy (embedded model): induced {o.mean_induced * 100:.1f}%, human {o.mean_human * 100:.1f}%, "
        f"% of human {'n/a' if o.percent_of_human is None else f'{o.percent_of_human:.1f}'}; with the search: "
        f"induced {so.mean_induced * 100:.1f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
