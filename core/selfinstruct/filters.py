"""Stage 4: the per-instruction rules and the novelty check, giving one decision per candidate."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core.selfinstruct.parsing import Candidate, normalize_candidate
from core.selfinstruct.reasons import make_reason, reason_code

# The paper's list of words a text-only model cannot act on (bootstrap_instructions.py). Matched as whole
# words, case-insensitively: "mapping" and "profile" pass. Extend with `DEFAULT_BLACKLIST + ("video",)`.
DEFAULT_BLACKLIST: tuple[str, ...] = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
)
MIN_WORDS = 3  # at most this many words is too short
MAX_WORDS = 150
NOVELTY_THRESHOLD = 0.7  # ROUGE-L above this against any pool instruction is too similar
EVIDENCE_SIZE = 10


@lru_cache(maxsize=64)
def _blacklist_pattern(words: tuple[str, ...]) -> tuple[re.Pattern, tuple[str, ...] | None] | None:
    """The words' pattern, and for ASCII words the first part of each in lower case: ASCII text without any
    of them cannot match, which is cheaper to ask than the case-insensitive pattern. (Text that is not ASCII
    always goes to the pattern: re's case-insensitive matching also pairs "ſ" with "s", "K" with "k".)"""
    words = tuple(w for w in sorted(words, key=len, reverse=True) if w.strip())
    if not words:
        return None
    # Longest first so "images" is reported rather than "image"; inner spaces match any whitespace.
    parts = [r"\s+".join(map(re.escape, w.split())) for w in words]
    pattern = re.compile(r"\b(?:" + "|".join(parts) + r")\b", re.IGNORECASE)
    firsts = tuple({w.split()[0].lower() for w in words}) if all(w.isascii() for w in words) else None
    return pattern, firsts


def _blacklisted(text: str, blacklist: Iterable[str]) -> re.Match | None:
    compiled = _blacklist_pattern(tuple(blacklist))
    if compiled is None:
        return None
    pattern, firsts = compiled
    if firsts is not None and text.isascii():
        lowered = text.lower()
        if not any(first in lowered for first in firsts):
            return None
    return pattern.search(text)


def rejection_reason(instruction: str, blacklist: Iterable[str] = DEFAULT_BLACKLIST) -> str | None:
    """None when the instruction passes the paper's rules, else "code: detail" for the first rule it breaks.

    Rules in the paper's order: empty; at most 3 or more than 150 words; a blacklisted word; starts with
    "Write a program" (any case); starts with ASCII punctuation; starts with a non-ASCII character.
    """
    text = normalize_candidate(instruction)
    if not text:
        return make_reason("empty")
    words = len(text.split())
    if words <= MIN_WORDS:
        return make_reason("too_short", f"{words} word{'s' if words != 1 else ''}")
    if words > MAX_WORDS:
        return make_reason("too_long", f"{words} words")
    found = _blacklisted(text, blacklist)
    if found:
        return make_reason("blacklist", repr(found.group(0).lower()))
    if text.casefold().startswith("write a program"):
        return make_reason("write_a_program")
    if text[0] in string.punctuation:
        return make_reason("starts_with_punctuation", repr(text[0]))
    if not text[0].isascii():
        return make_reason("starts_with_non_ascii", repr(text[0]))
    return None


@dataclass(frozen=True)
class Similar:
    text: str
    score: float


# Given an instruction, its most similar pool instructions with their ROUGE-L: (text, score) pairs or objects
# with .text and .score, such as core.similarity's neighbours, so `index.top_k` can be passed as it is.
SimilarityLookup = Callable[[str], Sequence[Any]]


def _similar(item: Any) -> Similar:
    if hasattr(item, "score"):
        return Similar(item.text or "", float(item.score))
    text, score = item
    return Similar(text, float(score))


@dataclass(frozen=True)
class CandidateDecision:
    """What happened to one candidate: kept, or the stage and reason it was dropped, and the evidence."""

    candidate: Candidate
    kept: bool
    reason: str | None
    stage: str | None  # "parse", "rules" or "novelty" for a drop; None when kept
    # The closest pool instructions, for candidates that reached the novelty check.
    evidence: tuple[Similar, ...] = ()
    # Mean ROUGE-L against the whole pool (the reference's avg_similarity_score), when it was computed.
    avg_similarity: float | None = None

    @property
    def text(self) -> str:
        return self.candidate.text

    @property
    def code(self) -> str | None:
        return reason_code(self.reason)

    @property
    def max_similarity(self) -> float | None:
        return max((s.score for s in self.evidence), default=None)


def decide(
    candidate: Candidate | str,
    similar: SimilarityLookup | None = None,
    *,
    blacklist: Iterable[str] = DEFAULT_BLACKLIST,
    threshold: float = NOVELTY_THRESHOLD,
    evidence_size: int = EVIDENCE_SIZE,
) -> CandidateDecision:
    """Parse reason, then the rules, then novelty (only when `similar` is given)."""
    if isinstance(candidate, str):
        candidate = Candidate(0, None, normalize_candidate(candidate), candidate)
    if candidate.reason:
        return CandidateDecision(candidate, False, candidate.reason, "parse")
    rule = rejection_reason(candidate.text, blacklist)
    if rule:
        return CandidateDecision(candidate, False, rule, "rules")
    if similar is None:
        return CandidateDecision(candidate, True, None, None)
    found = sorted((_similar(item) for item in similar(candidate.text)), key=lambda s: -s.score)
    evidence = tuple(found[:evidence_size])
    if evidence and evidence[0].score > threshold:
        detail = f"ROUGE-L {evidence[0].score:.2f} with {evidence[0].text!r}"
        return CandidateDecision(candidate, False, make_reason("too_similar", detail), "novelty", evidence)
    return CandidateDecision(candidate, True, None, None, evidence)


def decide_all(
    candidates: Iterable[Candidate],
    similar: SimilarityLookup | None = None,
    add: Callable[[str], object] | None = None,
    **options,
) -> list[CandidateDecision]:
    """Decide candidates in order, calling `add` with each kept instruction before the next decision, as
    the paper does: a response cannot contribute two near-copies of one instruction."""
    decisions = []
    for candidate in candidates:
        decision = decide(candidate, similar, **options)
        if decision.kept and add is not None:
            add(decision.text)
        decisions.append(decision)
    return decisions
