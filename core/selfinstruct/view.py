"""One reading of a run's stored records for the page and the command line, and its exports."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.selfinstruct.analysis import DatasetStats, length_distributions, table1_stats
from core.selfinstruct.classify import ClassificationVerdict
from core.selfinstruct.export import alpaca_json, chat_jsonl, finetune_jsonl, provenance_records
from core.selfinstruct.fidelity import departures
from core.selfinstruct.filters import (
    CandidateDecision,
)
from core.selfinstruct.instances import TaskInstances
from core.selfinstruct.iteration import IterationRecord
from core.selfinstruct.prompts import (
    FALLBACK_SOURCE,
    templates_label,
)
from core.selfinstruct.records import Instance, Task
from core.selfinstruct.rows import instances_from_row, record_from_row, verdict_from_row
from core.selfinstruct.spec import RunSpec


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
                item.verdict = verdict_from_row(value)
            else:
                item.instances = instances_from_row(value)
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
