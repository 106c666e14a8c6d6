"""`python -m core.jobs worker [--once]` runs queued jobs outside the app; `status` lists runs."""

from __future__ import annotations

import argparse
import sys
import time

from core.jobs.runner import run_once
from core.store import get_engine
from core.store import runs as run_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.jobs")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run queued and stalled runs")
    worker.add_argument("--once", action="store_true", help="run at most one run, then exit")
    worker.add_argument("--poll", type=float, default=2.0)
    sub.add_parser("status", help="list runs")
    args = parser.parse_args(argv)
    engine = get_engine()
    if args.command == "status":
        for run in run_store.list_runs(engine):
            print(
                f"{run.id:>5}  {run.kind:<14} {run.status:<10} {run.progress_done}/{run.progress_total}  {run.name}"
            )
        return 0
    while True:
        ran = run_once(engine)
        if args.once:
            return 0 if ran is not None else 1
        if ran is None:
            time.sleep(args.poll)


if __name__ == "__main__":
    sys.exit(main())
