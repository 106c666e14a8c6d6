"""The Self-Instruct page's index of a run: one row per pool item and per iteration, kept in the database.

A run's records (`iter/`, `clf/`, `inst/`, `edit/` results) are large compressed JSON; reading them all to
draw a page took seconds at 10K instructions. `sync` reads only the results stored since its last call (by
`run_results.id`) and folds them into `si_items` and `si_iterations`, so the page pages, searches, sorts and
sums in SQL. The job calls `sync_if_due` as it stores iterations; the page calls `sync` on open, which finds
nothing new for a run the job kept up to date, and indexes an older run once.

The index is derived data: it never decides anything a run stores, and rebuilding it gives the same rows.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.selfinstruct.reasons import reason_code
from core.store import compact
from core.store.db import utcnow
from core.store.schema import run_results, si_checks, si_index_state, si_items, si_iterations

BATCH = 2000  # results decoded per transaction: bounds memory when indexing a large run for the first time


def words(text: str) -> int:
    return len(text.split())


def insert_ignore(engine: Engine, table):
    """INSERT that skips rows whose primary key is already there (SQLite and PostgreSQL)."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def last_result_id(engine: Engine, run_id: int) -> int:
    """The newest stored result of a run (0 if none): identifies the run's stored state, for caches."""
    with engine.connect() as conn:
        return conn.execute(
            select(func.coalesce(func.max(run_results.c.id), 0)).where(run_results.c.run_id == run_id)
        ).scalar_one()


def indexed_upto(engine: Engine, run_id: int) -> int | None:
    """The last result id the index has read for this run; None if it never read any."""
    with engine.connect() as conn:
        return conn.execute(
            select(si_index_state.c.last_result_id).where(si_index_state.c.run_id == run_id)
        ).scalar()


class Unindexed:
    """Results a job stored in this process and the index has not read yet, by result id: the job's sync
    takes their values from here instead of reading back and decoding what it has just written."""

    def __init__(self) -> None:
        self._values: dict[int, tuple[str, Any]] = {}
        self._lock = threading.Lock()

    def add(self, result_id: int, key: str, value: Any) -> None:
        with self._lock:
            self._values[result_id] = (key, value)

    def take(self, result_id: int, key: str) -> tuple[bool, Any]:
        """(True, value) for a result added here under that key, else (False, None)."""
        with self._lock:
            found = self._values.pop(result_id, None)
        return (True, found[1]) if found is not None and found[0] == key else (False, None)

    def drop_upto(self, result_id: int) -> None:
        """Forget results the index is past (added after a sync had already read them from the database)."""
        with self._lock:
            for old in [i for i in self._values if i <= result_id]:
                del self._values[old]

    def __len__(self) -> int:
        return len(self._values)


def read_new(
    engine: Engine, run_id: int, after: int, limit: int, known: Unindexed | None = None
) -> list[tuple[int, str, Any]]:
    """Up to `limit` results of a run stored after result id `after`, decoded, oldest first. Values in
    `known` are taken from there; only the others are read and decoded."""
    r = run_results.c
    # Past the first read, walk the id range (the primary key) rather than every row of the run in the
    # (run_id, key) index: "run_id + 0" keeps SQLite from choosing that index, so a sync costs what is new.
    same_run = r.run_id == run_id if not after else (r.run_id + 0) == run_id
    columns = (r.id, r.key) if known is not None else (r.id, r.key, r.value, r.value_z, r.value_dict)
    query = select(*columns).where(same_run, r.id > after).order_by(r.id).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        if known is None:
            return [
                (row.id, row.key, compact.decode_result(engine, row.value, row.value_z, row.value_dict))
                for row in rows
            ]
        out: list[tuple[int, str, Any]] = []
        missing: list[int] = []
        for row in rows:
            found, value = known.take(row.id, row.key)
            out.append((row.id, row.key, value))
            if not found:
                missing.append(row.id)
        if missing:
            stored = conn.execute(
                select(r.id, r.value, r.value_z, r.value_dict).where(r.id.in_(missing))
            ).all()
            values = {
                row.id: compact.decode_result(engine, row.value, row.value_z, row.value_dict)
                for row in stored
            }
            out = [(i, key, values.get(i, value)) for i, key, value in out]
    return out


