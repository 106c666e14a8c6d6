"""Stages 6 and 7: parse a generated-instances response into (input, output) pairs, then filter them.

Prompts live in prompts.py: output-first (class label, then its input) for classification tasks, input-first
otherwise, as in the paper.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from core.selfinstruct.prompts import MAX_INSTANCES
from core.selfinstruct.reasons import make_reason, reason_code
from core.selfinstruct.records import Instance, Task

_LABEL = "Class label:"
# The paper's markers for the input-first template.
_OUTPUT = re.compile(r"Output\s*\d*\s*:")
_INPUT = re.compile(r"Input\s*\d*\s*:")
_INPUT_PREFIX = re.compile(r"^Input\s*\d*\s*:")
# An "Example N" marker opening a line, as models write it: alone ("Example 3", "Example 3:", "**Example 3**",
# "### Example 3"), or with the instance starting on the same line ("Example 1 Input: ...", "Example 1 - ...",
# "**Example 1:** ..."). Without a number the marker must stand alone on its line. The paper splits on
# "Example\s?\d*\.?" anywhere, which also cuts "Example sentences are short." in two and leaves "**" or "-"
# as part of an instance.
_DECO = r"(?:\*{1,3}|_{1,3}|\#{1,6}[ \t]*)"
_CLOSE = r"(?:\*{1,3}|_{1,3})"
_SEP = r"(?:[.:)\-\u2013\u2014][ \t]*)"
_EXAMPLE = re.compile(
    rf"^[ \t]*{_DECO}?Example(?:[ \t]*\d+)?[ \t]*{_CLOSE}?[ \t]*{_SEP}?{_CLOSE}?[ \t]*(?:\n|$)"
    rf"|^[ \t]*{_DECO}?Example[ \t]*\d+[ \t]*{_CLOSE}?[ \t]*{_SEP}?{_CLOSE}?[ \t]*",
    re.MULTILINE,
)
# A chat model may go on to invent the next task; a completion model is stopped there by "Task:".
_NEXT_TASK = re.compile(r"^[ \t]*Task:", re.MULTILINE)


@dataclass(frozen=True)
class RawInstance:
    input: str
    output: str
    raw: str


@dataclass(frozen=True)
class InstanceParse:
    instances: tuple[RawInstance, ...]
    stray: str = ""  # text that belongs to no instance


def _cut_next_task(text: str) -> str:
    match = _NEXT_TASK.search(text)
    return text[: match.start()] if match else text


def parse_output_first(text: str | None) -> InstanceParse:
    """Classification template: "Class label: L" then the input on the following lines; a label without
    input is an instance with empty input (tasks that need no input)."""
    text = _cut_next_task(text or "")
    if _LABEL not in text:
        return InstanceParse((), text.strip())
    head, *parts = text.split(_LABEL)
    found = []
    for part in parts:
        body = part.strip()
        label, _, rest = body.partition("\n")
        found.append(RawInstance(input=rest.strip(), output=label.strip(), raw=body))
    return InstanceParse(tuple(found), head.strip())


def _input_output(text: str) -> tuple[str, str]:
    """The paper's split: before "Output:" is the input (minus an "Input:" prefix), after it the output, cut
    at a following "Input:"; with no "Output:" at all, the whole text is the output."""
    if _OUTPUT.search(text):
        pieces = _OUTPUT.split(text)
        inp, out = pieces[0].strip(), pieces[1].strip()
    else:
        inp, out = "", text.strip()
    if _INPUT.search(out):
        out = _INPUT.split(out)[0].strip()
    return _INPUT_PREFIX.sub("", inp).strip(), out


def parse_input_first(text: str | None) -> InstanceParse:
    """Input-first template: "Example N" blocks of input then "Output:", or a single "Output:" pair."""
    text = _cut_next_task(text or "").strip()
    if _EXAMPLE.search(text):
        head, *bodies = _EXAMPLE.split(text)
        stray = ""
        if head.strip() and _OUTPUT.search(head):
            bodies.insert(0, head)
        else:
            stray = head.strip()
        pairs = [(_input_output(b), b.strip()) for b in bodies if b.strip()]
        return InstanceParse(tuple(RawInstance(i, o, raw) for (i, o), raw in pairs), stray)
    if _OUTPUT.search(text):
        inp, out = _input_output(text)
        return InstanceParse((RawInstance(inp, out, text),))
    return InstanceParse((), text)


def parse_instances(text: str | None, is_classification: bool) -> InstanceParse:
    return parse_output_first(text) if is_classification else parse_input_first(text)


@dataclass(frozen=True)
class InstanceDecision:
    input: str
    output: str
    kept: bool
    reason: str | None = None

    @property
    def code(self) -> str | None:
        return reason_code(self.reason)


def _invalid(inst: RawInstance) -> str | None:
    # The paper's rules, with an empty output reported before "input equals output" (both empty).
    if inst.output == "":
        return make_reason("empty_output")
    if inst.input == inst.output:
        return make_reason("input_equals_output")
    if inst.input.endswith(":") or inst.output.endswith(":"):
        return make_reason("ends_with_colon", "input" if inst.input.endswith(":") else "output")
    return None


def filter_instances(
    instances: Sequence[RawInstance],
    finish_reason: str | None = None,
    *,
    max_instances: int = MAX_INSTANCES,
    rng: random.Random | None = None,
) -> list[InstanceDecision]:
    """One decision per parsed instance, in order, following the paper's sequence: the last one goes when
    generation stopped for length; then empty output, input equal to output, a trailing colon; then, if a
    non-empty input appears with different outputs, every remaining instance of the task goes; then exact
    duplicates; then at most `max_instances` stay (a random choice with `rng`, as the paper; else the first)."""
    items = [RawInstance(i.input.strip(), i.output.strip(), i.raw) for i in instances]
    reasons: list[str | None] = [None] * len(items)
    if finish_reason == "length" and items:
        reasons[-1] = make_reason("truncated_last")
    for i, inst in enumerate(items):
        reasons[i] = reasons[i] or _invalid(inst)
    valid = [i for i, r in enumerate(reasons) if r is None]

    outputs: dict[str, set[str]] = defaultdict(set)
    for i in valid:
        if items[i].input:
            outputs[items[i].input].add(items[i].output)
    clash = next((inp for inp, outs in outputs.items() if len(outs) > 1), None)
    if clash is not None:
        why = make_reason("conflicting_outputs", f"input {clash[:60]!r}")
        for i in valid:
            reasons[i] = why
        valid = []

    seen: set[tuple[str, str]] = set()
    for i in valid:
        key = (items[i].input, items[i].output)
        if key in seen:
            reasons[i] = make_reason("duplicate")
        seen.add(key)
    remaining = [i for i in valid if reasons[i] is None]
    if len(remaining) > max_instances:
        chosen = set(rng.sample(remaining, max_instances) if rng else remaining[:max_instances])
        for i in remaining:
            if i not in chosen:
                reasons[i] = make_reason("over_limit", f"at most {max_instances} per task")
    return [
        InstanceDecision(inst.input, inst.output, r is None, r)
        for inst, r in zip(items, reasons, strict=True)
    ]


@dataclass(frozen=True)
class TaskInstances:
    """The instance stage of one instruction: the request, the raw response and every decision."""

    instruction: str
    is_classification: bool
    prompt: str
    response: str
    finish_reason: str | None
    decisions: tuple[InstanceDecision, ...]
    stray: str = ""
    call_id: str | None = None

    @property
    def kept(self) -> tuple[Instance, ...]:
        return tuple(Instance(d.input, d.output) for d in self.decisions if d.kept)

    def to_task(self, task_id: str | None = None) -> Task:
        return Task(self.instruction, self.kept, self.is_classification, task_id)


def build_task_instances(
    instruction: str,
    is_classification: bool,
    response: str | None,
    finish_reason: str | None = None,
    *,
    prompt: str = "",
    call_id: str | None = None,
    max_instances: int = MAX_INSTANCES,
    rng: random.Random | None = None,
) -> TaskInstances:
    """Parse and filter in one step, keeping everything needed for the record."""
    parsed = parse_instances(response, is_classification)
    decisions = filter_instances(parsed.instances, finish_reason, max_instances=max_instances, rng=rng)
    return TaskInstances(
        instruction=instruction,
        is_classification=is_classification,
        prompt=prompt,
        response=response or "",
        finish_reason=finish_reason,
        decisions=tuple(decisions),
        stray=parsed.stray,
        call_id=call_id,
    )
