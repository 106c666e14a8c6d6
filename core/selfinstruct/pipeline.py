"""The Self-Instruct loop as a resumable background job (kind "selfinstruct"), and a pure view of its records.

Stored results of a run:
- `seeds`: the human seed tasks the run started from, resolved once, so a resumed run samples from the same
  set even if the datasets folder changed in between;
- `iter/<t:06d>`: iteration t, stored only once its model calls have returned: for each request, the sampled
  instructions (human/machine marked), the exact prompt, the call id, the raw response, its finish_reason and
  every candidate with its decision, reason and top-10 ROUGE-L evidence;
- `clf/<t:06d>/<i>`: the classification verdict of the i-th instruction kept in iteration t;
- `inst/<t:06d>/<i>`: its generated instances with every filter decision;
- `edit/<n:06d>`: the user's edits and deletions of pool items, in order (applied by `load_run`).

Resuming never redoes a stored unit. Novelty decisions depend on the pool, so the pool is rebuilt from the
stored iterations in order (seeds, then the instructions kept by iterations 0..t-1) before iteration t runs;
sampling uses random.Random(f"{seed}/{t}") and every generation request carries a seed derived from (seed, t,
request), so a re-run of an interrupted iteration sends the same requests and the call log answers them.

A run that keeps nothing for `max_idle_iterations` iterations in a row (or gets no usable instance for
`max_idle_instances` instructions in a row) stops as failed with a "stalled: ..." reason; the streaks are
recounted from the stored records, so resuming with the same limits stops at once and a larger limit goes on.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from sqlalchemy import Engine

from core.jobs.context import Cancelled, JobContext, Stopped
from core.jobs.registry import job_kind
from core.llm import GenParams, LLMClient, Request
from core.selfinstruct.analysis import DatasetStats, length_distributions, table1_stats
from core.selfinstruct.classify import ClassificationRule, ClassificationVerdict, parse_classification
from core.selfinstruct.export import alpaca_json, chat_jsonl, finetune_jsonl, provenance_records
from core.selfinstruct.fidelity import PAPER_REQUESTS_PER_ITERATION, departures
from core.selfinstruct.filters import (
    DEFAULT_BLACKLIST,
    EVIDENCE_SIZE,
    NOVELTY_THRESHOLD,
    CandidateDecision,
    Similar,
)
from core.selfinstruct.instances import InstanceDecision, TaskInstances, build_task_instances
from core.selfinstruct.iteration import IterationRecord, process_response
from core.selfinstruct.parsing import Candidate, ParseResult
from core.selfinstruct.prompts import (
    FALLBACK_SOURCE,
    MAX_INSTANCES,
    DecodingSettings,
    PromptConfig,
    templates_label,
)
from core.selfinstruct.records import Instance, Task
from core.selfinstruct.sampling import PromptSample, SampledInstruction, sample_instructions
from core.selfinstruct.stages import Outcome, StageStream, Unit
from core.selfinstruct.templates import default_config
from core.similarity import NoveltyIndex
from core.store import runs as run_store

KIND = "selfinstruct"
MAX_IDLE = 20  # default stall limit (iterations that keep nothing in a row)
# The reference's request_batch_size: prompts per iteration, all sampled from the pool as it stood. The
# command line's and (on a real endpoint) the page's default; a RunSpec's own default stays 1, one prompt per
# step. Either way the run names a different value as a departure.
PAPER_REQUESTS = PAPER_REQUESTS_PER_ITERATION
SEED_SOURCES = ("official", "starter")  # or "upload:<file name>"
Style = Literal["completion", "chat"]


def iter_key(t: int) -> str:
    return f"iter/{t:06d}"


def clf_key(t: int, i: int) -> str:
    return f"clf/{t:06d}/{i}"


def inst_key(t: int, i: int) -> str:
    return f"inst/{t:06d}/{i}"


# --- Parameters -----------------------------------------------------------------------------------------------


def _decoding(raw: Mapping[str, Any]) -> DecodingSettings:
    return DecodingSettings(**{**raw, "stop": tuple(raw.get("stop", ()))})


def prompt_config_from_dict(raw: Mapping[str, Any] | None) -> PromptConfig:
    """The inverse of PromptConfig.to_dict (JSON turned its tuples into lists)."""
    if not raw:
        return PromptConfig()
    known = {f.name for f in fields(PromptConfig)}
    kwargs: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    for name, value in kwargs.items():
        if name.endswith("decoding") or name == "instance_decoding_classification":
            kwargs[name] = _decoding(value)
    if "chat_system" in kwargs:
        kwargs["chat_system"] = tuple(tuple(pair) for pair in kwargs["chat_system"])
    if "edited_templates" in kwargs:
        kwargs["edited_templates"] = tuple(kwargs["edited_templates"])
    return PromptConfig(**kwargs)


@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs besides its model, resolved from its stored parameters.

    The run stops when it has done `iterations` iterations or its machine pool holds `target` instructions,
    whichever comes first (at least one must be set).
    """

    seeds: str = "official"
    k_human: int = 6
    k_machine: int = 2
    classification_only: bool = False
    prompt: PromptConfig = field(default_factory=PromptConfig)
    on_length: Literal["drop_all", "drop_last"] = "drop_all"
    blacklist_extra: tuple[str, ...] = ()
    threshold: float = NOVELTY_THRESHOLD
    iterations: int | None = None
    target: int | None = None
    requests_per_iteration: int = 1
    seed: int = 0
    style: Literal["auto", "completion", "chat"] = "auto"
    classify: bool = True
    instances: bool = True
    max_instances: int = MAX_INSTANCES
    # A run stops (resumable) after this many consecutive iterations that keep no instruction, or this many
    # consecutive instructions whose instance generation keeps nothing: a model that can never reach the
    # target must not loop forever.
    max_idle_iterations: int = MAX_IDLE
    max_idle_instances: int = MAX_IDLE
    # How a classification reply is read: the reference's exact Yes/yes/YES, or the first yes/no word.
    classification_rule: ClassificationRule = "paper"
    # Classification and instances run beside the generation loop (True), or each iteration waits for its
    # own (False). Decisions, pool and stored results are the same either way; only the waiting differs.
    overlap: bool = True

    def __post_init__(self) -> None:
        if self.iterations is None and self.target is None:
            raise ValueError("a Self-Instruct run needs a number of iterations or a target pool size")
        if self.max_idle_iterations < 1 or self.max_idle_instances < 1:
            raise ValueError("max_idle_iterations and max_idle_instances must be at least 1")
        if self.requests_per_iteration < 1:
            raise ValueError("requests_per_iteration must be at least 1")
        if self.on_length not in ("drop_all", "drop_last"):
            raise ValueError(f"on_length must be 'drop_all' or 'drop_last', got {self.on_length!r}")
        if self.classification_rule not in ("paper", "lenient"):
            raise ValueError(
                f"classification_rule must be 'paper' or 'lenient', got {self.classification_rule!r}"
            )
        if self.style not in ("auto", "completion", "chat"):
            raise ValueError(f"style must be 'auto', 'completion' or 'chat', got {self.style!r}")

    @property
    def blacklist(self) -> tuple[str, ...]:
        extra = tuple(w.strip().lower() for w in self.blacklist_extra if w.strip())
        return tuple(dict.fromkeys(DEFAULT_BLACKLIST + extra))

    def goes_on(self, t: int, pool_size: int) -> bool:
        """Whether iteration t runs, given the machine pool size before it."""
        if self.iterations is not None and t >= self.iterations:
            return False
        return self.target is None or pool_size < self.target

    def to_params(self, model: Mapping[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"model": dict(model)}
        for f in fields(self):
            value = getattr(self, f.name)
            params[f.name] = list(value) if isinstance(value, tuple) else value
        params["prompt"] = self.prompt.to_dict()
        params["prompt_version"] = self.prompt.version  # so records and the page can cite it
        params["templates"] = self.prompt.templates_label  # "templates: paper" or the fallback / an edit
        params["departures"] = departures(self)  # stored, so the run says how it differs from the paper
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunSpec:
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: v for k, v in params.items() if k in known}
        kwargs["prompt"] = prompt_config_from_dict(params.get("prompt"))
        kwargs["blacklist_extra"] = tuple(params.get("blacklist_extra") or ())
        return cls(**kwargs)


