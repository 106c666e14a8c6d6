"""Stage 8: the generated dataset in the paper's fine-tuning format, Alpaca JSON, chat JSONL, and provenance."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import asdict

from core.selfinstruct.classify import ClassificationVerdict
from core.selfinstruct.instances import TaskInstances
from core.selfinstruct.iteration import IterationRecord
from core.selfinstruct.records import Task

END_OF_TEXT = "<|endoftext|>"

# The paper's prompt/completion templates (prepare_for_finetuning.py, encode_instance), as (prompt,
# completion) format pairs. They vary three things so a model does not learn one fixed layout: an optional
# "Task: " prefix, whether the input is labelled "Input:" and the answer cued with "Output:", and whether
# parts are separated by one newline or a blank line. When "Output:" ends the prompt the completion starts
# with a space.
TEMPLATES_WITH_INPUT: tuple[tuple[str, str], ...] = (
    ("{instruction}\nInput: {input}\nOutput:", " {output}{eot}"),
    ("{instruction}\n\nInput: {input}\n\nOutput:", " {output}{eot}"),
    ("Task: {instruction}\nInput: {input}\nOutput:", " {output}{eot}"),
    ("{instruction}\n\n{input}\n\nOutput:", " {output}{eot}"),
    ("{instruction}\n\n{input}\n\n", "{output}{eot}"),
    ("{instruction}\n{input}\n\n", "{output}{eot}"),
    ("Task: {instruction}\n\n{input}\n\n", "{output}{eot}"),
)
TEMPLATES_WITHOUT_INPUT: tuple[tuple[str, str], ...] = (
    ("{instruction} Output:", " {output}{eot}"),
    ("{instruction}\nOutput:", " {output}{eot}"),
    ("{instruction}\n\nOutput:", " {output}{eot}"),
    ("{instruction}\n", "{output}{eot}"),
    ("{instruction}\n\n", "{output}{eot}"),
    ("Task: {instruction}\n\n", "{output}{eot}"),
)


def _rows(tasks: Iterable[Task]) -> list[tuple[str, str, str]]:
    return [(t.instruction.strip(), i.input.strip(), i.output.strip()) for t in tasks for i in t.instances]


def simplify_input(text: str) -> str:
    """The paper's input variation: drop a single field name ("Sentence: ...") and close blank lines."""
    if len(set(re.findall(r"(\w+):", text))) == 1:
        text = text.split(":", 1)[1]
    return text.strip().replace("\n\n", "\n")


def encode_finetune(
    instruction: str, input: str, output: str, rng: random.Random | None, eot: str = END_OF_TEXT
) -> dict[str, str]:
    """One prompt/completion pair; a random template when `rng` is given, else the paper's fixed layout."""
    if rng is None:
        return {"prompt": f"{instruction}\n\n{input}\n\n", "completion": f"{output}{eot}"}
    prompt_t, completion_t = rng.choice(TEMPLATES_WITH_INPUT if input else TEMPLATES_WITHOUT_INPUT)
    return {
        "prompt": prompt_t.format(instruction=instruction, input=input),
        "completion": completion_t.format(output=output, eot=eot),
    }


def finetune_records(
    tasks: Iterable[Task], rng: random.Random | None, *, eot: str = END_OF_TEXT, vary_inputs: bool = True
) -> list[dict[str, str]]:
    """The paper's procedure: for each instance, half of the time simplify its input; encode it with a random
    template; drop duplicate (prompt, completion) pairs; shuffle. Without `rng`: fixed layout, no variation,
    original order."""
    out, seen = [], set()
    for instruction, inp, output in _rows(tasks):
        if rng is not None and vary_inputs and rng.random() < 0.5:
            inp = simplify_input(inp)
        record = encode_finetune(instruction, inp, output, rng, eot)
        key = (record["prompt"], record["completion"])
        if key not in seen:
            seen.add(key)
            out.append(record)
    if rng is not None:
        rng.shuffle(out)
    return out


def _jsonl(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def finetune_jsonl(tasks: Iterable[Task], rng: random.Random | None, **options) -> str:
    return _jsonl(finetune_records(tasks, rng, **options))


def alpaca_records(tasks: Iterable[Task]) -> list[dict[str, str]]:
    return [{"instruction": i, "input": x, "output": y} for i, x, y in _rows(tasks)]


def alpaca_json(tasks: Iterable[Task]) -> str:
    return json.dumps(alpaca_records(tasks), ensure_ascii=False, indent=2) + "\n"


def chat_records(tasks: Iterable[Task], system: str | None = None) -> list[dict]:
    """One conversation per instance: the instruction (and the input after a blank line), then the output."""
    rows = []
    for instruction, inp, output in _rows(tasks):
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": f"{instruction}\n\n{inp}" if inp else instruction})
        messages.append({"role": "assistant", "content": output})
        rows.append({"messages": messages})
    return rows


def chat_jsonl(tasks: Iterable[Task], system: str | None = None) -> str:
    return _jsonl(chat_records(tasks, system))


def provenance_records(
    iterations: Iterable[IterationRecord],
    classifications: Iterable[ClassificationVerdict] = (),
    instances: Iterable[TaskInstances] = (),
) -> list[dict]:
    """Everything, nothing silently discarded: one "call" row per generation request (even when it yielded
    no candidate), one "candidate" row per candidate with its decision, then "classification" and
    "instances" rows. Rows carry `kind`; candidate rows repeat the call's prompt and response so each line
    stands alone."""
    rows: list[dict] = []
    for it in iterations:
        call = {
            "iteration": it.iteration,
            "call_id": it.call_id,
            "template_version": it.template_version,
            "prompt": it.prompt,
            "response": it.response,
            "finish_reason": it.finish_reason,
        }
        rows.append(
            {
                "kind": "call",
                **call,
                "sampled": [asdict(s) for s in it.sample.items],
                "classification_only": it.sample.classification_only,
                "preamble": it.parse.preamble,
                "stray": list(it.parse.stray),
                "n_candidates": len(it.decisions),
                "n_kept": len(it.kept),
            }
        )
        for d in it.decisions:
            rows.append(
                {
                    "kind": "candidate",
                    **call,
                    "position": d.candidate.position,
                    "number": d.candidate.number,
                    "raw": d.candidate.raw,
                    "instruction": d.text,
                    "kept": d.kept,
                    "stage": d.stage,
                    "reason": d.reason,
                    "reason_code": d.code,
                    "most_similar": [{"instruction": s.text, "rouge_l": s.score} for s in d.evidence],
                    "avg_similarity_score": d.avg_similarity,
                }
            )
    for v in classifications:
        rows.append(
            {"kind": "classification", "instruction": v.instruction, "answer": v.answer, "raw": v.raw}
        )
    for t in instances:
        rows.append(
            {
                "kind": "instances",
                "call_id": t.call_id,
                "instruction": t.instruction,
                "is_classification": t.is_classification,
                "prompt": t.prompt,
                "response": t.response,
                "finish_reason": t.finish_reason,
                "stray": t.stray,
                "decisions": [asdict(d) for d in t.decisions],
            }
        )
    return rows


def provenance_jsonl(
    iterations: Iterable[IterationRecord],
    classifications: Iterable[ClassificationVerdict] = (),
    instances: Iterable[TaskInstances] = (),
) -> str:
    return _jsonl(provenance_records(iterations, classifications, instances))
