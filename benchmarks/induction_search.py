"""Benchmark: how often a search strategy finds the best candidate instruction, and what it costs.

A simulation (no model): 100 candidates, the best at true accuracy 0.9, the rest uniform in 0.2-0.7, a
20-example split, 300 trials (see core/induction/search_sim.py). For each strategy it prints how often it
returned the truly best candidate and its mean scorings, against scoring every candidate on the whole split.

    .venv/bin/python benchmarks/induction_search.py [--trials 300] [--candidates 100] [--examples 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.induction.search_sim import simulate  # noqa: E402


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--trials", type=_positive, default=300)
    parser.add_argument("--candidates", type=_positive, default=100)
    parser.add_argument("--examples", type=_positive, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stats = simulate(args.trials, args.candidates, args.examples, seed=args.seed)
    full = stats[0]
    print(f"{args.trials} trials, {args.candidates} candidates, {args.examples}-example split")
    print(f"{'strategy':40} {'finds the best':>15} {'vs full':>8} {'scorings':>9} {'of full':>8}")
    for s in stats:
        relative = s.found_rate / full.found_rate if full.found_rate else 0.0
        print(
            f"{s.name:40} {s.found_rate:>14.1%} {relative:>8.0%} {s.mean_scorings:>9.0f} "
            f"{s.mean_scorings / full.mean_scorings:>8.0%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