def claim_batch(conn, run_id: int, before: int, after: int) -> bool:
    """Move the run's index mark from `before` to `after`, only if no other sync moved it first: the
    writes in the same transaction are then this sync's alone (the row lock orders concurrent syncs)."""
    moved = conn.execute(
        update(si_index_state)
        .where(si_index_state.c.run_id == run_id, si_index_state.c.last_result_id == before)
        .values(last_result_id=after, updated_at=utcnow())
    ).rowcount
    return bool(moved)


def ensure_state(engine: Engine, run_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert_ignore(engine, si_index_state).values(run_id=run_id, last_result_id=0, updated_at=utcnow())
        )


# --- folding one run's records into rows ------------------------------------------------------------------


def _key_parts(key: str) -> tuple[int, ...]:
    return tuple(int(p) for p in key.split("/")[1:])


def iteration_rows(run_id: int, t: int, raw: Mapping[str, Any]) -> tuple[dict, list[dict]]:
    """The iteration's counts and the pool items it kept, in the order `load_run` numbers them."""
    decisions = [c for row in raw["requests"] for c in row["candidates"]]
    outcomes = Counter("kept" if c["kept"] else (reason_code(c["reason"]) or "other") for c in decisions)
    kept = [c for c in decisions if c["kept"]]
    iteration = {
        "run_id": run_id,
        "t": t,
        "pool_before": raw.get("pool_before", 0),
        "n_requests": len(raw["requests"]),
        "n_candidates": len(decisions),
        "n_kept": len(kept),
        "outcomes": dict(outcomes),
    }
    items = [
        {
            "run_id": run_id,
            "t": t,
            "i": i,
            "item": f"{t}/{i}",
            "original": c["text"],
            "instruction": c["text"],
            "folded": c["text"].casefold(),
            "edited": False,
            "deleted": False,
            "is_clf": None,
            "n_instances": None,
            "n_empty_input": 0,
            "instruction_words": words(c["text"]),
            "input_words": 0,
            "output_words": 0,
            "input_lengths": None,
            "output_lengths": None,
            "seed_rouge": c.get("seed_rouge"),
            "closest_seed": c.get("closest_seed"),
        }
        for i, c in enumerate(kept)
    ]
    return iteration, items


def item_where(run_id: int, key: str) -> tuple:
    """The primary-key lookup of pool item "t/i" (a key of another shape matches no row)."""
    c = si_items.c
    parts = key.split("/")
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return (c.run_id == run_id, c.t == int(parts[0]), c.i == int(parts[1]))
    return (c.run_id == run_id, c.item == key)


def instance_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """An item's instance counts from its stored `inst/` record (kept instances only, as the pool uses)."""
    kept = [d for d in row.get("decisions", ()) if d.get("kept")]
    inputs = [words(d["input"]) for d in kept if d["input"].strip()]
    outputs = [words(d["output"]) for d in kept]
    return {
        "n_instances": len(kept),
        "n_empty_input": len(kept) - len(inputs),
        "input_words": sum(inputs),
        "output_words": sum(outputs),
        "input_lengths": inputs,
        "output_lengths": outputs,
    }


