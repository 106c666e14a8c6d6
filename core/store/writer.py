"""Group commit for the call log and the run results: concurrent writers share one transaction.

With dozens of request threads each logging its call (and storing its result) in a transaction of its own,
SQLite serialises them on its write lock (each waiting thread sleeps in the busy handler) and the connection
pool runs dry. Here every `insert` is queued to one writer thread per engine, which takes whatever is
queued, for every table, and inserts it with one executemany per table and one commit. One thread for all
tables, not one per table: two writers of one SQLite file would wait for each other's lock, and SQLite's
busy handler waits in sleeps of milliseconds, which a Self-Instruct iteration's critical path then waits for.

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
    def __init__(self, engine: Engine):
        self._engine = weakref.ref(engine)
        self._queue: queue.SimpleQueue[tuple[Table, dict[str, Any], Future[int]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        # Built once per table (SQLAlchemy memoises its cache key on the object): none built per batch.
        self._statements: dict[str, Any] = {}

    def _statement(self, table: Table) -> Any:
        statement = self._statements.get(table.name)
        if statement is None:
            statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            self._statements[table.name] = statement
        return statement

    def insert(self, table: Table, row: dict[str, Any]) -> int:
        """Insert one row (all rows of a table must carry the same keys); returns its id once committed."""
        done: Future[int] = Future()
        with self._lock:
            self._queue.put((table, row, done))
            if not self._running:
                self._running = True
                threading.Thread(target=self._loop, name="db-writer", daemon=True).start()
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

    def _write(self, batch: list[tuple[Table, dict[str, Any], Future[int]]]) -> None:
        engine = self._engine()
        if engine is None:
            for _, _, done in batch:
                done.set_exception(RuntimeError("the database engine was closed"))
            return
        by_table: dict[str, list[tuple[Table, dict[str, Any], Future[int]]]] = {}
        for item in batch:  # calls before the results citing them: queue order is kept within a table
            by_table.setdefault(item[0].name, []).append(item)
        try:
            with engine.begin() as conn:
                outcomes = []
                for items in by_table.values():
                    statement = self._statement(items[0][0])
                    ids = list(conn.execute(statement, [row for _, row, _ in items]).scalars())
                    outcomes += zip(items, ids, strict=True)
        except Exception:
            # One bad row must not fail its neighbours: write them one by one, each getting its own outcome.
            for table, row, done in batch:
                try:
                    with engine.begin() as conn:
                        row_id = conn.execute(self._statement(table), [row]).scalar_one()
                except Exception as exc:
                    done.set_exception(exc)
                else:  # only once committed: the caller may read its row right away
                    done.set_result(row_id)
            return
        for (_, _, done), row_id in outcomes:
            done.set_result(row_id)


_writers: weakref.WeakKeyDictionary[Engine, GroupWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer(engine: Engine) -> GroupWriter:
    with _writers_lock:
        found = _writers.get(engine)
        if found is None:
            found = _writers[engine] = GroupWriter(engine)
        return found
