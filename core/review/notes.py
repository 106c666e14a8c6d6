"""How a review departs from the paper's protocol, said in the page, the stored review and the exports."""

from __future__ import annotations

from core.review.questions import PAPER_N
from core.review.spec import ReviewSpec


def protocol_notes(spec: ReviewSpec) -> list[str]:
    source = spec.source
    if source.get("kind") == "run":
        where = f"Self-Instruct run {source.get('run_id')}"
    elif source.get("kind") == "upload":
        where = f"uploaded file {source.get('file', '?')} ({source.get('form', '?')} form)"
    else:
        where = "unknown source"
    notes = [
        f"Source: {where}; {len(spec.items)} tasks sampled (seed {spec.seed}), one random instance each.",
    ]
    if spec.sample_size != PAPER_N or len(spec.items) != PAPER_N:
        notes.append(f"Departure: {len(spec.items)} items, where the paper sampled {PAPER_N}.")
    if len(spec.reviewers) > 1 or spec.overlap > 1:
        notes.append(
            f"Departure: {len(spec.reviewers)} reviewers, {spec.overlap} per item (the paper had one expert "
            "annotator); every complete label counts."
        )
    if source.get("form") == "chat":
        notes.append("Chat form: the whole user turn is shown as the instruction, with no separate input.")
    return notes
