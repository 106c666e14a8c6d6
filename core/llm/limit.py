"""One budget of model requests in flight per client, adaptive to an endpoint that says "too many", and a
meter of the requests and tokens it achieves.

Every stage of a run (Self-Instruct generation and its overlapped classification and instances, or every
task of the induction benchmark) asks through the same client, so they share one budget: the provider's
`max_concurrency`. An endpoint answering 429 (rate limited) halves the budget at once; it then grows back by
one request for every `limit` answers that come back, up to the configured maximum (additive increase,
multiplicative decrease). A burst of 429s counts once: only a request sent after the last decrease can
decrease it again, so the requests already in flight when the endpoint started refusing do not collapse the
budget to one.

Urgent requests (the critical path: Self-Instruct's generation, which the next novelty decisions wait for)
take a free place before any waiting background request, and a run can keep a few places (at most half the
budget) for them, so the critical path never waits for background requests to finish.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.llm import abort

# The slot the current thread's call holds, so a provider deep in its retry loop can report a 429 to it.
_held = threading.local()
ABORT_POLL_S = 0.5  # how often a request waiting for a place checks whether its run is being stopped


def throttled() -> None:
    """Called by a provider when the endpoint refuses for rate (HTTP 429 / Retry-After): the budget of the
    client whose call this thread is making shrinks."""
    slot = getattr(_held, "slot", None)
    if slot is not None:
        limiter, epoch = slot
        limiter.decrease(epoch)


class InFlightLimit:
    def __init__(self, maximum: int):
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.in_flight = 0
        self.decreases = 0  # how many times a 429 halved the budget (shown with the rates)
        self._epoch = 0  # bumped on every decrease: requests sent before it cannot decrease again
        self._answers = 0  # answers since the last change of `limit`, towards the next increase
        self._urgent_waiting = 0
        self.background_waiting = 0
        self.reserved = 0
        self._lock = threading.Lock()
        # Two queues on one lock, so a freed place wakes one waiter (urgent first), not every thread.
        self._urgent = threading.Condition(self._lock)
        self._background = threading.Condition(self._lock)

    def _free(self, urgent: bool = True) -> bool:
        if urgent:
            return self.in_flight < self.limit
        # Background requests leave the reserved places (at most half the budget) to urgent ones.
        return self.in_flight < self.limit - min(self.reserved, self.limit // 2)

    def reserve(self, places: int) -> None:
        """Keep up to `places` of the budget (never more than half) for urgent requests: the critical path
        never waits for background requests to finish."""
        with self._lock:
            self.reserved = max(0, places)

    def resize(self, maximum: int) -> None:
        """A smaller (or larger) budget from now on: the rest of it given to another client."""
        with self._lock:
            self.maximum = max(1, maximum)
            self.limit = min(self.limit, self.maximum)

    def _wake(self, places: int = 1) -> None:
        """Hand `places` free places on, urgent waiters first (called with the lock held)."""
        for _ in range(places):
            if self._urgent_waiting:
                self._urgent.notify()
            else:
                self._background.notify()

    @contextmanager
    def slot(self, urgent: bool = False) -> Iterator[None]:
        """Hold one request's place in the budget for the block; waits (abortable) while it is full."""
        with self._lock:
            if urgent:
                self._urgent_waiting += 1
                try:
                    while not self._free():
                        self._urgent.wait(ABORT_POLL_S)  # timed, so a run being stopped notices
                        abort.check()
                finally:
                    self._urgent_waiting -= 1
            else:
                self.background_waiting += 1
                try:
                    while not self._free(urgent=False) or self._urgent_waiting:
                        self._background.wait(ABORT_POLL_S)
                        abort.check()
                finally:
                    self.background_waiting -= 1
            self.in_flight += 1
            epoch = self._epoch
            if self._free():
                self._wake()  # a place is still free: the next waiter need not wait for a release
        previous = getattr(_held, "slot", None)
        _held.slot = (self, epoch)
        try:
            yield
        finally:
            _held.slot = previous
            with self._lock:
                self.in_flight -= 1
                self._wake()

    def decrease(self, epoch: int) -> None:
        with self._lock:
            if epoch != self._epoch:
                return  # this burst already halved the budget
            self._epoch += 1
            self.decreases += 1
            self.limit = max(1, self.limit // 2)
            self._answers = 0

    def answered(self) -> None:
        """One answer came back: the budget grows by one per `limit` answers until it is whole again."""
        with self._lock:
            if self.limit >= self.maximum:
                return
            self._answers += 1
            if self._answers >= self.limit:
                self._answers = 0
                self.limit += 1
                self._wake()


@dataclass(frozen=True)
class Rates:
    requests_s: float
    tokens_s: float
    in_flight: int
    limit: int
    maximum: int

    def __add__(self, other: Rates) -> Rates:
        """Two clients sharing one endpoint's budget (a run and its stage worker process)."""
        return Rates(
            self.requests_s + other.requests_s,
            self.tokens_s + other.tokens_s,
            self.in_flight + other.in_flight,
            self.limit + other.limit,
            self.maximum + other.maximum,
        )

    def label(self) -> str:
        budget = f"{self.in_flight} in flight"
        if self.limit < self.maximum:
            budget += f", limit {self.limit}/{self.maximum} after 429s"
        return f"{self.requests_s:.1f} req/s · {self.tokens_s:.0f} tok/s · {budget}"


class RateMeter:
    """Model answers and their tokens over the last `window_s` seconds."""

    def __init__(self, window_s: float = 10.0):
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()
        self._tokens = 0  # the tokens of `_events`, kept as they come and go (rates are read per answer)
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def add(self, tokens: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._events.append((now, tokens))
            self._tokens += tokens
            self._prune(now)

    def _prune(self, now: float) -> None:
        while self._events and self._events[0][0] < now - self.window_s:
            self._tokens -= self._events.popleft()[1]

    def rates(self) -> tuple[float, float]:
        """(requests/s, tokens/s): over the window, or since the meter started if that is shorter."""
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            span = max(min(self.window_s, now - self._started), 1e-3)
            return len(self._events) / span, self._tokens / span
