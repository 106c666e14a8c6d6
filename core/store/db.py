"""Database connection: SQLite (WAL) under the data folder by default, PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Column, Engine, Select, Table, create_engine, event, func, select

from core.config import data_dir, setting

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
SQLITE_POOL = 64  # connections kept open per SQLite database (each costs little: no server process)
BUSY_TIMEOUT_MS = 30000  # how long a SQLite connection waits for another's write lock before failing


def utcnow() -> datetime:
    return datetime.now(UTC)


def database_url() -> str:
    return setting("DATABASE_URL") or f"sqlite:///{data_dir() / 'workbench.db'}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the page read while a background job writes; the busy timeout makes concurrent writers
    # (two raters, a job and the UI) wait for each other instead of failing.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def get_engine(url: str | None = None) -> Engine:
    """One migrated engine per database URL for the whole process."""
    url = url or database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                # A run's request threads (up to its concurrency) each look in the call log: connections
                # opened and closed per look (the default pool keeps 5) cost more than the looks.
                in_memory = url in ("sqlite://", "sqlite:///:memory:")  # one connection per thread there
                pool = {} if in_memory else {"pool_size": SQLITE_POOL, "max_overflow": SQLITE_POOL}
                engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **pool)
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                if url.startswith("postgresql://"):
                    url_for_driver = "postgresql+psycopg://" + url.removeprefix("postgresql://")
                else:
                    url_for_driver = url
                engine = create_engine(url_for_driver, pool_pre_ping=True, pool_size=10)
            from core.store.migrations import migrate

            migrate(engine)
            _engines[url] = engine
        return engine


def dispose_all() -> None:
    """Forget every engine (tests switch databases between cases)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def latest_per_item(
    table: Table, parent: Column, parent_id: int, person: Column, who: str | None = None
) -> Select:
    """The newest row per (item, person) under one parent: labels and ratings are appended, never updated, so
    a newer answer replaces an older one by id."""
    newest = select(func.max(table.c.id)).where(parent == parent_id).group_by(table.c.item_id, person)
    query = select(table).where(table.c.id.in_(newest)).order_by(table.c.id)
    return query if who is None else query.where(person == who)
