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
from pages.common import engine

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
frame = pd.DataFrame(totals)
frame["run"] = frame.apply(lambda r: f"{r.run_id} · {r.kind}" if pd.notna(r.run_id) else "(no run)", axis=1)
st.dataframe(
    frame[["run", "name", "calls", "errors", "prompt_tokens", "completion_tokens", "latency_ms", "cost"]],
    hide_index=True,
)

run_options = [None] + [int(r["run_id"]) for r in totals if r["run_id"] is not None]
run_id = st.selectbox(
    "Show calls of run", run_options, format_func=lambda r: "all runs" if r is None else f"run {r}"
)
errors_only = st.toggle("Errors only")
rows = call_log.list_calls(engine(), run_id=run_id, limit=200, errors_only=errors_only)
st.caption(f"{len(rows)} most recent calls")
for rec in rows:
    status = "error" if rec.error else (rec.choices[0]["finish_reason"] if rec.choices else "")
    label = f"{rec.model} · {rec.style} · {status}"
    with st.expander(f"#{rec.id} · {_label_text(label)} · {rec.latency_ms:.0f} ms"):
        st.caption("Request")
        st.code(rec.prompt if rec.prompt is not None else json.dumps(rec.messages, indent=1), language=None)
        st.caption("Parameters")
        st.json(rec.params, expanded=False)
        if rec.error:
            st.caption("Error")
            st.code(rec.error, language=None, wrap_lines=True)
        for i, choice in enumerate(rec.choices or []):
            st.caption(f"Response {i}")
            st.text(f"finish_reason: {choice['finish_reason']}")
            st.code(choice["text"], language=None, wrap_lines=True)
        st.text(
            f"{rec.prompt_tokens}+{rec.completion_tokens} tokens · cost "
            f"{'n/a' if rec.cost is None else f'${rec.cost:.5f}'} · run {rec.run_id} · {rec.endpoint}"
        )
