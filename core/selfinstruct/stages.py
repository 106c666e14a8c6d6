"""Classification and instance generation of kept instructions, run as a stream beside the generation loop.

Neither stage changes a novelty decision, so they need not hold up the next iteration (the reference runs
them as later stages, after all generation). Each kept instruction is one unit, worked on by a pool of
threads: classify it, then generate its instances, each result stored under its own key as it arrives. The
model requests of every unit and of the generation loop share the client's one in-flight budget.

The generation loop reads the units' outcomes back in the order the instructions were kept (iteration,
then position), so the streak of instructions without a usable instance - the stall stop - counts exactly
the units a sequential run would, only later. A bounded backlog keeps the loop from running far ahead of
the stages it feeds.

Where the units run is the executor's business: a pool of threads in this process (`ThreadUnits`), or, when
one interpreter would be the bottleneck, a process of their own (`core.selfinstruct.stage_process`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Protocol

from core.llm.client import LookedUp
from core.llm.limit import Rates


@dataclass(frozen=True)
class Unit:
    """The i-th instruction kept by iteration t."""

    t: int
    i: int
    instruction: str
    # Its iteration's requests looked up in the call log at once (None: each request looks for itself).
    looked_up: SharedLookUp | None = field(default=None, compare=False, repr=False)


class SharedLookUp:
    """The look-up of one iteration's stage requests, made by the first of its units to start (on a stage
    thread, so the generation loop does not wait for it) and then used by all of them. `kept`: the
    iteration's kept instructions, whose requests it looks up."""

    def __init__(self, kept: list[str], make: Callable[[], LookedUp | None]):
        self.kept = kept
        self._make: Callable[[], LookedUp | None] | None = make
        self._value: LookedUp | None = None
        self._lock = threading.Lock()

    def get(self) -> LookedUp | None:
        with self._lock:
            if self._make is not None:
                self._value, self._make = self._make(), None
            return self._value


# What a unit yields: whether its instance generation kept anything (None: instances are not generated).
Outcome = bool | None


class Executor(Protocol):
    """Where units run. A unit's stored results are its effect; its future holds its outcome."""

    def submit(self, unit: Unit) -> Future[Outcome]: ...

    def shutdown(self) -> None:
        """Start no more units; return once those being worked on have finished."""

    def rates(self) -> Rates | None:
        """The model rates of requests sent elsewhere than the run's own client (None: there are none)."""


# Threads per place in the stages' in-flight budget. A unit's thread also waits for each answer to be
# logged and each result stored, while its place at the model is already free: with one thread per place,
# measured at 50 ms per answer and 48 places, ~38 requests were at the model; with two, the places stay
# full (`benchmarks/selfinstruct_scale.py --latency 0.05 --requests 16`: 59% -> 63-68% efficiency).
THREADS_PER_PLACE = 2


def unit_threads(places: int) -> int:
    """The size of a pool working units on `places` places at the model."""
    return max(1, places) * THREADS_PER_PLACE


class ThreadUnits:
    """Units run by a pool of threads in this process, on the run's own client."""

    def __init__(self, work: Callable[[Unit], Outcome], places: int):
        self._work = work
        self._pool = ThreadPoolExecutor(max_workers=unit_threads(places), thread_name_prefix="si-stages")

    def submit(self, unit: Unit) -> Future[Outcome]:
        return self._pool.submit(self._work, unit)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

    def rates(self) -> Rates | None:
        return None


class StageStream:
    """Units worked on in the background, their outcomes read back in submission order.

    `stopped` is polled while the loop waits for room in the backlog, so a run being stopped never blocks
    there.
    """

    def __init__(self, executor: Executor, backlog: int, stopped: Callable[[], None] = lambda: None):
        self.executor = executor
        self._backlog = max(1, backlog)
        self._stopped = stopped
        self._order: deque[tuple[Unit, Future[Outcome] | Outcome]] = deque()
        self._pending = 0
        self._error: BaseException | None = None
        self._cond = threading.Condition()

    @property
    def pending(self) -> int:
        """Units submitted and not yet finished."""
        return self._pending

    def known(self, unit: Unit, outcome: Outcome) -> None:
        """A unit whose results were already stored (a resumed run): its outcome takes its place in order."""
        self._order.append((unit, outcome))

    def submit(self, unit: Unit) -> None:
        with self._cond:
            while self._pending >= self._backlog:
                self._raise_failure()
                self._cond.wait(0.25)
                self._stopped()
            self._pending += 1
        future = self.executor.submit(unit)
        future.add_done_callback(self._finished)
        self._order.append((unit, future))

    def _finished(self, future: Future[Outcome]) -> None:
        with self._cond:
            self._pending -= 1
            if not future.cancelled() and future.exception() is not None and self._error is None:
                self._error = future.exception()
            self._cond.notify_all()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def check(self) -> None:
        """Raise the first failure of any unit (a failed model call), wherever it is in the order."""
        with self._cond:
            self._raise_failure()

    def outcomes(self) -> Iterator[Outcome]:
        """Outcomes of the finished units, in order, up to the first one still being worked on."""
        while self._order:
            unit, outcome = self._order[0]
            if isinstance(outcome, Future):
                if not outcome.done():
                    return
                outcome = outcome.result()  # a unit's failure is raised here, in its turn
            self._order.popleft()
            yield outcome

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every submitted unit has finished (True) or `timeout` passed (False)."""
        futures = [o for _, o in self._order if isinstance(o, Future)]
        _, not_done = wait_futures(futures, timeout=timeout, return_when=FIRST_EXCEPTION)
        self.check()
        return not not_done

    def close(self) -> None:
        """Start no more units; wait for those being worked on (their answers are logged and stored)."""
        for _, outcome in self._order:
            if isinstance(outcome, Future):
                outcome.cancel()
        self.executor.shutdown()
