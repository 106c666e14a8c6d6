"""What the Self-Instruct page reads, one screenful at a time, from the run's index (core.selfinstruct.index).

Every function here is a few SQL statements over `si_items`/`si_iterations`, or a read of a handful of stored
records by key: nothing reads all of a run's results. Call `index.sync` first for an up-to-date answer.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, case, func, or_, select
from sqlalchemy.sql import ColumnElement

from core.selfinstruct import calltexts
from core.selfinstruct.analysis import DatasetStats
from core.selfinstruct.index import item_where
from core.selfinstruct.records import Task
from core.selfinstruct.rows import instances_from_row
from core.selfinstruct.spec import inst_key
from core.selfinstruct.view import IterationView, PoolItem, RunView, load_run
from core.store import runs as run_store
from core.store.schema import run_results, si_checks, si_items, si_iterations

PAGE_SIZE = 50


# --- summaries ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """The run tab's counts: what RunView's properties give, from one row per iteration and pool item."""

    iterations: int
    items: int  # every kept instruction, deleted ones included
    pool: int  # after deletions
    candidates: int
    kept: int
    edits: int
    outcomes: Counter = field(default_factory=Counter)  # "kept" or a reason code -> candidates
    by_iteration: list[dict[str, Any]] = field(default_factory=list)  # RunView.by_iteration's rows
    missing: list[int] = field(default_factory=list)  # iterations absent below the last one (RunView.missing)

    @property
    def kept_share(self) -> float:
        return self.kept / self.candidates if self.candidates else math.nan


def summary(engine: Engine, run_id: int) -> RunSummary:
    it = si_iterations.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(it.t.label("iteration"), it.pool_before, it.n_candidates, it.n_kept, it.outcomes)
            .where(it.run_id == run_id)
            .order_by(it.t)
        ).all()
        n_items, n_pool = conn.execute(
            select(func.count(), _count_if(si_items.c.deleted.is_(False))).where(si_items.c.run_id == run_id)
        ).one()
    outcomes: Counter = Counter()
    seen = {r.iteration for r in rows}
    missing = [t for t in range(max(seen, default=-1) + 1) if t not in seen]
    by_iteration = []
    for r in rows:
        outcomes.update(r.outcomes)
        by_iteration.append({"iteration": r.iteration, "pool": r.pool_before + r.n_kept, **r.outcomes})
    return RunSummary(
        iterations=len(rows),
        items=n_items,
        pool=int(n_pool),
        candidates=sum(r.n_candidates for r in rows),
        kept=sum(r.n_kept for r in rows),
        edits=edit_count(engine, run_id),
        outcomes=outcomes,
        by_iteration=by_iteration,
        missing=missing,
    )


def _count_if(condition: ColumnElement):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def table1(engine: Engine, run_id: int) -> DatasetStats:
    """The paper's Table 1 over the pool after edits and deletions, summed in SQL (as table1_stats counts)."""
    c = si_items.c
    n_inst = func.coalesce(c.n_instances, 0)
    with engine.connect() as conn:
        row = conn.execute(
            select(
                func.count(),
                _count_if(c.is_clf.is_(True)),
                func.coalesce(func.sum(n_inst), 0),
                func.coalesce(func.sum(c.n_empty_input), 0),
                func.coalesce(func.sum(c.instruction_words), 0),
                func.coalesce(func.sum(c.input_words), 0),
                func.coalesce(func.sum(c.output_words), 0),
            ).where(c.run_id == run_id, c.deleted.is_(False))
        ).one()
    n, clf, instances, empty, instr_words, input_words, output_words = (int(x) for x in row)
    inputs = instances - empty
    return DatasetStats(
        instructions=n,
        classification_instructions=clf,
        classification_share=clf / n if n else math.nan,
        instances=instances,
        empty_input_instances=empty,
        empty_input_share=empty / instances if instances else math.nan,
        avg_instruction_words=instr_words / n if n else math.nan,
        avg_input_words=input_words / inputs if inputs else math.nan,
        avg_output_words=output_words / instances if instances else math.nan,
    )


# --- the pool, a page at a time -----------------------------------------------------------------------------

