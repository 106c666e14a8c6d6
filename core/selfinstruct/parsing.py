"""Stage 3: a generation response into numbered candidate instructions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from core.selfinstruct.prompts import prompt_line
from core.selfinstruct.reasons import make_reason

# "10. text", "10 . text", "10) text" at the start of a line; a dot must be followed by a space or the end
# of the line so that "1.5 cups of flour" is not read as item 1. The paper splits on "\n\d+\s?\. ".
_ITEM = re.compile(r"^[ \t]*(\d{1,4})[ \t]*[.)](?:[ \t]+(.*)|[ \t]*)$")


@dataclass(frozen=True)
class Candidate:
    """One numbered item of a response. `reason` is set when parsing already rules it out."""

    position: int  # 0-based order in the response
    number: int | None
    text: str  # normalised, what the filters see
    raw: str  # as it appeared in the response
    reason: str | None = None


@dataclass(frozen=True)
class ParseResult:
    candidates: tuple[Candidate, ...]
    finish_reason: str | None
    preamble: str = ""  # chat mode: text before the first numbered line
    stray: tuple[str, ...] = ()  # lines after a blank line that belong to no item

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def normalize_candidate(text: str) -> str:
    """Collapse whitespace and capitalise the first letter.

    The paper uses str.capitalize(), which also lower-cases the rest ("SQL" becomes "sql", "French" becomes
    "french"); only the first letter is changed here.
    """
    # What re.sub(r"\s+", " ", text).strip() gives (split() and re's \s agree on whitespace), faster.
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def parse_response(
    text: str | None,
    finish_reason: str | None = None,
    *,
    next_number: int = 9,
    mode: Literal["completion", "chat"] = "completion",
    prompt_instructions: Sequence[str] = (),
    on_length: Literal["drop_all", "drop_last"] = "drop_all",
) -> ParseResult:
    """Split a response into candidates, recording (not discarding) the ones parsing rules out.

    completion mode: the text continues the prompt after "9.", so whatever comes before the first numbered
    line is item `next_number`. chat mode: the reply is a list of its own, and text before the first numbered
    line is a preamble ("Sure, here are more tasks:"). Continuation lines are joined to their item; text after
    a blank line is kept as stray text. When generation stopped for length the paper drops the whole response
    (`on_length="drop_all"`, every candidate gets the reason); "drop_last" drops only the last item.
    """
    if on_length not in ("drop_all", "drop_last"):
        raise ValueError(f"on_length must be 'drop_all' or 'drop_last', got {on_length!r}")
    chunks: list[tuple[int | None, list[str]]] = []
    if mode == "completion":
        chunks.append((next_number, []))
    elif mode != "chat":
        raise ValueError(f"mode must be 'completion' or 'chat', got {mode!r}")
    preamble: list[str] = []
    stray: list[str] = []
    gap = False
    for line in (text or "").replace("\r\n", "\n").split("\n"):
        match = _ITEM.match(line)
        if match:
            chunks.append((int(match.group(1)), [match.group(2) or ""]))
            gap = False
        elif not line.strip():
            gap = gap or bool(chunks and "".join(chunks[-1][1]).strip())
        elif not chunks:
            preamble.append(line.strip())
        elif gap:
            stray.append(line.strip())
        else:
            chunks[-1][1].append(line)
    if mode == "completion" and not "".join(chunks[0][1]).strip():
        chunks.pop(0)  # the response went straight to a numbered line (or was empty)

    seen_in_prompt = {prompt_line(p).casefold() for p in prompt_instructions}
    candidates = []
    for position, (number, lines) in enumerate(chunks):
        raw = "\n".join(lines).strip()
        clean = normalize_candidate(raw)
        reason = None
        if not clean:
            reason = make_reason("empty")
        elif prompt_line(clean).casefold() in seen_in_prompt:
            reason = make_reason("repeats_prompt")
        candidates.append(Candidate(position, number, clean, raw, reason))

    if finish_reason == "length" and candidates:
        if on_length == "drop_all":
            why = make_reason("truncated_response", f"{len(candidates)} items dropped with the response")
            candidates = [replace(c, reason=why) for c in candidates]
        elif candidates[-1].reason is None:
            candidates[-1] = replace(candidates[-1], reason=make_reason("truncated_last"))
    return ParseResult(tuple(candidates), finish_reason, "\n".join(preamble), tuple(stray))
