"""Stored records of a run, to and from JSON: an iteration's requests and candidates, seeds, verdicts and
instances."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.selfinstruct.classify import ClassificationVerdict
from core.selfinstruct.filters import (
    EVIDENCE_SIZE,
    CandidateDecision,
    Similar,
)
from core.selfinstruct.instances import InstanceDecision, TaskInstances
from core.selfinstruct.iteration import IterationRecord, process_response
from core.selfinstruct.parsing import Candidate, ParseResult
from core.selfinstruct.requests import PlannedRequest
from core.selfinstruct.sampling import PromptSample, SampledInstruction
from core.selfinstruct.spec import RunSpec, Style
from core.similarity import NoveltyIndex


def candidate_row(d: CandidateDecision) -> dict[str, Any]:
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
        # The reference's avg_similarity_score for a kept instruction, filled by EvidenceBatch.
        "avg_similarity_score": None,
        # The paper's Figure 4: the kept instruction's highest ROUGE-L against the human seeds (EvidenceBatch).
        "seed_rouge": 0.0 if d.kept else None,
        "closest_seed": None,
    }


class EvidenceBatch:
    """The reference's stored evidence for kept instructions (`most_similar`, top 10, and
    `avg_similarity_score`) and the paper's closest seed, computed for a whole iteration at once once its
    decisions are made.

    Decisions never wait for it: each is made by the novelty index's exact check, and a dropped candidate
    carries the pool instruction that exceeded the threshold (its closest). A kept one is scored against the
    pool items added before it: the pool as it stood when it was judged, so the same numbers as then."""

    def __init__(self, pool: NoveltyIndex, seed_pool: NoveltyIndex):
        self.pool = pool
        self.seed_pool = seed_pool
        self._rows: list[tuple[dict[str, Any], int]] = []
        self.filled = False

    def add(self, row: dict[str, Any], pool_index: int) -> None:
        self._rows.append((row, pool_index))

    @property
    def waiting(self) -> int:
        """Kept instructions waiting for their evidence."""
        return len(self._rows)

    def fill(self) -> None:
        self.fill_together([self])

    @staticmethod
    def fill_together(batches: list[EvidenceBatch]) -> None:
        """Fill several batches on one pool in one pass over it: a pass costs the compiled scorer about as
        much for one kept instruction as for dozens (it prepares every pool item first), so iterations that
        wait to be finished are scored together."""
        if not batches:
            return
        rows = [entry for batch in batches for entry in batch._rows]
        found = batches[0].pool.top_k_and_mean_before([pid for _, pid in rows], EVIDENCE_SIZE)
        seeds = batches[0].seed_pool.top_k_many([row["text"] for row, _ in rows], 1)
        for (row, _), (top, mean), seed in zip(rows, found, seeds, strict=True):
            row["evidence"] = [[n.text or "", float(n.score)] for n in top]
            row["avg_similarity_score"] = mean
            row["seed_rouge"] = seed[0].score if seed else 0.0
            row["closest_seed"] = (seed[0].text or "") if seed else None
        for batch in batches:
            batch._rows.clear()
            batch.filled = True


# What a record leaves to the call log when it names its call (`calltexts.restore` reads them back): all of
# these for a completion-style request; a chat request keeps its completion-form prompt, which its log entry
# (messages) does not hold.
ITERATION_LOGGED = ("prompt", "messages", "params", "response")
INSTANCES_LOGGED = ("prompt", "response")


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
    batch: EvidenceBatch | None = None,
) -> dict[str, Any]:
    """Stages 3-4 for one response: parse, filter, and add each kept instruction to `pool` before the next
    candidate is judged. Returns the request's stored record; the kept instructions' evidence is filled by
    `batch.fill()` (at once when no batch is given)."""
    # The pool's size when each candidate that reached the novelty check was judged: a kept one is added
    # next, so this is also its index in the pool.
    sizes: list[int] = []

    def similar(text: str) -> list:
        sizes.append(len(pool))
        decision = pool.check(text)  # exact; the full ranking of kept ones comes from the batch
        return [] if decision.kept else [decision.neighbour]

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
    own = batch is None
    batch = batch or EvidenceBatch(pool, seed_pool)
    candidates = []
    checked = iter(sizes)
    for d in record.decisions:
        size = None
        if d.kept or d.stage == "novelty":
            size = next(checked)
        row = candidate_row(d)
        if d.kept and size is not None:
            batch.add(row, size)
        candidates.append(row)
    if own:
        batch.fill()
    request = planned.request
    row = {
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
    if call_id is not None:
        # The call log holds the request and its answer: the record names the call instead of repeating them.
        _leave_to_log(row, ITERATION_LOGGED, request.style)
    return row


def _leave_to_log(row: dict[str, Any], names: tuple[str, ...], style: str) -> None:
    for name in names:
        if name != "prompt" or style == "completion":
            del row[name]


def instances_row(task: TaskInstances, style: Style) -> dict[str, Any]:
    """An instance generation's stored record; its prompt and raw answer are the named call's (see above)."""
    row = {
        "instruction": task.instruction,
        "is_classification": task.is_classification,
        "prompt": task.prompt,
        "response": task.response,
        "finish_reason": task.finish_reason,
        "call_id": task.call_id,
        "stray": task.stray,
        "decisions": [
            {"input": d.input, "output": d.output, "kept": d.kept, "reason": d.reason} for d in task.decisions
        ],
    }
    if task.call_id is not None:
        _leave_to_log(row, INSTANCES_LOGGED, style)
    return row


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
        # Absent from a record that names its call until `calltexts.restore` reads them from the log.
        prompt=row.get("prompt", ""),
        response=row.get("response", ""),
        finish_reason=row.get("finish_reason"),
        parse=parse,
        decisions=tuple(decisions),
        template_version=version,
        call_id=row.get("call_id"),
    )


def seed_row(task: Any) -> dict[str, Any]:
    return {
        "id": getattr(task, "id", None),
        "instruction": task.instruction,
        "is_classification": bool(getattr(task, "is_classification", False)),
        "instances": [{"input": i.input, "output": i.output} for i in getattr(task, "instances", ())],
    }


def verdict_from_row(row: Mapping[str, Any]) -> ClassificationVerdict:
    return ClassificationVerdict(row["instruction"], row["answer"], row.get("raw", ""))


def instances_from_row(row: Mapping[str, Any]) -> TaskInstances:
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
