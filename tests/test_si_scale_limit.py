"""One in-flight budget per client: at least 256 requests in flight, halved by a 429 burst once, grown back
as answers return, urgent requests first; and the achieved rates."""

from __future__ import annotations

import threading
from contextlib import ExitStack

import pytest

from core.llm import GenParams, LLMClient, Request
from core.llm.limit import InFlightLimit, throttled
from core.llm.openai_compat import OpenAICompatProvider
from tests.conftest import wait_for
from tests.llm_servers import FaultServer
from tests.si_scale_endpoint import LoopbackEndpoint


def requests(n: int, tag: str = "") -> list[Request]:
    return [Request(prompt=f"Say {tag}{i}.", params=GenParams(max_tokens=4)) for i in range(n)]


def test_256_requests_are_in_flight_at_once(sqlite_engine):
    """The loopback endpoint holds every request until 256 are open at once (it fails them all after a
    minute otherwise): a client configured for 256 gets there, and never beyond."""
    endpoint = LoopbackEndpoint(barrier=256, gate_timeout_s=60)
    try:
        provider = OpenAICompatProvider(endpoint.base_url, "m", max_concurrency=256, max_retries=0)
        client = LLMClient(provider, sqlite_engine)
        got = dict(client.generate_many(requests(300)))
        assert len(got) == 300 and endpoint.gate_timeouts == 0
        assert endpoint.max_in_flight == 256
        rates = client.rates()
        assert rates.requests_s > 0 and rates.tokens_s > 0 and rates.maximum == 256
        assert "req/s" in rates.label()
    finally:
        endpoint.stop()


def test_a_429_halves_the_budget_and_answers_grow_it_back(sqlite_engine):
    """A real HTTP 429 with Retry-After: the call is retried and answered, the client's budget went from 8
    to 4, and it is back to 8 after 4 + 5 + 6 + 7 answers (one more request in flight per `limit` answers)."""
    server = FaultServer(["429"])
    try:
        provider = OpenAICompatProvider(server.base_url, "m", max_concurrency=8, max_retries=2)
        client = LLMClient(provider, sqlite_engine)
        first = client.generate(requests(1, "a")[0])
        assert first.text == "ok" and server.seen[:2] == ["429", "ok"]
        assert (client.limit.limit, client.limit.decreases) == (4, 1)
        assert "limit 4/8 after 429s" in client.rates().label()
        for r in requests(4 + 5 + 6 + 7 - 1, "b"):  # the first answer already counted
            client.generate(r)
        assert client.limit.limit == 8
    finally:
        server.stop()


def test_a_burst_of_429s_halves_once_and_a_later_one_halves_again():
    limit = InFlightLimit(16)
    with ExitStack() as stack:
        for _ in range(6):  # six requests in flight when the endpoint starts refusing
            stack.enter_context(limit.slot())
        for _ in range(6):
            throttled()  # each of them gets a 429: one decrease
        assert (limit.limit, limit.decreases, limit.in_flight) == (8, 1, 6)
    with limit.slot():  # sent after the decrease: its 429 halves again
        throttled()
    assert (limit.limit, limit.decreases) == (4, 2)
    for _ in range(1000):
        limit.answered()
    assert limit.limit == 16  # never above the configured maximum
    floor = InFlightLimit(1)
    with floor.slot():
        throttled()
    assert floor.limit == 1  # never below one
    throttled()  # outside any call: nothing to shrink, no error


def test_urgent_requests_take_a_free_place_before_waiting_background_ones():
    limit = InFlightLimit(1)
    order: list[str] = []
    held = limit.slot()
    held.__enter__()

    def take(name: str, urgent: bool) -> None:
        with limit.slot(urgent=urgent):
            order.append(name)

    background = threading.Thread(target=take, args=("background", False))
    background.start()
    wait_for(lambda: limit.background_waiting == 1, "the background request waiting")
    urgent = threading.Thread(target=take, args=("urgent", True))
    urgent.start()
    wait_for(lambda: limit._urgent_waiting == 1, "the urgent request waiting")
    held.__exit__(None, None, None)
    urgent.join(30)
    background.join(30)
    assert order == ["urgent", "background"]


def test_background_requests_leave_the_reserved_places_to_urgent_ones():
    limit = InFlightLimit(6)
    limit.reserve(2)
    with ExitStack() as stack:
        for _ in range(4):
            stack.enter_context(limit.slot())
        assert not limit._free(urgent=False) and limit._free(urgent=True)
        stack.enter_context(limit.slot(urgent=True))
        stack.enter_context(limit.slot(urgent=True))
        assert limit.in_flight == 6
    limit.reserve(100)  # never more than half the budget
    with ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(limit.slot())
        assert limit.in_flight == 3 and not limit._free(urgent=False)


@pytest.mark.parametrize("bad", [0, -3])
def test_a_budget_is_at_least_one(bad):
    assert InFlightLimit(bad).limit == 1
