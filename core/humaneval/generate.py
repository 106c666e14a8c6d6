"""Generating responses to the evaluation tasks: the paper-style prompt and the "generate" job's items.

The page submits these items as a run of the "generate" job kind (core/generation.py); when the run is done,
`core.store.ratings.store_generated` turns its results into responses of one model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core.datasets.records import EvalTask
from core.generation import GenerationItem, generation_params

# How the Self-Instruct predictions files prompt the models (their "prompt" field): the instruction, the
# input after a blank line, and "Output:" to cue the answer. A task without input leaves the Input line out.
EVAL_PROMPT_TEMPLATE = "{instruction}\n\nInput: {input}\nOutput:"
_INPUT_PART = "\n\nInput: {input}"

# Where a generate run records what it is for, so its results can be stored as responses later.
PARAMS_KEY = "humaneval"


def eval_prompt(instruction: str, input_: str = "") -> str:
    """The prompt for one task; surrounding whitespace is dropped, as the prediction files do."""
    template = EVAL_PROMPT_TEMPLATE if input_.strip() else EVAL_PROMPT_TEMPLATE.replace(_INPUT_PART, "")
    return template.format(instruction=instruction.strip(), input=input_.strip())


def task_prompt(task: EvalTask) -> str:
    first = task.instances[0] if task.instances else None
    return eval_prompt(task.instruction, first.input if first else "")


def generation_items(
    tasks: Iterable[EvalTask], params: Mapping[str, Any], chat: bool = False
) -> list[GenerationItem]:
    """One item per task, keyed by the task id. `chat` sends the prompt as a user message instead."""
    items = []
    for task in tasks:
        prompt = task_prompt(task)
        if chat:
            items.append(GenerationItem(key=task.id, messages=[("user", prompt)], params=dict(params)))
        else:
            items.append(GenerationItem(key=task.id, prompt=prompt, params=dict(params)))
    return items


def response_run_params(
    tasks: Iterable[EvalTask],
    model: dict[str, Any],
    set_name: str,
    label: str,
    gen: Mapping[str, Any],
    chat: bool = False,
) -> dict[str, Any]:
    """Params of a "generate" run answering `tasks`, tagged with the set and the name for its responses."""
    params = generation_params(generation_items(tasks, gen, chat), model)
    params[PARAMS_KEY] = {"set_name": set_name, "model": label}
    return params


def response_text(value: Mapping[str, Any]) -> str:
    """A stored generation result as a response: the completion after "Output:" without padding."""
    return str(value.get("text") or "").strip()