# Sortable columns: the page's column name -> the SQL expression it sorts by.
SORTS: dict[str, Any] = {
    "item": None,  # (t, i): the order instructions were kept in
    "instruction": si_items.c.folded,
    "classification": si_items.c.is_clf,
    "instances": si_items.c.n_instances,
    "seed ROUGE-L": si_items.c.seed_rouge,
    "induced ROUGE-L": si_checks.c.induced_rouge,
    "induced BERTScore": si_checks.c.induced_bertscore,
    "execution ROUGE-L": si_checks.c.execution_rouge,
}
CHECK_SORTS = ("induced ROUGE-L", "induced BERTScore", "execution ROUGE-L")


@dataclass(frozen=True)
class PoolRow:
    item: str
    t: int
    i: int
    instruction: str
    original: str
    is_clf: bool | None
    instances: int | None
    seed_rouge: float | None
    edited: bool
    deleted: bool
    # The consistency check's signals, when a check run covers this item (None otherwise).
    checked: bool = False
    induced: str | None = None
    induced_rouge: float | None = None
    induced_bertscore: float | None = None
    execution_rouge: float | None = None

    @property
    def classification(self) -> str:
        return {None: "?", True: "yes", False: "no"}[self.is_clf]


@dataclass(frozen=True)
class PoolQuery:
    search: str = ""
    show_deleted: bool = False
    sort: str = "item"
    descending: bool = False
    check_run_id: int | None = None  # join this consistency run's signals
    suspect_below: float | None = None  # only items a signal scores below this (with check_run_id)


@dataclass(frozen=True)
class PoolPage:
    rows: list[PoolRow]
    matching: int  # rows the query selects, over all pages
    total: int  # every item of the run


def _conditions(run_id: int, q: PoolQuery) -> list[ColumnElement]:
    c = si_items.c
    cond: list[ColumnElement] = [c.run_id == run_id]
    if not q.show_deleted:
        cond.append(c.deleted.is_(False))
    for word in q.search.casefold().split():
        cond.append(c.folded.contains(word, autoescape=True))
    if q.check_run_id is not None and q.suspect_below is not None:
        # As consistency.suspect: a signal present and below the threshold (NULL compares false).
        cond.append(
            or_(si_checks.c.induced_rouge < q.suspect_below, si_checks.c.execution_rouge < q.suspect_below)
        )
    return cond


def _from(q: PoolQuery):
    if q.check_run_id is None:
        return si_items
    return si_items.outerjoin(
        si_checks, and_(si_checks.c.check_run_id == q.check_run_id, si_checks.c.task_id == si_items.c.item)
    )


def _order(q: PoolQuery) -> list:
    if q.sort not in SORTS:
        raise ValueError(f"unknown sort column {q.sort!r}; expected one of {', '.join(SORTS)}")
    key = SORTS[q.sort]
    if q.sort in CHECK_SORTS and q.check_run_id is None:
        key = None
    tie = [si_items.c.t, si_items.c.i]
    if key is None:
        return [x.desc() for x in tie] if q.descending else tie
    # Items without a value (not classified yet, not checked) go last either way.
    return [(key.desc() if q.descending else key.asc()).nulls_last(), *tie]


