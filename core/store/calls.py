"""The model-call log, which doubles as the cache, and the editable price table."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from core.store import compact
from core.store.db import utcnow
from core.store.schema import calls, prices, runs
from core.store.writer import writer


@dataclass
class CallRecord:
    cache_key: str
    provider: str
    endpoint: str
    model: str
    style: str
    prompt: str | None
    messages: list[dict[str, str]] | None
    params: dict[str, Any]
    sample_index: int
    choices: list[dict[str, Any]] | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost: float | None = None
    error: str | None = None
    run_id: int | None = None
    id: int | None = None
    created_at: datetime | None = field(default=None)


def _values(record: CallRecord) -> dict[str, Any]:
    from core.llm.redact import public_url, redact  # here, not at the top: core.llm imports this module

    values = {k: v for k, v in record.__dict__.items() if k not in ("id", "created_at")}
    # Whoever made the record, no key or URL password reaches the log.
    values["error"] = redact(record.error)
    values["endpoint"] = public_url(record.endpoint)
    return values


def log_call(engine: Engine, record: CallRecord) -> int:
    """Log one call; returns its id once committed. Concurrent callers share a transaction (group commit)."""
    values = {**_values(record), "created_at": utcnow()}
    call_id = writer(engine).insert(calls, values, prepare=partial(compact.encode_row, engine))
    if record.error is None:
        _note_logged(record.cache_key)
    return call_id


# Keys of the successful calls this process logged lately, numbered in order: a caller that looked up many
# keys in one query (`find_cached_many`) can tell whether one of them was logged here since, and only
# then look again. Bounded: a look-up older than the window is simply looked up again.
RECENT_MAX = 8192
_recent_lock = threading.Lock()
_recent_seq = 0
_recent_order: deque[tuple[int, str]] = deque()
_recent_keys: dict[str, int] = {}


def _note_logged(key: str) -> None:
    global _recent_seq
    with _recent_lock:
        _recent_seq += 1
        _recent_keys[key] = _recent_seq
        _recent_order.append((_recent_seq, key))
        if len(_recent_order) > RECENT_MAX:
            seq, old = _recent_order.popleft()
            if _recent_keys.get(old) == seq:
                del _recent_keys[old]


def log_sequence() -> int:
    """The number of the latest successful call logged by this process (read before a look-up)."""
    with _recent_lock:
        return _recent_seq


def logged_since(cache_key: str, sequence: int) -> bool:
    """Whether this process may have logged a successful call with this key after `sequence`."""
    with _recent_lock:
        if _recent_seq - sequence >= RECENT_MAX:
            return True  # the window no longer reaches back that far
        return _recent_keys.get(cache_key, 0) > sequence


def log_calls(engine: Engine, records: Sequence[CallRecord]) -> list[int]:
    """Log many calls in one transaction and one executemany (batch ingest); ids in the records' order."""
    if not records:
        return []
    now = utcnow()
    rows = [{**compact.encode_row(engine, _values(r)), "created_at": now} for r in records]
    with engine.begin() as conn:
        result = conn.execute(insert(calls).returning(calls.c.id, sort_by_parameter_order=True), rows)
        ids = list(result.scalars())
    for r in records:
        if r.error is None:
            _note_logged(r.cache_key)
    return ids


def _record(engine: Engine, row) -> CallRecord:
    return CallRecord(**compact.decode_row(engine, row._mapping))


def find_cached(engine: Engine, cache_key: str) -> CallRecord | None:
    """The earliest successful call with this key: replays always see the same answer."""
    call_id = find_cached_many(engine, [cache_key]).get(cache_key)
    return None if call_id is None else get_call(engine, call_id)


