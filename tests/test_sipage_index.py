"""The Self-Instruct page's index (SQLite and PostgreSQL): summaries equal what a full load_run computes, and
the pool pages return the right rows in order across pages, with search, deletions and sorting done in SQL."""

from __future__ import annotations

import copy
import random
from collections import Counter

import pytest
from sqlalchemy import insert, select
from sqlalchemy import text as sql_text

from core.selfinstruct import index
from core.selfinstruct import pages as si_pages
from core.selfinstruct.job import record_edit
from core.selfinstruct.rows import iteration_record
from core.selfinstruct.spec import KIND, clf_key, inst_key, iter_key
from core.selfinstruct.view import load_run
from core.store import runs as run_store
from core.store.db import utcnow
from core.store.schema import run_results, si_index_state, si_items, si_iterations

WORDS = [
    "write",
    "sort",
    "name",
    "list",
    "explain",
    "compose",
    "rank",
    "translate",
    "summarise",
    "count",
    "river",
    "poem",
    "number",
    "city",
    "Émile",
]
REASONS = ["too_similar: 0.81", "too_short", "blacklist: image", "empty"]


def _candidate(rng: random.Random, n: int, kept: bool) -> dict:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize() + f" #{n}."
    return {
        "position": n,
        "number": n + 1,
        "raw": text,
        "text": text,
        "kept": kept,
        "reason": "kept" if kept else rng.choice(REASONS),
        "stage": "kept" if kept else "novelty",
        "seed_rouge": round(rng.random(), 3) if kept else None,
        "closest_seed": "A seed." if kept else None,
    }


def make_run(engine, iterations: int = 6, seed: int = 0) -> int:
    """A run's records as the job stores them: iterations, then verdicts and instances for most items
    (stored out of order, as the overlapped stages do), some items left unclassified."""
    rng = random.Random(seed)
    run_id = run_store.create_run(engine, KIND, {"seed": seed}, name="indexed")
    pool, n = 0, 0
    later = []
    for t in range(iterations):
        requests = []
        for _ in range(rng.randint(1, 3)):
            cands = [_candidate(rng, (n := n + 1), rng.random() < 0.6) for _ in range(rng.randint(0, 5))]
            requests.append({"sample": [], "prompt": "p", "response": "r", "candidates": cands})
        record = iteration_record(t, requests, pool, "v1")
        run_store.save_result(engine, run_id, iter_key(t), record)
        pool += len(record["kept"])
        for i, text in enumerate(record["kept"]):
            if rng.random() < 0.85:
                later.append((t, i, text))
    rng.shuffle(later)
    for t, i, text in later:
        is_clf = rng.random() < 0.3
        run_store.save_result(
            engine, run_id, clf_key(t, i), {"instruction": text, "answer": "yes" if is_clf else "no"}
        )
        decisions = [
            {
                "input": ""
                if rng.random() < 0.3
                else " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))),
                "output": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8))),
                "kept": rng.random() < 0.8,
                "reason": None,
            }
            for _ in range(rng.randint(0, 4))
        ]
        run_store.save_result(
            engine,
            run_id,
            inst_key(t, i),
            {"instruction": text, "is_classification": is_clf, "decisions": decisions},
        )
    return run_id


def test_summaries_equal_a_full_load_run_through_edits_and_deletions(engine):
    run_id = make_run(engine)
    index.sync(engine, run_id)
    view = load_run(run_store.results(engine, run_id))
    first, second, third = (x.key for x in view.items[:3])
    # Edits arrive after the first sync: the next sync reads only them and applies them in order.
    record_edit(engine, run_id, first, "edit", "Name three rivers of the given country.")
    record_edit(engine, run_id, second, "delete")
    record_edit(engine, run_id, third, "delete")
    record_edit(engine, run_id, third, "restore")
    record_edit(engine, run_id, first, "edit", view.items[0].original)  # edited back: no longer "edited"
    record_edit(engine, run_id, first, "edit", "Name four rivers of the given country.")
    assert index.sync(engine, run_id) == 6
    assert index.sync(engine, run_id) == 0  # nothing new: nothing read

    view = load_run(run_store.results(engine, run_id))
    got = si_pages.summary(engine, run_id)
    assert got.iterations == len(view.iterations) and got.items == len(view.items)
    assert got.pool == len(view.pool) == len(view.items) - 1
    assert (got.candidates, got.kept, got.edits) == (view.n_candidates, view.n_kept, len(view.edits))
    assert got.outcomes == Counter({k or "other": v for k, v in view.counts_by_reason().items()})
    assert got.by_iteration == [
        {("other" if k is None else k): v for k, v in row.items()} for row in view.by_iteration()
    ]
    assert si_pages.table1(engine, run_id) == _nan_safe(view.stats())

    everything = si_pages.pool_page(engine, run_id, si_pages.PoolQuery(show_deleted=True), limit=10_000)
    assert [
        (r.item, r.instruction, r.original, r.is_clf, r.seed_rouge, r.edited, r.deleted)
        for r in everything.rows
    ] == [
        (x.key, x.instruction, x.original, x.is_classification, x.seed_rouge, x.edited, x.deleted)
        for x in view.items
    ]
    assert [r.instances for r in everything.rows] == [
        len(x.instances.kept) if x.instances else None for x in view.items
    ]
    assert everything.rows[0].instruction.startswith("Name four") and everything.rows[0].edited


