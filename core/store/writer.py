"""Group commit for the call log and the run results: concurrent writers share one transaction.

With dozens of request threads each logging its call (and storing its result) in a transaction of its own,
SQLite serialises them on its write lock (each waiting thread sleeps in the busy handler) and the connection
pool runs dry. Here every `insert` is queued to one writer thread per engine, which takes whatever is
queued, for every table, makes the rows' final values (compression happens here, in one thread), and
inserts them in one transaction: on SQLite through the driver on a connection the thread keeps while it
runs, elsewhere with one executemany per table. One thread for all
tables, not one per table: two writers of one SQLite file would wait for each other's lock, and SQLite's
busy handler waits in sleeps of milliseconds, which a Self-Instruct iteration's critical path then waits for.
Another process may still write the same file (a run's stage worker, a second job worker): there the
writer takes SQLite's write lock itself, asking again every fraction of a millisecond, instead of sleeping
in the busy handler's 1, 2, 5, 10 ms steps.

Durability is unchanged: `insert` returns only once its row is committed, so a call row is in the database
before the model's answer is handed to the code that stores a result citing it, and a result is stored
before the job counts its unit done. A crash loses only rows whose `insert` had not returned: calls nobody
has referred to yet (their runs ask again on resume) and results not yet reported stored. A batch that
fails (e.g. one duplicate result key) is retried row by row, so each caller gets its own outcome. The
thread stops when idle.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, Table, insert

from core.store.db import BUSY_TIMEOUT_MS

MAX_BATCH = 512
IDLE_EXIT_S = 1.0
# Taking SQLite's write lock while another process holds it: asked again after 0.2 ms, doubling up to 2 ms,
# for as long as the connections' busy timeout would wait. At 20K instructions (instant answers) the busy
# handler's steps had a run's writer waiting for the stage worker's commits for 5.8 s; asked this way, the
# writer's whole time fell from 11.0 s to 7.2 s and the loop's wait for its logged answers by a sixth.
LOCK_FIRST_WAIT_S = 0.0002
LOCK_MAX_WAIT_S = 0.002
LOCK_TIMEOUT_S = BUSY_TIMEOUT_MS / 1000  # as long as the busy handler would wait


class _Outcome:
    """A queued row's id or error, for the one caller waiting on it: a lock held until the outcome is set.
    A Future (a condition variable made, waited on and notified per row) took a tenth more CPU per logged
    call (`benchmarks/selfinstruct_scale.py --call-log`)."""

    __slots__ = ("_ready", "_id", "_error")

    def __init__(self) -> None:
        self._ready = threading.Lock()
        self._ready.acquire()
        self._id = 0
        self._error: BaseException | None = None

    def set_result(self, row_id: int) -> None:
        self._id = row_id
        self._ready.release()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._ready.release()

    def result(self) -> int:
        self._ready.acquire()
        if self._error is not None:
            raise self._error
        return self._id


# A queued row: its table, its values, its caller's outcome and what makes its final values.
_Queued = tuple[Table, dict[str, Any], _Outcome, Callable[[dict[str, Any]], dict[str, Any]] | None]


class GroupWriter:
    def __init__(self, engine: Engine):
        self._engine = weakref.ref(engine)
        self._queue: queue.SimpleQueue[_Queued] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        # Built once per table (SQLAlchemy memoises its cache key on the object): none built per batch.
        self._statements: dict[str, Any] = {}
        self._plans: dict[tuple[str, tuple[str, ...]], tuple[str, list]] = {}
        self._raw: Any = None  # the writer thread's own SQLite connection while it runs

    def _statement(self, table: Table) -> Any:
        statement = self._statements.get(table.name)
        if statement is None:
            statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            self._statements[table.name] = statement
        return statement

    def insert(
        self,
        table: Table,
        row: dict[str, Any],
        prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> int:
        """Insert one row (all rows of a table must carry the same keys); returns its id once committed.

        `prepare(row)`, if given, makes the row's final values in the writer's thread (say, compressing its
        texts): done there once per row, not in dozens of request threads contending for the interpreter."""
        done = _Outcome()
        with self._lock:
            self._queue.put((table, row, done, prepare))
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
                        self._release()  # before a new writer thread can start (and would take it over)
                        self._running = False
                        return
                continue
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _release(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            # Back to the pool as the others are (waiting in the busy handler); one that cannot be returned
            # is dropped, and the pool opens another when it is needed.
            with contextlib.suppress(Exception):
                _set_busy_timeout(raw, BUSY_TIMEOUT_MS)
                raw.close()

    def _write(self, batch: list[_Queued]) -> None:
        engine = self._engine()
        if engine is None:
            for _, _, done, _ in batch:
                done.set_exception(RuntimeError("the database engine was closed"))
            return
        ready: list[tuple[Table, dict[str, Any], _Outcome]] = []
        for table, row, done, prepare in batch:
            if prepare is not None:
                try:
                    row = prepare(row)
                except Exception as exc:
                    done.set_exception(exc)
                    continue
            ready.append((table, row, done))
        batch = ready
        by_table: dict[str, list[tuple[Table, dict[str, Any], _Outcome]]] = {}
        for item in batch:  # calls before the results citing them: queue order is kept within a table
            by_table.setdefault(item[0].name, []).append(item)
        try:
            if engine.dialect.name == "sqlite":
                outcomes = self._write_sqlite(engine, by_table)
            else:
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

    def _write_sqlite(self, engine: Engine, by_table: dict[str, list]) -> list:
        """The batch through the driver itself: SQLAlchemy's statement handling for an executemany cost
        more than the inserts. Values go through each column type's own bind processor (JSON, dates), so
        the rows are exactly what SQLAlchemy would have written."""
        # The writer keeps its connection while it runs: batches of a few rows came and went through the
        # pool's check-out and check-in, which cost as much as their inserts.
        if self._raw is None:
            self._raw = engine.raw_connection()
            _set_busy_timeout(self._raw, 0)  # the lock is asked for below, without the busy handler's sleeps
        raw = self._raw
        try:
            cursor = raw.cursor()
            outcomes = []
            try:
                _take_write_lock(cursor)
                for items in by_table.values():
                    table, first = items[0][0], items[0][1]
                    sql, columns = self._plan(engine, table, tuple(first))
                    for item in items:
                        row = item[1]
                        values = [row[k] if p is None else p(row[k]) for k, p in columns]
                        cursor.execute(sql, values)
                        ((row_id,),) = cursor.fetchall()  # to the end: the statement is then complete
                        outcomes.append((item, row_id))
                raw.commit()
            finally:
                cursor.close()
            return outcomes
        except BaseException:
            with contextlib.suppress(Exception):  # the connection is dropped just below either way
                raw.rollback()
            self._release()  # a fresh connection for the next batch, whatever went wrong with this one
            raise

    def _plan(self, engine: Engine, table: Table, keys: tuple[str, ...]) -> tuple[str, list]:
        """The INSERT for rows with these keys, and each key with its column's bind processor."""
        plan = self._plans.get((table.name, keys))
        if plan is None:
            names = ", ".join(f'"{k}"' for k in keys)
            marks = ", ".join("?" for _ in keys)
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks}) RETURNING "id"'
            dialect = engine.dialect  # the dialect's own form of each type (SQLite writes dates as text)
            columns = [(k, table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) for k in keys]
            plan = self._plans[(table.name, keys)] = (sql, columns)
        return plan


def _set_busy_timeout(raw: Any, ms: int) -> None:
    cursor = raw.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(ms)}")
    finally:
        cursor.close()


def _take_write_lock(cursor: Any) -> None:
    """BEGIN IMMEDIATE on a connection without a busy timeout, asked again while another holds the lock.
    Holding it, the batch's inserts and commit meet no other writer."""
    wait = LOCK_FIRST_WAIT_S
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        try:
            cursor.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(wait)
        wait = min(wait * 2, LOCK_MAX_WAIT_S)


_writers: weakref.WeakKeyDictionary[Engine, GroupWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer(engine: Engine) -> GroupWriter:
    with _writers_lock:
        found = _writers.get(engine)
        if found is None:
            found = _writers[engine] = GroupWriter(engine)
        return found
