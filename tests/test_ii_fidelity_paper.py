"""`python -m core.induction run --paper` sends exactly the reference's decoding settings to a real
llama.cpp server (checked in the call log), on the paper's demonstration sets and prompts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import core.datasets as ds
from core.induction.prompts import render_induction_prompt
from core.induction.spec import record_samples, resolve_spec
from core.store import calls as call_log
from core.store import dispose_all, get_engine
from core.store import runs as run_store
from tests.conftest import REPO_ROOT

TASK = "antonyms"


def test_paper_preset_sends_the_reference_decoding(
    llama_server, tmp_path: Path, shared_datasets: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "WORKBENCH_PROVIDER")
    }
    env["WORKBENCH_DATA_DIR"] = str(data)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.datasets",
            "import",
            str(shared_datasets),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    served_before = llama_server.requests_served("/v1/completions")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.induction",
            "run",
            "--paper",
            "--tasks",
            TASK,
            "--n-sets",
            "2",
            "--limit",
            "2",
            "--no-bertscore",
            "--induce-model",
            "gemma-3-270m",
            "--base-url",
            llama_server.base_url,
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # The run names exactly how it narrows the paper's method, and nothing else.
    assert (
        "departures from paper: 2 demonstration set(s) per task, not 100; a seeded sample of 2" in done.stdout
    )
    markdown = (tmp_path / "out").glob("induction_run*.md").__next__().read_text()
    assert (
        "Departures from the paper: 2 demonstration set(s) per task, not 100; a seeded sample of 2"
        in markdown
    )

    dispose_all()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DATA_DIR", str(data))
        engine = get_engine()
        run = run_store.list_runs(engine, kind="induction_benchmark")[0]
        assert run.status == "done"
        params = run.params
        assert params["samples"][TASK] == record_samples(params)["samples"][TASK]
        spec = resolve_spec(params, TASK)
        task = ds.load_task(TASK)
        by_id = {d.id: d for d in task.paper_demos}
        calls = call_log.list_calls(engine, run_id=run.id, limit=1000)
        prompts = {c.prompt for c in calls}
        induction = [c for c in calls if c.prompt.startswith("I gave a friend")]
        execution = [c for c in calls if c.prompt.startswith("Instruction: ")]
        # The paper's own prompt text for each chosen set, byte for byte.
        for set_id in params["samples"][TASK]["paper_sets"]:
            assert by_id[set_id].prompt in prompts
            assert render_induction_prompt(tuple(by_id[set_id].demos)) == by_id[set_id].prompt
        assert len(induction) == 2 and len(execution) == len(calls) - 2 > 0
        for c in induction:
            p = c.params
            assert (p["max_tokens"], p["temperature"], p["top_p"], p["n"]) == (50, 1.0, 0.0, 1)
            assert p.get("seed") is None
        for c in execution:
            p = c.params
            assert (p["max_tokens"], p["temperature"], p["top_p"], p["n"]) == (30, 1.0, 0.0, 1)
        # Every gold instruction ran on each sampled input (the baseline), and the inputs are the sample.
        assert {c.prompt.split("\nInput: ")[1].removesuffix("\nOutput:") for c in execution} == {
            t.input for t in spec.tests
        }
        assert llama_server.requests_served("/v1/completions") - served_before == len(calls)
        dispose_all()
