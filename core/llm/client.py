"""The one interface pipelines call: a provider behind the call log, which doubles as the cache.

Every call is written to the log with its prompt, parameters, response, usage, latency, cost and run. A
request identical to a logged one (same provider, model, prompt, parameters and sample index) is answered
from the log without touching the model, so re-scoring or replaying a run costs nothing. Identical requests
in flight at once in this process (two runs asking the same thing) reach the model once: the later ones
wait for the first answer and read it from the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from core.llm import abort as llm_abort
from core.llm.limit import InFlightLimit, RateMeter, Rates
from core.llm.redact import redact
from core.llm.types import Choice, LLMError, Request, Response, cache_key
from core.store import calls as call_log

# Single flight: cache key -> set when the call asking it has ended (answered or not).
_in_flight: dict[str, threading.Event] = {}
_in_flight_lock = threading.Lock()
PRICES_TTL_S = 5.0


class Provider(Protocol):
    kind: str
    model: str
    endpoint: str
    styles: tuple[str, ...]
    max_concurrency: int

    def call(self, request: Request, on_text: Callable[[str], None] | None = None) -> Response: ...


@dataclass
class CallStats:
    model_calls: int = 0
    cache_hits: int = 0


class LLMClient:
    """`abort`: an event that, once set, makes calls in progress give up (`Aborted`) and store nothing.

    Every model request this client sends, from whichever thread or `generate_many`, holds a place in one
    in-flight budget (`limit`, the provider's max_concurrency, adaptive on 429s); cache hits need none.
    """

    def __init__(
        self,
        provider: Provider,
        engine: Engine,
        run_id: int | None = None,
        use_cache: bool = True,
        abort: threading.Event | None = None,
    ):
        self.provider = provider
        self.engine = engine
        self.run_id = run_id
        self.use_cache = use_cache
        self.abort = abort
        self.stats = CallStats()
        self._stats_lock = threading.Lock()
        self.limit = InFlightLimit(provider.max_concurrency)
        self.meter = RateMeter()
        self._prices_at: tuple[float, dict[str, tuple[float, float]]] | None = None

    @property
    def model(self) -> str:
        return self.provider.model

    def _prices(self) -> dict[str, tuple[float, float]]:
        """The price table, read at most every PRICES_TTL_S: a query per call is a large share of a fast
        endpoint's client cost, and a price edited in Settings reaches a running run seconds later."""
        now = time.monotonic()
        if self._prices_at is None or now - self._prices_at[0] > PRICES_TTL_S:
            self._prices_at = (now, call_log.get_prices(self.engine))
        return self._prices_at[1]

    def rates(self) -> Rates:
        """Model requests and tokens per second achieved lately, and the in-flight budget now."""
        requests_s, tokens_s = self.meter.rates()
        return Rates(requests_s, tokens_s, self.limit.in_flight, self.limit.limit, self.limit.maximum)

    def supports(self, style: str) -> bool:
        return style in self.provider.styles

    def _key(self, request: Request) -> str:
        return cache_key(self.provider.kind, self.provider.endpoint, self.provider.model, request)

    def _record(self, request: Request, key: str) -> call_log.CallRecord:
        return call_log.CallRecord(
            cache_key=key,
            provider=self.provider.kind,
            endpoint=self.provider.endpoint,
            model=self.provider.model,
            style=request.style,
            prompt=request.prompt,
            messages=request.messages_list(),
            params=request.params.to_dict(),
            sample_index=request.sample_index,
            choices=None,
            run_id=self.run_id,
        )

    def generate(
        self, request: Request, on_text: Callable[[str], None] | None = None, *, urgent: bool = False
    ) -> Response:
        """Answer from the log if this exact request was answered before, else ask the model and log it.

        `on_text` receives the first choice's text as it grows (streaming), or whole when it is cached.
        `urgent` requests take a free place in the in-flight budget before waiting background ones.
        """
        if request.style not in self.provider.styles:
            raise LLMError(
                f"{self.provider.endpoint} ({self.provider.model}) does not serve {request.style}-style requests; "
                f"it serves: {', '.join(self.provider.styles)}",
                endpoint=self.provider.endpoint,
            )
        key = self._key(request)
        if not self.use_cache:
            return self._ask(request, key, on_text, urgent)
        while True:
            with _in_flight_lock:
                leader = _in_flight.get(key)
                if leader is None:
                    mine = _in_flight[key] = threading.Event()
                    break
            # The same request is being asked in this process: wait for it, then take the lead and look in
            # the log (if it failed, this caller asks in its turn).
            while not leader.wait(0.25):
                with llm_abort.abort_on(self.abort):
                    llm_abort.check()
        try:
            # One look in the log, as the leader: a call that ended before this one took the lead has logged
            # its answer by then (a leader logs before it steps down). One query per call, not two.
            if (hit := self._cached(key, on_text)) is not None:
                return hit
            return self._ask(request, key, on_text, urgent)
        finally:
            with _in_flight_lock:
                del _in_flight[key]
            mine.set()

    def _cached(self, key: str, on_text: Callable[[str], None] | None) -> Response | None:
        hit = call_log.find_cached(self.engine, key)
        if hit is None:
            return None
        with self._stats_lock:
            self.stats.cache_hits += 1
        if on_text is not None and hit.choices:
            on_text(hit.choices[0]["text"])
        return Response(
            choices=tuple(Choice(c["text"], c["finish_reason"]) for c in hit.choices or []),
            prompt_tokens=hit.prompt_tokens,
            completion_tokens=hit.completion_tokens,
            latency_ms=hit.latency_ms,
            call_id=hit.id,
            cached=True,
        )

    def _ask(
        self, request: Request, key: str, on_text: Callable[[str], None] | None, urgent: bool = False
    ) -> Response:
        """Ask the model and log the outcome: a whole answer, or the (redacted) error. An aborted call
        logs nothing."""
        record = self._record(request, key)
        with llm_abort.abort_on(self.abort):
            llm_abort.check()
            try:
                # The place in the budget is held for the call only, not while the answer is logged.
                with self.limit.slot(urgent):
                    with self._stats_lock:
                        self.stats.model_calls += 1
                    response = self.provider.call(request, on_text)
            except LLMError as exc:
                record.error = redact(str(exc))
                call_log.log_call(self.engine, record)
                raise
        self.limit.answered()
        self.meter.add(response.prompt_tokens + response.completion_tokens)
        record.choices = [{"text": c.text, "finish_reason": c.finish_reason} for c in response.choices]
        record.prompt_tokens = response.prompt_tokens
        record.completion_tokens = response.completion_tokens
        record.latency_ms = response.latency_ms
        record.cost = call_log.estimate_cost(
            self._prices(),
            self.provider.model,
            response.prompt_tokens,
            response.completion_tokens,
        )
        call_id = call_log.log_call(self.engine, record)
        return Response(
            choices=response.choices,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            latency_ms=response.latency_ms,
            call_id=call_id,
        )

    def generate_many(
        self,
        requests: Iterable[Request],
        on_text: Callable[[int, str], None] | None = None,
        *,
        urgent: bool = False,
        streamed: Callable[[int], bool] | None = None,
    ) -> Iterator[tuple[int, Response]]:
        """Run requests with up to the provider's concurrency, yielding (index, response) as each finishes.

        Several `generate_many` at once on one client (a run's overlapped stages) share its one in-flight
        budget: together they never have more than `limit` requests at the model.

        On a failure, requests already in flight finish (and are logged, hence cached) before the error is
        raised, so nothing already answered is lost and a retry of the batch only redoes what failed.

        `streamed(i)`: whether request i's text goes to `on_text` as it grows (default: every request's);
        the others are asked whole, which costs the client far less.
        """

        def bind(i: int) -> Callable[[str], None] | None:
            return None if streamed is not None and not streamed(i) else _bind(on_text, i)

        pending_requests = list(enumerate(requests))
        workers = max(1, self.provider.max_concurrency)
        if workers == 1:
            for i, req in pending_requests:
                yield i, self.generate(req, bind(i), urgent=urgent)
            return
        error: LLMError | None = None
        drained = False
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            queue = iter(pending_requests)
            running: dict[Future[Response], int] = {}

            def fill() -> None:
                while error is None and len(running) < workers:
                    try:
                        i, req = next(queue)
                    except StopIteration:
                        return
                    running[pool.submit(self.generate, req, bind(i), urgent=urgent)] = i

            fill()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = running.pop(fut)
                    try:
                        result = fut.result()
                    except LLMError as exc:
                        error = error or exc
                        continue
                    yield i, result
                fill()
            drained = True
        finally:
            # Once every request has ended, the idle threads exit on their own: joining them put a context
            # switch per thread on every Self-Instruct iteration's critical path. A caller that stops
            # reading early still waits for the requests in flight (they are logged, hence cached).
            pool.shutdown(wait=not drained, cancel_futures=True)
        if error is not None:
            raise error


def _bind(on_text: Callable[[int, str], None] | None, index: int) -> Callable[[str], None] | None:
    return None if on_text is None else (lambda text: on_text(index, text))
