"""Runs and their keyed results: what background jobs read and write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.store import compact
from core.store.db import utcnow
from core.store.schema import run_results, runs
from core.store.writer import writer

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Run:
    id: int
    kind: str
    name: str
    params: dict[str, Any]
    status: str
    progress_done: int
    progress_total: int
    message: str
    live: str | None
    error: str | None
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    worker: str | None = None
    heartbeat_at: datetime | None = None

    @property
    def fraction(self) -> float:
        return self.progress_done / self.progress_total if self.progress_total else 0.0


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """What is written to a run, without secrets: errors and messages redacted (an endpoint may echo the
    key), no `user:password@` in any URL among the parameters."""
    from core.llm.redact import redact  # here, not at the top: core.llm imports the store

    for name in ("error", "message"):
        if isinstance(values.get(name), str):
            values[name] = redact(values[name])
    if "params" in values:
        values["params"] = _without_url_credentials(values["params"])
    return values


def _without_url_credentials(value: Any) -> Any:
    from core.llm.redact import public_url

    if isinstance(value, str):
        return public_url(value) if "://" in value and "@" in value else value
    if isinstance(value, dict):
        return {k: _without_url_credentials(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_url_credentials(v) for v in value]
    return value


def _run(row) -> Run:
    return Run(
        id=row.id,
        kind=row.kind,
        name=row.name,
        params=row.params,
        status=row.status,
        progress_done=row.progress_done,
        progress_total=row.progress_total,
        message=row.message,
        live=row.live,
        error=row.error,
        cancel_requested=row.cancel_requested,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        worker=row.worker,
        heartbeat_at=row.heartbeat_at,
    )


def create_run(
    engine: Engine, kind: str, params: dict[str, Any], name: str = "", worker: str | None = None
) -> int:
    """A new run: queued for any worker, or (with `worker`) already running under that worker, in one
    statement, so no other worker can take it first (a command line running its own run)."""
    now = utcnow()
    with engine.begin() as conn:
        return conn.execute(
            insert(runs)
            .values(
                kind=kind,
                name=name,
                params=_without_url_credentials(params),
                status="running" if worker else "queued",
                worker=worker,
                heartbeat_at=now if worker else None,
                progress_done=0,
                progress_total=0,
                message="",
                cancel_requested=False,
                created_at=now,
                updated_at=now,
            )
            .returning(runs.c.id)
        ).scalar_one()


def get_run(engine: Engine, run_id: int) -> Run | None:
    with engine.connect() as conn:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return _run(row) if row else None


def list_runs(engine: Engine, kind: str | None = None, limit: int = 200) -> list[Run]:
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if kind:
        query = query.where(runs.c.kind == kind)
    with engine.connect() as conn:
        return [_run(r) for r in conn.execute(query)]


def update_run(engine: Engine, run_id: int, **values: Any) -> None:
    values = _clean(values)
    values["updated_at"] = utcnow()
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


def finish_run(engine: Engine, run_id: int, worker: str, status: str, error: str | None = None) -> bool:
    """Record how a run ended, if `worker` still holds it (one taken over by another worker is left to
    that worker); returns whether it was recorded."""
    now = utcnow()
    values = _clean({"status": status, "error": error})
    with engine.begin() as conn:
        return bool(
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.worker == worker)
                .values(**values, live=None, finished_at=now, updated_at=now)
            ).rowcount
        )


def request_cancel(engine: Engine, run_id: int) -> None:
    """Ask a run to stop; a queued run stops at once, a running one at its next unit of work."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(cancel_requested=True, updated_at=now))
        conn.execute(
            update(runs)
            .where(and_(runs.c.id == run_id, runs.c.status == "queued"))
            .values(status="cancelled", finished_at=now)
        )


def requeue(engine: Engine, run_id: int) -> None:
    """Put a stopped run back in the queue; it resumes from its stored results."""
    update_run(engine, run_id, status="queued", cancel_requested=False, error=None, finished_at=None)


