"""The model judge's prompts (ours, editable per run) and the strict parsing of its replies.

A judge rates either a model response on the rating campaigns' A/B/C/D scale ("rating"), or a generated
item on the three quality-review questions ("quality"). A template is plain text with placeholders in
braces; the answer cue (its last line, e.g. "Rating:") ends the prompt for a completion model and is put back
in front of the reply before parsing, so chat and completion replies are read by the same rule.

Parsing is strict on purpose: a reply that does not follow the asked format is stored as it is and counted as
unparseable, never guessed at. An explanation on the lines after the answer is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.humaneval.agreement import LABELS
from core.humaneval.campaign import RATING_SCALE
from core.review.questions import QUESTION_KEYS, QUESTIONS

TARGETS = ("rating", "quality")
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "rating": ("{instruction}", "{input}", "{response}"),
    "quality": ("{instruction}", "{input}", "{output}"),
}
NO_INPUT = "(none)"

RATING_CUE = "Rating:"
QUALITY_CUE = "1:"

DEFAULT_RATING_TEMPLATE = (
    "You are rating how well a response carries out an instruction. Use this scale:\n"
    + "\n".join(f"{label}: {title}. {text}" for label, (title, text) in RATING_SCALE.items())
    + "\n\nInstruction:\n{instruction}\n\nInput:\n{input}\n\nResponse:\n{response}\n\n"
    "Reply with one line, 'Rating: ' followed by a single capital letter (A, B, C or D).\n" + RATING_CUE
)

DEFAULT_QUALITY_TEMPLATE = (
    "You are checking one generated training example. Answer each question with yes or no.\n"
    + "\n".join(f"{n}. {text}" for n, text in enumerate(QUESTIONS.values(), start=1))
    + "\n\nInstruction:\n{instruction}\n\nInput:\n{input}\n\nOutput:\n{output}\n\n"
    "Reply with exactly three lines, '1: yes' or '1: no', then '2: …' and '3: …'.\n" + QUALITY_CUE
)

DEFAULT_TEMPLATES = {"rating": DEFAULT_RATING_TEMPLATE, "quality": DEFAULT_QUALITY_TEMPLATE}
CUES = {"rating": RATING_CUE, "quality": QUALITY_CUE}


def template_problems(target: str, template: str) -> list[str]:
    """Why a (user-edited) template cannot be used; empty when it can."""
    if target not in TARGETS:
        return [f"unknown judge target {target!r}"]
    found = [f"The prompt needs the placeholder {p}." for p in PLACEHOLDERS[target] if p not in template]
    if not template.rstrip().endswith(CUES[target]):
        found.append(f"The prompt must end with the answer cue {CUES[target]!r}.")
    return found


def render(template: str, values: dict[str, str]) -> str:
    """Fill the placeholders in one pass, so text that itself contains "{input}" is left alone."""
    empty_input = {"input": values.get("input", "").strip() or NO_INPUT}
    filled = {**values, **empty_input}
    return re.sub(r"\{(\w+)\}", lambda m: filled.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True)
class JudgePrompt:
    target: str
    template: str

    def __post_init__(self) -> None:
        problems = template_problems(self.target, self.template)
        if problems:
            raise ValueError(" ".join(problems))

    @property
    def cue(self) -> str:
        return CUES[self.target]

    def completion_prompt(self, values: dict[str, str]) -> str:
        return render(self.template.rstrip(), values)

    def chat_prompt(self, values: dict[str, str]) -> str:
        """For a chat model the cue is left out: the instructions above it ask for the same format."""
        return render(self.template.rstrip().removesuffix(self.cue).rstrip(), values)

    def reply_text(self, reply: str, chat: bool) -> str:
        """The reply as it reads after the cue was put back (completion) or as it is (chat)."""
        return reply if chat else self.cue + reply


_RATING_LINE = re.compile(r"Rating:[ \t]*([ABCD])[ \t]*")
_QUALITY_LINE = re.compile(r"([123]):[ \t]*(yes|no)[ \t]*", re.IGNORECASE)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def parse_rating(text: str) -> str | None:
    """The label from a reply whose first non-blank line is exactly "Rating: X" (X one of A-D, capital);
    None for anything else: empty, "A or B", lowercase, markup, the letter inside a sentence."""
    lines = _lines(text)
    if not lines:
        return None
    match = _RATING_LINE.fullmatch(lines[0])
    label = match.group(1) if match else None
    return label if label in LABELS else None


def parse_quality(text: str) -> dict[str, bool] | None:
    """The three answers from a reply whose first three non-blank lines are "1: yes|no", "2: …", "3: …" in
    that order; None (all three unparsed) for anything else."""
    lines = _lines(text)
    if len(lines) < len(QUESTION_KEYS):
        return None
    answers = {}
    for n, (key, line) in enumerate(zip(QUESTION_KEYS, lines, strict=False), start=1):
        match = _QUALITY_LINE.fullmatch(line)
        if match is None or int(match.group(1)) != n:
            return None
        answers[key] = match.group(2).lower() == "yes"
    return answers
