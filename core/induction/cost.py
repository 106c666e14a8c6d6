"""What an induction run will cost before it starts: model calls and tokens, and money when priced.

The figures are upper bounds: grouping identical instructions and the call cache only ever lower them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.induction.search import halving_evaluations


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token for English), for prompts not yet tokenised."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


@dataclass(frozen=True)
class CostEstimate:
    induction_calls: int
    execution_calls: int  # induced instructions on the held-out inputs (or the search's scorings)
    human_calls: int  # gold instructions on the held-out inputs
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # None when no price is set

    @property
    def calls(self) -> int:
        return self.induction_calls + self.execution_calls + self.human_calls

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def estimate_cost(
    *,
    n_demo_sets: int,
    k_samples: int,
    n_heldout: int,
    induction_prompt_tokens: int,
    execution_prompt_tokens: int,
    induction_completion_tokens: int = 50,
    execution_completion_tokens: int = 30,
    n_gold: int = 0,
    search: bool = False,
    price_per_1k: float | None = None,
    completion_price_per_1k: float | None = None,
) -> CostEstimate:
    """Calls and tokens for one task.

    - induction: `n_demo_sets * k_samples` calls (K samples per demonstration set);
    - execution: every induced instruction on every held-out input, counted as if no two were identical;
      with `search=True`, what successive halving spends over those candidates instead;
    - human baseline: `n_gold` gold instructions on every held-out input.
    Token counts are per call (expected prompt length, and the completion limit or expected length).
    `price_per_1k` prices every token; `completion_price_per_1k`, if given, prices completion tokens apart.
    """
    for name, value in (("n_demo_sets", n_demo_sets), ("k_samples", k_samples), ("n_heldout", n_heldout)):
        if value < 0:
            raise ValueError(f"{name} must not be negative")
    induction_calls = n_demo_sets * k_samples
    if search and induction_calls and n_heldout:
        execution_calls = halving_evaluations(induction_calls, n_heldout)
    else:
        execution_calls = induction_calls * n_heldout
    human_calls = n_gold * n_heldout
    runs = execution_calls + human_calls
    prompt_tokens = induction_calls * induction_prompt_tokens + runs * execution_prompt_tokens
    completion_tokens = induction_calls * induction_completion_tokens + runs * execution_completion_tokens
    cost = None
    if price_per_1k is not None or completion_price_per_1k is not None:
        prompt_price = price_per_1k or 0.0
        completion_price = completion_price_per_1k if completion_price_per_1k is not None else prompt_price
        cost = prompt_tokens / 1000 * prompt_price + completion_tokens / 1000 * completion_price
    return CostEstimate(induction_calls, execution_calls, human_calls, prompt_tokens, completion_tokens, cost)


def sum_estimates(estimates: list[CostEstimate]) -> CostEstimate:
    """Totals over tasks (cost None if any task is unpriced)."""
    costs = [e.cost for e in estimates]
    return CostEstimate(
        induction_calls=sum(e.induction_calls for e in estimates),
        execution_calls=sum(e.execution_calls for e in estimates),
        human_calls=sum(e.human_calls for e in estimates),
        prompt_tokens=sum(e.prompt_tokens for e in estimates),
        completion_tokens=sum(e.completion_tokens for e in estimates),
        cost=None if not costs or any(c is None for c in costs) else sum(c for c in costs if c is not None),
    )