def find_cached_many(engine: Engine, cache_keys: Sequence[str]) -> dict[str, int]:
    """For the keys that have one, the id of their earliest successful call.

    Every model call looks here first and almost every look in a new run misses, so the look is a plain
    statement on the driver's connection (SQLAlchemy's statement handling cost several times the query),
    one for many keys (a run sending thousands of new requests paid a query each, a quarter of its client
    time); a hit then reads its row the usual way."""
    found: dict[str, int] = {}
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for start in range(0, len(cache_keys), 500):
            chunk = list(dict.fromkeys(cache_keys[start : start + 500]))
            cursor.execute(
                f"SELECT cache_key, MIN(id) FROM calls WHERE cache_key IN ({', '.join([mark] * len(chunk))}) "
                "AND error IS NULL GROUP BY cache_key",
                chunk,
            )
            found.update((key, call_id) for key, call_id in cursor.fetchall())
        cursor.close()
    finally:
        raw.close()
    return found


def get_call(engine: Engine, call_id: int) -> CallRecord | None:
    with engine.connect() as conn:
        row = conn.execute(select(calls).where(calls.c.id == call_id)).first()
    return _record(engine, row) if row else None


def get_calls(engine: Engine, call_ids: Iterable[int]) -> dict[int, CallRecord]:
    """The calls with these ids (those that exist), read a few hundred per query."""
    ids = sorted(set(call_ids))
    found: dict[int, CallRecord] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            for row in conn.execute(select(calls).where(calls.c.id.in_(ids[start : start + 500]))):
                found[row.id] = _record(engine, row)
    return found


def list_calls(
    engine: Engine, run_id: int | None = None, limit: int = 100, offset: int = 0, errors_only: bool = False
) -> list[CallRecord]:
    query = select(calls).order_by(calls.c.id.desc()).limit(limit).offset(offset)
    if run_id is not None:
        query = query.where(calls.c.run_id == run_id)
    if errors_only:
        query = query.where(calls.c.error.is_not(None))
    with engine.connect() as conn:
        return [_record(engine, r) for r in conn.execute(query)]


def count_calls(engine: Engine, run_id: int | None = None) -> int:
    query = select(func.count()).select_from(calls)
    if run_id is not None:
        query = query.where(calls.c.run_id == run_id)
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def mean_latency_ms(engine: Engine, model: str) -> tuple[float, int] | None:
    """This model's mean latency over its logged successful calls, and how many there were."""
    query = select(func.avg(calls.c.latency_ms), func.count()).where(
        calls.c.model == model, calls.c.error.is_(None), calls.c.latency_ms > 0
    )
    with engine.connect() as conn:
        mean, n = conn.execute(query).one()
    return None if not n else (float(mean), int(n))


def totals_by_run(engine: Engine) -> list[dict[str, Any]]:
    """Calls, tokens, latency and cost per run (run None = calls made outside any run)."""
    query = (
        select(
            calls.c.run_id,
            runs.c.kind,
            runs.c.name,
            func.count().label("calls"),
            func.sum(calls.c.prompt_tokens).label("prompt_tokens"),
            func.sum(calls.c.completion_tokens).label("completion_tokens"),
            func.sum(calls.c.latency_ms).label("latency_ms"),
            func.sum(calls.c.cost).label("cost"),
            func.count(calls.c.error).label("errors"),
        )
        .select_from(calls.outerjoin(runs, runs.c.id == calls.c.run_id))
        .group_by(calls.c.run_id, runs.c.kind, runs.c.name)
        .order_by(calls.c.run_id.desc())
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def get_prices(engine: Engine) -> dict[str, tuple[float, float]]:
    with engine.connect() as conn:
        return {r.model: (r.prompt_per_1k, r.completion_per_1k) for r in conn.execute(select(prices))}


def set_prices(engine: Engine, table: dict[str, tuple[float, float]]) -> None:
    """Replace the price table (the Settings page edits it as a whole)."""
    with engine.begin() as conn:
        conn.execute(delete(prices))
        for model, (p_in, p_out) in table.items():
            conn.execute(insert(prices).values(model=model, prompt_per_1k=p_in, completion_per_1k=p_out))


def estimate_cost(
    table: dict[str, tuple[float, float]], model: str, prompt_tokens: int, completion_tokens: int
) -> float | None:
    if model not in table:
        return None
    p_in, p_out = table[model]
    return (prompt_tokens * p_in + completion_tokens * p_out) / 1000.0
