"""The induction command line refuses nonsense up front (one line, non-zero exit, no traceback), refuses
abbreviated flags, and a failed run says why."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import app_env, run_cli
from tests.llm_servers import FaultServer


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    without = ("DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "WORKBENCH_PROVIDER")
    return run_cli("core.induction", *args, env=app_env(data, without=without, WORKBENCH_MAX_RETRIES="0"))


BAD = [
    (["run", "--limit", "-1"], "--limit"),
    (["run", "--limit", "0"], "--limit"),
    (["run", "--limit", "ten"], "--limit"),
    (["run", "--k", "0"], "--k"),
    (["run", "--n-sets", "0"], "--n-sets"),
    (["run", "--n-sets", "101"], "--n-sets"),
    (["run", "--max-tokens", "-5"], "--max-tokens"),
    (["run", "--execute-max-tokens", "0"], "--execute-max-tokens"),
    (["run", "--temperature", "9"], "--temperature"),
    (["run", "--temperature", "nan"], "--temperature"),
    (["run", "--top-p", "1.5"], "--top-p"),
    (["run", "--search", "1"], "--search"),
    (["run", "--seed", "-1"], "--seed"),
    (["run", "--postprocess", "mine"], "--postprocess"),
    (["run", "--tasks", "no_such_task"], "--tasks"),
    (["run", "--paper", "--k", "3"], "--paper"),
    (["run", "--paper", "--paper-demos"], "--paper"),
    (["run", "--bertscore-rescale"], "--bertscore-rescale"),
    (["run", "--resume", "0"], "--resume"),
    (["table", "-3"], "run"),
    # Abbreviations are refused: "--pap" must not silently mean "--paper-demos".
    (["run", "--pap"], "--pap"),
    (["run", "--paper-d"], "--paper-d"),
    (["run", "--lim", "3"], "--lim"),
    (["run", "--tem", "0.5"], "--tem"),
]


@pytest.mark.parametrize(("args", "named"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_are_refused_in_one_line(tmp_path: Path, args: list[str], named: str) -> None:
    done = _cli(tmp_path / "data", *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    assert named in done.stderr
    assert "run" not in done.stdout  # nothing was created or run
    assert not (tmp_path / "out").exists()


def test_out_must_be_a_folder_in_an_existing_folder(tmp_path: Path) -> None:
    a_file = tmp_path / "table.csv"
    a_file.write_text("x")
    for out, says in ((a_file, "is a file"), (tmp_path / "missing" / "x", "does not exist")):
        done = _cli(tmp_path / "data", "run", "--tasks", "starter_sum", "--out", str(out))
        assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout
        assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1
        done = _cli(tmp_path / "data", "table", "1", "--out", str(out))
        assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr


def test_unknown_runs_are_one_line_errors(tmp_path: Path) -> None:
    for args in (["run", "--resume", "999"], ["table", "999"]):
        done = _cli(tmp_path / "data", *args, "--out", str(tmp_path / "out"))
        assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout
        assert "no induction benchmark run 999" in done.stderr


def test_a_failed_run_reports_its_error_not_a_call_count(tmp_path: Path) -> None:
    server = FaultServer(["401"] * 50)  # a client error: not retried, the run fails at once
    try:
        done = _cli(
            tmp_path / "data",
            "run",
            "--tasks",
            "starter_sum",
            "--induce-model",
            "m",
            "--base-url",
            server.base_url,
            "--k",
            "1",
            "--limit",
            "1",
            "--no-bertscore",
            "--out",
            str(tmp_path / "out"),
        )
    finally:
        server.stop()
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    assert "failed" in done.stderr and "401" in done.stderr
    assert "new model call(s)" not in done.stdout
    assert "--resume" in done.stderr
