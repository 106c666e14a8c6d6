"""What an induction run will cost before it starts: model calls and tokens, and money when priced.

The figures are upper bounds: grouping identical instructions and the call cache only ever lower them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from core.induction.prompts import render_execution_prompt, render_induction_prompt
from core.induction.search import halving_evaluations
from core.induction.spec import InductionSpec, resolve_spec


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


def estimate_spec_cost(spec: InductionSpec, price: tuple[float, float] | None = None) -> CostEstimate:
    """Calls and tokens of one task's run (upper bounds), and money when `price` (per 1k in/out) is set."""
    prompt_price, completion_price = price if price else (None, None)
    demo_set = spec.demo_sets[0] if spec.demo_sets else ()
    induce_tokens = estimate_tokens(render_induction_prompt(demo_set, spec.template)) if demo_set else 0
    sample_input = spec.tests[0].input if spec.tests else "x"
    # An induced instruction is about as long as a gold one (or a dozen words when there is none).
    instruction = spec.gold[0] if spec.gold else "Write the word that answers the input."
    exec_tokens = estimate_tokens(render_execution_prompt(instruction, sample_input, spec.execute_template))
    priced = dict(price_per_1k=prompt_price, completion_price_per_1k=completion_price)
    inducing = dict(
        n_demo_sets=len(spec.demo_sets),
        k_samples=spec.k,
        induction_prompt_tokens=induce_tokens,
        execution_prompt_tokens=exec_tokens,
        induction_completion_tokens=spec.induce_max_tokens,
        execution_completion_tokens=spec.execute_max_tokens,
        **priced,
    )
    full = estimate_cost(n_heldout=len(spec.tests), n_gold=len(set(spec.gold)), **inducing)
    if not (spec.search_examples and spec.n_induce > 1):
        return full
    # Search: its scorings on the split come on top of the paper's evaluation of every instruction.
    scorings = halving_evaluations(spec.n_induce, len(spec.search_examples))
    as_runs = estimate_cost(  # `scorings` executions of one instruction, priced like any other
        n_demo_sets=0,
        k_samples=0,
        n_heldout=scorings,
        n_gold=1,
        induction_prompt_tokens=0,
        execution_prompt_tokens=exec_tokens,
        execution_completion_tokens=spec.execute_max_tokens,
        **priced,
    )
    extra = dataclasses.replace(as_runs, execution_calls=as_runs.human_calls, human_calls=0)
    return sum_estimates([full, extra])


def estimate_params_cost(params: dict[str, Any], price: tuple[float, float] | None = None) -> CostEstimate:
    """The cost of a run's parameters: one task, or every task of a benchmark."""
    if params.get("tasks"):
        return sum_estimates([estimate_spec_cost(resolve_spec(params, t), price) for t in params["tasks"]])
    return estimate_spec_cost(resolve_spec(params), price)


def price_model_name(model: dict[str, Any]) -> str:
    """The model's name as the call log and the price table know it."""
    if model.get("provider", "embedded") == "embedded":
        from core.llm.embedded import EMBEDDED_MODEL

        return EMBEDDED_MODEL
    return str(model.get("model", ""))
