"""The requests a stored run's non-interactive stages will make, built exactly as the pipelines build them.

Self-Instruct: classification of every kept instruction, then instance generation (whose template depends
on the classification, so the classification answers must be in the call log first — ingest that batch,
then write this one). A request already answered in the call log is left out of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from core.batch.jsonl import PROVIDER, endpoint_of
from core.llm.settings import ModelSettings
from core.llm.types import Request, cache_key
from core.selfinstruct.classify import parse_classification
from core.selfinstruct.pipeline import KIND, RunSpec, clf_key, render_request
from core.store import calls as call_log
from core.store import runs as run_store

STAGES = ("classify", "instances")


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


def selfinstruct_stage(engine: Engine, run_id: int, stage: str, settings: ModelSettings) -> StagePlan:
    """The `stage` requests for every instruction the run has kept, for the model in `settings`."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: expected {' or '.join(STAGES)}")
    if settings.provider != "openai" or not settings.model:
        raise ValueError("batch files are for an OpenAI-compatible endpoint: name its model (and base URL)")
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
            if spec.classification_only:
                is_clf = True
            elif (stored := results.get(clf_key(t, i))) is not None:
                is_clf = stored.get("answer") == "yes"
            elif (hit := call_log.find_cached(engine, key(classify))) is not None and hit.choices:
                is_clf = parse_classification(text, hit.choices[0]["text"]).is_classification
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
