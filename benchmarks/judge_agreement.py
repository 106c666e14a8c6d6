"""Benchmark: a model judge on the 8 official prediction files (252 tasks each), against any human ratings.

Judges every (task, model) response with the default judge prompt on the A/B/C/D scale, as a "judge" run
(logged and cached like every call, so a second run costs nothing), then prints:

- how many replies could not be parsed (they are kept and counted, never guessed);
- Cohen's kappa (4 classes and acceptable/not), Spearman's rho and n against every human rating of the same
  items in the database's rating campaigns, per model and overall; nothing when no human has rated yet;
- the paper's Figure 6 as a table (share of A/B/C/D per model) from the judge's ratings.

    .venv/bin/python benchmarks/judge_agreement.py [--model embedded|NAME] [--base-url URL] [--chat]
        [--limit N] [--shared]

--limit judges only the first N tasks of each model. The database is the app's (DATABASE_URL or the data
folder), so human ratings collected in the app are used; --shared copies the official files from
../shared/datasets into a temporary working folder with a fresh database instead.

The embedded Gemma 3 270M base model is NOT a meaningful judge: it is tiny and not instruction-tuned, and
most of its replies are unparseable. It runs here only to show the workflow end to end; use a capable
model at an OpenAI-compatible endpoint for figures worth reading.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--chat", action="store_true", help="send chat requests instead of completions")
    parser.add_argument("--limit", type=int, default=None, help="judge only the first N tasks of each model")
    parser.add_argument("--shared", action="store_true", help="use ../shared/datasets in a temporary folder")
    args = parser.parse_args()

    if args.shared:
        work = Path(tempfile.mkdtemp(prefix="judge-bench-"))
        os.environ["WORKBENCH_DATA_DIR"] = str(work)
        os.environ.pop("DATABASE_URL", None)
        from core.datasets import import_folder

        shared = Path(os.environ.get("WORKBENCH_SHARED_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))
        import_folder(shared, work / "datasets", groups=["user_oriented", "predictions"])
        print(f"Working folder (database and call log): {work}")

    from core.humaneval.results import model_results
    from core.jobs import execute, start_here
    from core.llm.settings import settings_from_name
    from core.review import judge_run
    from core.review.judge_agreement import rating_agreement
    from core.review.official import OFFICIAL_SET, import_official
    from core.store import get_engine
    from core.store import ratings as rating_store
    from core.store import runs as run_store

    settings = settings_from_name(args.model, args.base_url)
    if settings.provider == "embedded":
        print(
            "NOTE: the embedded Gemma 3 270M base model is not a meaningful judge (tiny, not instruction-tuned);"
            " these figures only show that the workflow runs."
        )
    engine = get_engine()
    stored = import_official(engine)
    if not stored:
        print("The official tasks and prediction files are not in the data folder (try --shared).")
        return 1
    models = sorted(stored)
    responses = rating_store.response_items(engine, OFFICIAL_SET, models)
    if args.limit is not None:
        keep = {t for t in sorted({r.task_id for r in responses})[: args.limit]}
        responses = [r for r in responses if r.task_id in keep]
    items = judge_run.rating_items(responses)
    chat = args.chat or "completion" not in settings.styles
    params = judge_run.judge_params(
        "rating",
        items,
        settings.public_dict(),
        chat,
        source={"kind": "responses", "set_name": OFFICIAL_SET, "models": models},
    )
    cost = judge_run.estimate(params, (), {}, settings.model)
    print(
        f"Judge: {settings.label}; {len(models)} models, {len(items)} responses, at most {cost.calls} calls"
    )
    run, worker = start_here(engine, judge_run.KIND, params, name=f"benchmark judge {settings.label}")
    started = time.perf_counter()
    execute(engine, run, worker, settings)
    seconds = time.perf_counter() - started
    run = run_store.get_run(engine, run.id)
    if run.status != "done":
        print(f"The run stopped: {run.status} {run.error or ''}".strip())
        return 1
    results = run_store.results(engine, run.id)
    s = judge_run.summary(params, results)
    print(
        f"Run {run.id}: {s.judged} judged in {seconds:.1f} s; {s.unparseable} unparseable replies ({s.unparseable / max(1, s.judged):.0%})"
    )

    rater = judge_run.judge_rater(settings.model or settings.provider)
    ratings = judge_run.judge_ratings(results, rater)
    human = [
        r
        for c in rating_store.list_campaigns(engine)
        if c.set_name == OFFICIAL_SET
        for r in rating_store.latest_ratings(engine, c.id)
    ]
    print()
    rows = rating_agreement(human, ratings)
    if not rows:
        print(
            f"Judge vs humans: no human ratings of these items in the database ({len(human)} human ratings on the set)."
        )
    else:
        print("Judge vs humans (approximate 95% intervals in brackets)")
        print(f"{'model':<40}{'n':>6}  {'kappa 4-class':<22}{'kappa acceptable':<22}spearman")
        for r in rows:
            print(
                f"{r.model:<40}{r.n:>6}  {_fmt(r.kappa):>5} [{_fmt(r.kappa_ci[0])}, {_fmt(r.kappa_ci[1])}]    "
                f"{_fmt(r.kappa_acceptable):>5} [{_fmt(r.kappa_acceptable_ci[0])}, {_fmt(r.kappa_acceptable_ci[1])}]    "
                f"{_fmt(r.spearman)}"
            )
    print()
    print(f"Figure 6 layout from the judge's ratings ({rater}; a model, not human raters)")
    print(f"{'model':<40}{'n':>6}{'A':>7}{'B':>7}{'C':>7}{'D':>7}{'A+B':>7}")
    for m in model_results(ratings, models=models):
        shares = [m.shares[x] for x in "ABCD"]
        cells = "".join(f"{'n/a' if math.isnan(v) else f'{v:.0%}':>7}" for v in [*shares, m.acceptable_share])
        print(f"{m.model:<40}{m.n:>6}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
