"""Self-Instruct at scale from the command line, with the same stored records as the page.

    python -m core.selfinstruct generate --seeds official|starter|FILE --model embedded|NAME [--base-url URL]
        --target N [--iterations N] [--resume RUN]
    python -m core.selfinstruct export RUN --format alpaca|finetune|chat|provenance [--out FILE]

`generate` runs the "selfinstruct" job in this process (an app's workers leave it alone while this process
heartbeats) and shows a progress bar; Ctrl-C cancels cleanly, and `--resume RUN` goes on from the stored
results. An OpenAI-compatible endpoint's key comes from OPENAI_API_KEY; it is never stored.

Every argument is checked before anything runs; an expected failure (a bad seed file, an unwritable --out)
is one `error:` line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Engine

from core.datasets.errors import DatasetError
from core.jobs.progress import add_take_over_argument, claim_for_resume, execute_with_progress
from core.jobs.runner import start_here
from core.llm import ModelSettings
from core.llm.settings import settings_from_name, settings_from_public
from core.selfinstruct import calltexts
from core.selfinstruct import index as page_index
from core.selfinstruct import pages as si_pages
from core.selfinstruct.fidelity import departures, departures_label
from core.selfinstruct.job import resolve_seeds
from core.selfinstruct.prompts import FALLBACK_SOURCE
from core.selfinstruct.spec import KIND, MAX_IDLE, MAX_LOOKAHEAD, PAPER_REQUESTS, RunSpec, with_decoding
from core.selfinstruct.templates import base_config, default_config
from core.selfinstruct.view import EXPORT_FORMATS, export_label, export_run, load_run
from core.store import get_engine
from core.store import runs as run_store


class CliError(Exception):
    """An expected failure: printed as one line, exit status 2."""


def _number(kind: type, lo: float | None = None, hi: float | None = None, what: str = ""):
    """An argparse type: `kind` (int or float) within [lo, hi]; NaN and infinities are refused."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if hi is None:
                bound = f"at least {lo}"
            elif lo is None:
                bound = f"at most {hi}"
            else:
                bound = f"between {lo} and {hi}"
            raise argparse.ArgumentTypeError(f"expected {what or 'a value'} {bound}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


POSITIVE = _number(int, 1)
NON_NEGATIVE = _number(int, 0)


def _model(args: argparse.Namespace) -> ModelSettings:
    styles = tuple(s.strip() for s in args.styles.split(",") if s.strip()) if args.styles else None
    return settings_from_name(args.model, args.base_url, styles, args.concurrency)


def _seed_source(value: str) -> str:
    """official / starter as they are; a file is validated and stored as an upload, then named by it."""
    if value in ("official", "starter"):
        return value
    import core.datasets as datasets

    path = Path(value)
    if not path.is_file():
        raise CliError(f"--seeds: expected official, starter or a seed file; {value!r} is none of these")
    try:
        stored = datasets.save_upload(path.name, path.read_bytes(), "seed_tasks")
    except DatasetError as exc:
        raise CliError(f"--seeds: {exc}") from None
    except RecursionError:
        raise CliError(f"--seeds: {path.name}: nested too deeply to be a seed file") from None
    except OSError as exc:
        raise CliError(f"--seeds: cannot read {value!r} ({exc.strerror or exc})") from None
    return f"upload:{stored.name}"


def _generate(args: argparse.Namespace, engine: Engine) -> int:
    settings = _model(args)
    if args.resume is not None:
        run = run_store.get_run(engine, args.resume)
        if run is None or run.kind != KIND:
            print(f"no Self-Instruct run {args.resume}", file=sys.stderr)
            return 2
        params = dict(run.params)
        if args.iterations is not None or args.target is not None:
            params.update(iterations=args.iterations, target=args.target)
        if args.max_idle_iterations is not None:
            params["max_idle_iterations"] = args.max_idle_iterations
        if args.max_idle_instances is not None:
            params["max_idle_instances"] = args.max_idle_instances
        if params != run.params:
            RunSpec.from_params(params)
            run_store.update_run(engine, run.id, params=params)
        claimed = claim_for_resume(engine, run.id, args.take_over)
        if claimed is None:
            return 2
        worker = claimed[1]
        run_id = run.id
        stored = RunSpec.from_params(run_store.get_run(engine, run_id).params)
        if args.model is None:
            settings = _stored_model(run.params.get("model", {}))  # resume with the run's own model
        print(f"resuming run {run_id} (iterations={stored.iterations}, target={stored.target})")
    else:
        if args.iterations is None and args.target is None:
            print("give --target N and/or --iterations N", file=sys.stderr)
            return 2
        base = base_config(None) if args.templates == "fallback" else default_config()
        if args.templates == "paper" and base.template_source == FALLBACK_SOURCE:
            raise CliError(
                "--templates paper: the paper's template files are not in the datasets folder; run "
                "`python -m core.datasets download --group si_templates`"
            )
        config = with_decoding(
            base,
            max_tokens=args.max_tokens,
            instance_max_tokens=args.instance_max_tokens,
            clf_instance_max_tokens=args.clf_instance_max_tokens,
            temperature=args.temperature,
        )
        spec = RunSpec(
            seeds=_seed_source(args.seeds),
            k_human=args.k_human,
            k_machine=args.k_machine,
            classification_only=args.classification_only,
            classification_rule=args.classification_rule,
            prompt=config,
            on_length=args.on_length,
            blacklist_extra=tuple(args.blacklist),
            threshold=args.threshold,
            iterations=args.iterations,
            target=args.target,
            requests_per_iteration=args.requests,
            lookahead=args.lookahead,
            seed=args.seed,
            style=args.style,
            classify=not args.no_instances,
            instances=not args.no_instances,
            max_idle_iterations=args.max_idle_iterations or MAX_IDLE,
            max_idle_instances=args.max_idle_instances or MAX_IDLE,
        )
        try:
            resolve_seeds(spec.seeds)  # fail here, before a run exists, if the seeds are missing
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        name = args.name or f"CLI · {spec.seeds} · {settings.model or 'embedded'}"
        run_created, worker = start_here(engine, KIND, spec.to_params(settings.public_dict()), name)
        run_id = run_created.id
        print(f"run {run_id}: {name} ({spec.prompt.templates_label})")
        print(departures_label(departures(spec)))
    status = execute_with_progress(engine, run_id, worker, settings)
    run = run_store.get_run(engine, run_id)
    # From the page's index (SQL counts), not the whole run: a 52K run's records would take gigabytes.
    page_index.sync(engine, run_id)
    totals = si_pages.summary(engine, run_id)
    counts = ", ".join(f"{k} {v}" for k, v in totals.outcomes.most_common())
    print(f"run {run_id} {status}: {totals.iterations} iterations, pool {totals.pool}; candidates: {counts}")
    if status == "failed" and run.error:
        print(run.error.splitlines()[0], file=sys.stderr)
    return {"done": 0, "cancelled": 130}.get(status, 1)


def _stored_model(model: dict) -> ModelSettings:
    return settings_from_public(model) or ModelSettings()


def _export(args: argparse.Namespace, engine: Engine) -> int:
    if args.include_seed_tasks is not None and args.format != "finetune":
        raise CliError("--include-seed-tasks / --no-include-seed-tasks apply to --format finetune only")
    out = Path(args.out) if args.out else None
    if out is not None:  # checked before any work, so a typo costs nothing
        if out.is_dir():
            raise CliError(f"--out: {args.out} is a folder; give a file name")
        if not out.parent.is_dir():
            raise CliError(f"--out: the folder {str(out.parent)!r} does not exist")
    run = run_store.get_run(engine, args.run)
    if run is None or run.kind != KIND:
        print(f"error: no Self-Instruct run {args.run}", file=sys.stderr)
        return 2
    # Provenance is the only format with prompts and raw answers, which the records leave to the call log.
    read = calltexts.results if args.format == "provenance" else run_store.results
    view = load_run(read(engine, run.id), run.params)
    text = export_run(view, args.format, include_seed_tasks=args.include_seed_tasks)
    label = export_label(view)
    if out is not None:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"--out: cannot write {args.out} ({exc.strerror or exc})") from None
        print(f"wrote {args.out} ({label})", file=sys.stderr)
    else:
        sys.stdout.write(text)
        print(f"({label})", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.selfinstruct", description=__doc__.split("\n")[0], allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="bootstrap instructions (a resumable run)", allow_abbrev=False)
    gen.add_argument(
        "--seeds", default="official", help="official, starter, or a seed file (.jsonl/.json/.csv)"
    )
    gen.add_argument("--model", help="'embedded' (default) or a model name at --base-url")
    gen.add_argument("--base-url", help="an OpenAI-compatible endpoint (key from OPENAI_API_KEY)")
    gen.add_argument("--styles", help="what the endpoint serves, e.g. 'chat' or 'completion,chat'")
    gen.add_argument("--concurrency", type=POSITIVE, help="requests in flight")
    gen.add_argument(
        "--target", type=POSITIVE, help="stop when the generated pool holds this many instructions"
    )
    gen.add_argument("--iterations", type=POSITIVE, help="stop after this many iterations")
    gen.add_argument("--resume", type=POSITIVE, metavar="RUN", help="go on with a stopped run")
    add_take_over_argument(gen)
    gen.add_argument(
        "--requests",
        type=POSITIVE,
        default=PAPER_REQUESTS,
        help=f"generation requests per iteration (paper: {PAPER_REQUESTS}; more keep a large endpoint busier)",
    )
    gen.add_argument(
        "--lookahead",
        type=_number(int, 0, MAX_LOOKAHEAD),
        default=0,
        help="departure: send the generation requests of up to N later iterations before the current one is "
        "judged, their prompts sampled from a pool N iterations older (paper: 0; keeps a slow endpoint busy)",
    )
    gen.add_argument("--seed", type=NON_NEGATIVE, default=0)
    gen.add_argument("--k-human", type=NON_NEGATIVE, default=6, help="human seeds per prompt (paper: 6)")
    gen.add_argument(
        "--k-machine", type=NON_NEGATIVE, default=2, help="machine instructions per prompt (paper: 2)"
    )
    gen.add_argument("--classification-only", action="store_true", help="the paper's classification-only run")
    gen.add_argument(
        "--classification-rule",
        choices=("paper", "lenient"),
        default="paper",
        help="read the classifier's reply as the paper does (exactly Yes/yes/YES) or by its first yes/no word",
    )
    gen.add_argument("--on-length", choices=("drop_all", "drop_last"), default="drop_all")
    gen.add_argument(
        "--blacklist", action="append", default=[], metavar="WORD", help="add a word (repeatable)"
    )
    gen.add_argument(
        "--threshold",
        type=_number(float, 0.0, 1.0, "a ROUGE-L threshold"),
        default=0.7,
        help="ROUGE-L above this is too similar (paper: 0.7)",
    )
    gen.add_argument("--style", choices=("auto", "completion", "chat"), default="auto")
    gen.add_argument(
        "--templates",
        choices=("auto", "paper", "fallback"),
        default="auto",
        help="few-shot templates: the paper's when present (auto), required (paper), or this project's (fallback)",
    )
    gen.add_argument("--max-tokens", type=POSITIVE, help="generation max_tokens (paper: 1024)")
    gen.add_argument(
        "--temperature",
        type=_number(float, 0.0, 2.0, "a temperature"),
        help="generation temperature (paper: 0.7)",
    )
    gen.add_argument(
        "--instance-max-tokens",
        type=POSITIVE,
        help="max_tokens for instances of non-classification tasks (paper: 350)",
    )
    gen.add_argument(
        "--clf-instance-max-tokens",
        type=POSITIVE,
        help="max_tokens for instances of classification tasks (paper: 300)",
    )
    gen.add_argument(
        "--max-idle-iterations",
        type=POSITIVE,
        help=f"stop after this many iterations in a row keep nothing (default {MAX_IDLE}; raise it to resume)",
    )
    gen.add_argument(
        "--max-idle-instances",
        type=POSITIVE,
        help=f"stop after this many instructions in a row get no instance (default {MAX_IDLE})",
    )
    gen.add_argument(
        "--no-instances", action="store_true", help="instructions only: no classification/instances"
    )
    gen.add_argument("--name", default="")
    exp = sub.add_parser("export", help="write a run's dataset", allow_abbrev=False)
    exp.add_argument("run", type=POSITIVE)
    exp.add_argument("--format", choices=tuple(EXPORT_FORMATS), required=True)
    exp.add_argument("--out", help="file to write (default: standard output)")
    exp.add_argument(
        "--include-seed-tasks",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="finetune format: add the seed tasks' instances, as the paper's script does (default: on)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "generate" and args.k_human == 0 and args.k_machine == 0:
        parser.error("--k-human and --k-machine cannot both be 0: a prompt needs at least one instruction")
    try:
        engine = get_engine()
        if args.command == "generate":
            return _generate(args, engine)
        return _export(args, engine)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, DatasetError) as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