def selfinstruct_params(model: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    """Stored parameters of a run: `model` is a public settings dict (never a key); options are RunSpec's.
    Without a `prompt`, the paper's templates are used when the datasets folder holds them."""
    if "prompt" not in options:
        options["prompt"] = default_config()
    return RunSpec(**options).to_params(model)


def with_decoding(
    config: PromptConfig,
    *,
    header: str | None = None,
    classification_header: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    presence_penalty: float | None = None,
    max_tokens: int | None = None,
    instance_max_tokens: int | None = None,
    clf_instance_max_tokens: int | None = None,
) -> PromptConfig:
    """The prompt configuration with the settings the page and the command line expose changed."""
    changes = {
        k: v
        for k, v in dict(
            temperature=temperature, top_p=top_p, presence_penalty=presence_penalty, max_tokens=max_tokens
        ).items()
        if v is not None
    }
    out = replace(config, instruction_decoding=replace(config.instruction_decoding, **changes))
    if header is not None:
        out = replace(out, header=header)
    if classification_header is not None:
        out = replace(out, classification_header=classification_header)
    # Instances of classification tasks and of the others have their own limits (paper: 300 and 350).
    if instance_max_tokens is not None:
        out = replace(out, instance_decoding=replace(out.instance_decoding, max_tokens=instance_max_tokens))
    if clf_instance_max_tokens is not None:
        out = replace(
            out,
            instance_decoding_classification=replace(
                out.instance_decoding_classification, max_tokens=clf_instance_max_tokens
            ),
        )
    return out


# --- Requests ---------------------------------------------------------------------------------------------------


def gen_params(decoding: DecodingSettings, seed: int | None = None, chat: bool = False) -> GenParams:
    stop = tuple(decoding.stop)
    if chat:
        # A chat reply may open with a line of its own before the list; a blank-line stop would end it there.
        stop = tuple(s for s in stop if s.strip())
    return GenParams(
        max_tokens=decoding.max_tokens,
        temperature=decoding.temperature,
        top_p=decoding.top_p,
        stop=stop,
        presence_penalty=decoding.presence_penalty,
        frequency_penalty=decoding.frequency_penalty,
        seed=seed,
    )


def render_request(
    prompt: str,
    stage: str,
    style: Style,
    config: PromptConfig,
    decoding: DecodingSettings,
    *,
    seed: int | None = None,
    sample_index: int = 0,
) -> Request:
    """The completion prompt as it is, or its chat rendering for a chat-only endpoint."""
    params = gen_params(decoding, seed, chat=style == "chat")
    if style == "completion":
        return Request(prompt=prompt, params=params, sample_index=sample_index)
    messages = tuple((m["role"], m["content"]) for m in config.chat(prompt, stage))
    return Request(messages=messages, params=params, sample_index=sample_index)


def request_seed(seed: int, t: int, j: int) -> int:
    """A decoding seed per (run seed, iteration, request): reproducible, and different requests never share
    a cache entry even when their prompts happen to be equal."""
    return zlib.crc32(f"{seed}/{t}/{j}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class PlannedRequest:
    j: int
    sample: PromptSample
    prompt: str
    request: Request


def plan_iteration(
    spec: RunSpec, seeds: Sequence[Task], machine: Sequence[Task], t: int, style: Style
) -> list[PlannedRequest]:
    """Stages 1-2 for iteration t: every request samples from the pool as it stood when the iteration began."""
    rng = random.Random(f"{spec.seed}/{t}")
    planned = []
    for j in range(spec.requests_per_iteration):
        sample = sample_instructions(
            seeds,
            machine,
            rng,
            k_human=spec.k_human,
            k_machine=spec.k_machine,
            classification_only=spec.classification_only,
        )
        prompt = spec.prompt.instruction_prompt(sample.texts, classification=spec.classification_only)
        request = render_request(
            prompt,
            "instructions",
            style,
            spec.prompt,
            spec.prompt.instruction_decoding,
            seed=request_seed(spec.seed, t, j),
            sample_index=j,
        )
        planned.append(PlannedRequest(j, sample, prompt, request))
    return planned


# --- Records: to and from JSON ----------------------------------------------------------------------------------


def _candidate_row(
    d: CandidateDecision, seed_hit: Similar | None, avg: float | None = None
) -> dict[str, Any]:
    c = d.candidate
    return {
        "position": c.position,
        "number": c.number,
        "raw": c.raw,
        "text": c.text,
        "parse_reason": c.reason,
        "kept": d.kept,
        "reason": d.reason,
        "stage": d.stage,
        "evidence": [[s.text, s.score] for s in d.evidence],
        # The reference's avg_similarity_score: mean ROUGE-L against the whole pool when it was judged.
        "avg_similarity_score": avg,
        # The paper's Figure 4: the kept instruction's highest ROUGE-L against the human seeds.
        "seed_rouge": seed_hit.score if seed_hit else (0.0 if d.kept else None),
        "closest_seed": seed_hit.text if seed_hit else None,
    }


def judge_response(
    spec: RunSpec,
    t: int,
    planned: PlannedRequest,
    text: str,
    finish_reason: str | None,
    call_id: int | None,
    style: Style,
    pool: NoveltyIndex,
    seed_pool: NoveltyIndex,
) -> dict[str, Any]:
    """Stages 3-4 for one response: parse, filter, and add each kept instruction to `pool` before the next
    candidate is judged. Returns the request's stored record."""
    means: list[float] = []  # one per candidate that reached the novelty check, in order

    def similar(text: str) -> list:
        means.append(pool.mean_score(text))  # against the pool as it stands before this candidate
        return pool.top_k(text, EVIDENCE_SIZE)

    record = process_response(
        t,
        planned.sample,
        planned.prompt,
        text,
        finish_reason,
        similar=similar,
        add=pool.add,
        mode=style,
        on_length=spec.on_length,
        blacklist=spec.blacklist,
        threshold=spec.threshold,
        template_version=spec.prompt.version,
        call_id=call_id,
    )
    candidates = []
    checked = iter(means)
    for d in record.decisions:
        hit, avg = None, None
        if d.kept or d.stage == "novelty":
            avg = next(checked)
        if d.kept:
            top = seed_pool.top_k(d.text, 1)
            hit = Similar(top[0].text or "", top[0].score) if top else None
        candidates.append(_candidate_row(d, hit, avg))
    request = planned.request
    return {
        "j": planned.j,
        "sample": [{"text": s.text, "origin": s.origin, "id": s.id} for s in planned.sample.items],
        "classification_only": planned.sample.classification_only,
        "style": request.style,
        "prompt": planned.prompt,
        "messages": request.messages_list(),
        "params": request.params.to_dict(),
        "call_id": call_id,
        "response": text,
        "finish_reason": finish_reason,
        "preamble": record.parse.preamble,
        "stray": list(record.parse.stray),
        "candidates": candidates,
    }


def iteration_record(
    t: int, requests: list[dict[str, Any]], pool_before: int, version: str
) -> dict[str, Any]:
    kept = [c["text"] for r in requests for c in r["candidates"] if c["kept"]]
    return {
        "t": t,
        "template_version": version,
        "pool_before": pool_before,
        "requests": requests,
        "kept": kept,
    }


def record_from_row(t: int, row: Mapping[str, Any], version: str = "") -> IterationRecord:
    """One stored request as the core's IterationRecord (for provenance export and the page)."""
    sample = PromptSample(
        tuple(SampledInstruction(s["text"], s["origin"], s.get("id")) for s in row["sample"]),
        bool(row.get("classification_only")),
    )
    decisions = []
    for c in row["candidates"]:
        cand = Candidate(c["position"], c["number"], c["text"], c["raw"], c.get("parse_reason"))
        evidence = tuple(Similar(text, float(score)) for text, score in c.get("evidence", ()))
        decisions.append(
            CandidateDecision(
                cand, c["kept"], c["reason"], c["stage"], evidence, c.get("avg_similarity_score")
            )
        )
    parse = ParseResult(
        tuple(d.candidate for d in decisions),
        row.get("finish_reason"),
        row.get("preamble", ""),
        tuple(row.get("stray", ())),
    )
    return IterationRecord(
        iteration=t,
        sample=sample,
        prompt=row["prompt"],
        response=row["response"],
        finish_reason=row.get("finish_reason"),
        parse=parse,
        decisions=tuple(decisions),
        template_version=version,
        call_id=row.get("call_id"),
    )


def _seed_row(task: Any) -> dict[str, Any]:
    return {
        "id": getattr(task, "id", None),
        "instruction": task.instruction,
        "is_classification": bool(getattr(task, "is_classification", False)),
        "instances": [{"input": i.input, "output": i.output} for i in getattr(task, "instances", ())],
    }


def _verdict(row: Mapping[str, Any]) -> ClassificationVerdict:
    return ClassificationVerdict(row["instruction"], row["answer"], row.get("raw", ""))


def _task_instances(row: Mapping[str, Any]) -> TaskInstances:
    return TaskInstances(
        instruction=row["instruction"],
        is_classification=row["is_classification"],
        prompt=row.get("prompt", ""),
        response=row.get("response", ""),
        finish_reason=row.get("finish_reason"),
        decisions=tuple(
            InstanceDecision(d["input"], d["output"], d["kept"], d.get("reason")) for d in row["decisions"]
        ),
        stray=row.get("stray", ""),
        call_id=row.get("call_id"),
    )


# --- The job ----------------------------------------------------------------------------------------------------


def resolve_seeds(source: str) -> list[Any]:
    """The seed tasks named by a run's `seeds` parameter (reads the datasets folder)."""
    import core.datasets as datasets

    if source == "starter":
        return datasets.starter_seed_tasks()
    if source == "official":
        if not datasets.has_official("seed_tasks"):
            raise ValueError(
                "the 175 official seed tasks are not in the datasets folder; run "
                "`python -m core.datasets download` (or import them), or choose the starter seeds"
            )
        return datasets.seed_tasks()
    if source.startswith("upload:"):
        tasks = [t for t in datasets.uploaded("seed_tasks") if t.source == source]
        if not tasks:
            raise ValueError(f"no uploaded seed file {source.removeprefix('upload:')!r}")
        return tasks
    raise ValueError(f"unknown seed source {source!r}: expected official, starter or upload:<file>")


def resolve_style(requested: str, llm: LLMClient) -> Style:
    # The paper prompts a base model with plain text; a chat-only endpoint gets the chat rendering.
    if requested in ("completion", "chat"):
        return requested  # type: ignore[return-value]
    return "completion" if llm.supports("completion") else "chat"


@dataclass
class _Loop:
    ctx: JobContext
    spec: RunSpec
    llm: LLMClient
    style: Style
    seeds: list[Task]
    pool: NoveltyIndex = field(init=False)
    seed_pool: NoveltyIndex = field(init=False)
    machine: list[Task] = field(default_factory=list)
    stages: StageStream | None = None
    idle_inst: int = 0  # the streak of kept instructions whose instance generation kept nothing

    def __post_init__(self) -> None:
        # As in the paper's classification-only run, that run's seeds are the classification seeds alone:
        # they are what it samples from and what its candidates must be novel against.
        texts = [
            s.instruction for s in self.seeds if s.is_classification or not self.spec.classification_only
        ]
        # As in the paper, a candidate must be novel against the seeds and every instruction kept so far.
        self.pool = NoveltyIndex(texts, self.spec.threshold)
        self.seed_pool = NoveltyIndex(texts, self.spec.threshold)

    def report(self, t: int, message: str) -> None:
        """Progress in pool size towards a target, else in iterations, with the throughput achieved; raises
        Cancelled when asked to stop."""
        if self.spec.target is not None:
            done, total = min(len(self.machine), self.spec.target), self.spec.target
        else:
            done, total = t, self.spec.iterations or 0
        if self.stages is not None and self.stages.pending:
            message += f" · {self.stages.pending} kept instructions in classification/instances"
        # Throughput first: a narrow progress bar (the command line's) still shows it.
        rates = self.llm.rates().label()
        self.ctx.progress(done, total, f"pool {len(self.machine)} · {rates} · {message}")

    def absorb(self, t: int, kept: list[str]) -> None:
        self.machine += [Task(text, id=f"{t}/{i}") for i, text in enumerate(kept)]

    def rebuild(self, stored: dict[str, Any], upto: int) -> None:
        """The pool from the stored iterations before `upto` (used when another worker stored first)."""
        self.__post_init__()
        self.machine = []
        for t in range(upto):
            kept = stored[iter_key(t)]["kept"]
            for text in kept:
                self.pool.add(text)
            self.absorb(t, kept)

    def iteration(self, t: int) -> dict[str, Any]:
        planned = plan_iteration(self.spec, self.seeds, self.machine, t, self.style)
        answers: dict[int, Any] = {}
        # The first request's response is streamed to the run's live text, for the page to show as it grows.
        stream = lambda i, text: self.ctx.live(text) if i == 0 else None  # noqa: E731
        # Urgent: the next novelty decisions wait for these, while classification and instances can queue.
        requests = (p.request for p in planned)
        for index, response in self.llm.generate_many(requests, on_text=stream, urgent=True):
            answers[index] = response
        self.ctx.live(None)
        requests = [
            judge_response(
                self.spec,
                t,
                p,
                answers[p.j].text,
                answers[p.j].finish_reason,
                answers[p.j].call_id,
                self.style,
                self.pool,
                self.seed_pool,
            )
            for p in planned
        ]
        return iteration_record(t, requests, len(self.machine), self.spec.prompt.version)

    # --- the overlapped stages: one kept instruction at a time, on the stage stream's threads ---------------

    def _stored(self, key: str) -> dict[str, Any] | None:
        # Exactly this key: a prefix query for "clf/000001/1" would also return ".../10".
        return self.ctx.results(key).get(key)

    def classify_one(self, unit: Unit) -> bool:
        """Whether the unit's instruction is a classification task, asking the model if not stored yet.

        Every kept instruction is classified, in a classification-only run too (as the paper did): asking
        for classification tasks does not make every answer one."""
        key = clf_key(unit.t, unit.i)
        if self.ctx.done(key):
            row = self._stored(key)
            return bool(row) and row.get("answer") == "yes"
        cfg = self.spec.prompt
        prompt = cfg.classify_prompt(unit.instruction)
        response = self.llm.generate(
            render_request(prompt, "classify", self.style, cfg, cfg.classify_decoding)
        )
        verdict = parse_classification(unit.instruction, response.text, self.spec.classification_rule)
        row = {
            "instruction": unit.instruction,
            "answer": verdict.answer,
            "raw": verdict.raw,
            "prompt": prompt,
            "call_id": response.call_id,
        }
        self.ctx.save(key, row)
        return verdict.answer == "yes"

    def instances_one(self, unit: Unit, is_clf: bool) -> bool:
        """Generate and store the unit's instances; returns whether any was kept."""
        key = inst_key(unit.t, unit.i)
        if self.ctx.done(key):
            return _kept_any(self._stored(key))
        cfg = self.spec.prompt
        prompt = cfg.instance_prompt(unit.instruction, is_clf)
        request = render_request(prompt, "instances", self.style, cfg, cfg.instance_settings(is_clf))
        response = self.llm.generate(request)
        task = build_task_instances(
            unit.instruction,
            is_clf,
            response.text,
            response.finish_reason,
            prompt=prompt,
            call_id=response.call_id,
            max_instances=self.spec.max_instances,
            rng=random.Random(f"{self.spec.seed}/{unit.t}/{unit.i}/instances"),
        )
        row = {
            "instruction": task.instruction,
            "is_classification": task.is_classification,
            "prompt": task.prompt,
            "response": task.response,
            "finish_reason": task.finish_reason,
            "call_id": task.call_id,
            "stray": task.stray,
            "decisions": [
                {"input": d.input, "output": d.output, "kept": d.kept, "reason": d.reason}
                for d in task.decisions
            ],
        }
        self.ctx.save(key, row)
        return _kept_any(row)

    def stage_unit(self, unit: Unit) -> Outcome:
        is_clf = self.classify_one(unit)
        return self.instances_one(unit, is_clf) if self.spec.instances else None

    def _stopping(self) -> None:
        if self.ctx.stop.is_set():
            raise Cancelled()

    def start_stages(self) -> None:
        if not (self.spec.classify or self.spec.instances):
            return
        workers = self.llm.limit.maximum
        # An iteration's generation requests always find a place: the stages fill the rest of the budget.
        self.llm.limit.reserve(self.spec.requests_per_iteration)
        # Room for a few iterations' worth of instructions: enough to keep the budget full while the loop
        # judges, little enough that a stalled instance stage is noticed soon.
        self.stages = StageStream(
            self.stage_unit, workers, backlog=max(4 * workers, 32), stopped=self._stopping
        )

    def queue_stages(self, t: int, kept: list[str]) -> None:
        """Hand iteration t's kept instructions to the stage stream; units stored already are not redone."""
        if self.stages is None or not kept:
            return
        needs = [clf_key(t, i) for i in range(len(kept))]
        if self.spec.instances:
            needs += [inst_key(t, i) for i in range(len(kept))]
        if all(self.ctx.done(k) for k in needs):
            # A resumed iteration done before: one read for all its outcomes, none of them redone.
            stored = self.ctx.results(f"inst/{t:06d}/") if self.spec.instances else {}
            for i, text in enumerate(kept):
                outcome = _kept_any(stored.get(inst_key(t, i))) if self.spec.instances else None
                self.stages.known(Unit(t, i, text), outcome)
            return
        for i, text in enumerate(kept):
            self.stages.submit(Unit(t, i, text))

    def count_idle_instances(self) -> None:
        """Advance the stall streak over the units finished so far, in the order they were kept."""
        if self.stages is None:
            return
        for outcome in self.stages.outcomes():
            if outcome is not None:
                self.idle_inst = 0 if outcome else self.idle_inst + 1
            if self.idle_inst >= self.spec.max_idle_instances:
                return  # the stall stop: counted as a sequential run counts it, whatever finished after

    def finish_stages(self, t: int) -> None:
        """Wait for the stages of every instruction handed over so far, reporting (and noticing a cancel)."""
        if self.stages is None:
            return
        while not self.stages.wait(timeout=1.0):
            self.report(t, "finishing classification and instances")
        self.count_idle_instances()

    def run(self) -> None:
        self.start_stages()
        try:
            self.generate_all()
        finally:
            if self.stages is not None:
                # On a stop or failure: units already at the model finish and are stored; none is started.
                self.stages.close()

    def generate_all(self) -> None:
        stored = self.ctx.results("iter/")
        t = 0
        idle = 0  # both streaks are recounted from the stored records on every resume
        while self.spec.goes_on(t, len(self.machine)):
            if not self.spec.overlap:
                # Sequential: this iteration starts once the previous one's stages have all finished.
                self.finish_stages(t)
            if self.stages is not None:
                self.stages.check()
            self.count_idle_instances()
            if idle >= self.spec.max_idle_iterations:
                raise Stopped(stall_message("iterations", idle, self.spec.max_idle_iterations))
            if self.idle_inst >= self.spec.max_idle_instances:
                raise Stopped(stall_message("instances", self.idle_inst, self.spec.max_idle_instances))
            key = iter_key(t)
            record = stored.get(key)
            if record is None:
                self.report(t, f"iteration {t}: generating")
                record = self.iteration(t)
                if not self.ctx.save(key, record):
                    # Another worker stored this iteration first: its record is the one that counts.
                    stored = self.ctx.results("iter/")
                    record = stored[key]
                    self.rebuild(stored, t)
                    for text in record["kept"]:
                        self.pool.add(text)
            else:
                for text in record["kept"]:
                    self.pool.add(text)
            kept = record["kept"]
            self.absorb(t, kept)
            self.queue_stages(t, kept)
            self.report(t + 1, f"iteration {t}: kept {len(kept)}")
            idle = 0 if kept else idle + 1
            t += 1
        self.finish_stages(t)
        self.report(t, f"finished after {t} iterations")


def _kept_any(row: Mapping[str, Any] | None) -> bool:
    return bool(row) and any(d.get("kept") for d in row.get("decisions", ()))


STALL_PREFIX = "stalled: "


def stall_message(what: str, streak: int, limit: int) -> str:
    """The reason a stalled run stopped, naming the limit to raise when resuming."""
    if what == "iterations":
        return (
            f"{STALL_PREFIX}{streak} iterations in a row kept no new instruction (limit {limit}); "
            "the model may be unable to produce novel instructions. Resume with a larger "
            "max idle iterations (--max-idle-iterations) to go on."
        )
    return (
        f"{STALL_PREFIX}{streak} instructions in a row got no usable instance (limit {limit}). Resume with a "
        "larger max idle instances (--max-idle-instances) to go on."
    )


@job_kind(KIND)
def run_selfinstruct(ctx: JobContext) -> None:
    spec = RunSpec.from_params(ctx.params)
    if not ctx.done("seeds"):
        ctx.save("seeds", [_seed_row(s) for s in resolve_seeds(spec.seeds)])
    seeds = [Task.from_dict(r) for r in ctx.results("seeds")["seeds"]]
    llm = ctx.llm()
    _Loop(ctx, spec, llm, resolve_style(spec.style, llm), seeds).run()


def _change_stopped_run(engine: Engine, run_id: int, changes: Mapping[str, Any]) -> None:
    """Change a stopped run's parameters, validated before they are stored; resume or requeue it after."""
    run = run_store.get_run(engine, run_id)
    if run is None:
        raise KeyError(f"no run {run_id}")
    if run.status in run_store.ACTIVE:
        raise ValueError(f"run {run_id} is {run.status}; wait for it to stop first")
    params = {**run.params, **changes}
    RunSpec.from_params(params)
    run_store.update_run(engine, run_id, params=params)


def set_idle_limits(
    engine: Engine, run_id: int, *, iterations: int | None = None, instances: int | None = None
) -> None:
    """Raise (or set) a stopped run's stall limits before resuming it."""
    changes = {"max_idle_iterations": iterations, "max_idle_instances": instances}
    _change_stopped_run(engine, run_id, {k: v for k, v in changes.items() if v is not None})


def extend_run(
    engine: Engine, run_id: int, *, iterations: int | None = None, target: int | None = None
) -> None:
    """Give a stopped run a new stopping point (step mode: one more iteration); requeue it afterwards."""
    _change_stopped_run(engine, run_id, {"iterations": iterations, "target": target})


def record_edit(
    engine: Engine, run_id: int, item: str, op: Literal["edit", "delete", "restore"], instruction: str = ""
) -> str:
    """Append a user's change of a pool item ("t/i") to the run's edit log; returns the key it got."""
    if op not in ("edit", "delete", "restore"):
        raise ValueError(f"unknown edit operation {op!r}")
    if op == "edit" and not instruction.strip():
        raise ValueError("an edited instruction cannot be empty")
    n = len(run_store.results(engine, run_id, "edit/"))
    value = {"op": op, "item": item, "instruction": instruction.strip() if op == "edit" else None}
    while not run_store.save_result(engine, run_id, f"edit/{n:06d}", value):
        n += 1  # someone else logged an edit at the same moment
    return f"edit/{n:06d}"


# --- The view: one reading of the stored records for the page and the command line -----------------------------


@dataclass
class PoolItem:
    """A machine-generated instruction, as kept by iteration t (i-th of that iteration), after the edit log."""

    t: int
    i: int
    original: str
    instruction: str
    deleted: bool = False
    verdict: ClassificationVerdict | None = None
    instances: TaskInstances | None = None
    seed_rouge: float | None = None
    closest_seed: str | None = None

    @property
    def key(self) -> str:
        return f"{self.t}/{self.i}"

    @property
    def edited(self) -> bool:
        return self.instruction != self.original

    @property
    def is_classification(self) -> bool | None:
        return None if self.verdict is None else self.verdict.is_classification

    def to_task(self) -> Task:
        kept = self.instances.kept if self.instances is not None else ()
        return Task(
            self.instruction,
            tuple(Instance(x.input, x.output) for x in kept),
            self.is_classification,
            self.key,
        )


@dataclass
class IterationView:
    t: int
    records: list[IterationRecord]
    kept: list[str]
    pool_before: int
    raw: dict[str, Any]

    @property
    def decisions(self) -> list[CandidateDecision]:
        return [d for r in self.records for d in r.decisions]

    @property
    def pool_after(self) -> int:
        return self.pool_before + len(self.kept)


@dataclass
class RunView:
    params: dict[str, Any]
    seeds: list[Task]
    iterations: list[IterationView]
    items: list[PoolItem]
    edits: list[dict[str, Any]]
    missing: list[int]  # iteration numbers absent below the last stored one (should always be empty)

    @property
    def pool(self) -> list[PoolItem]:
        return [item for item in self.items if not item.deleted]

    @property
    def tasks(self) -> list[Task]:
        return [item.to_task() for item in self.pool]

    def item(self, key: str) -> PoolItem | None:
        return next((x for x in self.items if x.key == key), None)

    @property
    def n_candidates(self) -> int:
        return sum(len(it.decisions) for it in self.iterations)

    @property
    def n_kept(self) -> int:
        return sum(len(it.kept) for it in self.iterations)

    def counts_by_reason(self) -> Counter:
        """Candidates by outcome: "kept" or the reason code they were dropped for."""
        return Counter("kept" if d.kept else d.code for it in self.iterations for d in it.decisions)

    def by_iteration(self) -> list[dict[str, Any]]:
        """One row per iteration: pool size after it and its candidates by outcome, for the run charts."""
        rows = []
        for it in self.iterations:
            counts = Counter("kept" if d.kept else d.code for d in it.decisions)
            rows.append({"iteration": it.t, "pool": it.pool_after, **counts})
        return rows

    def seed_rouge(self) -> list[float]:
        """Figure 4: each kept instruction's highest ROUGE-L against a seed instruction."""
        return [x.seed_rouge for x in self.items if x.seed_rouge is not None]

    def stats(self) -> DatasetStats:
        return table1_stats(self.tasks)

    def lengths(self) -> dict[str, list[int]]:
        return length_distributions(self.tasks)


def _key_parts(key: str) -> tuple[int, ...]:
    return tuple(int(p) for p in key.split("/")[1:])


def load_run(results: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> RunView:
    """Read a run's stored results (as run_store.results gives them) into one view. Pure: no database."""
    seeds = [Task.from_dict(r) for r in results.get("seeds", [])]
    iterations: list[IterationView] = []
    items: list[PoolItem] = []
    by_key: dict[str, PoolItem] = {}
    for key in sorted(k for k in results if k.startswith("iter/")):
        raw = results[key]
        (t,) = _key_parts(key)
        version = raw.get("template_version", "")
        records = [record_from_row(t, row, version) for row in raw["requests"]]
        iterations.append(IterationView(t, records, list(raw["kept"]), raw.get("pool_before", 0), raw))
        kept_rows = [c for row in raw["requests"] for c in row["candidates"] if c["kept"]]
        for i, c in enumerate(kept_rows):
            item = PoolItem(
                t, i, c["text"], c["text"], seed_rouge=c.get("seed_rouge"), closest_seed=c.get("closest_seed")
            )
            items.append(item)
            by_key[item.key] = item
    for key, value in results.items():
        if key.startswith(("clf/", "inst/")):
            t, i = _key_parts(key)
            item = by_key.get(f"{t}/{i}")
            if item is None:
                continue
            if key.startswith("clf/"):
                item.verdict = _verdict(value)
            else:
                item.instances = _task_instances(value)
    edits = [results[k] for k in sorted(k for k in results if k.startswith("edit/"))]
    for edit in edits:
        item = by_key.get(edit.get("item", ""))
        if item is None:
            continue
        if edit["op"] == "edit":
            item.instruction = edit["instruction"]
        else:
            item.deleted = edit["op"] == "delete"
    seen = {it.t for it in iterations}
    missing = [t for t in range(max(seen, default=-1) + 1) if t not in seen]
    return RunView(dict(params or {}), seeds, iterations, items, edits, missing)


# --- Export -------------------------------------------------------------------------------------------------------

EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "alpaca": ("selfinstruct_alpaca.json", "application/json"),
    "finetune": ("selfinstruct_finetune.jsonl", "application/jsonl"),
    "chat": ("selfinstruct_chat.jsonl", "application/jsonl"),
    "provenance": ("selfinstruct_provenance.jsonl", "application/jsonl"),
}


def export_label(view: RunView) -> str:
    """How the run's prompts were made, for an export's header row or message: its templates' source."""
    return view.params.get("templates") or templates_label(
        (view.params.get("prompt") or {}).get("template_source", FALLBACK_SOURCE),
        (view.params.get("prompt") or {}).get("edited_templates", ()),
    )


def stored_departures(params: Mapping[str, Any]) -> list[str] | None:
    """The run's departures from the paper as stored with it, or worked out from its parameters for a run
    stored before they were; None when the parameters do not describe a run."""
    if "departures" in params:
        return list(params["departures"])
    try:
        return departures(RunSpec.from_params(params))
    except (TypeError, ValueError):
        return None


def export_run(
    view: RunView, fmt: str, seed: int | None = None, *, include_seed_tasks: bool | None = None
) -> str:
    """The dataset in one of EXPORT_FORMATS; the pool after edits and deletions. Provenance keeps every
    candidate, call and verdict, the original instructions, and the edit log as "edit" rows, after a "run"
    row naming the run's templates. `include_seed_tasks` (fine-tuning only, on by default as in the paper's
    script) appends the run's seed tasks' instances after the generated ones."""
    if fmt == "alpaca":
        return alpaca_json(view.tasks)
    if fmt == "finetune":
        seed = view.params.get("seed", 0) if seed is None else seed
        tasks = view.tasks
        if include_seed_tasks is None or include_seed_tasks:
            tasks = tasks + view.seeds
        return finetune_jsonl(tasks, random.Random(f"{seed}/finetune"))
    if fmt == "chat":
        return chat_jsonl(view.tasks)
    if fmt == "provenance":
        records = [r for it in view.iterations for r in it.records]
        verdicts = [x.verdict for x in view.items if x.verdict is not None]
        instances = [x.instances for x in view.items if x.instances is not None]
        head = {
            "kind": "run",
            "templates": export_label(view),
            "prompt_version": view.params.get("prompt_version"),
            "departures": stored_departures(view.params),
        }
        rows = [head, *provenance_records(records, verdicts, instances)]
        rows += [{"kind": "edit", **edit} for edit in view.edits]
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")


# --- Cost estimate ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostEstimate:
    iterations: int
    calls: int
    prompt_tokens: int
    completion_tokens: int


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)  # a rough English average; real counts come back in the call log


def estimate_cost(
    spec: RunSpec, seeds: Sequence[Any], pool_now: int = 0, kept_per_request: float = 2.0
) -> CostEstimate:
    """An upper-bound-ish guess before a run: each response at its token limit and `kept_per_request` new
    instructions per request (the embedded model keeps fewer; a strong model more)."""
    per_iteration_kept = max(kept_per_request * spec.requests_per_iteration, 1e-9)
    n = spec.iterations if spec.iterations is not None else 10**9
    if spec.target is not None:
        n = min(n, math.ceil(max(spec.target - pool_now, 0) / per_iteration_kept))
    texts = [s.instruction for s in seeds][: spec.k_human + spec.k_machine] or ["An instruction."]
    gen_prompt = _tokens(spec.prompt.instruction_prompt(texts, spec.classification_only))
    kept = n * per_iteration_kept
    calls = n * spec.requests_per_iteration
    prompt_tokens = calls * gen_prompt
    completion = calls * spec.prompt.instruction_decoding.max_tokens
    if spec.classify or spec.instances:
        calls += math.ceil(kept)
        prompt_tokens += math.ceil(kept * _tokens(spec.prompt.classify_prompt(texts[0])))
        completion += math.ceil(kept * spec.prompt.classify_decoding.max_tokens)
    if spec.instances:
        calls += math.ceil(kept)
        prompt_tokens += math.ceil(kept * _tokens(spec.prompt.instance_prompt(texts[0], False)))
        completion += math.ceil(kept * spec.prompt.instance_decoding.max_tokens)
    return CostEstimate(n, calls, prompt_tokens, completion)
