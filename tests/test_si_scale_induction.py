"""The induction benchmark keeps the endpoint busy: its tasks run at once, and all their induction and
execution requests share one in-flight budget.

The loopback endpoint (tests/si_scale_endpoint.py) is a fault injector here: it holds every request until
six are in flight at once, which one task at a time (four induction requests) never reaches; a run that
cannot get there fails after the gate's timeout.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.induction.report import build_benchmark
from core.induction.spec import induction_params
from core.jobs import run_once, submit
from core.llm import ModelSettings
from core.store import runs as run_store
from tests.conftest import count_call_rows
from tests.si_scale_endpoint import LoopbackEndpoint

TASKS = ["sum", "antonyms", "larger_animal"]


@pytest.fixture()
def datasets(data_dir: Path, shared_datasets: Path) -> Path:
    (data_dir / "datasets").symlink_to(shared_datasets.resolve())
    return data_dir / "datasets"


def test_benchmark_tasks_share_one_budget_and_run_at_once(sqlite_engine, datasets):
    endpoint = LoopbackEndpoint(barrier=6, gate_timeout_s=60)
    try:
        model = ModelSettings(
            provider="openai",
            base_url=endpoint.base_url,
            model="loopback",
            styles=("completion",),
            max_concurrency=6,
            max_retries=0,
        ).public_dict()
        params = induction_params(model=model, tasks=TASKS, n_sets=2, k=2, limit=3, bertscore=False)
        run_id = submit(sqlite_engine, "induction_benchmark", params)
        assert run_once(sqlite_engine) == run_id
        run = run_store.get_run(sqlite_engine, run_id)
        assert run.status == "done", run.error
        assert endpoint.gate_timeouts == 0
        # Three tasks' requests at once, never more than the one budget of six.
        assert endpoint.max_in_flight == 6
        bench = build_benchmark(run.params, run_store.results(sqlite_engine, run_id))
        assert [r.task for r in bench.reports] == TASKS and all(r.complete for r in bench.reports)
        # Every request asked once: 2 x 2 inductions per task, then each distinct instruction (and the gold
        # ones) on the 3 held-out inputs.
        rows, errors = count_call_rows(sqlite_engine, run_id)
        assert errors == 0 and rows == len(endpoint.seen)
        assert "req/s" in run.message
    finally:
        endpoint.stop()
