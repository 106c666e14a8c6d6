"""Stopping and taking over command-line runs: Ctrl-C or SIGTERM stops a run stuck in a model call and
leaves it resumable; after a kill -9, --resume says who holds the run and when the claim expires, and
--take-over takes it at once. The staleness window is set far beyond the test's duration, so nothing
depends on timing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

import core.jobs.runner as runner_mod
from core.jobs.registry import JOB_KINDS
from core.store import calls as call_log
from core.store import runs as run_store
from tests.conftest import REPO_ROOT, wait_for
from tests.llm_servers import FaultServer

HOUR = timedelta(hours=1)


def _env(data: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY")
    }
    # A claim that would not expire during the test: only --take-over (or a clean stop) frees the run.
    env.update(WORKBENCH_DATA_DIR=str(data), WORKBENCH_JOB_STALE_S="3600", WORKBENCH_MAX_RETRIES="0")
    return env


def _start_args(cli: str, url: str, out: Path) -> list[str]:
    if cli == "core.selfinstruct":
        # One generation request (the command line's default is the paper's 5): the one that hangs.
        args = ["--model", "m", "--base-url", url, "--iterations", "1", "--requests", "1"]
        return ["generate", "--seeds", "starter", *args]
    flags = ["--tasks", "starter_sum", "--k", "2", "--limit", "2", "--no-bertscore", "--out", str(out)]
    return ["run", "--induce-model", "m", "--base-url", url, *flags]


def _resume_args(cli: str, run_id: int, out: Path, *extra: str) -> list[str]:
    if cli == "core.selfinstruct":
        return ["generate", "--resume", str(run_id), *extra]
    return ["run", "--resume", str(run_id), "--out", str(out), *extra]


def _start_stuck(cli: str, data: Path, server: FaultServer, out: Path) -> subprocess.Popen:
    """A command line whose first model call hangs at the endpoint (it never answers by itself)."""
    # A test run started as a background shell job ignores SIGINT, and a child would inherit that: with a
    # handler here, the child starts with SIGINT at its default, as from a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", cli, *_start_args(cli, server.base_url, out)],
            cwd=REPO_ROOT,
            env=_env(data),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    wait_for(lambda: "hang" in server.seen or proc.poll() is not None, "the model call to start")
    assert proc.poll() is None, proc.communicate()
    return proc


CLIS = ["core.selfinstruct", "core.induction"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("cli", CLIS)
def test_a_signal_stops_a_run_stuck_in_a_model_call(data_dir, sqlite_engine, tmp_path, cli, signum):
    server = FaultServer(["hang"] * 50)  # every request hangs, however many are in flight
    try:
        proc = _start_stuck(cli, data_dir, server, tmp_path)
        proc.send_signal(signum)
        # Without the stop, the process would wait for the endpoint, which never answers.
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        server.stop()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume" in stderr + stdout
    (run,) = run_store.list_runs(sqlite_engine)
    assert run.status == "cancelled"
    assert [c for c in call_log.list_calls(sqlite_engine) if c.error is None] == []
    # Resumable at once: no live claim is left behind.
    assert run_store.claim(sqlite_engine, run.id, "next", HOUR) is not None


@pytest.mark.parametrize("cli", CLIS)
def test_after_kill_9_resume_says_when_the_claim_expires_and_take_over_takes_it(
    data_dir, sqlite_engine, tmp_path, cli
):
    server = FaultServer(["hang"] * 50)
    try:
        proc = _start_stuck(cli, data_dir, server, tmp_path)
        proc.kill()
        proc.communicate(timeout=60)
        (run,) = run_store.list_runs(sqlite_engine)
        assert run.status == "running"  # as the killed process left it

        def resume(*extra: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "-m", cli, *_resume_args(cli, run.id, tmp_path, *extra)],
                cwd=REPO_ROOT,
                env={**_env(data_dir), "OPENAI_BASE_URL": server.base_url},
                capture_output=True,
                text=True,
                timeout=300,
            )

        asked = len(server.seen)
        refused = resume()
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert f"run {run.id} is held by another process ({run.worker})" in refused.stderr
        assert re.search(
            r"which heartbeat \d+ s ago\. If that process is gone, the run is free to resume in 3\d\d\d s",
            refused.stderr,
        )
        assert "--take-over" in refused.stderr
        assert len(server.seen) == asked  # the refused resume asked nothing

        server.script = ["401"] * 50
        taken = resume("--take-over")
    finally:
        server.stop()
    # It took the run and went on: its model calls reached the endpoint (which refused them).
    assert set(server.seen[asked:]) == {"401"}, taken.stderr
    assert taken.returncode == 1 and "HTTP 401" in taken.stderr
    after = run_store.get_run(sqlite_engine, run.id)
    assert after.status == "failed" and after.worker != run.worker


def test_a_worker_whose_run_is_taken_over_stops_and_leaves_the_run_alone(sqlite_engine, monkeypatch):
    def busy(ctx) -> None:
        while True:  # reports progress until told to stop
            ctx.progress(0, 1, "working")
            ctx.stop.wait(0.01)

    monkeypatch.setitem(JOB_KINDS, "busy", busy)
    run, worker = runner_mod.start_here(sqlite_engine, "busy", {})
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(runner_mod.execute(sqlite_engine, run, worker)))
    thread.start()
    wait_for(lambda: run_store.get_run(sqlite_engine, run.id).message == "working", "the job to work")
    assert run_store.claim(sqlite_engine, run.id, "newcomer", HOUR) is None  # alive: not free
    assert run_store.claim(sqlite_engine, run.id, "newcomer", HOUR, take_over=True) is not None
    thread.join(60)
    assert outcome == ["taken over"]
    after = run_store.get_run(sqlite_engine, run.id)
    assert after.status == "running" and after.worker == "newcomer"


def test_a_silent_job_keeps_heartbeating(sqlite_engine, monkeypatch):
    """A unit of work longer than the heartbeat interval: the side thread beats while the job is silent.
    The interval is injected, and the job waits for the beats themselves, not for a time."""
    monkeypatch.setattr(runner_mod, "HEARTBEAT_S", 0.02)
    beats: list = []

    def silent(ctx) -> None:
        seen = run_store.get_run(sqlite_engine, ctx.run_id).heartbeat_at
        deadline = time.monotonic() + 60
        while len(beats) < 3 and time.monotonic() < deadline:
            now = run_store.get_run(sqlite_engine, ctx.run_id).heartbeat_at
            if now != seen:
                beats.append(now)
                seen = now
            ctx.stop.wait(0.005)

    monkeypatch.setitem(JOB_KINDS, "silent", silent)
    run, worker = runner_mod.start_here(sqlite_engine, "silent", {})
    assert runner_mod.execute(sqlite_engine, run, worker) == "done"
    assert len(beats) == 3 and beats == sorted(beats)


def test_an_embedded_generation_stops_between_tokens_and_stores_nothing(sqlite_engine):
    from core.llm import GenParams, LLMClient, Request
    from core.llm.embedded import EmbeddedProvider
    from core.llm.types import Aborted

    stop = threading.Event()
    client = LLMClient(EmbeddedProvider(), sqlite_engine, abort=stop)
    request = Request(prompt="Here is a very long story about a dragon:", params=GenParams(max_tokens=60))
    seen: list[str] = []

    def on_text(text: str) -> None:
        seen.append(text)
        stop.set()  # the run is stopped as soon as the model has written something

    with pytest.raises(Aborted):
        client.generate(request, on_text=on_text)
    assert len(seen) == 1  # not one more token was generated
    assert call_log.list_calls(sqlite_engine) == []  # the cut-short text is not an answer
    # The model is fine afterwards, and the same request is asked again in full.
    stop.clear()
    whole = client.generate(request)
    assert not whole.cached and len(whole.text) > len(seen[0])
