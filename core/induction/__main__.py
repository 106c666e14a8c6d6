"""Instruction Induction from the command line, on the same database and call log as the app.

    python -m core.induction run --tasks all|a,b --induce-model embedded|NAME [--execute-model embedded|NAME]
        [--base-url URL] [--paper] [--paper-demos] [--n-sets N] [--k K] [--temperature T] [--top-p P]
        [--max-tokens N] [--execute-max-tokens N] [--postprocess ours|paper_exact] [--limit N] [--seed S]
        [--search N] [--no-bertscore] [--bertscore-model M] [--bertscore-rescale] [--out DIR] [--resume RUN]
    python -m core.induction table RUN [--out DIR]

`--paper` is the paper's method in one flag: its 100 demonstration sets per task, one instruction per set,
decoding as the reference code sends it (top_p 0, temperature 1; 50 new tokens to induce, 30 to execute),
every held-out input, the reference's post-processing, frequency weighting and the gold baseline. With
`--limit` or `--n-sets` it runs a seeded sample of those, and the run says so. Subsets (`--limit`, fewer
demonstration sets, the search split) are seeded random samples (`--seed`), stored with the run.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from core.induction.cost import estimate_params_cost, price_model_name
from core.induction.job import model_from_dict
from core.induction.report import benchmark_rows, build_benchmark, rows_to_csv, rows_to_markdown
from core.induction.spec import (
    EXECUTE_MAX_TOKENS,
    INDUCE_MAX_TOKENS,
    POSTPROCESSING,
    benchmark_tasks,
    induction_params,
    paper_departures,
    paper_settings,
    record_samples,
)
from core.jobs.progress import add_take_over_argument
from core.llm.settings import settings_from_name
from core.store import calls as call_log
from core.store import get_engine
from core.store import runs as run_store

KIND = "induction_benchmark"


_KIND_WORDS = {int: "a whole number", float: "a number"}


class UsageError(Exception):
    """A bad argument found after parsing (a task name, the output folder): one line, exit 2."""


def _ranged(kind: type, low: float | None = None, high: float | None = None) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` within [low, high], refused with a one-line reason otherwise."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {_KIND_WORDS[kind]}, got {text!r}") from None
        if value != value or (low is not None and value < low) or (high is not None and value > high):
            bounds = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its messages
    return convert


def _out_dir(value: str) -> Path:
    """The folder for the tables: an existing folder, or a new one inside an existing folder."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out: {value} is a file, not a folder")
    if not path.exists() and not path.parent.is_dir():
        raise UsageError(f"--out: the folder {path.parent} does not exist")
    return path


def _tasks(value: str) -> list[str]:
    from core.datasets import instruction_task_names, uploaded_tasks

    known = instruction_task_names()
    if value == "all":
        return known
    names = [t.strip() for t in value.split(",") if t.strip()]
    available = set(known) | {t.name for t in uploaded_tasks()}
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UsageError(
            f"--tasks: unknown task(s) {', '.join(unknown)}; available here: {', '.join(known)} "
            "(the 24 official tasks once imported: python -m core.datasets)"
        )
    if not names:
        raise UsageError("--tasks: no task named")
    return names


