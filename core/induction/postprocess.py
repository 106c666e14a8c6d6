"""Cleaning a raw induced instruction, and grouping identical ones (the paper's post-processing).

`clean_instruction(raw)` follows the paper's steps in the paper's order, with two deliberate fixes:
prefixes match case-insensitively and only as whole words ("to add" -> "add", "tomato" untouched; the
paper's `startswith("to")` turns "tomato" into "mato"), and chat models' echo "The instruction was" is also
dropped. `clean_instruction(raw, paper_exact=True)` is the paper's function, unchanged, for reproduction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# The paper's prefixes, in the paper's order (longer forms first, so "probably:" wins over "probably").
PAPER_PREFIXES = ("probably:", "most likely:", "probably", "most likely", "to")

# Ours: each prefix as a whole word, optionally followed by ":"; "the instruction was" is echoed by chat
# models that restate the prompt's last sentence.
_PREFIX = re.compile(r"^(?:the instruction was|probably|most likely|to)(?=\s|:|$)\s*:?\s*", re.IGNORECASE)

# The paper's heuristic for an instruction fully inside double quotes: a quoted span of letters, spaces and
# a few punctuation marks, used only when it has more than three words (short quotes such as "positive" are
# usually part of the instruction, not the whole of it).
_IN_QUOTES = re.compile(r"\"([a-zA-Z\.,\'\\/]+ [a-zA-Z \.,\'\\/]+)\"")

# Ours: the whole text wrapped in one pair of typographic or single quotes.
_WRAPPED = re.compile(r"^(?:“(.+)”|‘(.+)’|'(.+)')$", re.DOTALL)


def _paper_clean(prediction: str) -> str:
    if prediction.startswith(":"):
        prediction = prediction.replace(":", "", 1)
    prediction = prediction.strip()
    for prefix in PAPER_PREFIXES:
        if prediction.startswith(prefix):
            prediction = prediction.replace(prefix, "", 1).strip()
    prediction = prediction.strip().split("\n")[0]
    in_quotes = _IN_QUOTES.findall(prediction)
    if in_quotes and len(in_quotes[0].split()) > 3:
        prediction = in_quotes[0]
    return prediction.replace('"', "").strip()


def clean_instruction(raw: str | None, *, paper_exact: bool = False) -> str:
    """The instruction a model meant, from its raw completion; "" when nothing is left."""
    if raw is None:
        return ""
    if paper_exact:
        return _paper_clean(raw)
    text = raw.strip()
    # Strip before cutting to the first line: completions often start with ":\n\n" or a newline.
    while True:
        before = text
        text = text.lstrip(":").strip()
        text = _PREFIX.sub("", text, count=1).strip()
        if text == before:
            break
    text = text.split("\n")[0].strip()
    in_quotes = _IN_QUOTES.findall(text)
    if in_quotes and len(in_quotes[0].split()) > 3:
        text = in_quotes[0]
    text = text.replace('"', "").strip()
    wrapped = _WRAPPED.match(text)
    if wrapped:
        text = next(g for g in wrapped.groups() if g is not None).strip()
    return text


@dataclass
class InstructionGroup:
    """One distinct cleaned instruction, how often it was induced and where (indices into the input list)."""

    text: str
    count: int
    indices: list[int] = field(default_factory=list)


def group_instructions(
    instructions: Iterable[str | None],
    *,
    clean: bool | Callable[[str | None], str] = True,
) -> list[InstructionGroup]:
    """Group identical instructions after cleaning, most frequent first, ties by first occurrence.

    `clean=True` applies `clean_instruction`, `False` groups the texts as given, or pass any function
    (e.g. `functools.partial(clean_instruction, paper_exact=True)`). Empty instructions form a group like
    any other: the paper weights every induced instruction, useless ones included.
    """
    if clean is True:
        cleaner: Callable[[str | None], str] = clean_instruction
    elif clean is False:
        cleaner = lambda s: s or ""  # noqa: E731
    else:
        cleaner = clean
    groups: dict[str, InstructionGroup] = {}
    for index, raw in enumerate(instructions):
        text = cleaner(raw)
        group = groups.setdefault(text, InstructionGroup(text=text, count=0))
        group.count += 1
        group.indices.append(index)
    # sorted() is stable and dicts keep insertion order, so equal counts stay in order of first occurrence.
    return sorted(groups.values(), key=lambda g: -g.count)