def pool_page(
    engine: Engine,
    run_id: int,
    q: PoolQuery = PoolQuery(),
    offset: int = 0,
    limit: int = PAGE_SIZE,
    counts: bool = True,
) -> PoolPage:
    """One page of the pool: the rows `q` selects, in its order, from `offset`; with the counts (or -1
    without `counts`, which saves two queries when the caller has them)."""
    c = si_items.c
    cols = [
        c.item,
        c.t.label("t_"),
        c.i,
        c.instruction,
        c.original,
        c.is_clf,
        c.n_instances,
        c.seed_rouge,
        c.edited,
    ]
    cols.append(c.deleted)
    if q.check_run_id is not None:
        k = si_checks.c
        cols += [k.task_id, k.induced, k.induced_rouge, k.induced_bertscore, k.execution_rouge]
    cond = _conditions(run_id, q)
    source = _from(q)
    with engine.connect() as conn:
        rows = conn.execute(
            select(*cols).select_from(source).where(*cond).order_by(*_order(q)).offset(offset).limit(limit)
        ).all()
        matching = total = -1
        if counts:
            matching = conn.execute(select(func.count()).select_from(source).where(*cond)).scalar_one()
            total = conn.execute(select(func.count()).where(c.run_id == run_id)).scalar_one()
    out = []
    for r in rows:
        extra = {}
        if q.check_run_id is not None and r.task_id is not None:
            extra = {
                "checked": True,
                "induced": r.induced,
                "induced_rouge": r.induced_rouge,
                "induced_bertscore": r.induced_bertscore,
                "execution_rouge": r.execution_rouge,
            }
        out.append(
            PoolRow(
                r.item,
                r.t_,
                r.i,
                r.instruction,
                r.original,
                r.is_clf,
                r.n_instances,
                r.seed_rouge,
                bool(r.edited),
                bool(r.deleted),
                **extra,
            )  # fmt: skip
        )
    return PoolPage(out, matching, total)


def pool_item(engine: Engine, run_id: int, key: str) -> PoolItem | None:
    """One pool item, whole: its index row with its stored verdict and instances (two reads by key)."""
    with engine.connect() as conn:
        found = conn.execute(select(si_items).where(*item_where(run_id, key))).first()
    if found is None:
        return None
    r = found._mapping
    item = PoolItem(r["t"], r["i"], r["original"], r["instruction"], bool(r["deleted"]))
    item.seed_rouge, item.closest_seed = r["seed_rouge"], r["closest_seed"]
    key = inst_key(r["t"], r["i"])
    if (row := run_store.results(engine, run_id, key).get(key)) is not None:
        item.instances = instances_from_row(row)
    return item


# --- one iteration --------------------------------------------------------------------------------------------


def edit_count(engine: Engine, run_id: int) -> int:
    """Entries in the run's edit log (its "edit/..." keys)."""
    r = run_results.c
    cond = [r.run_id == run_id, r.key.startswith("edit/")]
    if engine.dialect.name == "sqlite":
        # SQLite's LIKE cannot use the (run_id, key) index; under its binary collation the keys lie here.
        cond += [r.key >= "edit/", r.key < "edit0"]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(*cond)).scalar_one()


def iteration_count(engine: Engine, run_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(si_iterations.c.run_id == run_id)).scalar_one()


def iteration(engine: Engine, run_id: int, t: int) -> tuple[IterationView, RunView] | None:
    """Iteration t with its items' verdicts and instances: load_run over that iteration's records alone."""
    key = f"iter/{t:06d}"
    stored = run_store.results(engine, run_id, key)
    if key not in stored:
        return None
    stored = {key: stored[key]}
    stored.update(run_store.results(engine, run_id, f"clf/{t:06d}/"))
    stored.update(run_store.results(engine, run_id, f"inst/{t:06d}/"))
    view = load_run(calltexts.restore(engine, stored))
    return view.iterations[0], view


# --- what a running job works from (the live step) ---------------------------------------------------------


def seeds(engine: Engine, run_id: int) -> list[Task]:
    """The run's seed tasks as its job stored them (one read by key; empty until the job stored them)."""
    return [Task.from_dict(r) for r in run_store.results(engine, run_id, "seeds").get("seeds", [])]


def job_pool(engine: Engine, run_id: int) -> list[Task]:
    """Every kept instruction as the job's pool holds it: the text as kept (edits come later and the job
    never sees them), in the order kept, with the job's ids. One query over the index, no record read."""
    c = si_items.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.t, c.i, c.original).where(c.run_id == run_id).order_by(c.t, c.i)).all()
    return [Task(text, id=f"{t}/{i}") for t, i, text in rows]


def stages_done(engine: Engine, run_id: int, instances: bool) -> int:
    """Kept instructions whose last stage is stored: instances when the run generates them, else the
    classification verdict. Deleted ones are counted too: the total they are counted against is every kept
    instruction."""
    c = si_items.c
    done = c.n_instances.is_not(None) if instances else c.is_clf.is_not(None)
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(c.run_id == run_id, done)).scalar_one()
