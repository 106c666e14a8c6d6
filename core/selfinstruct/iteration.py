"""One bootstrapping step as a record: sampled instructions, prompt, response, and a decision per candidate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from core.selfinstruct.filters import (
    DEFAULT_BLACKLIST,
    NOVELTY_THRESHOLD,
    CandidateDecision,
    SimilarityLookup,
    decide_all,
)
from core.selfinstruct.parsing import ParseResult, parse_response
from core.selfinstruct.sampling import PromptSample


@dataclass(frozen=True)
class IterationRecord:
    iteration: int
    sample: PromptSample
    prompt: str
    response: str
    finish_reason: str | None
    parse: ParseResult
    decisions: tuple[CandidateDecision, ...]
    template_version: str = ""
    call_id: str | None = None

    @property
    def kept(self) -> list[str]:
        return [d.text for d in self.decisions if d.kept]

    def drop_counts(self) -> Counter:
        """Dropped candidates by reason code, for the kept-vs-dropped chart."""
        return Counter(d.code for d in self.decisions if not d.kept)


def process_response(
    iteration: int,
    sample: PromptSample,
    prompt: str,
    response: str | None,
    finish_reason: str | None,
    *,
    similar: SimilarityLookup | None = None,
    add: Callable[[str], object] | None = None,
    mode: Literal["completion", "chat"] = "completion",
    on_length: Literal["drop_all", "drop_last"] = "drop_all",
    blacklist: Iterable[str] = DEFAULT_BLACKLIST,
    threshold: float = NOVELTY_THRESHOLD,
    template_version: str = "",
    call_id: str | None = None,
) -> IterationRecord:
    """Stages 3 and 4 for one model response. `similar` and `add` are the novelty index's lookup and insert;
    each kept instruction is added before the next candidate is judged."""
    parsed = parse_response(
        response,
        finish_reason,
        next_number=len(sample.items) + 1,
        mode=mode,
        prompt_instructions=sample.texts,
        on_length=on_length,
    )
    decisions = decide_all(parsed.candidates, similar, add, blacklist=tuple(blacklist), threshold=threshold)
    return IterationRecord(
        iteration=iteration,
        sample=sample,
        prompt=prompt,
        response=response or "",
        finish_reason=finish_reason,
        parse=parsed,
        decisions=tuple(decisions),
        template_version=template_version,
        call_id=call_id,
    )
