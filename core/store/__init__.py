"""Persistence: SQLAlchemy 2 over SQLite (WAL) by default, PostgreSQL via DATABASE_URL."""

from core.store.db import database_url, dispose_all, get_engine, utcnow

__all__ = ["database_url", "dispose_all", "get_engine", "utcnow"]
