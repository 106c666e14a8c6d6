"""Choosing the best of many candidate instructions without scoring each on every held-out input.

As in APE (Zhou et al., 2023), candidates are scored on a small held-out split, and weak ones stop early:
- `successive_halving`: in rounds, every surviving candidate is scored on more inputs (the count grows
  geometrically, so the last round scores the final two on the whole split) and the weaker half is dropped;
- `ucb_search`: a bandit that spends a fixed budget of scorings, each on the candidate with the highest
  upper confidence bound.

Both take `score(instruction, example_index) -> float` (example_index in range(n_examples)), never call it
twice for the same pair, and compare candidates on the same inputs in the same (seeded) order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

ScoreFn = Callable[[str, int], float]


@dataclass
class CandidateEstimate:
    index: int
    instruction: str
    scores: dict[int, float] = field(default_factory=dict)  # example index -> score
    eliminated_in_round: int | None = None  # None: survived to the end (successive halving only)

    @property
    def n_evaluated(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return sum(self.scores.values()) / len(self.scores) if self.scores else 0.0


@dataclass(frozen=True)
class RoundLog:
    round: int
    candidates: tuple[int, ...]  # indices scored in this round
    examples_per_candidate: int  # cumulative: each of them has now been scored on this many inputs
    evaluations: int  # new scorings made in this round
    survivors: tuple[int, ...]


@dataclass
class SearchResult:
    method: str
    best_index: int
    best_instruction: str
    estimates: list[CandidateEstimate]
    evaluations: int
    brute_force_evaluations: int
    rounds: list[RoundLog] = field(default_factory=list)

    @property
    def best_estimate(self) -> float:
        return self.estimates[self.best_index].mean

    @property
    def calls_saved(self) -> int:
        return self.brute_force_evaluations - self.evaluations

    @property
    def fraction_saved(self) -> float:
        return self.calls_saved / self.brute_force_evaluations if self.brute_force_evaluations else 0.0


def halving_schedule(
    n_candidates: int, n_examples: int, eta: int = 2, min_examples: int = 1
) -> list[tuple[int, int]]:
    """Per round: (candidates scored, cumulative inputs each has been scored on).

    Rounds continue until one candidate is left, ceil(log_eta(n)) of them; the last round uses all
    `n_examples` and each earlier one 1/eta as many (at least `min_examples`). A single candidate is
    scored on the whole split, so the winner's estimate is always a full-split one.
    """
    if n_candidates < 1 or n_examples < 1:
        raise ValueError("need at least one candidate and one held-out example")
    if eta < 2:
        raise ValueError("eta must be at least 2")
    n_rounds = 0
    alive = n_candidates
    sizes = []
    while alive > 1 or n_rounds == 0:
        sizes.append(alive)
        alive = math.ceil(alive / eta)
        n_rounds += 1
    schedule = []
    previous = 0
    for k, size in enumerate(sizes):
        cumulative = math.ceil(n_examples / eta ** (n_rounds - 1 - k))
        cumulative = min(n_examples, max(cumulative, min_examples, previous))
        schedule.append((size, cumulative))
        previous = cumulative
    return schedule


def halving_evaluations(n_candidates: int, n_examples: int, eta: int = 2, min_examples: int = 1) -> int:
    """Scorings `successive_halving` makes for this problem size (for the cost estimate)."""
    total = 0
    previous = 0
    for size, cumulative in halving_schedule(n_candidates, n_examples, eta, min_examples):
        total += size * (cumulative - previous)
        previous = cumulative
    return total


def _order(n_examples: int, seed: int) -> list[int]:
    order = list(range(n_examples))
    random.Random(seed).shuffle(order)
    return order


def _ranked(estimates: Sequence[CandidateEstimate], indices: Sequence[int]) -> list[int]:
    # Best mean first; ties go to the earlier candidate, so the result never depends on set order.
    return sorted(indices, key=lambda i: (-estimates[i].mean, i))


def successive_halving(
    candidates: Sequence[str],
    n_examples: int,
    score: ScoreFn,
    *,
    seed: int = 0,
    eta: int = 2,
    min_examples: int = 1,
) -> SearchResult:
    """Keep the best 1/eta of the candidates after each round; see `halving_schedule` for the sizes."""
    estimates = [CandidateEstimate(i, text) for i, text in enumerate(candidates)]
    order = _order(n_examples, seed)
    alive = list(range(len(candidates)))
    rounds: list[RoundLog] = []
    evaluations = 0
    schedule = halving_schedule(len(candidates), n_examples, eta, min_examples)
    for k, (_, cumulative) in enumerate(schedule):
        new = 0
        for i in alive:
            for example in order[:cumulative]:
                if example not in estimates[i].scores:
                    estimates[i].scores[example] = float(score(estimates[i].instruction, example))
                    new += 1
        evaluations += new
        keep = max(1, math.ceil(len(alive) / eta)) if len(alive) > 1 else 1
        ranked = _ranked(estimates, alive)
        for i in ranked[keep:]:
            estimates[i].eliminated_in_round = k
        rounds.append(RoundLog(k, tuple(alive), cumulative, new, tuple(ranked[:keep])))
        alive = ranked[:keep]
    best = alive[0]
    return SearchResult(
        method="successive_halving",
        best_index=best,
        best_instruction=candidates[best],
        estimates=estimates,
        evaluations=evaluations,
        brute_force_evaluations=len(candidates) * n_examples,
        rounds=rounds,
    )


def ucb_search(
    candidates: Sequence[str],
    n_examples: int,
    score: ScoreFn,
    *,
    budget: int | None = None,
    exploration: float = 1.0,
    seed: int = 0,
) -> SearchResult:
    """UCB1 over candidates with a budget of scorings (default: what successive halving would spend).

    Each candidate is first scored once; then each step scores the candidate with the highest
    mean + exploration * sqrt(ln(t) / n) on its next unseen input. The recommendation is the most-scored
    candidate (ties: higher mean, then earlier), the usual choice for UCB, which a lucky single score
    cannot win.
    """
    if not candidates or n_examples < 1:
        raise ValueError("need at least one candidate and one held-out example")
    brute = len(candidates) * n_examples
    if budget is None:
        budget = halving_evaluations(len(candidates), n_examples)
    budget = max(len(candidates), min(budget, brute))
    estimates = [CandidateEstimate(i, text) for i, text in enumerate(candidates)]
    order = _order(n_examples, seed)

    def pull(i: int) -> None:
        est = estimates[i]
        example = order[est.n_evaluated]
        est.scores[example] = float(score(est.instruction, example))

    for i in range(len(candidates)):
        pull(i)
    evaluations = len(candidates)
    while evaluations < budget:
        open_ = [i for i in range(len(candidates)) if estimates[i].n_evaluated < n_examples]
        if not open_:
            break
        log_t = math.log(evaluations)
        chosen = max(
            open_,
            key=lambda i: (
                estimates[i].mean + exploration * math.sqrt(log_t / estimates[i].n_evaluated),
                -i,
            ),
        )
        pull(chosen)
        evaluations += 1
    best = min(range(len(candidates)), key=lambda i: (-estimates[i].n_evaluated, -estimates[i].mean, i))
    return SearchResult(
        method="ucb",
        best_index=best,
        best_instruction=candidates[best],
        estimates=estimates,
        evaluations=evaluations,
        brute_force_evaluations=brute,
    )
