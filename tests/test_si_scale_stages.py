"""The stage units' thread pool keeps its places at the model full while answers are being logged."""

from __future__ import annotations

import threading
import time

from core.selfinstruct.stages import ThreadUnits, Unit, unit_threads


def test_a_place_freed_by_an_answer_being_logged_is_taken_by_another_unit():
    """A unit holds its place at the model for the call only; while its answer is logged (and its result
    stored) another unit must be able to take that place. With one thread per place the freed place would
    stay empty until the logging ended."""
    places = 3
    place = threading.BoundedSemaphore(places)
    lock = threading.Lock()
    at_model = 0
    logging = 0
    answered = threading.Event()  # releases the calls at the model
    logged = threading.Event()  # releases the logging

    def work(unit: Unit) -> bool:
        nonlocal at_model, logging
        with place:
            with lock:
                at_model += 1
            answered.wait(10) if unit.i == 0 else logged.wait(10)
            with lock:
                at_model -= 1
                logging += 1
        logged.wait(10)  # the answer is logged outside its place
        with lock:
            logging -= 1
        return True

    units = ThreadUnits(work, places)
    futures = [units.submit(Unit(0, i, f"instruction {i}")) for i in range(2 * places)]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and at_model < places:
        time.sleep(0.005)
    assert at_model == places
    answered.set()  # unit 0 leaves the model and starts logging; a waiting unit should take its place
    seen = None
    while time.monotonic() < deadline:
        with lock:
            seen = (at_model, logging)
        if seen == (places, 1):
            break
        time.sleep(0.005)
    logged.set()
    assert all(f.result(timeout=10) for f in futures)
    units.shutdown()
    assert seen == (places, 1), f"(at the model, logging) = {seen}: the freed place stayed empty"


def test_the_pool_has_more_threads_than_places():
    assert unit_threads(48) > 48 and unit_threads(0) >= 1
