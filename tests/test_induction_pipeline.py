"""Induction runs end to end on the embedded model: report shape, free re-runs, re-scoring, own demonstrations
with judged tests, the search, a separate execute model at the real llama.cpp server, the command line, and a
killed run resumed on SQLite and PostgreSQL.

The module's tests share one working folder (and so one call log). Its fixture makes the reference run before
any test, so each test finds the same state whether it runs alone, first, last or in any order.
"""

from __future__ import annotations

import csv
import re
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

import core.jobs.runner as runner_mod
from core.induction import bertscore
from core.induction.cost import estimate_spec_cost
from core.induction.report import build_report
from core.induction.search import halving_evaluations
from core.induction.spec import induction_params, instruction_hash, judge_key, resolve_spec
from core.jobs import run_once, submit
from core.llm import ModelSettings
from core.store import calls as call_log
from core.store import dispose_all, get_engine
from core.store import runs as run_store
from tests.conftest import (
    LLAMA_MODEL,
    REPO_ROOT,
    app_env,
    count_call_rows,
    kill_worker_when,
    llama_settings,
    run_cli,
)

EMBEDDED = ModelSettings()
# The same request set in several tests: their answers come from the call log after the first.
E2E = dict(task="starter_sum", k=2, temperature=0.7, limit=2, bertscore=False)
MODEL_FILE = REPO_ROOT / "data" / "models" / "gemma-3-270m-q4_k_m.gguf"


@dataclass(frozen=True)
class Work:
    data: Path
    engine: Engine
    e2e_run: int  # the reference run of E2E, made first in an empty call log
    e2e_new_calls: int  # the model calls it made


