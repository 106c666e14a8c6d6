"""Job kinds by name. Pipelines register theirs; the runner imports `core.jobs.kinds` to load them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.jobs.context import JobContext

JOB_KINDS: dict[str, Callable[[JobContext], None]] = {}


def job_kind(name: str) -> Callable[[Callable[[JobContext], None]], Callable[[JobContext], None]]:
    def register(fn: Callable[[JobContext], None]) -> Callable[[JobContext], None]:
        JOB_KINDS[name] = fn
        return fn

    return register


def load_all() -> None:
    """Import every module that registers job kinds (kept in one list so the runner sees them all)."""
    import core.jobs.kinds  # noqa: F401
