"""What a running job sees: its parameters, its stored results, progress, cancellation and the model."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from core.llm import LLMClient, ModelSettings, make_provider, settings_from_env
from core.store import runs as run_store


class Cancelled(Exception):
    """Raised inside a job when the user asked it to stop; the runner marks the run cancelled."""


# Progress is written at most this often (and always when it reaches its total): a write per model call was a
# tenth of a fast endpoint's client cost. Liveness and cancellation do not depend on it (the runner's
# heartbeat thread keeps the run alive and sets `stop` on a cancel).
PROGRESS_EVERY_S = 0.25


class Stopped(Exception):
    """Raised by a job that cannot usefully go on (e.g. a stalled loop): the run is marked failed with this
    message as its reason, without a traceback, and can be resumed once the cause is addressed."""


@dataclass
class JobContext:
    engine: Engine
    run: run_store.Run
    worker: str
    model_settings: ModelSettings | None = None
    # Set when the run must stop (Cancel, Ctrl-C, taken over): model calls in progress give up at once.
    stop: threading.Event = field(default_factory=threading.Event)
    _done: set[str] = field(default_factory=set)
    _live_at: float = 0.0
    _live_shown: bool = True  # whether the run may show live text (unknown at first: cleared once)
    _progress_at: float = float("-inf")

    def __post_init__(self) -> None:
        self._done = run_store.result_keys(self.engine, self.run.id)

    @property
    def run_id(self) -> int:
        return self.run.id

    @property
    def params(self) -> dict[str, Any]:
        return self.run.params

    def settings(self) -> ModelSettings:
        """The model this run calls: the one it was started with, else the process's configured one."""
        return self.model_settings or settings_from_env()

    def llm(self, settings: ModelSettings | None = None) -> LLMClient:
        """A client for the run's model; every call it makes is logged under this run."""
        s = settings or self.settings()
        return LLMClient(make_provider(s), self.engine, run_id=self.run.id, abort=self.stop)

    def done(self, key: str) -> bool:
        return key in self._done

    def save(self, key: str, value: Any) -> bool:
        """Store a unit's result exactly once (a unit already stored is not stored again)."""
        return self.store(key, value) is not None

    def store(self, key: str, value: Any) -> int | None:
        """`save`, returning the stored result's id (None: the unit was stored already)."""
        stored = run_store.store_result(self.engine, self.run.id, key, value)
        self._done.add(key)
        return stored

    def results(self, prefix: str = "") -> dict[str, Any]:
        return run_store.results(self.engine, self.run.id, prefix)

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report progress and stay alive; raises Cancelled if the user asked the run to stop."""
        if self.stop.is_set():
            raise Cancelled()
        now = time.monotonic()
        if done < total and now - self._progress_at < PROGRESS_EVERY_S:
            return
        self._progress_at = now
        cancelled = run_store.heartbeat(
            self.engine,
            self.run.id,
            self.worker,
            progress_done=done,
            progress_total=total,
            message=message[:500],
        )
        if cancelled:
            self.stop.set()
            raise Cancelled()

    def live(self, text: str | None) -> None:
        """Show what the model is writing now (None clears it); throttled, as a stream calls per token."""
        now = time.monotonic()
        if text is not None and now - self._live_at < 0.3:
            return
        if text is None and not self._live_shown:
            return  # cleared already: no write per iteration for nothing
        self._live_at = now
        self._live_shown = text is not None
        run_store.update_run(self.engine, self.run.id, live=None if text is None else text[-8000:])

    def check_cancelled(self) -> None:
        if self.stop.is_set() or run_store.heartbeat(self.engine, self.run.id, self.worker):
            self.stop.set()
            raise Cancelled()