def _run(engine, params: dict, kind: str = "induction") -> int:
    run_id = submit(engine, kind, params, name="test")
    assert run_once(engine, (kind,), EMBEDDED) == run_id
    run = run_store.get_run(engine, run_id)
    assert run.status == "done", run.error
    assert run.progress_done == run.progress_total > 0
    return run_id


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("induction") / "data"
    (data / "models").mkdir(parents=True)
    if MODEL_FILE.exists():  # reuse the app's assembled model file rather than write another copy
        (data / "models" / MODEL_FILE.name).symlink_to(MODEL_FILE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DATA_DIR", str(data))
        for name in ("DATABASE_URL", "WORKBENCH_PROVIDER", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
            mp.delenv(name, raising=False)
        dispose_all()
        engine = get_engine()
        run_id = _run(engine, induction_params(model=EMBEDDED.public_dict(), **E2E))
        yield Work(data, engine, run_id, call_log.count_calls(engine, run_id))
        dispose_all()


def test_end_to_end_run_has_the_right_shape_and_a_rerun_is_free(work) -> None:
    engine, run_id = work.engine, work.e2e_run
    params = induction_params(model=EMBEDDED.public_dict(), **E2E)
    report = build_report(params, run_store.results(engine, run_id))
    assert report.complete and report.task == "starter_sum" and report.metric == "em"
    assert len(report.induced_raw) == 2 and sum(c.count for c in report.candidates) == 2
    assert [g.instruction for g in report.groups] == [c.text for c in report.candidates]
    assert len(report.gold) == 3 and len(report.tests) == 2
    for group in report.groups + report.gold:
        assert len(group.inputs) == 2 and all(group.scored) and all(c is not None for c in group.call_ids)
        assert 0.0 <= group.mean <= 1.0
    s = report.summary
    assert (s.n_instructions, s.n_unique, s.n_inputs) == (2, len(report.groups), 2)
    assert 0.0 <= s.induced <= 1.0 and 0.0 <= s.human <= 1.0
    executed = {g.instruction for g in report.groups} | {g.instruction for g in report.gold}
    assert work.e2e_new_calls == 2 + len(executed) * 2  # one model call per unit

    # The same run again: every request is answered from the call log.
    before = call_log.count_calls(engine)
    again = _run(engine, params)
    assert call_log.count_calls(engine) == before
    assert call_log.count_calls(engine, again) == 0
    assert build_report(params, run_store.results(engine, again)).summary == s


def test_build_report_rescores_stored_outputs_without_a_model_call(work, monkeypatch) -> None:
    engine = work.engine
    params = induction_params(model=EMBEDDED.public_dict(), **E2E)
    results = run_store.results(engine, work.e2e_run)

    def no_model(*args, **kwargs):
        raise AssertionError("re-scoring must not call a model")

    monkeypatch.setattr("core.llm.client.LLMClient.generate", no_model)
    before = call_log.count_calls(engine)
    report = build_report(params, results)
    # A metric sees only stored text: put the right answer in one stored output and score again.
    group = report.groups[0]
    key = f"exec/{instruction_hash(group.instruction)}/0"
    fixed = {**results, key: {**results[key], "prediction": f" {report.tests[0].answers[0]}\nInput: 1 2"}}
    rescored = build_report(params, fixed)
    assert rescored.groups[0].inputs[0].score == 1.0
    assert rescored.groups[0].inputs[0].normalized_prediction == report.tests[0].answers[0]
    assert rescored.groups[0].mean >= report.groups[0].mean
    assert call_log.count_calls(engine) == before


def test_own_demonstrations_with_held_out_and_hand_judged_tests(work) -> None:
    engine = work.engine
    params = induction_params(
        model=EMBEDDED.public_dict(),
        demo_source="user",
        demos=[("hot", "cold"), ("big", "small"), ("happy", "sad"), ("fast", "slow")],
        tests=[("up", ["down"]), ("wet", [])],  # the second has no answer: judged by hand
        gold=["Write the opposite of the word."],
        k=1,
        temperature=0.0,
        bertscore=True,  # the one BERTScore check on a real run: one candidate, one reference
    )
    run_id = _run(engine, params)
    report = build_report(params, run_store.results(engine, run_id))
    assert report.complete and report.task == "custom" and report.needs_judging
    group = report.groups[0]
    assert group.scored == [True, False] and group.judged == [None, None]
    assert report.summary.n_inputs == 1  # the unjudged output does not count yet
    bert = group.bert
    assert bert["model"] == bertscore.OFFLINE_MODEL and len(bert["per_reference"]) == 1
    assert bert["best_index"] == 0 and report.summary.bertscore_f1 == pytest.approx(
        bert["per_reference"][0][3]
    )

    assert run_store.save_result(engine, run_id, judge_key(group.instruction, 1), {"ok": True})
    judged = build_report(params, run_store.results(engine, run_id))
    assert judged.groups[0].scored == [True, True] and judged.groups[0].judged == [None, True]
    assert judged.groups[0].inputs[1].score == 1.0
    assert judged.summary.induced == pytest.approx((group.inputs[0].score + 1.0) / 2)


def test_search_selects_one_and_induced_accuracy_stays_the_papers_figure(work) -> None:
    engine = work.engine
    params = induction_params(model=EMBEDDED.public_dict(), **{**E2E, "k": 3}, search=2)
    spec = resolve_spec(params)
    assert len(spec.search_examples) == 2
    assert not {t.input for t in spec.search_examples} & {d.input for d in spec.demo_sets[0]}
    cost = estimate_spec_cost(spec)
    # The search's scorings come on top of every induced instruction on every test input.
    assert cost.execution_calls == halving_evaluations(3, 2) + 3 * len(spec.tests)
    run_id = _run(engine, params)
    report = build_report(params, run_store.results(engine, run_id))
    assert report.complete
    # With one distinct instruction (the sampled model may repeat itself) the search still runs and picks it.
    search = report.search
    assert search["brute_force_evaluations"] == len(report.candidates) * 2
    assert search["calls_saved"] == search["brute_force_evaluations"] - search["evaluations"]
    # Every distinct instruction ran on the tests, weighted by its count: the paper's figure.
    assert [g.instruction for g in report.groups] == [c.text for c in report.candidates]
    assert sum(g.count for g in report.groups) == 3
    assert all(len(g.inputs) == 2 for g in report.groups)
    by_text = {g.instruction: g for g in report.groups}
    assert report.selected is not None and report.selected.instruction == search["best"]
    assert report.selected_accuracy == by_text[search["best"]].mean
    executed = {k.split("/")[1] for k in run_store.results(engine, run_id, "exec/")}
    assert executed >= {instruction_hash(c.text) for c in report.candidates}


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    without = ("DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")
    return run_cli("core.induction", *args, env=app_env(data, without=without))


def _run_id(stdout: str) -> int:
    found = re.search(r"^run (\d+): ", stdout, re.MULTILINE)
    assert found, stdout
    return int(found.group(1))


FLAGS = ["--tasks", "starter_sum", "--k", "2", "--temperature", "0.7", "--limit", "2", "--no-bertscore"]


def test_cli_writes_csv_and_markdown_shares_the_call_log_and_resumes(work, tmp_path) -> None:
    data, engine = work.data, work.engine
    out = tmp_path / "out"
    done = _cli(data, "run", *FLAGS, "--induce-model", "embedded", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "0 new model call(s)" in done.stdout  # the app-side reference run answered all of it
    run = run_store.get_run(engine, _run_id(done.stdout))
    assert run.kind == "induction_benchmark"
    rows = list(csv.DictReader((out / f"induction_run{run.id}.csv").open()))
    assert [r["task"] for r in rows] == ["starter_sum"]
    assert rows[0]["complete"] == "True" and rows[0]["inputs"] == "2" and rows[0]["instructions"] == "2"
    markdown = (out / f"induction_run{run.id}.md").read_text()
    assert "| starter_sum | em |" in markdown and "% of human" in markdown

    resumed = _cli(data, "run", "--resume", str(run.id), "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "0 new model call(s)" in resumed.stdout

    table = _cli(data, "table", str(run.id), "--out", str(tmp_path / "again"))
    assert table.returncode == 0, table.stderr
    assert (tmp_path / "again" / f"induction_run{run.id}.csv").read_text() == (
        out / f"induction_run{run.id}.csv"
    ).read_text()


def test_cli_executes_with_a_separate_model(work, llama_server, tmp_path) -> None:
    """Induce on the embedded model (answered from the call log), execute at the real llama.cpp server."""
    data, engine = work.data, work.engine
    served_before = llama_server.requests_served("/v1/completions")
    done = _cli(
        data,
        "run",
        *FLAGS,
        "--induce-model",
        "embedded",
        "--execute-model",
        LLAMA_MODEL,
        "--base-url",
        llama_server.base_url,
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    run = run_store.get_run(engine, _run_id(done.stdout))
    assert run.params["model"]["provider"] == "embedded"
    assert (
        run.params["execute_model"]["model"] == LLAMA_MODEL and "api_key" not in run.params["execute_model"]
    )
    assert run.params["execute_model"]["base_url"] == llama_server.base_url
    new_calls = call_log.list_calls(engine, run_id=run.id, limit=1000)
    assert new_calls and {c.model for c in new_calls} == {LLAMA_MODEL}  # induction came from the call log
    report = build_report(run.params, run_store.results(engine, run.id), "starter_sum")
    assert report.complete
    executed = {g.instruction for g in report.groups} | {g.instruction for g in report.gold}
    # Every execution reached the server once, and each prediction is the text of its own logged call.
    assert (
        len(new_calls) == len(executed) * 2 == llama_server.requests_served("/v1/completions") - served_before
    )
    by_id = {c.id: c for c in new_calls}
    for group in report.groups + report.gold:
        for result, call_id in zip(group.inputs, group.call_ids, strict=True):
            assert by_id[call_id].choices[0]["text"] == result.prediction
            assert group.instruction in by_id[call_id].prompt


def test_a_killed_induction_run_resumes_on_both_backends(engine, data_dir, llama_server, monkeypatch) -> None:
    """The induction job at the real llama.cpp server, killed after its first stored units and resumed by
    another worker: every unit once, every call row and every request at the server counted."""
    params = induction_params(model=llama_settings(llama_server).public_dict(), **E2E)
    run_id = submit(engine, "induction", params, name="kill me")
    served_before = llama_server.requests_served("/v1/completions")
    kill_worker_when(
        lambda: len(run_store.result_keys(engine, run_id)) >= 3, app_env(data_dir), "three stored units"
    )
    partial = run_store.results(engine, run_id)
    assert run_store.get_run(engine, run_id).status == "running"  # as the dead worker left it

    monkeypatch.setattr(runner_mod, "STALE_AFTER", timedelta(0))
    assert run_once(engine, ("induction",)) == run_id
    run = run_store.get_run(engine, run_id)
    assert run.status == "done", run.error
    final = run_store.results(engine, run_id)
    assert all(final[k] == v for k, v in partial.items())  # nothing stored before the kill was redone
    assert len(partial) < len(final), "the worker should have been killed mid-way"
    report = build_report(params, final)
    assert report.complete
    executed = {g.instruction for g in report.groups} | {g.instruction for g in report.gold}
    units = 2 + len(executed) * 2  # two inductions, then each distinct instruction on two inputs
    assert count_call_rows(engine, run_id) == (units, 0)
    served = llama_server.requests_served("/v1/completions") - served_before
    assert units <= served <= units + 1, f"{served} requests at the server for {units} units"


def test_pasted_demonstrations_parse_or_fail_with_the_line() -> None:
    from core.datasets import DatasetError
    from core.induction.paste import parse_pasted_demos

    plain = parse_pasted_demos("cat\tcats\ndog\tdogs\n")
    assert [(e.input, e.output, e.raw["split"]) for e in plain] == [
        ("cat", "cats", "induce"),
        ("dog", "dogs", "induce"),
    ]
    headed = parse_pasted_demos('input\toutput\tanswers\tsplit\nold\tnew\t["new", "young"]\texecute\n')
    assert headed[0].answers == ["new", "young"] and headed[0].raw["split"] == "execute"
    as_json = parse_pasted_demos('[{"input": "a", "output": "b"}]')
    as_lines = parse_pasted_demos(
        '{"input": "a", "output": "b"}\n{"input": "c", "output": "d", "split": "execute"}'
    )
    assert [e.input for e in as_json] == ["a"] and [e.raw["split"] for e in as_lines] == ["induce", "execute"]
    for text, where in (
        ("cat\tcats\ndog", "pasted text, line 2"),
        ("input\toutput\tsplit\ncat\tcats\tlater", "pasted text, line 2, field 'split'"),
        ('{"input": "a", "output": "b"}\n{"input": "c"}', "pasted JSON, line 2, field 'output'"),
        ("", "nothing pasted"),
    ):
        with pytest.raises(DatasetError, match=where):
            parse_pasted_demos(text)
