"""Classification and instances in a process of their own, so a busy run uses the machine's second core.

At a large in-flight budget one interpreter is the bottleneck: measured at 50 ms per answer and 64 in
flight, the client's CPU was busy the whole run and the stage units (their model calls, parsing and
stores) were more than half of it. With `ProcessUnits` the run starts `python -m
core.selfinstruct.stage_process` and hands it its kept instructions; the worker runs each unit exactly as
the threads would (the same requests, looked up in the same call log, stored under the same keys in the
same database) and answers with the unit's outcome and the part of its records the page's index reads.
The generation loop, the novelty decisions and the order of outcomes (the stall stop) stay with the run.

The two share the endpoint's budget: the run keeps for generation what thread mode reserves for it (at most
half), the worker gets the rest, each adapting to 429s on its own share. The worker runs in a session of
its own, so a terminal's Ctrl-C or a service's SIGTERM reaches the run, which tells the worker; a run that
goes away (killed) closes the worker's input, and the worker ends at once, as its threads would have.

The protocol is one JSON object per line. To the worker: the run and model first (the API key and any
database password are handed over on this pipe, never on the command line), then {"op": "iteration", "t", "kept"},
{"op": "unit", "t", "i"} and finally {"op": "close", "abort"}. From the worker: {"op": "done", "t", "i",
"outcome", "index"}, {"op": "failed", "t", "i", "error", "text"} and {"op": "rates", "rates"} every second.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pickle
import subprocess
import sys
import threading
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import asdict, astuple
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Engine

from core.config import setting
from core.jobs.context import JobContext, Stopped
from core.llm import ModelSettings
from core.llm.limit import Rates
from core.llm.redact import redact
from core.selfinstruct import index as page_index
from core.selfinstruct.spec import clf_key, inst_key
from core.selfinstruct.stages import Outcome, Unit, unit_threads

if TYPE_CHECKING:
    from core.selfinstruct.job import _Loop

MODE_SETTING = "WORKBENCH_STAGE_PROCESS"  # auto (default) | on | off
# From this in-flight budget on, `auto` moves the stages out: below it one core keeps up (measured: the
# client's CPU became the limit between 32 and 64 in flight at 50 ms per answer).
PROCESS_FROM = 32
ROOT = Path(__file__).resolve().parents[2]


def wanted(settings: ModelSettings, engine: Engine, concurrency: int) -> bool:
    """Whether a run's stages go to a worker process: an HTTP endpoint (the embedded model lives in this
    process), a database another process can open, and a budget one core cannot keep full."""
    mode = (setting(MODE_SETTING) or "auto").strip().lower()
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"{MODE_SETTING} must be auto, on or off, got {mode!r}")
    in_memory = engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")
    if mode == "off" or in_memory or settings.provider != "openai":
        return False
    return mode == "on" or concurrency >= PROCESS_FROM


def _gone(code: int | None) -> Stopped:
    return Stopped(
        f"the Self-Instruct stage worker process ended (exit code {code}) before finishing its "
        "classification and instances; anything it printed is in the error output of the process that ran "
        "this run. Resume the run to go on: what it stored is kept."
    )


def _pack(exc: BaseException) -> str | None:
    try:
        return base64.b64encode(pickle.dumps(exc)).decode()
    except Exception:  # an exception that does not pickle travels as its text
        return None


def _unpack(message: dict[str, Any]) -> BaseException:
    if message.get("error"):
        try:
            exc = pickle.loads(base64.b64decode(message["error"]))
            if isinstance(exc, BaseException):
                return exc
        except Exception:
            pass
    return RuntimeError(message["text"])


def _resolve(future: Future[Outcome], outcome: Outcome | BaseException) -> None:
    """Give a unit's future its outcome, unless the run cancelled it meanwhile (while closing)."""
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:
        pass


