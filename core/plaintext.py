"""Showing text from outside (model output, endpoint errors, uploads, dataset fields) inside Markdown as
literal text, never as markup. Its own module so every page can use it without loading anything else."""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark, which makes it literal: tags,
# links, emphasis, headings, list markers, tables, and Streamlit's own :icon: / :color[...] / $math$ syntax.
_PUNCTUATION = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


def escape_markdown(text: str) -> str:
    """`text` as Markdown that renders exactly as written; line breaks are kept."""
    escaped = _PUNCTUATION.sub(r"\\\1", text)
    lines = escaped.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # Leading spaces would be swallowed (or start a code block); a non-breaking space keeps the indent.
    lines = [re.sub(r"^( +)", lambda m: "\u00a0" * len(m.group(1)), line) for line in lines]
    return "  \n".join(lines)
