"""Group commit for the call log and the run results: concurrent writers share one transaction.

With dozens of request threads each logging its call (and storing its result) in a transaction of its own,
SQLite serialises them on its write lock (each waiting thread sleeps in the busy handler) and the connection
pool runs dry. Here every `insert` is queued to one writer thread per engine and table, which takes whatever
is queued and inserts it with one executemany and one commit.

Durability is unchanged: `insert` returns only once its row is committed, so a call row is in the database
before the model's answer is handed to the code that stores a result citing it, and a result is stored
before the job counts its unit done. A crash loses only rows whose `insert` had not returned: calls nobody
has referred to yet (their runs ask again on resume) and results not yet reported stored. A batch that
fails (e.g. one duplicate result key) is retried row by row, so each caller gets its own outcome. The
thread stops when idle.
"""

from __future__ import annotations

import queue
import threading
import weakref
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Engine, Table, insert

MAX_BATCH = 512
IDLE_EXIT_S = 1.0


class GroupWriter:
    def __init__(self, engine: Engine, table: Table):
        self._engine = weakref.ref(engine)
        self._table = table
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Future[int]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        # Built once (SQLAlchemy memoises its cache key on the object): no statement construction per batch.
        self._statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)

    def insert(self, row: dict[str, Any]) -> int:
        """Insert one row (all rows of a table must carry the same keys); returns its id once committed."""
        done: Future[int] = Future()
        with self._lock:
            self._queue.put((row, done))
            if not self._running:
                self._running = True
                threading.Thread(target=self._loop, name="call-log-writer", daemon=True).start()
        return done.result()

    def _loop(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=IDLE_EXIT_S)]
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._running = False
                        return
                continue
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[tuple[dict[str, Any], Future[int]]]) -> None:
        engine = self._engine()
        if engine is None:
            for _, done in batch:
                done.set_exception(RuntimeError("the database engine was closed"))
            return
        statement = self._statement
        try:
            with engine.begin() as conn:
                ids = list(conn.execute(statement, [row for row, _ in batch]).scalars())
        except Exception:
            # One bad row must not fail its neighbours: write them one by one, each getting its own outcome.
            for row, done in batch:
                try:
                    with engine.begin() as conn:
                        row_id = conn.execute(statement, [row]).scalar_one()
                except Exception as exc:
                    done.set_exception(exc)
                else:  # only once committed: the caller may read its row right away
                    done.set_result(row_id)
            return
        for (_, done), row_id in zip(batch, ids, strict=True):
            done.set_result(row_id)


_writers: weakref.WeakKeyDictionary[Engine, dict[str, GroupWriter]] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer(engine: Engine, table: Table) -> GroupWriter:
    with _writers_lock:
        per_engine = _writers.setdefault(engine, {})
        if table.name not in per_engine:
            per_engine[table.name] = GroupWriter(engine, table)
        return per_engine[table.name]
