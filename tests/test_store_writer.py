"""One group-commit writer per database for the call log and the run results together: rows of both
tables written at once from many threads all land, each caller gets its own id or its own failure, and a
duplicate result key fails alone."""

from __future__ import annotations

import threading

from core.store import calls as call_log
from core.store import runs as run_store
from core.store.schema import run_results
from core.store.writer import writer


def _record(i: int, run_id: int) -> call_log.CallRecord:
    return call_log.CallRecord(
        cache_key=f"{i:064d}",
        provider="openai",
        endpoint="http://x/v1",
        model="m",
        style="completion",
        prompt=f"prompt {i}",
        messages=None,
        params={"max_tokens": 4},
        sample_index=0,
        choices=[{"text": f"answer {i}", "finish_reason": "stop"}],
        run_id=run_id,
    )


def test_calls_and_results_from_many_threads_share_one_writer(engine):
    run_id = run_store.create_run(engine, "generate", {})
    ids: dict[int, int] = {}
    saved: dict[int, bool] = {}
    errors: list[Exception] = []
    start = threading.Barrier(16)

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(worker * 20, worker * 20 + 20):
                ids[i] = call_log.log_call(engine, _record(i, run_id))
                saved[i] = run_store.save_result(engine, run_id, f"r/{i}", {"call_id": ids[i]})
                # Every fourth key again: the first value stays, and only this caller hears of it.
                if i % 4 == 0:
                    saved[-i - 1] = run_store.save_result(engine, run_id, f"r/{i}", {"call_id": -1})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids.values())) == 320  # one distinct id per call
    assert all(saved[i] for i in range(320)) and not any(v for k, v in saved.items() if k < 0)
    stored = run_store.results(engine, run_id)
    assert len(stored) == 320
    for i in range(320):
        call_id = stored[f"r/{i}"]["call_id"]
        assert call_id == ids[i]
        assert call_log.get_call(engine, call_id).choices[0]["text"] == f"answer {i}"  # committed, readable
        assert call_log.find_cached(engine, f"{i:064d}").id == call_id
    assert call_log.find_cached(engine, "9" * 64) is None
    assert writer(engine) is writer(engine)  # one per database, whichever table


def test_the_writer_stores_sqlite_rows_exactly_as_sqlalchemy_would(sqlite_engine):
    """On SQLite the writer inserts through the driver, each value through its column type's own bind
    processor: dates, JSON (a Python None is JSON null) and compressed texts come out the same."""
    import sqlite3

    from sqlalchemy import insert

    from core.store import compact
    from core.store.db import utcnow
    from core.store.schema import calls

    record = _record(1, run_store.create_run(sqlite_engine, "generate", {}))
    record.messages, record.prompt, record.choices, record.error = (
        [{"role": "user", "content": "héllo"}],
        None,
        None,
        "x",
    )
    record.params = {"max_tokens": 3, "stop": ["\n"], "seed": None}
    through_writer = call_log.log_call(sqlite_engine, record)
    values = {**compact.encode_row(sqlite_engine, call_log._values(record)), "created_at": utcnow()}
    with sqlite_engine.begin() as conn:
        through_sqlalchemy = conn.execute(insert(calls).values(**values).returning(calls.c.id)).scalar_one()
    raw = sqlite3.connect(sqlite_engine.url.database)
    a, b = (
        raw.execute("SELECT * FROM calls WHERE id = ?", (i,)).fetchone()
        for i in (through_writer, through_sqlalchemy)
    )
    names = [c[1] for c in raw.execute("PRAGMA table_info(calls)")]
    differing = {n for n, x, y in zip(names, a, b, strict=True) if (x, type(x)) != (y, type(y))}
    assert differing == {"id", "created_at"}
    assert len(a[names.index("created_at")]) == len(b[names.index("created_at")])  # same format, no zone
    assert call_log.get_call(sqlite_engine, through_writer).messages == record.messages


def test_a_row_whose_final_values_cannot_be_made_fails_alone(engine):
    run_id = run_store.create_run(engine, "generate", {})
    outcomes: dict[int, object] = {}
    start = threading.Barrier(8)

    def broken(row):
        raise ValueError("cannot encode this one")

    def work(i: int) -> None:
        start.wait()
        try:
            if i == 3:
                writer(engine).insert(run_results, {"run_id": run_id, "key": "bad"}, prepare=broken)
            outcomes[i] = run_store.save_result(engine, run_id, f"ok/{i}", {"i": i})
        except ValueError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(outcomes.pop(3), ValueError) and all(v is True for v in outcomes.values())
    assert sorted(run_store.results(engine, run_id)) == sorted(f"ok/{i}" for i in outcomes)


def test_on_sqlite_the_writer_waits_for_another_process_lock_and_leaves_the_pool_as_it_found_it(
    sqlite_engine, monkeypatch
):
    """Another connection (as another process would) holds SQLite's write lock: the writer asks for it
    again and again (it has no busy timeout of its own meanwhile) and commits once it is free. The
    connection it gives back to the pool waits in the busy handler again, as every other one does."""
    import sqlite3

    import core.store.writer as writer_mod

    monkeypatch.setattr(writer_mod, "IDLE_EXIT_S", 0.05)
    run_id = run_store.create_run(sqlite_engine, "generate", {})
    other = sqlite3.connect(sqlite_engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    done = threading.Event()
    ids: list[int] = []
    thread = threading.Thread(
        target=lambda: (ids.append(call_log.log_call(sqlite_engine, _record(7, run_id))), done.set())
    )
    thread.start()
    assert not done.wait(0.3), "the writer committed while another connection held the write lock"
    other.execute("COMMIT")
    assert done.wait(10)
    thread.join()
    assert call_log.get_call(sqlite_engine, ids[0]).choices[0]["text"] == "answer 7"
    other.close()

    writer_thread = [t for t in threading.enumerate() if t.name == "db-writer"]
    for t in writer_thread:
        t.join(5)  # idle: it gives its connection back
    timeouts = set()
    raws = [sqlite_engine.raw_connection() for _ in range(3)]  # whichever the pool hands out
    for raw in raws:
        cursor = raw.cursor()
        cursor.execute("PRAGMA busy_timeout")
        timeouts.add(cursor.fetchone()[0])
        cursor.close()
    for raw in raws:
        raw.close()
    assert timeouts == {30000}


def test_on_sqlite_a_lock_held_past_the_timeout_fails_with_sqlites_own_error(sqlite_engine, monkeypatch):
    import sqlite3

    import pytest

    import core.store.writer as writer_mod

    monkeypatch.setattr(writer_mod, "LOCK_TIMEOUT_S", 0.2)
    other = sqlite3.connect(sqlite_engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    mine = sqlite3.connect(sqlite_engine.url.database, isolation_level=None)
    mine.execute("PRAGMA busy_timeout=0")
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            writer_mod._take_write_lock(mine.cursor())
        other.execute("ROLLBACK")
        writer_mod._take_write_lock(mine.cursor())  # free again: taken at once
        assert mine.in_transaction
    finally:
        mine.close()
        other.close()
