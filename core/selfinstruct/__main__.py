"""Self-Instruct at scale from the command line, with the same stored records as the page.

    python -m core.selfinstruct generate --seeds official|starter|FILE --model embedded|NAME [--base-url URL]
        --target N [--iterations N] [--resume RUN]
    python -m core.selfinstruct export RUN --format alpaca|finetune|chat|provenance [--out FILE]

`generate` runs the "selfinstruct" job in this process (an app's workers leave it alone while this process
heartbeats) and shows a progress bar; Ctrl-C cancels cleanly, and `--resume RUN` goes on from the stored
results. An OpenAI-compatible endpoint's key comes from OPENAI_API_KEY; it is never stored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Engine

from core.jobs.progress import add_take_over_argument, claim_for_resume, execute_with_progress
from core.jobs.runner import start_here
from core.llm import ModelSettings
from core.llm.settings import settings_from_name, settings_from_public
from core.selfinstruct.pipeline import (
    EXPORT_FORMATS,
    KIND,
    RunSpec,
    export_run,
    load_run,
    resolve_seeds,
    with_decoding,
)
from core.selfinstruct.prompts import PromptConfig
from core.store import get_engine
from core.store import runs as run_store


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
        raise SystemExit(f"--seeds: expected official, starter or a seed file; {value!r} is none of these")
    stored = datasets.save_upload(path.name, path.read_bytes(), "seed_tasks")
    return f"upload:{stored.name}"


def _generate(args: argparse.Namespace, engine: Engine) -> int:
    settings = _model(args)
    if args.resume is not None:
        run = run_store.get_run(engine, args.resume)
        if run is None or run.kind != KIND:
            print(f"no Self-Instruct run {args.resume}", file=sys.stderr)
            return 2
        if args.iterations is not None or args.target is not None:
            params = {**run.params, "iterations": args.iterations, "target": args.target}
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
        config = with_decoding(
            PromptConfig(),
            max_tokens=args.max_tokens,
            instance_max_tokens=args.instance_max_tokens,
            temperature=args.temperature,
        )
        spec = RunSpec(
            seeds=_seed_source(args.seeds),
            k_human=args.k_human,
            k_machine=args.k_machine,
            classification_only=args.classification_only,
            prompt=config,
            on_length=args.on_length,
            blacklist_extra=tuple(args.blacklist),
            threshold=args.threshold,
            iterations=args.iterations,
            target=args.target,
            requests_per_iteration=args.requests,
            seed=args.seed,
            style=args.style,
            classify=not args.no_instances,
            instances=not args.no_instances,
        )
        try:
            resolve_seeds(spec.seeds)  # fail here, before a run exists, if the seeds are missing
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        name = args.name or f"CLI · {spec.seeds} · {settings.model or 'embedded'}"
        run_created, worker = start_here(engine, KIND, spec.to_params(settings.public_dict()), name)
        run_id = run_created.id
        print(f"run {run_id}: {name}")
    status = execute_with_progress(engine, run_id, worker, settings)
    run = run_store.get_run(engine, run_id)
    view = load_run(run_store.results(engine, run_id), run.params)
    counts = ", ".join(f"{k} {v}" for k, v in view.counts_by_reason().most_common())
    print(
        f"run {run_id} {status}: {len(view.iterations)} iterations, pool {len(view.pool)}; candidates: {counts}"
    )
    if status == "failed" and run.error:
        print(run.error.splitlines()[0], file=sys.stderr)
    return {"done": 0, "cancelled": 130}.get(status, 1)


def _stored_model(model: dict) -> ModelSettings:
    return settings_from_public(model) or ModelSettings()


def _export(args: argparse.Namespace, engine: Engine) -> int:
    run = run_store.get_run(engine, args.run)
    if run is None or run.kind != KIND:
        print(f"no Self-Instruct run {args.run}", file=sys.stderr)
        return 2
    text = export_run(load_run(run_store.results(engine, run.id), run.params), args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.selfinstruct", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="bootstrap instructions (a resumable run)")
    gen.add_argument(
        "--seeds", default="official", help="official, starter, or a seed file (.jsonl/.json/.csv)"
    )
    gen.add_argument("--model", help="'embedded' (default) or a model name at --base-url")
    gen.add_argument("--base-url", help="an OpenAI-compatible endpoint (key from OPENAI_API_KEY)")
    gen.add_argument("--styles", help="what the endpoint serves, e.g. 'chat' or 'completion,chat'")
    gen.add_argument("--concurrency", type=int, help="requests in flight")
    gen.add_argument("--target", type=int, help="stop when the generated pool holds this many instructions")
    gen.add_argument("--iterations", type=int, help="stop after this many iterations")
    gen.add_argument("--resume", type=int, metavar="RUN", help="go on with a stopped run")
    add_take_over_argument(gen)
    gen.add_argument("--requests", type=int, default=1, help="generation requests per iteration")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--k-human", type=int, default=6)
    gen.add_argument("--k-machine", type=int, default=2)
    gen.add_argument("--classification-only", action="store_true")
    gen.add_argument("--on-length", choices=("drop_all", "drop_last"), default="drop_all")
    gen.add_argument(
        "--blacklist", action="append", default=[], metavar="WORD", help="add a word (repeatable)"
    )
    gen.add_argument("--threshold", type=float, default=0.7, help="ROUGE-L above this is too similar")
    gen.add_argument("--style", choices=("auto", "completion", "chat"), default="auto")
    gen.add_argument("--max-tokens", type=int, help="generation max_tokens (paper: 1024)")
    gen.add_argument("--temperature", type=float, help="generation temperature (paper: 0.7)")
    gen.add_argument(
        "--instance-max-tokens", type=int, help="instance generation max_tokens (paper: 300/350)"
    )
    gen.add_argument(
        "--no-instances", action="store_true", help="instructions only: no classification/instances"
    )
    gen.add_argument("--name", default="")
    exp = sub.add_parser("export", help="write a run's dataset")
    exp.add_argument("run", type=int)
    exp.add_argument("--format", choices=tuple(EXPORT_FORMATS), required=True)
    exp.add_argument("--out", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    engine = get_engine()
    if args.command == "generate":
        return _generate(args, engine)
    return _export(args, engine)


if __name__ == "__main__":
    sys.exit(main())
