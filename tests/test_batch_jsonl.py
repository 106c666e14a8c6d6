"""Offline batch: request files in the OpenAI Batch format, result files ingested into the call log."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import func, select

from core.batch.__main__ import main as batch_cli
from core.batch.ingest import ingest
from core.batch.jsonl import write_requests
from core.batch.stages import induction_stage, selfinstruct_stage
from core.llm import GenParams, LLMClient, Request
from core.llm.openai_compat import OpenAICompatProvider
from core.llm.settings import ModelSettings
from core.selfinstruct.prompts import PromptConfig
from core.selfinstruct.spec import KIND, RunSpec, iter_key
from core.store import calls as call_log
from core.store import runs as run_store

# Port 9 (discard) answers nothing: a response through it can only come from the call log.
OFFLINE = "http://127.0.0.1:9/v1"
MODEL = "gemma-3-270m"


def _offline_client(engine) -> LLMClient:
    return LLMClient(OpenAICompatProvider(OFFLINE, MODEL, max_concurrency=1, max_retries=0), engine)


def _result_line(custom_id: str, body: dict, status: int = 200) -> str:
    return json.dumps(
        {
            "id": f"batch_req_{custom_id[-6:]}",
            "custom_id": custom_id,
            "error": None,
            "response": {"status_code": status, "request_id": "r", "body": body},
        }
    )


def _completion_body(text: str) -> dict:
    return {
        "object": "text_completion",
        "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def test_results_from_a_real_server_answer_the_run_from_the_call_log(llama_server, sqlite_engine, tmp_path):
    short = GenParams(max_tokens=6, stop=("\n",))
    requests = [
        Request(prompt="The capital of France is", params=short),
        Request(prompt="1, 2, 3, 4,", params=short),
        Request(prompt="1, 2, 3, 4,", params=short),  # identical: one line, one answer
        Request(prompt="1, 2, 3, 4,", params=short, sample_index=1),  # another sample: its own line
        Request(messages=(("user", "Say hello."),), params=short),
    ]
    req_file, res_file = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    assert write_requests(req_file, requests, OFFLINE, MODEL) == 4
    lines = [json.loads(line) for line in req_file.read_text().splitlines()]
    assert {line["url"] for line in lines} == {"/v1/completions", "/v1/chat/completions"}
    assert all(line["method"] == "POST" and line["body"]["model"] == MODEL for line in lines)
    # What vLLM's run_batch does: send each body to the server, write the response per custom_id.
    with res_file.open("w") as out:
        for line in lines:
            reply = httpx.post(
                llama_server.base_url.removesuffix("/v1") + line["url"], json=line["body"], timeout=120
            )
            out.write(_result_line(line["custom_id"], reply.json(), reply.status_code) + "\n")
    served = {
        line["custom_id"]: json.loads(r)["response"]["body"]
        for line, r in zip(lines, res_file.read_text().splitlines(), strict=True)
    }

    report = ingest(sqlite_engine, req_file, res_file, OFFLINE)
    assert (report.ingested, report.already, report.problems) == (4, 0, [])
    client = _offline_client(sqlite_engine)
    answers = [client.generate(r) for r in requests]
    assert all(a.cached for a in answers) and client.stats.model_calls == 0
    by_id = {line["custom_id"]: line for line in lines}
    for request, answer in zip(requests, answers, strict=True):
        (cid,) = [
            c
            for c, line in by_id.items()
            if line["body"].get("prompt") == request.prompt
            and line["body"].get("messages") == request.messages_list()
            and c.startswith(f"wb:{request.sample_index}:")
        ]
        body = served[cid]
        expected = (
            body["choices"][0]["text"]
            if "prompt" in by_id[cid]["body"]
            else body["choices"][0]["message"]["content"]
        )
        assert answer.text == expected
        assert answer.prompt_tokens == body["usage"]["prompt_tokens"]
    # The log keeps the provenance: the full prompt and parameters of each ingested answer.
    logged = call_log.list_calls(sqlite_engine)
    assert {r.prompt for r in logged} == {"The capital of France is", "1, 2, 3, 4,", None}
    assert all(r.endpoint == OFFLINE and r.params["max_tokens"] == 6 for r in logged)
    # Idempotent: a second ingest adds nothing.
    again = ingest(sqlite_engine, req_file, res_file, OFFLINE)
    assert (again.ingested, again.already, again.problems) == (0, 4, [])
    assert call_log.count_calls(sqlite_engine) == 4


def test_every_bad_line_is_reported_with_file_and_line_and_the_rest_is_ingested(sqlite_engine, tmp_path):
    requests = [Request(prompt=f"Question {i}?", params=GenParams(max_tokens=3)) for i in range(6)]
    req_file, res_file = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    write_requests(req_file, requests, OFFLINE, MODEL)
    ids = [json.loads(line)["custom_id"] for line in req_file.read_text().splitlines()]
    res_file.write_text(
        "\n".join(
            [
                _result_line(ids[0], _completion_body(" fine")),  # 1: good
                "{not json",  # 2
                _result_line("wb:0:" + "f" * 64, _completion_body(" stray")),  # 3: unknown custom_id
                json.dumps(
                    {
                        "custom_id": ids[1],
                        "response": None,
                        "error": {"code": "x", "message": "quota exceeded"},
                    }
                ),  # 4
                _result_line(ids[2], {"error": {"message": "bad request"}}, status=400),  # 5
                _result_line(ids[3], {"object": "text_completion"}),  # 6: no choices
                _result_line(ids[0], _completion_body(" again")),  # 7: repeated
                _result_line(ids[4], _completion_body(" also fine")),  # 8: good
            ]
        )
        + "\n"
    )
    report = ingest(sqlite_engine, req_file, res_file, OFFLINE)
    assert report.ingested == 2
    problems = "\n".join(report.problems)
    assert f"{res_file}:2: not JSON" in problems
    assert f"{res_file}:3: custom_id wb:0:{'f' * 64} is not in the request file" in problems
    assert f"{res_file}:4: {ids[1]} failed: quota exceeded" in problems
    assert f"{res_file}:5: {ids[2]} answered HTTP 400" in problems
    assert f"{res_file}:6: {ids[3]} has a malformed response body" in problems
    assert f"{res_file}:7: custom_id {ids[0]} repeats line 1" in problems
    assert f"{res_file}: no result for {ids[5]} (request line 6)" in problems
    assert len(report.problems) == 7 and all("\n" not in p for p in report.problems)
    client = _offline_client(sqlite_engine)
    assert client.generate(requests[0]).text == " fine" and client.generate(requests[4]).text == " also fine"


def test_an_edited_request_or_another_endpoint_is_refused(sqlite_engine, tmp_path):
    req_file, res_file = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    write_requests(req_file, [Request(prompt="Hi", params=GenParams(max_tokens=2))], OFFLINE, MODEL)
    (line,) = [json.loads(x) for x in req_file.read_text().splitlines()]
    res_file.write_text(_result_line(line["custom_id"], _completion_body(" there")) + "\n")
    other = ingest(sqlite_engine, req_file, res_file, "http://elsewhere:8000/v1")
    assert other.ingested == 0
    assert f"{req_file}:1: custom_id {line['custom_id']} does not match its request" in other.problems[0]
    line["body"]["max_tokens"] = 99
    req_file.write_text(json.dumps(line) + "\n")
    edited = ingest(sqlite_engine, req_file, res_file, OFFLINE)
    assert edited.ingested == 0 and "does not match its request" in edited.problems[0]
    assert call_log.count_calls(sqlite_engine) == 0


def test_selfinstruct_stages_write_the_pipelines_requests(sqlite_engine, tmp_path, capsys):
    settings = ModelSettings(provider="openai", base_url=OFFLINE, model=MODEL, styles=("completion",))
    spec = RunSpec(seeds="starter", target=3)
    run_id = run_store.create_run(sqlite_engine, KIND, spec.to_params(settings.public_dict()), "batch test")
    kept = ["Decide whether the review is positive.", "Write a limerick about tea."]
    run_store.save_result(sqlite_engine, run_id, iter_key(0), {"kept": kept})
    cfg = PromptConfig()

    clf_file = tmp_path / "classify.jsonl"
    argv = ["--selfinstruct", str(run_id), "--model", MODEL, "--base-url", OFFLINE]
    assert batch_cli(["write", *argv, "--stage", "classify", "--out", str(clf_file)]) == 0
    lines = [json.loads(x) for x in clf_file.read_text().splitlines()]
    assert [x["body"]["prompt"] for x in lines] == [cfg.classify_prompt(k) for k in kept]
    assert lines[0]["body"]["max_tokens"] == cfg.classify_decoding.max_tokens

    # Instances need the classification first.
    plan = selfinstruct_stage(sqlite_engine, run_id, "instances", settings)
    assert plan.requests == [] and plan.waiting == kept
    clf_results = tmp_path / "classify_results.jsonl"
    clf_results.write_text(
        "".join(
            _result_line(x["custom_id"], _completion_body(a)) + "\n"
            for x, a in zip(lines, (" Yes", " No"), strict=True)
        )
    )
    assert batch_cli(["ingest", str(clf_file), str(clf_results), "--base-url", OFFLINE]) == 0
    assert "2 answer(s) ingested" in capsys.readouterr().out
    plan = selfinstruct_stage(sqlite_engine, run_id, "instances", settings)
    assert [r.prompt for r in plan.requests] == [
        cfg.instance_prompt(kept[0], True),
        cfg.instance_prompt(kept[1], False),
    ]
    assert [r.params.max_tokens for r in plan.requests] == [
        cfg.instance_settings(True).max_tokens,
        cfg.instance_settings(False).max_tokens,
    ]
    # Everything answered: nothing left to write.
    again = selfinstruct_stage(sqlite_engine, run_id, "classify", settings)
    assert again.requests == [] and again.cached == 2


def test_ingest_reports_an_unreadable_file_in_one_line(sqlite_engine, tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    assert batch_cli(["ingest", str(missing), str(missing), "--base-url", OFFLINE]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{missing}: cannot read") and "\n" not in err


def test_write_refuses_the_embedded_model(sqlite_engine, tmp_path, capsys):
    assert (
        batch_cli(
            [
                "write",
                "--selfinstruct",
                "1",
                "--stage",
                "classify",
                "--model",
                "embedded",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "OpenAI-compatible endpoint" in capsys.readouterr().err


def _answer_all(req_file: Path, res_file: Path, answer) -> None:
    """A result file answering every request line with `answer(body)`."""
    lines = [json.loads(x) for x in req_file.read_text().splitlines()]
    res_file.write_text(
        "".join(_result_line(x["custom_id"], _completion_body(answer(x["body"]))) + "\n" for x in lines)
    )


def test_an_induction_run_replays_from_ingested_batches_without_a_model_call(sqlite_engine, tmp_path):
    from core.induction.job import execute_request, induce_request
    from core.induction.spec import induction_params, resolve_spec
    from core.jobs import run_once
    from core.store.schema import calls

    settings = ModelSettings(
        provider="openai", base_url=OFFLINE, model=MODEL, styles=("completion",), max_retries=0
    )
    params = induction_params(
        model=settings.public_dict(),
        demo_source="user",
        demos=[("cat", "tac"), ("dog", "god"), ("bird", "drib")],
        tests=[("abc", ["cba"]), ("xy", ["yx"]), ("moon", ["noom"])],
        gold=["Reverse the word."],
        k=2,
        temperature=0.7,
        bertscore=False,
    )
    run_id = run_store.create_run(sqlite_engine, "induction", params, "batch induction")
    spec = resolve_spec(params)
    argv = ["write", "--induction", str(run_id), "--model", MODEL, "--base-url", OFFLINE, "--stage"]

    induce_file, induce_results = tmp_path / "induce.jsonl", tmp_path / "induce_results.jsonl"
    assert batch_cli([*argv, "induce", "--out", str(induce_file)]) == 0
    bodies = [json.loads(x)["body"] for x in induce_file.read_text().splitlines()]
    expected = [induce_request(spec, spec.demo_sets[0], s, "completion") for s in range(2)]
    assert [b["prompt"] for b in bodies] == [r.prompt for r in expected]
    assert [b["seed"] for b in bodies] == [r.params.seed for r in expected]  # two samples, two lines

    # Before the induced instructions are known, only the human instruction can be executed.
    early = induction_stage(sqlite_engine, run_id, "execute", settings)
    assert len(early.waiting) == 2 and [r.prompt for r in early.requests] == [
        execute_request(spec, "Reverse the word.", t.input, "completion").prompt for t in spec.tests
    ]
    _answer_all(induce_file, induce_results, lambda body: " Write the word backwards.")
    assert batch_cli(["ingest", str(induce_file), str(induce_results), "--base-url", OFFLINE]) == 0

    exec_file, exec_results = tmp_path / "execute.jsonl", tmp_path / "execute_results.jsonl"
    assert batch_cli([*argv, "execute", "--out", str(exec_file)]) == 0
    prompts = [json.loads(x)["body"]["prompt"] for x in exec_file.read_text().splitlines()]
    # Two identical induced instructions are executed once, next to the human one: 2 x 3 inputs.
    assert prompts == [
        execute_request(spec, ins, t.input, "completion").prompt
        for ins in ("Write the word backwards.", "Reverse the word.")
        for t in spec.tests
    ]
    reversed_input = lambda body: " " + body["prompt"].split("Input: ")[-1].split("\n")[0][::-1]  # noqa: E731
    _answer_all(exec_file, exec_results, reversed_input)
    assert batch_cli(["ingest", str(exec_file), str(exec_results), "--base-url", OFFLINE]) == 0

    # The run itself, against an endpoint that answers nothing: everything comes from the call log.
    before = call_log.count_calls(sqlite_engine)
    assert run_once(sqlite_engine, ("induction",), model_settings=settings) == run_id
    run = run_store.get_run(sqlite_engine, run_id)
    assert run.status == "done", run.error
    assert call_log.count_calls(sqlite_engine) == before
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).where(calls.c.run_id == run_id)).scalar_one() == 0
    predictions = {
        k: v["prediction"]
        for k, v in run_store.results(sqlite_engine, run_id).items()
        if k.startswith("exec/")
    }
    assert sorted(predictions.values()) == sorted([" cba", " yx", " noom"] * 2)
