"""Choosing the best of many candidate instructions without scoring each on every held-out input.

As in APE (Zhou et al., 2023), candidates are scored on a small held-out split, and weak ones stop early:
- `successive_halving`: in rounds, every surviving candidate is scored on fresh inputs and the weaker half
  is dropped (ties at the cutoff survive; equals are ordered by a seeded draw, not by position);
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


def rounds_needed(n_alive: int, eta: int = 2) -> int:
    """Rounds of cutting to 1/eta until one candidate is left (at least one round)."""
    rounds = 0
    while n_alive > 1:
        n_alive = math.ceil(n_alive / eta)
        rounds += 1
    return max(1, rounds)


def _new_examples(n_alive: int, used: int, n_examples: int, eta: int, min_examples: int) -> int:
    """Fresh examples for the next round: an even share of what is left over the rounds still needed.

    The first round gets at least `min_examples`, so nobody is cut on a single pass/fail; every round gets
    at least one new example, so no round cuts without new evidence; the last round takes the rest.
    """
    remaining = n_examples - used
    left = rounds_needed(n_alive, eta)
    if n_alive == 1 or left == 1:
        return remaining
    share = max(min_examples if used == 0 else 1, remaining // left)
    return min(share, remaining)


def halving_schedule(
    n_candidates: int, n_examples: int, eta: int = 2, min_examples: int = 2
) -> list[tuple[int, int]]:
    """Per round: (candidates scored, cumulative inputs each has been scored on), when no ties survive a cut.

    Ties at a cutoff survive, so a real search may score more candidates in a round than this says.
    """
    if n_candidates < 1 or n_examples < 1:
        raise ValueError("need at least one candidate and one held-out example")
    if eta < 2:
        raise ValueError("eta must be at least 2")
    schedule = []
    alive, used = n_candidates, 0
    while True:
        used += _new_examples(alive, used, n_examples, eta, min_examples)
        schedule.append((alive, used))
        if alive == 1 or used >= n_examples:
            return schedule
        alive = math.ceil(alive / eta)


def halving_evaluations(n_candidates: int, n_examples: int, eta: int = 2, min_examples: int = 2) -> int:
    """Scorings `successive_halving` makes when no ties survive a cut (the cost estimate's figure)."""
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


def successive_halving(
    candidates: Sequence[str],
    n_examples: int,
    score: ScoreFn,
    *,
    seed: int = 0,
    eta: int = 2,
    min_examples: int = 2,
) -> SearchResult:
    """Successive halving that does not throw the best away on noise.

    Every round scores the survivors on fresh examples (an even share of the split over the rounds still
    needed; the first round at least `min_examples`), then keeps the best 1/eta by mean over everything seen
    so far; candidates tied with the last one kept survive too, and order among equals is a seeded random
    draw, not the candidate's position. It stops when one is left or the split is used up, and picks the
    best mean (ties: the seeded draw). `benchmarks/induction_search.py` measures it against scoring every
    candidate on the whole split.
    """
    if not candidates or n_examples < 1:
        raise ValueError("need at least one candidate and one held-out example")
    if eta < 2:
        raise ValueError("eta must be at least 2")
    rng = random.Random(f"halving/{seed}")
    estimates = [CandidateEstimate(i, text) for i, text in enumerate(candidates)]
    tiebreak = [rng.random() for _ in candidates]  # one draw per candidate: a stable random order
    order = _order(n_examples, seed)
    alive = list(range(len(candidates)))
    rounds: list[RoundLog] = []
    evaluations = 0
    used = 0
    k = 0
    while True:
        new = _new_examples(len(alive), used, n_examples, eta, min_examples)
        for i in alive:
            for example in order[used : used + new]:
                estimates[i].scores[example] = float(score(estimates[i].instruction, example))
        used += new
        evaluations += new * len(alive)
        ranked = sorted(alive, key=lambda i: (-estimates[i].mean, tiebreak[i]))
        if len(alive) == 1 or used >= n_examples:
            survivors = ranked[:1]
        else:
            keep = math.ceil(len(alive) / eta)
            cutoff = estimates[ranked[keep - 1]].mean
            survivors = [i for i in ranked if estimates[i].mean >= cutoff]
        for i in ranked:
            if i not in survivors:
                estimates[i].eliminated_in_round = k
        rounds.append(RoundLog(k, tuple(alive), used, new * len(alive), tuple(survivors)))
        finished = len(alive) == 1 or used >= n_examples
        alive = survivors
        if finished:
            break
        k += 1
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
