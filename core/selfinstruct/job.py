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

import random
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine

from core.jobs.context import Cancelled, JobContext, Stopped
from core.jobs.registry import job_kind
from core.llm import LLMClient, Request, Response
from core.selfinstruct import index as page_index
from core.selfinstruct import stage_process
from core.selfinstruct.classify import parse_classification
from core.selfinstruct.instances import build_task_instances
from core.selfinstruct.records import Task
from core.selfinstruct.requests import PlannedRequest, plan_iteration, render_request
from core.selfinstruct.rows import EvidenceBatch, instances_row, iteration_record, judge_response, seed_row
from core.selfinstruct.spec import KIND, RunSpec, Style, clf_key, inst_key, iter_key
from core.selfinstruct.stages import Outcome, SharedLookUp, StageStream, ThreadUnits, Unit
from core.similarity import NoveltyIndex
from core.store import runs as run_store

# How many iterations handed to the finisher may wait to be finished (evidence, store, stages) while the loop
# judges the next, and how many it may hold before handing them over: enough for the finisher to score a few
# iterations' evidence in one pass.
FINISH_LAG = 8
# While iterations are judged faster than one per HOLD_S, they are handed to the finisher once their kept
# instructions number EVIDENCE_BATCH (or FINISH_LAG iterations are held): each pass of the compiled scorer
# first prepares every pool item while holding the interpreter, which the judging thread then waits for, and
# late in a 52K run an iteration keeps two or three. Slower iterations (a real model) go at once: a record
# is stored as soon as it can be, and the scorer's passes are then a small part of the time.
EVIDENCE_BATCH = 16
HOLD_S = 0.1


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
    # Pool size after each iteration absorbed so far (the lookahead option samples from an older pool).
    sizes: list[int] = field(default_factory=list)
    stages: StageStream | None = None
    # With lookahead: the iterations whose generation requests are at the model already.
    ahead: dict[int, tuple[list[PlannedRequest], list[Future[Response]]]] = field(default_factory=dict)
    ahead_pool: ThreadPoolExecutor | None = None
    idle_inst: int = 0  # the streak of kept instructions whose instance generation kept nothing
    # The iterations judged last, being finished (evidence, store, stages, page index) in order on
    # `finisher` while the next iteration's requests are at the model: (t, whether it was stored first).
    finishing: deque[tuple[int, Future[bool]]] = field(default_factory=deque)
    # Judged iterations not handed to the finisher yet (see EVIDENCE_BATCH), in order.
    held: list[tuple[int, dict[str, Any], EvidenceBatch]] = field(default_factory=list)
    judged_at: float = float("-inf")  # when the last iteration was judged (time.monotonic)
    finisher: ThreadPoolExecutor | None = None
    # The evidence of the iterations handed over and not filled yet: the finisher fills every batch waiting
    # here in one pass.
    unfilled: deque[EvidenceBatch] = field(default_factory=deque)
    # A record of ours another worker stored first: the finisher stores none after it (they built on it).
    lost: bool = False
    # Records this run stored and the page's index has not folded in yet (it takes them from here).
    unindexed: page_index.Unindexed = field(default_factory=page_index.Unindexed)

    def __post_init__(self) -> None:
        # As in the paper's classification-only run, that run's seeds are the classification seeds alone:
        # they are what it samples from and what its candidates must be novel against.
        texts = [
            s.instruction for s in self.seeds if s.is_classification or not self.spec.classification_only
        ]
        # As in the paper, a candidate must be novel against the seeds and every instruction kept so far.
        self.pool = NoveltyIndex(texts, self.spec.threshold)
        self.seed_pool = NoveltyIndex(texts, self.spec.threshold)

    def save(self, key: str, value: dict[str, Any]) -> bool:
        """Store a record (False: another worker stored this key first) and keep it for the index."""
        result_id = self.ctx.store(key, value)
        if result_id is not None:
            self.unindexed.add(result_id, key, value)
        return result_id is not None

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
        rates = self.llm.rates()
        if self.stages is not None and (elsewhere := self.stages.executor.rates()) is not None:
            rates = rates + elsewhere  # the stage worker process's requests
        rates = rates.label()
        self.ctx.progress(done, total, f"pool {len(self.machine)} · {rates} · {message}")

    def absorb(self, t: int, kept: list[str]) -> None:
        self.machine += [Task(text, id=f"{t}/{i}") for i, text in enumerate(kept)]
        self.sizes.append(len(self.machine))

    def machine_for(self, t: int) -> Sequence[Task]:
        """The machine pool iteration t samples from: as it stands (the paper), or with lookahead d as it
        stood after iteration t-1-d, so that t's prompts can be built before t-1..t-d are judged. A function
        of t alone: a resumed run builds the same prompts."""
        d = self.spec.lookahead
        if not d:
            return self.machine
        before = t - 1 - d
        return self.machine[: self.sizes[before]] if before >= 0 else []

    def rebuild(self, stored: dict[str, Any], upto: int) -> None:
        """The pool from the stored iterations before `upto` (used when another worker stored first)."""
        self.__post_init__()
        self.machine = []
        self.sizes = []
        self.ahead.clear()  # planned from a pool that was not the stored one; their answers stay cached
        for t in range(upto):
            kept = stored[iter_key(t)]["kept"]
            for text in kept:
                self.pool.add(text)
            self.absorb(t, kept)

    def _send_ahead(self, t: int) -> None:
        """Plan iteration t and send its generation requests now (lookahead); answers are read in `iteration`."""
        if self.ahead_pool is None:
            workers = self.spec.requests_per_iteration * (self.spec.lookahead + 1)
            self.ahead_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="si-ahead")
        planned = plan_iteration(self.spec, self.seeds, self.machine_for(t), t, self.style)
        futures = [self.ahead_pool.submit(self._ask_urgent, p.request) for p in planned]
        self.ahead[t] = (planned, futures)

    def _ask_urgent(self, request: Request) -> Response:
        return self.llm.generate(request, urgent=True)

    def _answers_ahead(self, t: int) -> tuple[list[PlannedRequest], dict[int, Response]]:
        if t not in self.ahead:
            self._send_ahead(t)
        # The next iterations' requests go out before this one is judged: the endpoint never waits for it.
        for later in range(t + 1, t + 1 + self.spec.lookahead):
            last = self.spec.iterations is None or later < self.spec.iterations
            if later not in self.ahead and last and not self.ctx.done(iter_key(later)):
                self._send_ahead(later)
        planned, futures = self.ahead.pop(t)
        # A failed request raises here; the others go on and are logged (hence cached for a resume).
        return planned, {p.j: f.result() for p, f in zip(planned, futures, strict=True)}

    def close_ahead(self) -> None:
        if self.ahead_pool is not None:
            self.ahead_pool.shutdown(wait=True, cancel_futures=True)

    def iteration(self, t: int) -> tuple[dict[str, Any], EvidenceBatch]:
        """Iteration t's record, its decisions made and its evidence still to fill (`finish_later`)."""
        if self.spec.lookahead:
            # No live text here: requests of several iterations are in flight at once.
            planned, answers = self._answers_ahead(t)
            return self._judge(t, planned, answers.items())
        planned = plan_iteration(self.spec, self.seeds, self.machine, t, self.style)
        # The first request's response is streamed to the run's live text, for the page to show as it grows.
        stream = lambda i, text: self.ctx.live(text) if i == 0 else None  # noqa: E731
        # Urgent: the next novelty decisions wait for these, while classification and instances can queue.
        requests = (p.request for p in planned)
        answers = self.llm.generate_many(requests, on_text=stream, urgent=True, streamed=lambda i: i == 0)
        with closing(answers):  # left early (a failure): the requests in flight finish and are logged
            judged = self._judge(t, planned, answers)
        self.ctx.live(None)
        return judged

    def _judge(
        self, t: int, planned: list[PlannedRequest], answers: Iterable[tuple[int, Response]]
    ) -> tuple[dict[str, Any], EvidenceBatch]:
        """Judge the responses in request order as they come: request j as soon as requests 0..j are in,
        while the later ones are still being answered and logged (the same decisions as judging them all
        at the end)."""
        batch: EvidenceBatch | None = None
        came: dict[int, Response] = {}
        requests: list[dict[str, Any]] = []
        for j, response in answers:
            came[j] = response
            if batch is None:
                # At the first answer, not before the loop: `generate_many` sends its requests only once it
                # is first asked for an answer, and waiting here first would hold them back.
                # The finisher may still be on one of the last few iterations: their evidence reads only
                # pool items that were there before this iteration's (see
                # NoveltyIndex.top_k_and_mean_before), so it need not wait. When it falls behind, it scores
                # the waiting iterations' evidence together (one pass).
                self.settle(keep=FINISH_LAG)
                # The iteration's kept instructions scored in one pass.
                batch = EvidenceBatch(self.pool, self.seed_pool)
            while len(requests) in came:
                p, answer = planned[len(requests)], came.pop(len(requests))
                requests.append(
                    judge_response(
                        self.spec,
                        t,
                        p,
                        answer.text,
                        answer.finish_reason,
                        answer.call_id,
                        self.style,
                        self.pool,
                        self.seed_pool,
                        batch,
                    )
                )
        if batch is None or len(requests) != len(planned):
            raise RuntimeError(f"iteration {t}: {len(requests)} of {len(planned)} responses came back")
        return iteration_record(t, requests, len(self.machine), self.spec.prompt.version), batch

    # --- an iteration's record finished while the next one's requests are at the model -------------------

    def finish_later(self, t: int, record: dict[str, Any], batch: EvidenceBatch) -> None:
        """Fill iteration t's evidence, store its record, hand its kept instructions to the stages and fold
        it into the page's index, on a thread of their own: none of it decides anything, so the next
        iteration's requests need not wait for it. Fast iterations are held and handed over together (see
        EVIDENCE_BATCH)."""
        self.held.append((t, record, batch))
        now, before = time.monotonic(), self.judged_at
        self.judged_at = now
        if (
            now - before >= HOLD_S
            or sum(b.waiting for _, _, b in self.held) >= EVIDENCE_BATCH
            or len(self.held) >= FINISH_LAG
        ):
            self._hand_over()

    def _hand_over(self) -> None:
        """Queue the held iterations' finishing, in order."""
        if not self.held:
            return
        if self.finisher is None:
            self.finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="si-finish")
        for t, record, batch in self.held:
            self.unfilled.append(batch)
            self.finishing.append((t, self.finisher.submit(self._finish, t, record, batch)))
        self.held.clear()

    def _finish(self, t: int, record: dict[str, Any], batch: EvidenceBatch) -> bool:
        if not batch.filled:  # else an earlier iteration's pass filled it
            # Iterations are queued in order, so this one's batch is waiting unless a pass that failed took it.
            waiting = [self.unfilled.popleft() for _ in range(len(self.unfilled))]
            if batch not in waiting:
                waiting.append(batch)
            EvidenceBatch.fill_together(waiting)
        if self.lost or not self.save(iter_key(t), record):
            # Another worker's record of t (or of one before it) is the one that counts: `settle` goes on
            # from there.
            self.lost = True
            return False
        # Its kept instructions go to the stages once it is stored, from this thread: iterations are
        # finished one after another here, so their units keep their order.
        self.queue_stages(t, record["kept"])
        # The page's index, every few seconds.
        page_index.sync_if_due(self.ctx.engine, self.ctx.run_id, known=self.unindexed)
        return True

    def settle(self, keep: int = 0) -> None:
        """Wait for the iterations being finished but the newest `keep` (raises `_Overtaken` at the first
        whose record another worker stored first, once the ones after it are done). Waiting for all of
        them (`keep` 0) hands the held ones over first."""
        if not keep:
            self._hand_over()
        while len(self.finishing) > keep:
            t, future = self.finishing.popleft()
            if not future.result():
                for _, later in self.finishing:
                    later.result()  # not stored either: the run goes on from t
                self.finishing.clear()
                # Held ones built on t as well: dropped (the pool is rebuilt).
                self.held.clear()
                self.lost = False
                raise _Overtaken(t)

    def close_finisher(self) -> None:
        """On a stop or failure: the iteration judged last is still stored (its answers are whole)."""
        self._hand_over()
        if self.finisher is not None:
            self.finisher.shutdown(wait=True)

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
        prompt = self.spec.prompt.classify_prompt(unit.instruction)
        response = self.llm.generate(
            self._classify_request(prompt), looked_up=unit.looked_up and unit.looked_up.get()
        )
        verdict = parse_classification(unit.instruction, response.text, self.spec.classification_rule)
        row = {
            "instruction": unit.instruction,
            "answer": verdict.answer,
            "raw": verdict.raw,
            "prompt": prompt,
            "call_id": response.call_id,
        }
        self.save(key, row)
        return verdict.answer == "yes"

    def instances_one(self, unit: Unit, is_clf: bool) -> bool:
        """Generate and store the unit's instances; returns whether any was kept."""
        key = inst_key(unit.t, unit.i)
        if self.ctx.done(key):
            return _kept_any(self._stored(key))
        prompt = self.spec.prompt.instance_prompt(unit.instruction, is_clf)
        response = self.llm.generate(
            self._instance_request(prompt, is_clf), looked_up=unit.looked_up and unit.looked_up.get()
        )
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
        row = instances_row(task, self.style)
        self.save(key, row)
        return _kept_any(row)

    def _stage_requests(self, kept: list[str]) -> list[Request]:
        """The classification request of each kept instruction and both forms its instance request can
        take: looked up in the log in one query rather than one per request."""
        cfg = self.spec.prompt
        requests = [self._classify_request(cfg.classify_prompt(text)) for text in kept]
        if self.spec.instances:
            requests += [
                self._instance_request(cfg.instance_prompt(text, is_clf), is_clf)
                for text in kept
                for is_clf in (True, False)
            ]
        return requests

    def _classify_request(self, prompt: str) -> Request:
        cfg = self.spec.prompt
        return render_request(prompt, "classify", self.style, cfg, cfg.classify_decoding)

    def _instance_request(self, prompt: str, is_clf: bool) -> Request:
        cfg = self.spec.prompt
        return render_request(prompt, "instances", self.style, cfg, cfg.instance_settings(is_clf))

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
        # An iteration's generation requests (with lookahead, those of the iterations in flight) always find
        # a place: the stages fill the rest of the budget.
        reserved = self.spec.requests_per_iteration * (self.spec.lookahead + 1)
        settings = self.ctx.settings()
        executor: stage_process.ProcessUnits | ThreadUnits
        if stage_process.wanted(settings, self.ctx.engine, workers):
            # The stages run in a process of their own (the machine's other core) on their share of the
            # budget: what thread mode keeps for generation (at most half) stays with this client.
            generation = max(1, min(reserved, workers // 2))
            self.llm.limit.resize(generation)
            executor = stage_process.ProcessUnits(
                self.ctx,
                settings.with_(max_concurrency=max(1, workers - generation)),
                self.style,
                self.unindexed,
            )
        else:
            self.llm.limit.reserve(reserved)
            executor = ThreadUnits(self.stage_unit, workers)
        # Room for a few iterations' worth of instructions: enough to keep the budget full while the loop
        # judges, little enough that a stalled instance stage is noticed soon.
        self.stages = StageStream(executor, backlog=max(4 * workers, 32), stopped=self._stopping)

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
        looked_up = self.shared_look_up(kept)
        for i, text in enumerate(kept):
            self.stages.submit(Unit(t, i, text, looked_up))

    def shared_look_up(self, kept: list[str]) -> SharedLookUp:
        return SharedLookUp(kept, lambda: self.llm.look_up(self._stage_requests(kept)))

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
            self.close_finisher()
            self.close_ahead()
            if self.stages is not None:
                # On a stop or failure: units already at the model finish and are stored; none is started.
                self.stages.close()

    def generate_all(self) -> None:
        stored = self.ctx.results("iter/")
        t = 0
        idle = 0  # both streaks are recounted from the stored records on every resume
        idle_before: dict[int, int] = {}  # the streak before each iteration not yet stored
        while True:
            try:
                if not self.spec.overlap:
                    # Sequential: this iteration starts once the previous one's stages have all finished.
                    self.settle()
                    self.finish_stages(t)
                if not self.spec.goes_on(t, len(self.machine)):
                    self.settle()
                    break
                if self.stages is not None:
                    self.stages.check()
                self.count_idle_instances()
                if idle >= self.spec.max_idle_iterations:
                    raise Stopped(stall_message("iterations", idle, self.spec.max_idle_iterations))
                if self.idle_inst >= self.spec.max_idle_instances:
                    raise Stopped(stall_message("instances", self.idle_inst, self.spec.max_idle_instances))
                record = stored.get(iter_key(t))
                if record is None:
                    self.report(t, f"iteration {t}: generating")
                    record, batch = self.iteration(t)
                    # The streak before each iteration still being finished.
                    idle_before = {k: v for k, v in idle_before.items() if k >= t - 2 * FINISH_LAG}
                    idle_before[t] = idle
                    self.finish_later(t, record, batch)
                else:
                    self.settle()
                    for text in record["kept"]:
                        self.pool.add(text)
                    self.queue_stages(t, record["kept"])
                    page_index.sync_if_due(self.ctx.engine, self.ctx.run_id, known=self.unindexed)
            except _Overtaken as overtaken:
                # Another worker stored iteration t first: its record is the one that counts. Go on from
                # there with the pool as stored (the requests already answered stay in the log).
                t = overtaken.t
                idle = idle_before.get(t, idle)
                stored = self.ctx.results("iter/")
                self.rebuild(stored, t)
                continue
            kept = record["kept"]
            self.absorb(t, kept)
            self.report(t + 1, f"iteration {t}: kept {len(kept)}")
            idle = 0 if kept else idle + 1
            t += 1
        self.finish_stages(t)
        page_index.sync_if_due(self.ctx.engine, self.ctx.run_id, force=True, known=self.unindexed)
        self.report(t, f"finished after {t} iterations")


class _Overtaken(Exception):
    """Another worker stored iteration `t` of this run first."""

    def __init__(self, t: int):
        super().__init__(t)
        self.t = t


def stages_loop(ctx: JobContext, style: Style, unindexed: page_index.Unindexed) -> _Loop:
    """The loop as a stage worker process runs it: stage units only, on that process's own client, their
    stored records handed to `unindexed`."""
    loop = _Loop(ctx, RunSpec.from_params(ctx.params), ctx.llm(), style, seeds=[])
    loop.unindexed = unindexed
    return loop


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
        ctx.save("seeds", [seed_row(s) for s in resolve_seeds(spec.seeds)])
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