class ProcessUnits:
    """The run's side: units sent to a worker process, their futures settled by what it answers."""

    def __init__(self, ctx: JobContext, settings: ModelSettings, style: str, unindexed: page_index.Unindexed):
        self._stop = ctx.stop
        self._unindexed = unindexed
        self._lock = threading.Lock()  # the futures and the exit code; never held while writing
        self._writing = threading.Lock()  # one writer at a time; the reader never waits for it
        self._futures: dict[tuple[int, int], Future[Outcome]] = {}
        self._announced: set[int] = set()  # iterations whose kept instructions the worker has
        self._rates: Rates | None = None
        self._ended: int | None = None  # the worker's exit code once it has gone
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "core.selfinstruct.stage_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
            bufsize=1,
            # Signals for the run's terminal or service (Ctrl-C, SIGTERM, SIGHUP) reach the run only, which
            # stops the worker through the pipe, letting its calls in flight finish.
            start_new_session=True,
        )
        first = {
            "database": ctx.engine.url.render_as_string(hide_password=False),
            "run_id": ctx.run_id,
            "worker": ctx.worker,
            "style": style,
            "model": asdict(settings),
        }
        try:
            with self._writing:
                self._send([first])
        except Stopped:
            self._proc.kill()
            self._proc.wait()
            raise
        self._reader = threading.Thread(target=self._read, name="si-stage-process", daemon=True)
        self._reader.start()

    def _send(self, messages: list[dict[str, Any]]) -> None:
        """Write to the worker (called holding `_writing`). A full pipe blocks here until the worker reads,
        while this process goes on reading what the worker writes."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
            self._proc.stdin.flush()
        except OSError:
            raise _gone(self._proc.poll()) from None

    def submit(self, unit: Unit) -> Future[Outcome]:
        assert unit.looked_up is not None, "a unit sent to the worker carries its iteration's instructions"
        future: Future[Outcome] = Future()
        with self._writing:
            with self._lock:
                if self._ended is not None:
                    raise _gone(self._ended)
                self._futures[(unit.t, unit.i)] = future
            messages = []
            if unit.t not in self._announced:
                self._announced.add(unit.t)
                messages.append({"op": "iteration", "t": unit.t, "kept": unit.looked_up.kept})
            messages.append({"op": "unit", "t": unit.t, "i": unit.i})
            self._send(messages)
        return future

    def _read(self) -> None:
        assert self._proc.stdout is not None
        finished = False  # the worker closed its output (it is exiting)
        try:
            for line in self._proc.stdout:
                self._take(json.loads(line))
            finished = True
        finally:
            # However reading ended (the worker exited, or wrote something that is not the protocol), no
            # unit is left waiting: the worker is stopped and what it had not answered fails with a reason.
            if not finished:
                self._proc.kill()
            code = self._proc.wait()
            with self._lock:
                self._ended = code
                left, self._futures = list(self._futures.values()), {}
            for future in left:
                _resolve(future, _gone(code))

    def _take(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "rates":
            self._rates = Rates(*message["rates"])
            return
        with self._lock:
            future = self._futures.pop((message["t"], message["i"]), None)
        if future is None:
            return
        if op == "done":
            for result_id, key, part in message["index"]:
                self._unindexed.add(result_id, key, part)
            _resolve(future, message["outcome"])
        else:
            _resolve(future, _unpack(message))

    def shutdown(self) -> None:
        """Start no more units; wait for the worker to finish those at the model and exit. A run being
        stopped tells it to give up on its calls in progress, as the run's own do."""
        with self._writing:
            if self._ended is None:
                with contextlib.suppress(Stopped):
                    self._send([{"op": "close", "abort": self._stop.is_set()}])
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        except OSError:
            pass
        self._reader.join()

    def rates(self) -> Rates | None:
        return self._rates


# --- the worker's side -------------------------------------------------------------------------------------