def _write_table(engine: Engine, run_id: int, out: Path) -> tuple[Path, Path, str]:
    run = run_store.get_run(engine, run_id)
    assert run is not None
    bench = build_benchmark(run.params, run_store.results(engine, run_id))
    rows = benchmark_rows(bench)
    out.mkdir(exist_ok=True)
    csv_path, md_path = out / f"induction_run{run_id}.csv", out / f"induction_run{run_id}.md"
    markdown = rows_to_markdown(rows, bench.overall, bench.notes)
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
        params = record_samples(
            induction_params(
                model=settings.public_dict(),
                execute_model=execute_model,
                tasks=tasks,
                seed=args.seed,
                bertscore=not args.no_bertscore,
                bertscore_model=args.bertscore_model,
                bertscore_rescale=args.bertscore_rescale,
                **_method(args),
            )
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
        departures = paper_departures(params)
        print(
            "settings: the paper's method"
            if not departures
            else "departures from paper: " + "; ".join(departures)
        )
    before = call_log.count_calls(engine, run_id)
    started = time.perf_counter()
    status = execute_with_progress(engine, run_id, worker, settings)
    elapsed = time.perf_counter() - started
    made = call_log.count_calls(engine, run_id) - before
    if status == "done":
        print(f"run {run_id}: done in {elapsed:.1f} s; {made} new model call(s) (the rest from the call log)")
    else:
        run = run_store.get_run(engine, run_id)
        error = (
            run.error.strip().splitlines()[0] if run is not None and run.error and run.error.strip() else ""
        )
        reason = error or ("cancelled" if status == "cancelled" else "no error was recorded")
        print(f"run {run_id} {status} after {elapsed:.1f} s: {reason}", file=sys.stderr)
        print(f"go on with: python -m core.induction run --resume {run_id}", file=sys.stderr)
    csv_path, md_path, markdown = _write_table(engine, run_id, args.out)
    print(markdown)
    print(f"wrote {csv_path} and {md_path}")
    return 0 if status == "done" else 1


def _table(args: argparse.Namespace, engine: Engine) -> int:
    run = run_store.get_run(engine, args.run)
    if run is None or run.kind != KIND:
        print(f"no induction benchmark run {args.run}", file=sys.stderr)
        return 2
    csv_path, md_path, markdown = _write_table(engine, run.id, args.out)
    print(markdown)
    print(f"wrote {csv_path} and {md_path} (re-scored from stored outputs; no model call)")
    return 0


# Settings the paper preset fixes; with --paper only --limit and --n-sets may narrow it (a labelled sample).
_METHOD_DEFAULTS: dict[str, Any] = {
    "k": 5,
    "temperature": 0.7,
    "top_p": 1.0,
    "max_tokens": INDUCE_MAX_TOKENS,
    "execute_max_tokens": EXECUTE_MAX_TOKENS,
    "postprocess": "ours",
    "search": None,
}


def _method(args: argparse.Namespace) -> dict[str, Any]:
    """The induction_params keywords of the method: the paper preset, or the flags (defaults filled in)."""
    given = {name: getattr(args, name) for name in _METHOD_DEFAULTS if getattr(args, name) is not None}
    if args.paper:
        if given or args.paper_demos:
            flags = ", ".join(
                "--" + n.replace("_", "-") for n in [*given, *(["paper_demos"] * args.paper_demos)]
            )
            raise UsageError(f"--paper fixes {flags}: drop them, or drop --paper")
        method = paper_settings()
        if args.n_sets is not None:
            method["n_sets"] = args.n_sets
        method["limit"] = args.limit
        return method
    values = {**_METHOD_DEFAULTS, **given}
    return {
        "demo_source": "paper" if args.paper_demos else "random",
        "n_sets": args.n_sets or 1,
        "k": values["k"],
        "temperature": values["temperature"],
        "top_p": values["top_p"],
        "induce_max_tokens": values["max_tokens"],
        "execute_max_tokens": values["execute_max_tokens"],
        "postprocess": values["postprocess"],
        "limit": args.limit,
        "search": values["search"],
    }


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: "--paper" must never be read as "--paper-demos" (or any flag as a longer one).
    parser = argparse.ArgumentParser(
        prog="python -m core.induction", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="induce, execute and score tasks; write the per-task table", allow_abbrev=False
    )
    positive = _ranged(int, 1)
    run.add_argument("--tasks", default="all", help="all, or task names separated by commas")
    run.add_argument("--induce-model", help="embedded (default) or a model name at the endpoint")
    run.add_argument("--execute-model", help="model that executes instructions (default: the induce model)")
    run.add_argument("--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL)")
    run.add_argument("--paper", action="store_true", help="the paper's method, exactly (see above)")
    run.add_argument("--paper-demos", action="store_true", help="the paper's demonstration sets")
    run.add_argument(
        "--n-sets", type=_ranged(int, 1, 100), help="demonstration sets per task (default 1; --paper: 100)"
    )
    run.add_argument("--k", type=_ranged(int, 1, 100), help="instructions sampled per demonstration set (5)")
    run.add_argument(
        "--temperature", type=_ranged(float, 0, 2), help="induction temperature; 0 for greedy (0.7)"
    )
    run.add_argument(
        "--top-p", type=_ranged(float, 0, 1), help="induction top_p; 0 is greedy, as the reference (1)"
    )
    run.add_argument(
        "--max-tokens", type=_ranged(int, 1, 4096), help=f"new tokens per induction ({INDUCE_MAX_TOKENS})"
    )
    run.add_argument(
        "--execute-max-tokens",
        type=_ranged(int, 1, 4096),
        help=f"new tokens per execution ({EXECUTE_MAX_TOKENS})",
    )
    run.add_argument("--postprocess", choices=POSTPROCESSING, help="instruction clean-up (ours)")
    run.add_argument(
        "--limit", type=positive, help="held-out inputs per task, a seeded sample (default: all)"
    )
    run.add_argument("--seed", type=_ranged(int, 0), default=0, help="seed of every sample and of sampling")
    run.add_argument(
        "--search", type=_ranged(int, 2, 10_000), help="also select one instruction on N examples"
    )
    run.add_argument("--no-bertscore", action="store_true")
    run.add_argument("--bertscore-model", help="default: offline all-MiniLM-L6-v2 (not on the paper's scale)")
    run.add_argument("--bertscore-rescale", action="store_true", help="rescale_with_baseline (named models)")
    run.add_argument("--name", help="run name shown in the app")
    run.add_argument("--out", default="induction_results", help="folder for the CSV and Markdown tables")
    run.add_argument(
        "--resume", type=positive, metavar="RUN", help="go on with a stored run (its own settings)"
    )
    add_take_over_argument(run)
    table = sub.add_parser("table", help="re-score a stored run and write its table", allow_abbrev=False)
    table.add_argument("run", type=positive)
    table.add_argument("--out", default="induction_results")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.out = _out_dir(args.out)
        if args.command == "run" and args.resume is None:
            if args.bertscore_rescale and not args.bertscore_model:
                raise UsageError("--bertscore-rescale needs --bertscore-model: MiniLM has no baseline")
            _tasks(args.tasks)
            _method(args)
        engine = get_engine()
        if args.command == "table":
            return _table(args, engine)
        return _run(args, engine)
    except UsageError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