def indexed_part(key: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a classification or instance record the index reads (see `_apply`): what a stage worker
    process hands back instead of the whole record."""
    if key.startswith("clf/"):
        return {"answer": value.get("answer")}
    kept = [d for d in value.get("decisions", ()) if d.get("kept")]
    return {"decisions": [{"kept": True, "input": d["input"], "output": d["output"]} for d in kept]}


def _apply(engine: Engine, conn, run_id: int, batch: Iterable[tuple[int, str, Any]]) -> None:
    iterations, items, clfs, insts, edits = [], [], [], [], []
    for _id, key, value in batch:
        if key.startswith("iter/"):
            (t,) = _key_parts(key)
            it, its = iteration_rows(run_id, t, value)
            iterations.append(it)
            items += its
        elif key.startswith("clf/"):
            t, i = _key_parts(key)
            clfs.append({"k_t": t, "k_i": i, "v_clf": value.get("answer") == "yes"})
        elif key.startswith("inst/"):
            t, i = _key_parts(key)
            insts.append({"k_t": t, "k_i": i, **{f"v_{k}": v for k, v in instance_values(value).items()}})
        elif key.startswith("edit/"):
            edits.append(value)
    if iterations:
        conn.execute(insert_ignore(engine, si_iterations), iterations)
    if items:
        conn.execute(insert_ignore(engine, si_items), items)
    c = si_items.c
    where = (c.run_id == run_id, c.t == bindparam("k_t"), c.i == bindparam("k_i"))
    if clfs:
        conn.execute(update(si_items).where(*where).values(is_clf=bindparam("v_clf")), clfs)
    if insts:
        names = (
            "n_instances",
            "n_empty_input",
            "input_words",
            "output_words",
            "input_lengths",
            "output_lengths",
        )
        conn.execute(update(si_items).where(*where).values({n: bindparam(f"v_{n}") for n in names}), insts)
    for edit in edits:  # in the order they were logged, as load_run applies them
        target = edit.get("item", "")
        if edit.get("op") == "edit":
            text = edit["instruction"]
            values = {
                "instruction": text,
                "folded": text.casefold(),
                "instruction_words": words(text),
                "edited": c.original != text,
            }
        else:
            values = {"deleted": edit.get("op") == "delete"}
        conn.execute(update(si_items).where(*item_where(run_id, target)).values(**values))


# PostgreSQL hands out ids at insert and transactions commit in any order, so a result with a smaller id can
# become visible after the mark passed it. Each sync there applies again, in id order, the results stored in
# the last few seconds below the mark: every step is "set this value", so applying a tail again in order ends
# in the same state, and a late row is folded in. SQLite has one writer at a time: ids follow commits.
LATE_S = 5.0


def _reread_recent(engine: Engine, run_id: int, mark: int, apply) -> int:
    if engine.dialect.name != "postgresql" or not mark:
        return 0
    r = run_results.c
    since = utcnow() - timedelta(seconds=LATE_S)
    with engine.connect() as conn:
        first = conn.execute(
            select(func.min(r.id)).where(r.run_id == run_id, r.id <= mark, r.created_at >= since)
        ).scalar()
    if first is None:
        return 0
    rows = [row for row in read_new(engine, run_id, first - 1, mark - first + 1) if row[0] <= mark]
    with engine.begin() as conn:
        if claim_batch(conn, run_id, mark, mark):  # holds the row lock: no other sync writes meanwhile
            apply(engine, conn, run_id, rows)
    return len(rows)


def _fold(engine: Engine, run_id: int, apply, batch: int, known: Unindexed | None = None) -> int:
    """Read the run's results stored since its mark, `apply` them batch by batch; returns how many."""
    before = indexed_upto(engine, run_id)
    if before is None:
        ensure_state(engine, run_id)
        before = 0
    _reread_recent(engine, run_id, before, apply)
    read = 0  # new results only
    while True:
        rows = read_new(engine, run_id, before, batch, known)
        if not rows:
            if known is not None:
                known.drop_upto(before)
            return read
        with engine.begin() as conn:
            if claim_batch(conn, run_id, before, rows[-1][0]):
                apply(engine, conn, run_id, rows)
                read += len(rows)
        before = indexed_upto(engine, run_id) or 0  # ours, or where another sync got to


def sync(engine: Engine, run_id: int, batch: int = BATCH, known: Unindexed | None = None) -> int:
    """Fold the Self-Instruct run's results stored since the last sync into the index; returns how many
    results were read (0 when the index was up to date: one small query). `known`: values of results the
    caller stored itself, so they need not be read back."""
    return _fold(engine, run_id, _apply, batch, known)


def _apply_checks(engine: Engine, conn, run_id: int, batch: Iterable[tuple[int, str, Any]]) -> None:
    rows = [
        {
            "check_run_id": run_id,
            "task_id": key,
            "induced": value.get("induced"),
            "induced_rouge": value.get("induced_rouge"),
            "induced_bertscore": value.get("induced_bertscore"),
            "execution_rouge": value.get("execution_rouge"),
            "skipped": "skipped" in value,
        }
        for _id, key, value in batch
        if isinstance(value, Mapping)
    ]
    if rows:
        conn.execute(insert_ignore(engine, si_checks), rows)


def sync_checks(engine: Engine, check_run_id: int, batch: int = BATCH) -> int:
    """Copy a consistency run's stored signals (one result per task) into `si_checks`, new ones only."""
    return _fold(engine, check_run_id, _apply_checks, batch)


_due: dict[tuple[int, int], float] = {}
_due_lock = threading.Lock()


def sync_if_due(
    engine: Engine, run_id: int, every_s: float = 5.0, *, force: bool = False, known: Unindexed | None = None
) -> None:
    """`sync`, at most every `every_s` seconds per run in this process (the job calls it per iteration)."""
    now = time.monotonic()
    key = (id(engine), run_id)
    with _due_lock:
        if not force and now - _due.get(key, -1e9) < every_s:
            return
        _due[key] = now
    sync(engine, run_id, known=known)
