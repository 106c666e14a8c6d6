"""Showing untrusted text (tasks, model responses) safely in Markdown: as literal text, never as markup."""

from __future__ import annotations

from core.plaintext import escape_markdown

__all__ = ["escape_markdown", "shorten"]


def shorten(text: str, width: int = 120) -> str:
    """One line of at most `width` characters, for tables and labels."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"
