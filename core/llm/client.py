"""The one interface pipelines call: a provider behind the call log, which doubles as the cache.

Every call is written to the log with its prompt, parameters, response, usage, latency, cost and run. A
request identical to a logged one (same provider, model, prompt, parameters and sample index) is answered
from the log without touching the model, so re-scoring or replaying a run costs nothing. Identical requests
in flight at once in this process (two runs asking the same thing) reach the model once: the later ones
wait for the first answer and read it from the log.

Requests sent many at a time (`generate_many`, a Self-Instruct iteration's stage requests) are looked up
in the log with one query per chunk, just before they go, instead of one query each; a request whose key
this process logged after that look-up looks again. A request another process answers in between is
asked again, as it would be if both were sent at the same moment: the log's earliest answer stays the one
every replay reads.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
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
# The threads `generate_many` sends requests from, shared by every call in this process: a pool per call
# started a thread per request on every Self-Instruct iteration (5% of a busy client's time). Threads are
# only added while none is idle, so their number stays at the most requests ever sent at once.
_senders: ThreadPoolExecutor | None = None
_senders_lock = threading.Lock()
SENDERS_MAX = 1024


def _sender_pool() -> ThreadPoolExecutor:
    global _senders
    with _senders_lock:
        if _senders is None:
            _senders = ThreadPoolExecutor(max_workers=SENDERS_MAX, thread_name_prefix="llm-send")
        return _senders


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
        self,
        request: Request,
        on_text: Callable[[str], None] | None = None,
        *,
        urgent: bool = False,
        looked_up: LookedUp | None = None,
    ) -> Response:
        """Answer from the log if this exact request was answered before, else ask the model and log it.

        `on_text` receives the first choice's text as it grows (streaming), or whole when it is cached.
        `urgent` requests take a free place in the in-flight budget before waiting background ones.
        `looked_up`: this request's look in the log, made earlier with others at once by this client's
        `look_up`.
        """
        key = looked_up.keys.get(request) if looked_up is not None else None
        return self._generate(request, key or self._key(request), on_text, urgent, looked_up)

    def look_up(self, requests: Iterable[Request]) -> LookedUp | None:
        """One look in the log for requests about to be sent one by one with `generate(..., looked_up=)`:
        one query for all of them instead of one each (and one cache key made for each, not two)."""
        keys = {r: self._key(r) for r in requests}
        found = self._look_up(list(keys.values()))
        return None if found is None else LookedUp(found.sequence, found.ids, keys)

    def _generate(
        self,
        request: Request,
        key: str,
        on_text: Callable[[str], None] | None,
        urgent: bool,
        looked_up: LookedUp | None,
    ) -> Response:
        """`generate` for a request whose key is known; `looked_up`: a look-up of many keys at once that
        stands for this request's own look in the log unless this process logged the key since."""
        if request.style not in self.provider.styles:
            raise LLMError(
                f"{self.provider.endpoint} ({self.provider.model}) does not serve {request.style}-style requests; "
                f"it serves: {', '.join(self.provider.styles)}",
                endpoint=self.provider.endpoint,
            )
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
            # its answer by then (a leader logs before it steps down). One query per call, not two; none
            # when a look-up of many keys at once answers for it and no call with this key was logged since.
            if looked_up is not None and not call_log.logged_since(key, looked_up.sequence):
                hit_id = looked_up.ids.get(key)
                hit = None if hit_id is None else self._hit(call_log.get_call(self.engine, hit_id), on_text)
            else:
                hit = self._hit(call_log.find_cached(self.engine, key), on_text)
            if hit is not None:
                return hit
            return self._ask(request, key, on_text, urgent)
        finally:
            with _in_flight_lock:
                del _in_flight[key]
            mine.set()

    def _hit(self, hit: call_log.CallRecord | None, on_text: Callable[[str], None] | None) -> Response | None:
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

    def _look_up(self, keys: list[str]) -> LookedUp | None:
        """One look in the log for many requests about to be sent (None: each looks for itself)."""
        if not self.use_cache or not keys:
            return None
        sequence = call_log.log_sequence()  # before the query: a call logged during it counts as "since"
        try:
            return LookedUp(sequence, call_log.find_cached_many(self.engine, keys))
        except Exception:  # the per-request look reports a real database problem where it belongs
            return None

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
        # Each request that ends sends the next one from its own thread, so the budget stays full while the
        # caller is busy with what it was given (say, storing a result): refilling only when the caller came
        # back for more let answers queue up unread and the requests in flight fall to a fraction of it.
        pool = _sender_pool()
        finished: queue.SimpleQueue[Future[Response]] = queue.SimpleQueue()
        lock = threading.Lock()
        # Requests ready to send with their keys, looked up in the log a chunk at a time just before they go.
        ready: deque[tuple[int, Request, str, LookedUp | None]] = deque()
        prepared = 0
        unread: dict[Future[Response], int] = {}  # sent and not yet read by the caller
        stopped = False  # a request failed or the caller stopped reading: send nothing more
        unsent: list[BaseException] = []  # why a request that was due could not be sent

        def prepare() -> None:
            nonlocal prepared
            part = pending_requests[prepared : prepared + max(LOOKUP_CHUNK, workers)]
            prepared += len(part)
            keys = [self._key(r) for _, r in part]
            looked_up = self._look_up(keys)
            ready.extend((i, r, k, looked_up) for (i, r), k in zip(part, keys, strict=True))

        def send_next() -> None:
            with lock:
                if stopped:
                    return
                if not ready and prepared < len(pending_requests):
                    prepare()
                if not ready:
                    return
                i, req, key, looked_up = ready.popleft()
                future = pool.submit(self._generate, req, key, bind(i), urgent, looked_up)
                unread[future] = i
            future.add_done_callback(ended)

        def ended(future: Future[Response]) -> None:
            nonlocal stopped
            if future.cancelled():  # never sent: the caller stopped reading and is not waiting for it
                return
            try:
                if future.exception() is None:
                    send_next()
                else:
                    with lock:
                        stopped = True
            except BaseException as exc:  # the next request could not be sent: the caller hears why
                with lock:
                    stopped = True
                    unsent.append(exc)
            finally:
                finished.put(future)  # after its successor was sent: see the loop's end test below

        error: LLMError | None = None
        drained = False
        try:
            for _ in range(min(workers, len(pending_requests))):
                send_next()
            while True:
                with lock:
                    # Every future read so far had sent its successor before it was queued: nothing
                    # unread means nothing more will come.
                    if not unread:
                        break
                future = finished.get()
                with lock:
                    i = unread.pop(future)
                try:
                    result = future.result()
                except LLMError as exc:
                    error = error or exc
                    continue
                yield i, result
            if unsent:
                raise unsent[0]
            drained = True
        finally:
            with lock:
                stopped = True
            if not drained:
                # A caller that stops reading early still waits for the requests in flight (they are
                # logged, hence cached); those not started yet are dropped.
                with lock:
                    sent = list(unread)
                for future in sent:
                    future.cancel()
                wait_futures(sent)
        if error is not None:
            raise error


# Requests looked up in the log at once, just before they are sent (see `generate_many`).
LOOKUP_CHUNK = 64


@dataclass(frozen=True)
class LookedUp:
    """Requests looked up in the log at once; it stands for each one's own look unless this process logged
    that request's key after the look-up began."""

    sequence: int  # `call_log.log_sequence()` when the look-up began
    ids: dict[str, int]  # key -> earliest successful call, for the keys found
    # The requests' cache keys, when looked up as requests (`look_up`): an equal request asked later need
    # not serialise and hash its prompt again.
    keys: dict[Request, str] = field(default_factory=dict)


def _bind(on_text: Callable[[int, str], None] | None, index: int) -> Callable[[str], None] | None:
    return None if on_text is None else (lambda text: on_text(index, text))