def claim_next(engine: Engine, worker: str, stale_after: timedelta, kinds: tuple[str, ...]) -> Run | None:
    """Atomically take the oldest queued run, or a running one whose worker stopped heartbeating
    (its process died: the run resumes here)."""
    now = utcnow()
    stale = now - stale_after
    with engine.begin() as conn:
        candidates = conn.execute(
            select(runs.c.id, runs.c.heartbeat_at)
            .where(
                runs.c.kind.in_(kinds),
                or_(
                    runs.c.status == "queued",
                    and_(
                        runs.c.status == "running",
                        or_(runs.c.heartbeat_at.is_(None), runs.c.heartbeat_at < stale),
                    ),
                ),
            )
            .order_by(runs.c.id)
        ).all()
        for run_id, heartbeat in candidates:
            # Compare-and-set on the observed state so two workers never both take a run.
            cond = [runs.c.id == run_id, runs.c.cancel_requested.is_(False)]
            cond.append(
                runs.c.heartbeat_at.is_(None) if heartbeat is None else runs.c.heartbeat_at == heartbeat
            )
            taken = conn.execute(
                update(runs)
                .where(and_(*cond), runs.c.status.in_(ACTIVE))
                .values(status="running", worker=worker, heartbeat_at=now, updated_at=now)
            ).rowcount
            if taken:
                row = conn.execute(select(runs).where(runs.c.id == run_id)).one()
                return _run(row)
    return None


def claim(
    engine: Engine, run_id: int, worker: str, stale_after: timedelta, take_over: bool = False
) -> Run | None:
    """Take over one given run to resume it: a stopped one, or a running one whose worker went silent
    (or, with `take_over`, any running one: its worker notices at its next heartbeat and stops)."""
    now = utcnow()
    free = or_(
        runs.c.status != "running",
        runs.c.heartbeat_at.is_(None),
        runs.c.heartbeat_at < now - stale_after,
    )
    with engine.begin() as conn:
        taken = conn.execute(
            update(runs)
            .where(runs.c.id == run_id, *(() if take_over else (free,)))
            .values(
                status="running",
                worker=worker,
                heartbeat_at=now,
                cancel_requested=False,
                error=None,
                finished_at=None,
                updated_at=now,
            )
        ).rowcount
        if not taken:
            return None
        return _run(conn.execute(select(runs).where(runs.c.id == run_id)).one())


def heartbeat(engine: Engine, run_id: int, worker: str, **values: Any) -> bool:
    """Record liveness (and progress); returns whether this worker should stop: cancellation was
    requested, or another worker took the run over."""
    now = utcnow()
    values = _clean(values)
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.worker == worker)
            .values(heartbeat_at=now, updated_at=now, **values)
        )
        row = conn.execute(select(runs.c.cancel_requested, runs.c.worker).where(runs.c.id == run_id)).first()
        return row is None or bool(row.cancel_requested) or row.worker != worker


def save_result(engine: Engine, run_id: int, key: str, value: Any) -> bool:
    """Store a result once; returns False if the key was already stored (the first value wins).

    Returns once the row is committed. Results saved at once from several threads (a run's overlapped
    stages) share one transaction (group commit, `core.store.writer`): one commit, not one each."""
    return store_result(engine, run_id, key, value) is not None


def store_result(engine: Engine, run_id: int, key: str, value: Any) -> int | None:
    """`save_result`, returning the stored row's id (None if the key was already stored)."""
    row = {"run_id": run_id, "key": key, "created_at": utcnow()}
    try:
        return writer(engine).insert(
            run_results, row, prepare=lambda row: {**row, **compact.encode_result(engine, key, value)}
        )
    except IntegrityError:
        return None


def results(engine: Engine, run_id: int, prefix: str = "") -> dict[str, Any]:
    r = run_results.c
    query = select(r.key, r.value, r.value_z, r.value_dict).where(r.run_id == run_id)
    if prefix:
        query = query.where(r.key.startswith(prefix, autoescape=True))
        if engine.dialect.name == "sqlite" and ord(prefix[-1]) < 0x10FFFF:
            # SQLite's LIKE cannot use the (run_id, key) index, so every prefix read scanned the whole run
            # (a Self-Instruct iteration reads its own results: quadratic over a run). Under SQLite's binary
            # collation every key with the prefix lies in this range; LIKE above still decides exactly.
            query = query.where(r.key >= prefix, r.key < prefix[:-1] + chr(ord(prefix[-1]) + 1))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(r.id)).all()
    return {row.key: compact.decode_result(engine, row.value, row.value_z, row.value_dict) for row in rows}


def result_keys(engine: Engine, run_id: int) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(run_results.c.key).where(run_results.c.run_id == run_id)).scalars())