def _nan_safe(stats):
    # nan != nan: compare through repr, which spells nan the same on both sides.
    class Same:
        def __eq__(self, other):
            return repr(other) == repr(stats)

    return Same()


def test_pages_cover_the_pool_in_order_with_search_and_sort_in_sql(engine):
    run_id = make_run(engine, iterations=12, seed=4)
    index.sync(engine, run_id, batch=7)  # small batches: an index built over several transactions
    view = load_run(run_store.results(engine, run_id))
    record_edit(engine, run_id, view.items[5].key, "delete")
    index.sync(engine, run_id)
    view = load_run(run_store.results(engine, run_id))
    expected = [x.key for x in view.pool]
    assert len(expected) > 25

    def walk(q: si_pages.PoolQuery, size: int) -> list[str]:
        keys, offset = [], 0
        while True:
            page = si_pages.pool_page(engine, run_id, q, offset, size)
            keys += [r.item for r in page.rows]
            if len(page.rows) < size:
                assert page.matching == len(keys) and page.total == len(view.items)
                return keys
            offset += size

    assert walk(si_pages.PoolQuery(), 10) == expected
    assert walk(si_pages.PoolQuery(descending=True), 7) == expected[::-1]
    # Search: every word, case-folded (Python's casefold, so "émile" finds "Émile").
    for words in ("river", "RIVER poem", "émile"):
        wanted = [
            x.key for x in view.pool if all(w in x.instruction.casefold() for w in words.casefold().split())
        ]
        assert walk(si_pages.PoolQuery(search=words), 4) == wanted
    # Sorting by a column: by its value, ties in pool order, items without a value last.
    by_instances = walk(si_pages.PoolQuery(sort="instances", descending=True), 6)
    counts = {x.key: (len(x.instances.kept) if x.instances else None) for x in view.pool}
    known = sorted((k for k in expected if counts[k] is not None), key=lambda k: -counts[k])
    assert [counts[k] for k in by_instances] == [counts[k] for k in known] + [None] * (
        len(expected) - len(known)
    )
    seed_sorted = walk(si_pages.PoolQuery(sort="seed ROUGE-L"), 9)
    scores = [view.item(k).seed_rouge for k in seed_sorted]
    assert scores == sorted(scores)
    # A search term with LIKE's wildcards matches them literally.
    assert walk(si_pages.PoolQuery(search="%"), 5) == []


def test_the_step_view_reads_one_iteration_as_load_run_does(engine):
    run_id = make_run(engine, iterations=4, seed=2)
    full = load_run(run_store.results(engine, run_id))
    for t in range(4):
        it, part = si_pages.iteration(engine, run_id, t)
        assert it.kept == full.iterations[t].kept and it.pool_before == full.iterations[t].pool_before
        assert [(x.key, x.is_classification, x.instances) for x in part.items] == [
            (x.key, x.is_classification, x.instances) for x in full.items if x.t == t
        ]
    assert si_pages.iteration(engine, run_id, 4) is None
    index.sync(engine, run_id)
    key = full.items[0].key
    one = si_pages.pool_item(engine, run_id, key)
    assert (one.instruction, one.instances, one.seed_rouge) == (
        full.items[0].instruction,
        full.items[0].instances,
        full.items[0].seed_rouge,
    )


