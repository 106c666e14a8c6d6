"""The call log: every model call with its prompt, parameters, response, tokens, time and cost.

Everything a model or an endpoint wrote (responses, finish reasons, errors) is shown as plain text: an
endpoint's error could otherwise make the page render its Markdown, links and images.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import streamlit as st

from core.store import calls as call_log
from ui.common import engine
from ui.formatting import format_cost, format_count, format_latency, run_label

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def _label_text(text: str) -> str:
    """Outside text made inert for a label (labels are Markdown): every Markdown character escaped."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))


st.title("Call log")
st.caption("Every model call is recorded here; identical requests are answered from this log (the cache).")

totals = call_log.totals_by_run(engine())
if not totals:
    st.info("No model calls yet. Try one in Settings.")
    st.stop()

st.subheader("Totals per run")
labels = {r["run_id"]: run_label(r["run_id"], r["kind"], r["name"]) for r in totals}
st.dataframe(
    pd.DataFrame(
        [
            {
                "run": labels[r["run_id"]],
                "calls": format_count(r["calls"]),
                "errors": format_count(r["errors"]),
                "prompt tokens": format_count(r["prompt_tokens"]),
                "completion tokens": format_count(r["completion_tokens"]),
                "model time": format_latency(r["latency_ms"]),
                "cost": format_cost(r["cost"]),
            }
            for r in totals
        ]
    ),
    hide_index=True,
)
st.caption(
    "Model time is the sum of the calls' latencies (calls in flight together overlap). Cost: — when the "
    "model has no price in Settings."
)

run_options = [None] + [int(r["run_id"]) for r in totals if r["run_id"] is not None]
run_id = st.selectbox(
    "Show calls of run", run_options, format_func=lambda r: "all runs" if r is None else labels[r]
)
errors_only = st.toggle("Errors only")
rows = call_log.list_calls(engine(), run_id=run_id, limit=200, errors_only=errors_only)
st.caption(f"{len(rows)} most recent calls")
for rec in rows:
    status = "error" if rec.error else (rec.choices[0]["finish_reason"] if rec.choices else "")
    label = f"{rec.model} · {rec.style} · {status}"
    with st.expander(f"#{rec.id} · {_label_text(label)} · {format_latency(rec.latency_ms)}"):
        st.caption("Request")
        st.code(rec.prompt if rec.prompt is not None else json.dumps(rec.messages, indent=1), language=None)
        st.caption("Parameters")
        st.json(rec.params, expanded=False)
        if rec.error:
            st.caption("Error")
            st.code(rec.error, language=None, wrap_lines=True)
        for i, choice in enumerate(rec.choices or []):
            st.caption(f"Response {i}")
            st.text(f"finish_reason: {choice['finish_reason'] or '—'}")
            st.code(choice["text"], language=None, wrap_lines=True)
        st.text(
            f"{format_count(rec.prompt_tokens)}+{format_count(rec.completion_tokens)} tokens · "
            f"cost {format_cost(rec.cost)} · run {labels.get(rec.run_id, run_label(rec.run_id, None, None))} · "
            f"{rec.endpoint or '—'}"
        )
