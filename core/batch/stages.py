"""The requests a stored run's non-interactive stages will make, built exactly as the pipelines build them.

Self-Instruct: classification of every kept instruction, then instance generation (whose template depends
on the classification, so the classification answers must be in the call log first — ingest that batch,
then write this one). Instruction Induction: the induction requests, then the execution of every distinct
induced instruction and every human instruction on every held-out input (which needs the induced
instructions first). A request already answered in the call log is left out of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from core.batch.jsonl import PROVIDER, endpoint_of
from core.induction.job import execute_request, induce_request
from core.induction.postprocess import clean_instruction, group_instructions
from core.induction.spec import resolve_spec
from core.llm.settings import ModelSettings
from core.llm.types import Request, cache_key
from core.selfinstruct.classify import parse_classification
from core.selfinstruct.requests import render_request
from core.selfinstruct.spec import KIND, RunSpec, clf_key
from core.store import calls as call_log
from core.store import runs as run_store

STAGES = ("classify", "instances")
INDUCTION_STAGES = ("induce", "execute")
INDUCTION_KINDS = ("induction", "induction_benchmark")


@dataclass
class StagePlan:
    requests: list[Request] = field(default_factory=list)
    cached: int = 0  # already answered in the call log: not written
    waiting: list[str] = field(default_factory=list)  # instructions whose classification is not known yet


def _kept(results: dict) -> list[tuple[int, int, str]]:
    out = []
    for key in sorted(k for k in results if k.startswith("iter/")):
        t = int(key.split("/")[1])
        out += [(t, i, text) for i, text in enumerate(results[key].get("kept", []))]
    return out


def _check_settings(settings: ModelSettings) -> None:
    if settings.provider != "openai" or not settings.model:
        raise ValueError("batch files are for an OpenAI-compatible endpoint: name its model (and base URL)")


def selfinstruct_stage(engine: Engine, run_id: int, stage: str, settings: ModelSettings) -> StagePlan:
    """The `stage` requests for every instruction the run has kept, for the model in `settings`."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: expected {' or '.join(STAGES)}")
    _check_settings(settings)
    run = run_store.get_run(engine, run_id)
    if run is None or run.kind != KIND:
        raise ValueError(f"no Self-Instruct run {run_id}")
    spec = RunSpec.from_params(run.params)
    cfg = spec.prompt
    style = (
        spec.style
        if spec.style in ("completion", "chat")
        else ("completion" if "completion" in settings.styles else "chat")
    )
    endpoint = endpoint_of(settings.base_url)
    results = run_store.results(engine, run_id)
    plan = StagePlan()

    def key(request: Request) -> str:
        return cache_key(PROVIDER, endpoint, settings.model, request)

    for t, i, text in _kept(results):
        classify = render_request(cfg.classify_prompt(text), "classify", style, cfg, cfg.classify_decoding)
        if stage == "classify":
            request = classify
        else:
            # Every kept instruction is classified, in a classification-only run too (as in the pipeline).
            if (stored := results.get(clf_key(t, i))) is not None:
                is_clf = stored.get("answer") == "yes"
            elif (hit := call_log.find_cached(engine, key(classify))) is not None and hit.choices:
                reply = hit.choices[0]["text"]
                is_clf = parse_classification(text, reply, spec.classification_rule).is_classification
            else:
                plan.waiting.append(text)
                continue
            request = render_request(
                cfg.instance_prompt(text, is_clf), "instances", style, cfg, cfg.instance_settings(is_clf)
            )
        if call_log.find_cached(engine, key(request)) is not None:
            plan.cached += 1
        else:
            plan.requests.append(request)
    return plan


def induction_stage(engine: Engine, run_id: int, stage: str, settings: ModelSettings) -> StagePlan:
    """The `stage` requests of an induction run (one task or the 24-task benchmark) for `settings`'s model.

    The same model must induce and execute here (one batch file serves one model); a run that picks its
    instruction by search executes interactively, so only its induction is batched."""
    if stage not in INDUCTION_STAGES:
        raise ValueError(f"unknown stage {stage!r}: expected {' or '.join(INDUCTION_STAGES)}")
    _check_settings(settings)
    run = run_store.get_run(engine, run_id)
    if run is None or run.kind not in INDUCTION_KINDS:
        raise ValueError(f"no induction run {run_id}")
    params = run.params
    if stage == "execute" and params.get("search"):
        raise ValueError(f"run {run_id} chooses its instruction by search: its execution is not batched")
    if stage == "execute" and params.get("execute_model"):
        raise ValueError(f"run {run_id} executes with another model: batch its induction only")
    style = "completion" if "completion" in settings.styles else "chat"
    endpoint = endpoint_of(settings.base_url)
    names = params.get("tasks") if run.kind == "induction_benchmark" else [params.get("task")]
    results = run_store.results(engine, run_id)
    plan = StagePlan()

    def add(request: Request) -> None:
        if call_log.find_cached(engine, cache_key(PROVIDER, endpoint, settings.model, request)) is not None:
            plan.cached += 1
        else:
            plan.requests.append(request)

    for name in names or [None]:
        spec = resolve_spec(params, name)
        prefix = f"{spec.task}/" if run.kind == "induction_benchmark" else ""
        induced: list[str] = []
        for j, demos in enumerate(spec.demo_sets):
            for sample in range(spec.k):
                request = induce_request(spec, demos, sample, style)
                if stage == "induce":
                    add(request)
                elif (stored := results.get(f"{prefix}induce/{j}/{sample}")) is not None:
                    induced.append(stored["instruction"])
                else:
                    hit = call_log.find_cached(engine, cache_key(PROVIDER, endpoint, settings.model, request))
                    if hit is None or not hit.choices:
                        plan.waiting.append(f"{spec.task}: demonstration set {j}, sample {sample}")
                        continue
                    induced.append(clean_instruction(hit.choices[0]["text"]))
        if stage == "execute":
            distinct = [g.text for g in group_instructions(induced, clean=False)]
            for instruction in dict.fromkeys(distinct + list(spec.gold)):
                for test in spec.tests:
                    add(execute_request(spec, instruction, test.input, style))
    return plan
