"""Plain records for the four dataset formats.

`source` says where a record came from: "official" (the papers' files), "starter" (written by this project
when the official files are absent) or "upload:<file>" (a user's file), so the UI can label it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OFFICIAL = "official"
STARTER = "starter"


def upload_source(file_name: str) -> str:
    return f"upload:{file_name}"


@dataclass
class InductionExample:
    """One input with the output shown as a demonstration and every answer accepted when scoring."""

    input: str
    output: str
    answers: list[str]
    # The file's own record (e.g. rhyme_group, x/y, cause/effect), for anything task-specific.
    raw: dict = field(default_factory=dict)


@dataclass
class PaperDemoSet:
    """One of the paper's 100 induction prompts per task and the five demonstrations it contains."""

    id: str
    prompt: str
    demos: list[tuple[str, str]]


@dataclass
class InductionTask:
    name: str
    metric: str
    induce: list[InductionExample]
    execute: list[InductionExample]
    annotations: list[str]
    paper_demos: list[PaperDemoSet] = field(default_factory=list)
    source: str = OFFICIAL


@dataclass
class Instance:
    input: str
    output: str


@dataclass
class SeedTask:
    """A Self-Instruct seed task."""

    id: str
    name: str
    instruction: str
    instances: list[Instance]
    is_classification: bool
    source: str = OFFICIAL
    # Keys beyond the standard ones in a user's file, kept so an export does not lose them.
    extra: dict = field(default_factory=dict)


@dataclass
class EvalTask:
    """One of the 252 user-oriented evaluation tasks (or a user's own in the same shape)."""

    id: str
    motivation_app: str
    instruction: str
    instances: list[Instance]
    source: str = OFFICIAL
    extra: dict = field(default_factory=dict)


@dataclass
class Prediction:
    """One row of a model's predictions file; `row` lines up with the evaluation tasks' order."""

    model: str
    row: int
    prompt: str
    instruction: str
    input: str
    response: str
    target: str
