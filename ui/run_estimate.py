"""What a run will take before it starts: calls, tokens, cost and a duration, and a tick for long ones.

One estimator for every start button in the app. The duration is the call count times this model's mean
latency in the call log (a stated assumption when the log has no call of the model yet); calls are counted
as if they ran one after another, so it is an upper bound for an endpoint that serves several at once.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.induction.cost import price_model_name
from core.store import calls as call_log
from ui.common import engine

# With no call of this model in the log yet: a stated guess (the embedded model takes 3-40 s a call).
ASSUMED_SECONDS_PER_CALL = 10.0
# A run estimated longer than this needs a tick before its start button is enabled.
CONFIRM_OVER_SECONDS = 600.0


def estimated_duration(calls: int, model: dict[str, Any]) -> tuple[float, str]:
    """Seconds `calls` should take (one after another) and where the per-call figure comes from."""
    measured = call_log.mean_latency_ms(engine(), price_model_name(model))
    if measured is None:
        per_call = ASSUMED_SECONDS_PER_CALL
        basis = f"assuming {per_call:g} s a call (no call of this model in the log yet)"
    else:
        per_call = measured[0] / 1000
        basis = f"this model's mean latency in the call log, {per_call:.1f} s over {measured[1]:,} call(s)"
    return calls * per_call, basis


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def price(model: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> float | None:
    """Money from the Settings price table, None when this model has no price there."""
    return call_log.estimate_cost(
        call_log.get_prices(engine()), price_model_name(model), prompt_tokens, completion_tokens
    )


def show_estimate(calls: int, tokens: int, cost: float | None, model: dict[str, Any]) -> None:
    """Four figures in a row: calls, tokens, cost and duration, with the duration's basis below."""
    seconds, basis = estimated_duration(calls, model)
    c = st.columns(4)
    c[0].metric("Model calls, at most", f"{calls:,}")
    c[1].metric("Tokens, about", f"{tokens:,}")
    c[2].metric("Cost", "—" if cost is None else f"${cost:.4f}")
    c[3].metric("Duration, about", format_duration(seconds), help=f"At most; {basis}.")
    st.caption(f"Duration: {basis}.")


def price_note(model: dict[str, Any], priced: bool) -> str:
    if priced:
        return "priced from the Settings price table"
    return f"no price set for {price_model_name(model)!r} (add one in Settings)"


def confirm_long_run(calls: int | None, model: dict[str, Any], key: str) -> bool:
    """False until a run estimated over ten minutes is confirmed with a tick (its start stays disabled)."""
    if calls is None:
        return True
    seconds, _ = estimated_duration(calls, model)
    if seconds <= CONFIRM_OVER_SECONDS:
        return True
    return st.checkbox(
        f"Yes, start a run estimated at about {format_duration(seconds)} ({calls:,} calls)",
        key=f"{key}_confirm_long",
    )
