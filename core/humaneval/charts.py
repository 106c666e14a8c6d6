"""The results chart: one horizontal bar per model split into A/B/C/D shares (the paper's Figure 6)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import pandas as pd

from core.humaneval.agreement import LABELS
from core.humaneval.campaign import RATING_SCALE
from core.humaneval.results import ModelResult

# Best to worst, green to red, as in the paper's figure.
COLORS: dict[str, str] = {"A": "#2e7d32", "B": "#9ccc65", "C": "#ffb74d", "D": "#e53935"}


def results_frame(results: Sequence[ModelResult]) -> pd.DataFrame:
    """Long form: one row per model and label with its count and share."""
    rows = []
    for r in results:
        for order, label in enumerate(LABELS):
            share = r.shares[label]
            rows.append(
                {
                    "model": r.model,
                    "bar": bar_label(r),
                    "label": label,
                    "rating": f"{label}: {RATING_SCALE[label][0]}",
                    "order": order,
                    "count": r.counts[label],
                    "share": 0.0 if math.isnan(share) else share,
                    "ratings": r.n,
                }
            )
    return pd.DataFrame(
        rows, columns=["model", "bar", "label", "rating", "order", "count", "share", "ratings"]
    )


def bar_label(result: ModelResult) -> str:
    """The model's name with its number of ratings: a 100% bar from one rating must say so."""
    return f"{result.model} (n={result.n})"


def results_table(results: Sequence[ModelResult]) -> pd.DataFrame:
    """Wide form for the results table: counts, acceptable share and its Wilson interval per model."""
    rows = []
    for r in results:
        row: dict[str, object] = {"model": r.model, "ratings": r.n}
        row.update({label: r.counts[label] for label in LABELS})
        row["acceptable (A+B)"] = r.acceptable
        row["acceptable share"] = r.acceptable_share
        row["95% CI low"] = r.ci_low
        row["95% CI high"] = r.ci_high
        rows.append(row)
    return pd.DataFrame(rows)


def figure6_chart(results: Sequence[ModelResult]) -> alt.LayerChart:
    """Stacked 100% bars, A on the left, models top to bottom in the given order."""
    frame = results_frame(results)
    bars_order = [bar_label(r) for r in results]
    ratings = [f"{label}: {RATING_SCALE[label][0]}" for label in LABELS]
    base = alt.Chart(frame).encode(
        y=alt.Y("bar:N", sort=bars_order, title="model (n = ratings)", axis=alt.Axis(labelLimit=320)),
        x=alt.X("share:Q", stack="normalize", axis=alt.Axis(format="%"), title="Share of ratings"),
        order=alt.Order("order:Q", sort="ascending"),
        tooltip=[
            alt.Tooltip("model:N"),
            alt.Tooltip("ratings:Q", title="ratings (n)"),
            alt.Tooltip("rating:N"),
            alt.Tooltip("count:Q"),
            alt.Tooltip("share:Q", format=".1%"),
        ],
    )
    bars = base.mark_bar().encode(
        color=alt.Color(
            "rating:N",
            scale=alt.Scale(domain=ratings, range=[COLORS[label] for label in LABELS]),
            legend=alt.Legend(
                orient="top", title=None, columns=1, labelLimit=0
            ),  # one per row: fits any width
        )
    )
    text = (
        base.mark_text(dx=-4, align="right", color="black")
        .encode(text=alt.Text("share:Q", format=".0%"))
        .transform_filter(alt.datum.share >= 0.06)
    )
    return (bars + text).properties(height=chart_height(len(bars_order)))


def chart_height(models: int) -> int:
    """Room for one thick bar per model (pixels of the plot area)."""
    return max(120, 48 * models)