class _Handover(page_index.Unindexed):
    """What the worker's units stored, as the part the run's index reads, until each unit is reported."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: dict[str, tuple[int, dict[str, Any]]] = {}

    def add(self, result_id: int, key: str, value: Any) -> None:
        part = page_index.indexed_part(key, value)
        with self._lock:
            self._parts[key] = (result_id, part)

    def take_unit(self, unit: Unit) -> list[list[Any]]:
        """[result id, key, part] of each record the unit stored."""
        with self._lock:
            taken = [
                (k, self._parts.pop(k, None)) for k in (clf_key(unit.t, unit.i), inst_key(unit.t, unit.i))
            ]
        return [[found[0], key, found[1]] for key, found in taken if found is not None]


class _Worker:
    def __init__(self, first: dict[str, Any], out: IO[str]):
        from core.selfinstruct.job import stages_loop
        from core.store import runs as run_store
        from core.store.db import get_engine

        engine = get_engine(first["database"])
        run = run_store.get_run(engine, first["run_id"])
        if run is None:
            raise SystemExit(f"stage worker: no run {first['run_id']} in the database")
        model = {**first["model"], "styles": tuple(first["model"]["styles"])}
        self.ctx = JobContext(engine, run, first["worker"], model_settings=ModelSettings(**model))
        self.handover = _Handover()
        self.loop: _Loop = stages_loop(self.ctx, first["style"], self.handover)
        places = self.ctx.settings().max_concurrency
        self.pool = ThreadPoolExecutor(max_workers=unit_threads(places), thread_name_prefix="si-stage-worker")
        self.out = out
        self.out_lock = threading.Lock()
        self.iterations: dict[int, list[Any]] = {}  # t -> [its shared look-up, its units not yet ended]
        self.iterations_lock = threading.Lock()
        self.closed = threading.Event()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message) + "\n"
        with self.out_lock:
            try:
                self.out.write(line)
                self.out.flush()
            except OSError:  # the run has gone
                _run_gone()

    def serve(self, lines: IO[str]) -> None:
        threading.Thread(target=self._report_rates, daemon=True).start()
        for line in lines:
            message = json.loads(line)
            op = message["op"]
            if op == "iteration":
                kept = message["kept"]
                with self.iterations_lock:
                    self.iterations[message["t"]] = [self.loop.shared_look_up(kept), len(kept)]
            elif op == "unit":
                with self.iterations_lock:
                    look = self.iterations[message["t"]][0]
                unit = Unit(message["t"], message["i"], look.kept[message["i"]], look)
                future = self.pool.submit(self.loop.stage_unit, unit)
                future.add_done_callback(lambda f, unit=unit: self._ended(unit, f))
            elif op == "close":
                self.close(abort=message["abort"])
                return
        _run_gone()

    def _ended(self, unit: Unit, future: Future[Outcome]) -> None:
        with self.iterations_lock:
            entry = self.iterations.get(unit.t)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del self.iterations[unit.t]  # its look-up holds every request it made: free it
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            part = self.handover.take_unit(unit)
            self.send({"op": "done", "t": unit.t, "i": unit.i, "outcome": future.result(), "index": part})
        else:
            text = redact(f"{type(exc).__name__}: {exc}")
            self.send({"op": "failed", "t": unit.t, "i": unit.i, "error": _pack(exc), "text": text})

    def _report_rates(self) -> None:
        while not self.closed.wait(1.0):
            self.send({"op": "rates", "rates": astuple(self.loop.llm.rates())})

    def close(self, abort: bool) -> None:
        if abort:
            self.ctx.stop.set()  # calls in progress give up and log nothing, as the run's own do
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.closed.set()


def _run_gone() -> None:
    """The run's process has gone (killed): nothing will read what this one does, so it ends at once, as
    its threads would have ended with the run. What it logged and stored stays; the resumed run asks again
    what was still at the model."""
    os._exit(0)


def main() -> int:
    # The protocol owns the real stdout; anything else printed goes to the error output.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    first = sys.stdin.readline()
    if not first:
        return 0
    worker = _Worker(json.loads(first), out)
    worker.serve(sys.stdin)
    with worker.out_lock, contextlib.suppress(OSError, ValueError):
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
