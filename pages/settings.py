"""Settings: which model to use (for this browser session), a test completion, and the price table."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.humaneval.display import shorten
from core.llm import GenParams, LLMClient, LLMError, ModelSettings, Request, make_provider
from core.llm.redact import public_url
from core.store import calls as call_log
from ui.common import engine, escape, model_settings
from ui.datasets_panel import status_panel, uploads_panel
from ui.formatting import format_latency

TRY_KEY = "settings-try"


@dataclass(frozen=True)
class TryResult:
    """The last "Try it" answer (or error), kept in the session."""

    model: str
    prompt: str
    text: str = ""
    note: str = ""
    error: str | None = None


st.title("Settings")

current = model_settings()
st.subheader("Model")
st.caption(
    "Defaults come from environment variables or `.streamlit/secrets.toml` (OPENAI_BASE_URL, OPENAI_API_KEY, "
    "WORKBENCH_MODEL, WORKBENCH_PROVIDER). Changes here last for this browser session. The API key is kept in "
    "memory only: never stored, logged or shown."
)
# The provider sits outside the form so the fields below follow the choice at once: the embedded model
# needs no endpoint, URL, key or request styles.
provider = st.radio(
    "Provider",
    ["embedded", "openai"],
    index=0 if current.provider == "embedded" else 1,
    format_func=lambda p: (
        "Embedded Gemma 3 270M (offline)" if p == "embedded" else "OpenAI-compatible endpoint"
    ),
    horizontal=True,
    key="settings-provider",
)
with st.form("model"):
    if provider == "openai":
        # Shown without `user:password@` (a secret); left as shown, the URL keeps its credentials.
        shown_url = public_url(current.base_url)
        base_url = st.text_input(
            "Base URL", shown_url, help="e.g. http://127.0.0.1:8000/v1 for vLLM or llama.cpp"
        )
        if base_url.strip() == shown_url:
            base_url = current.base_url
        model = st.text_input("Model", current.model)
        key_note = "a key is set (hidden)" if current.api_key else "no key set"
        api_key = st.text_input(
            f"API key — {key_note}", "", type="password", help="Leave empty to keep the current key."
        )
        styles = st.multiselect(
            "The endpoint serves",
            ["completion", "chat"],
            default=list(current.styles),
            help="Base models answer plain completions (as in both papers); chat models answer messages.",
        )
    else:
        st.caption("The embedded model runs on this machine through llama.cpp: no endpoint, key or network.")
        base_url, model, api_key, styles = current.base_url, current.model, "", list(current.styles)
    c1, c2, c3 = st.columns(3)
    # The environment may set values past these fields' ranges: shown within range, not as a page error.
    concurrency = c1.number_input("Requests in flight", 1, 1024, min(max(current.max_concurrency, 1), 1024))
    timeout = c2.number_input("Timeout (s)", 1.0, 3600.0, min(max(current.timeout_s, 1.0), 3600.0))
    retries = c3.number_input("Retries", 0, 20, min(max(current.max_retries, 0), 20))
    if st.form_submit_button("Apply for this session", type="primary"):
        if not styles:
            st.error("Choose at least one request style.")
        else:
            st.session_state["model_settings"] = ModelSettings(
                provider=provider,
                base_url=base_url.strip(),
                model=model.strip(),
                api_key=api_key or current.api_key,
                styles=tuple(styles),
                max_concurrency=int(concurrency),
                timeout_s=float(timeout),
                max_retries=int(retries),
            )
            st.success("Model settings applied.")
            current = model_settings()

st.subheader("Try it")
prompt = st.text_area("Prompt", "The capital of France is", height=80)
c1, c2, c3 = st.columns(3)
style = c1.selectbox("Style", list(current.styles))
max_tokens = c2.number_input("max_tokens", 1, 512, 24)
temperature = c3.number_input("temperature", 0.0, 2.0, 0.0, step=0.1)
if st.button("Generate a sample completion"):
    params = GenParams(max_tokens=int(max_tokens), temperature=float(temperature))
    request = (
        Request(prompt=prompt, params=params)
        if style == "completion"
        else Request(messages=(("user", prompt),), params=params)
    )
    try:
        with st.spinner(f"Asking {escape(current.label)}…"):
            response = LLMClient(make_provider(current), engine()).generate(request)
    except (LLMError, ValueError) as exc:
        st.session_state[TRY_KEY] = TryResult(current.label, prompt, error=str(exc))
    else:
        st.session_state[TRY_KEY] = TryResult(
            current.label,
            prompt,
            text=response.text,
            note=(
                f"finish_reason={response.finish_reason} · "
                f"{response.prompt_tokens}+{response.completion_tokens} tokens · "
                f"{format_latency(response.latency_ms)} · "
                f"{'from the call log (cached)' if response.cached else 'new call'}"
            ),
        )
# The last answer stays until the next one: any other widget's rerun must not wipe it.
last = st.session_state.get(TRY_KEY)
if last is not None:
    st.caption(escape(f"Last answer from {last.model} to: {shorten(last.prompt, 80)}"))
    if last.error is not None:
        st.error(escape(last.error))  # the endpoint's words: never Markdown
    else:
        st.code(last.text or "(empty)", language=None, wrap_lines=True)
        st.caption(escape(last.note))

st.subheader("Prices")
st.caption("Per 1,000 tokens, by model name exactly as it appears in the call log. Used for cost estimates.")
table = call_log.get_prices(engine())
frame = pd.DataFrame(
    [{"model": m, "prompt_per_1k": p, "completion_per_1k": c} for m, (p, c) in table.items()],
    columns=["model", "prompt_per_1k", "completion_per_1k"],
)
edited = st.data_editor(
    frame,
    num_rows="dynamic",
    key="prices",
    hide_index=True,
    column_config={
        "model": st.column_config.TextColumn("model"),
        "prompt_per_1k": st.column_config.NumberColumn(
            "$ per 1k prompt tokens", min_value=0.0, format="%.6g"
        ),
        "completion_per_1k": st.column_config.NumberColumn(
            "$ per 1k completion tokens", min_value=0.0, format="%.6g"
        ),
    },
)
if st.button("Save prices"):
    rows = edited.dropna(subset=["model"])
    call_log.set_prices(
        engine(),
        {
            str(r.model): (float(r.prompt_per_1k or 0), float(r.completion_per_1k or 0))
            for r in rows.itertuples()
        },
    )
    st.success("Prices saved.")

st.subheader("Datasets")
status_panel()
st.subheader("Your own data")
uploads_panel()
