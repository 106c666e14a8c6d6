"""Database connection: SQLite (WAL) under the data folder by default, PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Engine, create_engine, event

from core.config import data_dir, setting

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def utcnow() -> datetime:
    return datetime.now(UTC)


def database_url() -> str:
    return setting("DATABASE_URL") or f"sqlite:///{data_dir() / 'workbench.db'}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the page read while a background job writes; the busy timeout makes concurrent writers
    # (two raters, a job and the UI) wait for each other instead of failing.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
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
                engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
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
