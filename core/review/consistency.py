"""The consistency check: signals, computed without a human, of whether a generated task hangs together.

1. Induction: the Instruction Induction paper's prompt (Honovich et al., 2022) asks the model which
   instruction produced the task's own instances; the induced instruction is compared with the generated one
   (ROUGE-L, and BERTScore F1 with the offline MiniLM model).
2. Execution: the model follows the generated instruction on each instance's input (the Instruction Induction
   execution prompt, greedy) and its output is compared with the generated output by ROUGE-L (generated tasks
   have no task metric of their own, so free-text ROUGE-L is the metric).

A background job ("consistency") stores one result per task; `separation` measures, against Table-2 labels,
how well each signal tells valid items from invalid ones (AUROC with n).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.metrics import roc_auc_score

from core.induction.postprocess import clean_instruction
from core.induction.prompts import (
    Demo,
    render_execution_messages,
    render_execution_prompt,
    render_induction_messages,
    render_induction_prompt,
)
from core.induction.spec import EXECUTE_MAX_TOKENS, INDUCE_MAX_TOKENS
from core.jobs.context import JobContext
from core.jobs.registry import job_kind
from core.llm import GenParams, Request
from core.review.records import ReviewLabel
from core.similarity.rouge import rouge_l

KIND = "consistency"
MAX_DEMOS = 5  # the paper's induction prompts show five demonstrations
SIGNALS = {
    "induced_rouge": "induced vs generated instruction (ROUGE-L)",
    "induced_bertscore": "induced vs generated instruction (BERTScore F1)",
    "execution_rouge": "executed vs generated output (ROUGE-L, mean)",
}


@dataclass(frozen=True)
class CheckTask:
    id: str
    instruction: str
    instances: tuple[tuple[str, str], ...]


def check_params(
    tasks: Sequence[CheckTask], model: Mapping[str, Any], chat: bool, source: Mapping | None = None
) -> dict:
    return {
        "model": dict(model),
        "chat": chat,
        "max_demos": MAX_DEMOS,
        "source": dict(source or {}),
        "tasks": [
            {"id": t.id, "instruction": t.instruction, "instances": [list(x) for x in t.instances]}
            for t in tasks
        ],
    }


def _tasks(params: Mapping[str, Any]) -> list[CheckTask]:
    return [
        CheckTask(t["id"], t["instruction"], tuple(tuple(x) for x in t["instances"])) for t in params["tasks"]
    ]


def requests_for(task: CheckTask, chat: bool, max_demos: int = MAX_DEMOS) -> list[Request]:
    """The induction request, then one execution request per instance used (the same instances)."""
    shown = task.instances[:max_demos]
    demos = [Demo(i, o) for i, o in shown]
    induce = GenParams(max_tokens=INDUCE_MAX_TOKENS, temperature=0.0)
    execute = GenParams(max_tokens=EXECUTE_MAX_TOKENS, temperature=0.0)
    if chat:
        first = Request(messages=render_induction_messages(demos), params=induce)
        rest = [
            Request(messages=render_execution_messages(task.instruction, i), params=execute) for i, _ in shown
        ]
    else:
        first = Request(prompt=render_induction_prompt(demos), params=induce)
        rest = [
            Request(prompt=render_execution_prompt(task.instruction, i), params=execute) for i, _ in shown
        ]
    return [first, *rest]


def first_line(text: str) -> str:
    """An execution answer: the completion up to its first line break, trimmed."""
    return text.strip().split("\n")[0].strip()


def task_result(task: CheckTask, replies: Sequence[str], max_demos: int = MAX_DEMOS) -> dict[str, Any]:
    """What is stored for one task, from the replies to `requests_for` (in the same order)."""
    induced = clean_instruction(replies[0])
    shown = task.instances[:max_demos]
    executed = [first_line(r) for r in replies[1:]]
    scores = [rouge_l(out, pred) for (_, out), pred in zip(shown, executed, strict=True)]
    return {
        "induced_raw": replies[0],
        "induced": induced,
        "induced_rouge": rouge_l(task.instruction, induced),
        "executed": executed,
        "executed_raw": list(replies[1:]),
        "execution_scores": scores,
        "execution_rouge": sum(scores) / len(scores) if scores else None,
    }


def add_bertscore(results: dict[str, dict[str, Any]], generated: Mapping[str, str]) -> None:
    """BERTScore F1 of each induced instruction against its generated one, in one batch (offline model)."""
    from core.induction.bertscore import BertScoreUnavailable, score_many

    keys = [k for k, v in results.items() if v.get("induced") and generated.get(k)]
    try:
        for key in keys:
            (res,) = score_many([results[key]["induced"]], [generated[key]], allow_download=False)
            results[key]["induced_bertscore"] = res.best_f1
    except BertScoreUnavailable as exc:
        for key in keys:
            results[key]["induced_bertscore"] = None
            results[key]["bertscore_error"] = str(exc)


@job_kind(KIND)
def run_consistency(ctx: JobContext) -> None:
    p = ctx.params
    tasks = _tasks(p)
    todo = [t for t in tasks if not ctx.done(t.id)]
    done = len(tasks) - len(todo)
    ctx.progress(done, len(tasks), "checking")
    llm = ctx.llm()
    for task in todo:
        if not task.instances:
            ctx.save(task.id, {"skipped": "no instances"})
        else:
            requests = requests_for(task, p["chat"], p["max_demos"])
            replies = [""] * len(requests)
            for index, response in llm.generate_many(requests):
                replies[index] = response.text
            result = {task.id: task_result(task, replies, p["max_demos"])}
            add_bertscore(result, {task.id: task.instruction})
            ctx.save(task.id, result[task.id])
        done += 1
        ctx.progress(done, len(tasks), f"checked {done} of {len(tasks)}")


def calls_needed(params: Mapping[str, Any], done: Iterable[str] = ()) -> int:
    skip = set(done)
    return sum(
        1 + min(len(t.instances), params["max_demos"])
        for t in _tasks(params)
        if t.id not in skip and t.instances
    )


# --- How well a signal separates valid from invalid items ----------------------------------------------


@dataclass(frozen=True)
class Separation:
    signal: str
    n: int
    valid: int
    invalid: int
    auroc: float  # nan when one class is missing


def separation(
    results: Mapping[str, Mapping[str, Any]], labels: Iterable[ReviewLabel], task_of: Mapping[str, str]
) -> list[Separation]:
    """For each signal, AUROC of "higher means valid" over every complete human label whose task has that
    signal. `task_of` maps a review item id to its task id."""
    done = [label for label in labels if label.complete and label.item_id in task_of]
    out = []
    for signal in SIGNALS:
        pairs = []
        for label in done:
            value = results.get(task_of[label.item_id], {}).get(signal)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                pairs.append((bool(label.all_valid), float(value)))
        valid = sum(1 for v, _ in pairs if v)
        invalid = len(pairs) - valid
        auroc = (
            float(roc_auc_score([v for v, _ in pairs], [s for _, s in pairs]))
            if valid and invalid
            else math.nan
        )
        out.append(Separation(signal, len(pairs), valid, invalid, auroc))
    return out


def suspect(result: Mapping[str, Any], threshold: float) -> bool:
    """A task whose induced instruction or executed outputs agree with it less than `threshold` (ROUGE-L)."""
    values = [result.get("induced_rouge"), result.get("execution_rouge")]
    return any(v is not None and v < threshold for v in values)
