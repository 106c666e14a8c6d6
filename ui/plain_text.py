"""Outside text (model output, dataset fields) shown as plain text, long text in a fixed-height scroll box.

A repetitive 4,000-token response would otherwise make a page thousands of pixels tall and push the controls
under it out of reach; in a box it scrolls on its own and the page keeps its shape.
"""

from __future__ import annotations

import streamlit as st

# About what fits in a box this high at the narrowest main column we lay out (~60 characters a line).
BOX_HEIGHT = 240
_CHARS_PER_LINE = 60
_LINE_PX = 22


def display_lines(text: str, chars_per_line: int = _CHARS_PER_LINE) -> int:
    """How many lines `text` takes when wrapped at `chars_per_line` (each newline starts a line)."""
    return sum(max(1, -(-len(line) // chars_per_line)) for line in text.split("\n"))


def is_long(text: str, height: int = BOX_HEIGHT) -> bool:
    return display_lines(text) * _LINE_PX > height


def plain_block(text: str, empty: str = "(empty)", height: int = BOX_HEIGHT) -> None:
    """`text` exactly as written (never Markdown or HTML); scrolls inside a `height`-pixel box when long."""
    if not text.strip():
        st.caption(empty)
        return
    if is_long(text, height):
        st.code(text, language=None, wrap_lines=True, height=height)
        st.caption(f"{len(text):,} characters · {text.count(chr(10)) + 1:,} lines · scroll inside the box")
    else:
        st.code(text, language=None, wrap_lines=True)
