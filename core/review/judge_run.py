"""A judge run: a background job ("judge") that asks a model to rate items, one stored result per item.

The run's params hold everything that decides its results: the target, the prompt template as the user left
it, the request style, the model (without its key) and the items with their text, so a stored run can be read
and resumed without looking anything up again. Each call goes through the run's LLMClient (logged, cached).
Results are keyed by item id; a resumed run skips the items it already has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.humaneval.records import Rating
from core.induction.cost import estimate_tokens
from core.jobs.context import JobContext
from core.jobs.registry import job_kind
from core.llm import GenParams, Request
from core.review.judge import DEFAULT_TEMPLATES, JudgePrompt, parse_quality, parse_rating
from core.review.records import ReviewItem
from core.store import calls as call_log

KIND = "judge"
MAX_TOKENS = {"rating": 8, "quality": 16}
JUDGE_PREFIX = "judge:"


def judge_rater(model_label: str) -> str:
    """The rater name a judge's ratings carry: never a person's name, so never mixed with theirs."""
    return f"{JUDGE_PREFIX}{model_label}"


@dataclass(frozen=True)
class JudgeItem:
    key: str  # the item id its human labels use
    values: dict[str, str]  # the template's placeholders
    meta: dict[str, str] = field(default_factory=dict)  # task_id, model: stored with the result


def rating_items(responses: Iterable[Any]) -> list[JudgeItem]:
    """Judge items for model responses (core.humaneval.records.ResponseItem)."""
    return [
        JudgeItem(
            r.item_id,
            {"instruction": r.instruction, "input": r.input, "response": r.response},
            {"task_id": r.task_id, "model": r.model},
        )
        for r in responses
    ]


def quality_items(items: Iterable[ReviewItem]) -> list[JudgeItem]:
    return [
        JudgeItem(
            i.item_id,
            {"instruction": i.instruction, "input": i.input, "output": i.output},
            {"task_id": i.task_id},
        )
        for i in items
    ]


def judge_params(
    target: str,
    items: list[JudgeItem],
    model: Mapping[str, Any],
    chat: bool,
    template: str | None = None,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    prompt = JudgePrompt(target, template if template is not None else DEFAULT_TEMPLATES[target])
    return {
        "target": target,
        "template": prompt.template,
        "default_template": prompt.template == DEFAULT_TEMPLATES[target],
        "chat": chat,
        "max_tokens": MAX_TOKENS[target],
        "model": dict(model),
        "source": dict(source or {}),
        "items": [{"key": i.key, "values": i.values, "meta": i.meta} for i in items],
    }


def _items(params: Mapping[str, Any]) -> list[JudgeItem]:
    return [JudgeItem(raw["key"], raw["values"], raw.get("meta", {})) for raw in params["items"]]


def request_for(prompt: JudgePrompt, item: JudgeItem, chat: bool, max_tokens: int) -> Request:
    params = GenParams(max_tokens=max_tokens, temperature=0.0)
    if chat:
        return Request(messages=(("user", prompt.chat_prompt(item.values)),), params=params)
    return Request(prompt=prompt.completion_prompt(item.values), params=params)


def read_reply(prompt: JudgePrompt, reply: str, chat: bool) -> dict[str, Any]:
    """What is stored for one reply: the reply whole, and the parsed answer or None (unparseable)."""
    text = prompt.reply_text(reply, chat)
    if prompt.target == "rating":
        label = parse_rating(text)
        return {"reply": reply, "label": label, "parsed": label is not None}
    answers = parse_quality(text)
    return {"reply": reply, "answers": answers, "parsed": answers is not None}


@job_kind(KIND)
def run_judge(ctx: JobContext) -> None:
    p = ctx.params
    prompt = JudgePrompt(p["target"], p["template"])
    items = _items(p)
    todo = [item for item in items if not ctx.done(item.key)]
    done = len(items) - len(todo)
    ctx.progress(done, len(items), "judging")
    llm = ctx.llm()
    requests = (request_for(prompt, item, p["chat"], p["max_tokens"]) for item in todo)
    for index, response in llm.generate_many(requests):
        item = todo[index]
        ctx.save(
            item.key,
            {**read_reply(prompt, response.text, p["chat"]), **item.meta, "call_id": response.call_id},
        )
        done += 1
        ctx.progress(done, len(items), f"judged {done} of {len(items)}")


# --- Reading a run's results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeSummary:
    total: int  # items in the run
    judged: int  # items with a stored reply
    unparseable: int


def summary(params: Mapping[str, Any], results: Mapping[str, Any]) -> JudgeSummary:
    keys = [raw["key"] for raw in params["items"]]
    stored = [results[k] for k in keys if k in results]
    return JudgeSummary(len(keys), len(stored), sum(1 for v in stored if not v.get("parsed")))


def judge_ratings(results: Mapping[str, Any], rater: str) -> list[Rating]:
    """A rating run's parsed labels as Ratings of one separate rater (unparseable replies left out)."""
    return [
        Rating(v["task_id"], v["model"], rater, v["label"])
        for v in results.values()
        if v.get("parsed") and v.get("label")
    ]


def judge_answers(results: Mapping[str, Any]) -> dict[str, dict[str, bool]]:
    """A quality run's parsed answers by review item id."""
    return {key: v["answers"] for key, v in results.items() if v.get("parsed")}


@dataclass(frozen=True)
class JudgeCost:
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # None when the model has no price


def estimate(
    params: Mapping[str, Any], done: Iterable[str], prices: Mapping[str, tuple[float, float]], model: str
) -> JudgeCost:
    """Upper bound for what is left to do: the call cache can only lower it."""
    prompt = JudgePrompt(params["target"], params["template"])
    skip = set(done)
    todo = [i for i in _items(params) if i.key not in skip]
    tokens = sum(
        estimate_tokens(
            prompt.chat_prompt(i.values) if params["chat"] else prompt.completion_prompt(i.values)
        )
        for i in todo
    )
    completion = params["max_tokens"] * len(todo)
    return JudgeCost(
        len(todo), tokens, completion, call_log.estimate_cost(dict(prices), model, tokens, completion)
    )
