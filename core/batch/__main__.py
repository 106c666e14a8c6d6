"""Offline batch from the command line.

    python -m core.batch write --selfinstruct RUN --stage classify|instances --model NAME [--base-url URL]
        --out FILE.jsonl
    python -m core.batch write --induction RUN --stage induce|execute --model NAME [--base-url URL]
        --out FILE.jsonl
    python -m core.batch ingest REQUESTS.jsonl RESULTS.jsonl [--base-url URL]
    python -m core.batch submit REQUESTS.jsonl          (OpenAI Batch API; needs OPENAI_API_KEY)
    python -m core.batch download BATCH_ID --out RESULTS.jsonl

`write` puts the stage's requests that the call log cannot answer yet into an OpenAI Batch request file
(for OpenAI's Batch API, or vLLM's `run_batch` on a cluster). `ingest` reads the result file back into the
call log as cache entries for the model at --base-url (the endpoint the run will use), so the stage then
runs from the log: e.g. a new Self-Instruct run with the same settings replays without model calls. Ingest
checks every line and prints one line per problem; running it again adds nothing twice.

`submit` and `download` are a thin path to the OpenAI Batch API through the openai SDK; they need a key
and the network, and are not exercised by the offline tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.batch.jsonl import BatchFileError, write_requests


def _write(args: argparse.Namespace) -> int:
    from core.batch.stages import induction_stage, selfinstruct_stage
    from core.llm.settings import settings_from_name
    from core.store import get_engine

    settings = settings_from_name(args.model, args.base_url)
    try:
        if args.selfinstruct is not None:
            plan = selfinstruct_stage(get_engine(), args.selfinstruct, args.stage, settings)
        else:
            plan = induction_stage(get_engine(), args.induction, args.stage, settings)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    lines = write_requests(Path(args.out), plan.requests, settings.base_url, settings.model)
    print(f"wrote {lines} request(s) to {args.out}; {plan.cached} already answered in the call log")
    if plan.waiting:
        first = "classification" if args.selfinstruct is not None else "induction"
        print(
            f"{len(plan.waiting)} item(s) left out: their {first} answer is not in the call log yet "
            f"(ingest the {first} batch first)",
            file=sys.stderr,
        )
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from core.batch.ingest import ingest
    from core.llm.settings import settings_from_env
    from core.store import get_engine

    base_url = args.base_url or settings_from_env().base_url
    try:
        report = ingest(get_engine(), Path(args.requests), Path(args.results), base_url)
    except BatchFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    for problem in report.problems:
        print(problem, file=sys.stderr)
    print(
        f"{report.ingested} answer(s) ingested, {report.already} already in the call log, "
        f"{len(report.problems)} problem(s), of {report.requests} request(s)"
    )
    return 1 if report.problems else 0


def _openai_client():
    """The Batch API client; OpenAI's own endpoint unless OPENAI_BASE_URL says otherwise."""
    import openai

    from core.llm.settings import settings_from_env

    env = settings_from_env()
    if not env.api_key:
        raise SystemExit("submitting to the Batch API needs OPENAI_API_KEY")
    return openai.OpenAI(base_url=env.base_url, api_key=env.api_key)


def _submit(args: argparse.Namespace) -> int:
    import json

    urls = {
        json.loads(line)["url"]
        for line in Path(args.requests).read_text(encoding="utf-8").splitlines()
        if line
    }
    if len(urls) != 1:
        print(f"{args.requests}: a batch serves one URL; this file has {sorted(urls)}", file=sys.stderr)
        return 2
    client = _openai_client()
    with Path(args.requests).open("rb") as f:
        uploaded = client.files.create(file=f, purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=urls.pop(), completion_window="24h")
    print(
        f"submitted batch {batch.id} ({batch.status}); fetch it with: python -m core.batch download {batch.id}"
    )
    return 0


def _download(args: argparse.Namespace) -> int:
    client = _openai_client()
    batch = client.batches.retrieve(args.batch)
    if batch.status != "completed" or not batch.output_file_id:
        print(f"batch {batch.id} is {batch.status}; nothing to download yet", file=sys.stderr)
        return 1
    client.files.content(batch.output_file_id).write_to_file(args.out)
    print(f"wrote {args.out}; ingest it with the request file")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.batch", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write", help="write a stage's requests as an OpenAI Batch request file")
    source = write.add_mutually_exclusive_group(required=True)
    source.add_argument("--selfinstruct", type=int, metavar="RUN", help="a Self-Instruct run")
    source.add_argument(
        "--induction", type=int, metavar="RUN", help="an induction run (one task or the benchmark)"
    )
    write.add_argument(
        "--stage",
        choices=("classify", "instances", "induce", "execute"),
        required=True,
        help="Self-Instruct: classify, then instances; induction: induce, then execute",
    )
    write.add_argument("--model", required=True, help="the model name at the endpoint")
    write.add_argument("--base-url", help="the endpoint the run will use (default: OPENAI_BASE_URL)")
    write.add_argument("--out", required=True)
    ing = sub.add_parser("ingest", help="read a result file into the call log")
    ing.add_argument("requests")
    ing.add_argument("results")
    ing.add_argument("--base-url", help="the endpoint the run will use (default: OPENAI_BASE_URL)")
    sub_ = sub.add_parser("submit", help="upload a request file to the OpenAI Batch API (needs a key)")
    sub_.add_argument("requests")
    down = sub.add_parser("download", help="fetch a completed batch's result file (needs a key)")
    down.add_argument("batch")
    down.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    return {"write": _write, "ingest": _ingest, "submit": _submit, "download": _download}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