def _index_rows(engine, run_id: int) -> tuple[list, list]:
    with engine.connect() as conn:
        items = conn.execute(select(si_items).where(si_items.c.run_id == run_id).order_by("t", "i")).all()
        its = conn.execute(select(si_iterations).where(si_iterations.c.run_id == run_id).order_by("t")).all()
    return [tuple(r) for r in items], [tuple(r) for r in its]


def test_records_the_job_hands_over_fold_into_the_same_index_as_records_read_back(engine):
    """The job's sync takes the values of the records it stored itself from memory (`index.Unindexed`)
    rather than read back and decode them: the index it builds equals one built from the database."""
    run_id = make_run(engine, iterations=5, seed=3)
    r = run_results.c
    with engine.connect() as conn:
        ids = dict(conn.execute(select(r.key, r.id).where(r.run_id == run_id)).all())
    stored = run_store.results(engine, run_id)
    keys = sorted(stored, key=ids.__getitem__)
    handed = [key for n, key in enumerate(keys) if n % 5 != 4]  # the others: stored elsewhere, read back
    misfiled = handed[3]  # handed over under another key (never expected): read back too
    # Proof that handed-over values are used: this verdict says the opposite of what is stored.
    flipped = next(k for k in handed if k.startswith("clf/") and k != misfiled)
    known = index.Unindexed()
    for key in handed:
        value = copy.deepcopy(stored[key])
        if key == flipped:
            value["answer"] = "no" if value["answer"] == "yes" else "yes"
        known.add(ids[key], key if key != misfiled else "clf/999999/0", value)
    known.add(10**9, "inst/000000/0", {"decisions": []})  # an id the run never stored: never read
    index.sync(engine, run_id, batch=7, known=known)
    assert len(known) == 1  # every value consumed but the one the run never stored
    from_memory = _index_rows(engine, run_id)

    with engine.begin() as conn:  # the same run indexed from the database alone
        conn.execute(si_items.delete().where(si_items.c.run_id == run_id))
        conn.execute(si_iterations.delete().where(si_iterations.c.run_id == run_id))
        conn.execute(si_index_state.delete().where(si_index_state.c.run_id == run_id))
    index.sync(engine, run_id)
    from_database = _index_rows(engine, run_id)
    assert from_memory[1] == from_database[1] and len(from_memory[0]) == len(from_database[0])
    t, i = (int(p) for p in flipped.split("/")[1:])
    differs = [(a[1], a[2]) for a, b in zip(from_memory[0], from_database[0], strict=True) if a != b]
    assert differs == [(t, i)]  # only the item whose handed-over verdict was changed on purpose
    known.drop_upto(10**9)
    assert len(known) == 0


@pytest.fixture()
def pg_engine(data_dir, monkeypatch):
    """PostgreSQL alone: the case below cannot happen on SQLite, whose single writer commits in id order."""
    from core.store import dispose_all, get_engine
    from tests.conftest import _postgres_url, bare_engine

    url = _postgres_url()
    eng = bare_engine(url)
    with eng.begin() as conn:
        conn.execute(sql_text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()
    dispose_all()
    yield get_engine(url)
    dispose_all()


@pytest.mark.postgres
def test_a_result_committed_after_a_later_one_is_still_indexed(pg_engine):
    engine = pg_engine
    run_id = make_run(engine, iterations=4, seed=5)
    view = load_run(run_store.results(engine, run_id))
    first, second = view.items[0].key, view.items[1].key
    index.sync(engine, run_id)
    # A slow writer takes an id, then a quick one takes the next and commits; a sync runs in between.
    slow = engine.connect()
    tx = slow.begin()
    slow.execute(
        insert(run_results).values(
            run_id=run_id,
            key="edit/000005",
            value={"op": "delete", "item": first, "instruction": None},
            created_at=utcnow(),
        )
    )
    record_edit(engine, run_id, second, "delete")  # a later id, committed first
    index.sync(engine, run_id)
    tx.commit()
    slow.close()
    index.sync(engine, run_id)
    rows = si_pages.pool_page(engine, run_id, si_pages.PoolQuery(show_deleted=True), limit=1000).rows
    deleted = {r.item for r in rows if r.deleted}
    assert deleted == {x.key for x in load_run(run_store.results(engine, run_id)).items if x.deleted}
    assert deleted == {first, second}
