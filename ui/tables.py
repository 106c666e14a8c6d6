"""Tables with long text that fit the page: long-text columns get a set width, the others their content's,
and selecting a row shows its long text in full below (a cell never wraps in st.dataframe)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from ui.common import escape


def long_text_table(
    frame: pd.DataFrame,
    *,
    long: Sequence[str],
    key: str,
    column_config: Mapping[str, Any] | None = None,
    width: str = "medium",
) -> None:
    """`frame` with its `long` columns at a fixed width; a selected row's long text is shown whole below."""
    config: dict[str, Any] = {c: st.column_config.TextColumn(c, width=width) for c in long if c in frame}
    config.update(column_config or {})
    event = st.dataframe(
        frame,
        hide_index=True,
        column_config=config,
        on_select="rerun",
        selection_mode="single-row",
        key=key,
    )
    rows = list(event.selection.rows) if event is not None else []
    if not rows or rows[0] >= len(frame):
        st.caption("Select a row (the box at its left) to read its text in full.")
        return
    row = frame.iloc[rows[0]]
    with st.container(border=True):
        for column in long:
            if column in frame:
                st.caption(escape(column))
                value = row[column]
                st.code("" if value is None or pd.isna(value) else str(value), language=None, wrap_lines=True)


def plain_table(frame: pd.DataFrame) -> None:
    """A small table whose cells wrap (st.table); every cell escaped, since st.table reads Markdown."""
    st.table(
        frame.rename(columns=lambda c: escape(c)).map(lambda v: escape("" if v is None else v)),
        hide_index=True,
    )
