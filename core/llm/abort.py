"""Stopping a model call part-way when its run is being stopped (Ctrl-C, SIGTERM, Cancel).

The client sets the run's stop event for the thread that makes a call; providers check it between tokens,
between streamed chunks and between retries, and raise `Aborted`. An aborted call stores nothing: its run
resumes by asking again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from core.llm.types import Aborted

_current: ContextVar[threading.Event | None] = ContextVar("llm_abort", default=None)


@contextmanager
def abort_on(event: threading.Event | None) -> Iterator[None]:
    """Calls made inside this block give up (raise `Aborted`) once `event` is set."""
    token = _current.set(event)
    try:
        yield
    finally:
        _current.reset(token)


def requested() -> bool:
    event = _current.get()
    return event is not None and event.is_set()


def check() -> None:
    if requested():
        raise Aborted()


def sleep(seconds: float) -> None:
    """Wait between retries, cut short (with `Aborted`) if the run is stopped meanwhile."""
    event = _current.get()
    if event is None:
        time.sleep(seconds)
    elif event.wait(seconds):
        raise Aborted()
