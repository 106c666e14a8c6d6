"""How a Self-Instruct run departs from the paper's method, in words a reader of the page or an export needs.

The paper's values are those of the reference code (bootstrap_instructions.py, identify_clf_or_not.py,
generate_instances.py); docs/fidelity.md walks through them. An empty list means the run is the paper's method.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from core.selfinstruct.filters import NOVELTY_THRESHOLD
from core.selfinstruct.prompts import (
    CLASSIFICATION_HEADER,
    CLASSIFY_DECODING,
    INSTANCE_DECODING,
    INSTANCE_DECODING_CLASSIFICATION,
    INSTRUCTION_DECODING,
    INSTRUCTION_HEADER,
    MAX_INSTANCES,
    PAPER_SOURCE,
    DecodingSettings,
)

if TYPE_CHECKING:
    from core.selfinstruct.spec import RunSpec

# The reference's request_batch_size: prompts sent per round of generation.
PAPER_REQUESTS_PER_ITERATION = 5
PAPER_K_HUMAN, PAPER_K_MACHINE = 6, 2

_STAGES: tuple[tuple[str, str, DecodingSettings], ...] = (
    ("instruction_decoding", "generation", INSTRUCTION_DECODING),
    ("classify_decoding", "classification", CLASSIFY_DECODING),
    ("instance_decoding", "instances", INSTANCE_DECODING),
    ("instance_decoding_classification", "classification instances", INSTANCE_DECODING_CLASSIFICATION),
)


def _value(v: Any) -> str:
    return ", ".join(repr(x) for x in v) if isinstance(v, tuple | list) else str(v)


def _decoding_departures(stage: str, ours: DecodingSettings, paper: DecodingSettings) -> list[str]:
    return [
        f"{stage} {f.name} {_value(getattr(ours, f.name))} (paper: {_value(getattr(paper, f.name))})"
        for f in fields(DecodingSettings)
        if getattr(ours, f.name) != getattr(paper, f.name)
    ]


def departures(spec: RunSpec) -> list[str]:
    """Every setting of the run that is not the paper's, one phrase each ("generation max_tokens 128
    (paper: 1024)"). The stopping rule, the seed and the stall limits are not the method, so not listed."""
    out: list[str] = []
    if spec.seeds != "official":
        out.append(f"seed tasks: {spec.seeds} (paper: the 175 official seed tasks)")
    if (spec.k_human, spec.k_machine) != (PAPER_K_HUMAN, PAPER_K_MACHINE):
        out.append(
            f"{spec.k_human} human + {spec.k_machine} machine instructions per prompt "
            f"(paper: {PAPER_K_HUMAN} + {PAPER_K_MACHINE})"
        )
    if spec.requests_per_iteration != PAPER_REQUESTS_PER_ITERATION:
        out.append(
            f"{spec.requests_per_iteration} generation request(s) per iteration "
            f"(paper: {PAPER_REQUESTS_PER_ITERATION})"
        )
    if getattr(spec, "lookahead", 0):
        out.append(
            f"generation requests sent {spec.lookahead} iteration(s) ahead: prompts sample the pool as it "
            f"stood {spec.lookahead} iteration(s) earlier (paper: the pool as it stands)"
        )
    if spec.threshold != NOVELTY_THRESHOLD:
        out.append(f"ROUGE-L threshold {spec.threshold} (paper: {NOVELTY_THRESHOLD})")
    if spec.on_length != "drop_all":
        out.append("a response cut by the token limit keeps all but its last instruction (paper: drops all)")
    if spec.blacklist_extra:
        out.append(f"extra blacklist words: {', '.join(spec.blacklist_extra)}")
    if spec.style == "chat":
        out.append("chat-style requests (paper: completion)")
    if not spec.classify:
        out.append("no classification stage")
    if not spec.instances:
        out.append("no instance generation")
    if spec.max_instances != MAX_INSTANCES:
        out.append(f"up to {spec.max_instances} instances per task (paper: {MAX_INSTANCES})")
    if getattr(spec, "classification_rule", "paper") != "paper":
        out.append(
            f"classification answers read the {spec.classification_rule} way (paper: exact Yes/yes/YES)"
        )
    prompt = spec.prompt
    if prompt.header != INSTRUCTION_HEADER:
        out.append("an edited generation header")
    if prompt.classification_header != CLASSIFICATION_HEADER:
        out.append("an edited classification-only generation header")
    if prompt.template_source != PAPER_SOURCE:
        out.append(f"few-shot templates: {prompt.template_source} (paper: the published templates)")
    if prompt.edited_templates:
        out.append("edited few-shot templates: " + ", ".join(prompt.edited_templates))
    for attr, stage, paper in _STAGES:
        out += _decoding_departures(stage, getattr(prompt, attr), paper)
    return out


def departures_label(items: list[str]) -> str:
    return (
        "Settings: the paper's method." if not items else "Departs from the paper: " + "; ".join(items) + "."
    )
