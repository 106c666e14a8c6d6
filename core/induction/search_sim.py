"""Simulated candidate pools for judging a search strategy against scoring every candidate everywhere.

One trial: `n_candidates` instructions, one of them (at a random position) with true accuracy `best`, the
others uniform in `others`; each candidate's pass/fail on each of the `n_examples` split examples is drawn
once, so every strategy sees the same outcomes. "Full" scores every candidate on the whole split and takes
the best mean (ties: a random one) — the most the split itself can tell. A strategy "finds the best" when
it returns the candidate with the highest true accuracy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.induction.search import SearchResult, successive_halving, ucb_search

Strategy = Callable[[Sequence[str], int, Callable[[str, int], float], int], SearchResult]


@dataclass(frozen=True)
class StrategyStats:
    name: str
    found: int  # trials in which it returned the truly best candidate
    trials: int
    scorings: int  # over all trials

    @property
    def found_rate(self) -> float:
        return self.found / self.trials if self.trials else 0.0

    @property
    def mean_scorings(self) -> float:
        return self.scorings / self.trials if self.trials else 0.0


def _full(candidates: Sequence[str], n_examples: int, score, seed: int) -> SearchResult:
    means = [sum(score(c, e) for e in range(n_examples)) / n_examples for c in candidates]
    top = max(means)
    best = random.Random(f"full/{seed}").choice([i for i, m in enumerate(means) if m == top])
    return SearchResult("full", best, candidates[best], [], len(candidates) * n_examples, 0)


def previous_halving(candidates: Sequence[str], n_examples: int, score, seed: int) -> SearchResult:
    """The schedule this project used before (kept here only to measure it): cumulative inputs growing
    geometrically up to the whole split, rounds that add nothing new still cut, the best half kept, ties
    to the lowest index."""
    n = len(candidates)
    sizes, alive = [], n
    while alive > 1 or not sizes:
        sizes.append(alive)
        alive = math.ceil(alive / 2)
    order = list(range(n_examples))
    random.Random(seed).shuffle(order)
    scores: list[dict[int, float]] = [{} for _ in candidates]
    live, evaluations, previous = list(range(n)), 0, 0
    for k in range(len(sizes)):
        cumulative = min(n_examples, max(math.ceil(n_examples / 2 ** (len(sizes) - 1 - k)), 1, previous))
        previous = cumulative
        for i in live:
            for e in order[:cumulative]:
                if e not in scores[i]:
                    scores[i][e] = score(candidates[i], e)
                    evaluations += 1
        keep = max(1, math.ceil(len(live) / 2)) if len(live) > 1 else 1
        live = sorted(live, key=lambda i: (-sum(scores[i].values()) / max(1, len(scores[i])), i))[:keep]
    return SearchResult("previous_halving", live[0], candidates[live[0]], [], evaluations, n * n_examples)


def strategies(n_candidates: int, n_examples: int) -> dict[str, Strategy]:
    budget = n_candidates * n_examples // 3
    return {
        "full split (every candidate)": _full,
        "successive halving (previous)": previous_halving,
        "successive halving": lambda c, m, s, seed: successive_halving(c, m, s, seed=seed),
        "UCB (APE), a third of the scorings": lambda c, m, s, seed: ucb_search(
            c, m, s, budget=budget, seed=seed
        ),
    }


def simulate(
    trials: int = 300,
    n_candidates: int = 100,
    n_examples: int = 20,
    best: float = 0.9,
    others: tuple[float, float] = (0.2, 0.7),
    seed: int = 0,
    only: Sequence[str] | None = None,
) -> list[StrategyStats]:
    """Every strategy (or those named in `only`) on the same `trials` pools; deterministic for a seed."""
    rng = random.Random(seed)
    found: dict[str, int] = {}
    scorings: dict[str, int] = {}
    names = [f"c{i}" for i in range(n_candidates)]
    for t in range(trials):
        truth = [rng.uniform(*others) for _ in range(n_candidates)]
        winner = rng.randrange(n_candidates)
        truth[winner] = best
        outcome = [[1.0 if rng.random() < p else 0.0 for _ in range(n_examples)] for p in truth]
        for name, strategy in strategies(n_candidates, n_examples).items():
            if only is not None and name not in only:
                continue
            calls = 0

            def score(instruction: str, example: int, outcome: list[list[float]] = outcome) -> float:
                nonlocal calls
                calls += 1
                return outcome[int(instruction[1:])][example]

            result = strategy(names, n_examples, score, seed * 100_003 + t)
            found[name] = found.get(name, 0) + (result.best_index == winner)
            scorings[name] = scorings.get(name, 0) + calls
    return [StrategyStats(n, found[n], trials, scorings[n]) for n in found]
