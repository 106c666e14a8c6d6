"""Charts that never draw blank: no data, or nothing but zeros, becomes a plain note instead of an empty
chart (and empty or all-null data never reaches Vega, whose scales then warn of an "Infinite extent")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from core.plaintext import escape_markdown

NO_DATA = "Nothing to chart yet."


def blank_reason(frame: pd.DataFrame | pd.Series, columns: Sequence[str] | None = None) -> str | None:
    """Why a chart of these values would be blank (no values, or every one zero), else None."""
    values = frame if isinstance(frame, pd.Series) else frame[list(columns) if columns else frame.columns]
    numbers = pd.DataFrame(values).apply(pd.to_numeric, errors="coerce")
    if numbers.empty or numbers.isna().all().all():
        return NO_DATA
    if (numbers.fillna(0) == 0).all().all():
        return "Every value is zero, so there is nothing to draw."
    return None


def note(text: str) -> None:
    st.info(text, icon=":material/bar_chart:")


def line_chart(data: pd.DataFrame | pd.Series, *, x_label: str, y_label: str, **kwargs: Any) -> None:
    """st.line_chart with axis titles, or a note when it would be blank."""
    if reason := blank_reason(data):
        note(f"{y_label}: {reason}")
        return
    st.line_chart(data, x_label=x_label, y_label=y_label, **kwargs)


def bar_chart(data: pd.DataFrame | pd.Series, *, x_label: str, y_label: str, **kwargs: Any) -> None:
    """st.bar_chart with axis titles, or a note when it would be blank."""
    if reason := blank_reason(data):
        note(f"{y_label}: {reason}")
        return
    st.bar_chart(data, x_label=x_label, y_label=y_label, **kwargs)


def figure6(results: Sequence[Any]) -> None:
    """The paper's Figure 6 for the models that have ratings; the others are named in a note (a model with
    no rating would be a bar of 0/0 shares: blank, and an "Infinite extent" for Vega)."""
    from core.humaneval.charts import chart_height, figure6_chart

    rated = [r for r in results if r.n]
    unrated = [r.model for r in results if not r.n]
    if not rated:
        note(f"Ratings per model: {NO_DATA}")
        return
    st.altair_chart(figure6_chart(rated), width="stretch", height=chart_height(len(rated)) + 140)
    if unrated:
        st.caption(escape_markdown(f"No ratings yet for: {', '.join(unrated)}."))
