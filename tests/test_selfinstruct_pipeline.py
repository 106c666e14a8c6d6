"""The Self-Instruct job: every decision recorded, resumable with nothing lost or duplicated, same records
from the command line. A scripted model covers the logic quickly; the embedded model runs it for real."""

from __future__ import annotations

import json
import random
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import core.jobs.runner as runner_mod
from core.jobs import run_once, submit
from core.llm import Choice, ModelSettings, Response
from core.llm.settings import settings_from_env
from core.selfinstruct import calltexts
from core.selfinstruct import job as si_job
from core.selfinstruct.job import extend_run, record_edit
from core.selfinstruct.prompts import (
    CLASSIFICATION_HEADER,
    CLASSIFY_QUESTION,
    INSTRUCTION_HEADER,
    PromptConfig,
)
from core.selfinstruct.spec import KIND, RunSpec, selfinstruct_params, with_decoding
from core.selfinstruct.view import export_run, load_run
from core.store import calls as call_log
from core.store import runs as run_store
from core.store.schema import calls, run_results
from tests.conftest import (
    LLAMA_MODEL,
    LLAMA_TIMEOUT_S,
    REPO_ROOT,
    app_env,
    count_call_rows,
    kill_worker_when,
    llama_settings,
    run_cli,
)

EMBEDDED = ModelSettings().public_dict()
GGUF = "gemma-3-270m-q4_k_m.gguf"


def share_model(data_dir: Path) -> None:
    """Point the test's data folder at an already assembled model file, when there is one (saves writing
    250 MB per test; the package still checks its hash)."""
    source = REPO_ROOT / "data" / "models" / GGUF
    if source.exists():
        (data_dir / "models").mkdir(exist_ok=True)
        target = data_dir / "models" / GGUF
        if not target.exists():
            target.symlink_to(source)


def small_prompts(max_tokens: int = 48, instance_max_tokens: int = 24) -> PromptConfig:
    return with_decoding(
        PromptConfig(),
        max_tokens=max_tokens,
        instance_max_tokens=instance_max_tokens,
        clf_instance_max_tokens=instance_max_tokens,
    )


def pool_of(engine, run_id: int) -> list[str]:
    return [x.instruction for x in load_run(calltexts.results(engine, run_id)).pool]


# --- A scripted model: fast, and every filter gets something to decide --------------------------------------------

VOCAB = [
    "summarize",
    "translate",
    "compare",
    "describe",
    "list",
    "explain",
    "rank",
    "classify",
    "rewrite",
    "suggest",
    "the",
    "a",
    "poem",
    "recipe",
    "email",
    "river",
    "budget",
    "planet",
    "garden",
    "history",
    "novel",
    "law",
    "song",
    "city",
    "market",
    "winter",
    "engine",
    "doctor",
    "lesson",
    "puzzle",
]


class ScriptedModel:
    kind = "scripted"
    model = "scripted"
    styles = ("completion", "chat")
    max_concurrency = 1

    def __init__(self, endpoint: str = "scripted:a", fail_on_generation: int | None = None):
        self.endpoint = endpoint
        self.fail_on = fail_on_generation
        self.generations = 0

    def _novel(self, rng: random.Random) -> str:
        return " ".join(rng.choice(VOCAB) for _ in range(rng.randint(6, 10))).capitalize() + "."

    def call(self, request, on_text=None):
        prompt = request.prompt or request.messages[-1][1]
        if prompt.rstrip().endswith(CLASSIFY_QUESTION):
            task = prompt.rstrip().splitlines()[-2]
            text = " Yes" if "classify" in task.lower() else " No"
        elif prompt.startswith("Given the classification task"):
            text = "Class label: Yes\nSentence: it rains\nClass label: No\nSentence: it rains"
        elif prompt.startswith("Come up with examples"):
            text = "Example 1\nInput: two\nOutput: 2\nExample 2\nInput: two\nOutput: 2\nExample 3\nInput: x\nOutput: x"
        else:
            self.generations += 1
            if self.generations == self.fail_on:
                raise RuntimeError("the machine went away")
            rng = random.Random(f"{prompt}/{request.params.seed}")
            listed = re.findall(r"^\d+\. (.*)$", prompt, re.MULTILINE)
            text = "\n".join(
                [
                    " " + self._novel(rng),
                    f"10. {listed[0]} Please.",  # a near-copy of a prompt instruction: too similar
                    "11. Draw a map of the old town for the visitors.",  # blacklisted
                    "12. Sort it.",  # too short
                    f"13. Classify {self._novel(rng).lower()}",
                ]
            )
        if on_text is not None:
            on_text(text)
        return Response((Choice(text, "stop"),), 10, 10, 1.0)


@pytest.fixture()
def scripted(use_model):
    return use_model(ScriptedModel())


def test_a_run_records_every_candidate_decision_and_unit(sqlite_engine, scripted):
    params = selfinstruct_params(EMBEDDED, seeds="starter", iterations=3, requests_per_iteration=2, seed=7)
    run_id = submit(sqlite_engine, KIND, params)
    assert run_once(sqlite_engine) == run_id
    run = run_store.get_run(sqlite_engine, run_id)
    assert run.status == "done", run.error
    assert run.progress_done == run.progress_total == 3
    results = run_store.results(sqlite_engine, run_id)
    # The records name their calls rather than repeat the call log's prompts, parameters and answers...
    requests = [r for k, v in results.items() if k.startswith("iter/") for r in v["requests"]]
    instances = [v for k, v in results.items() if k.startswith("inst/")]
    assert requests and instances
    assert not any({"prompt", "params", "response"} & set(r) for r in requests)
    assert not any({"prompt", "response"} & set(v) for v in instances)
    # ...which the page and the provenance export read back from the log.
    view = load_run(calltexts.restore(sqlite_engine, results), run.params)
    assert [it.t for it in view.iterations] == [0, 1, 2] and view.missing == []
    assert len(view.seeds) == 12  # the starter seeds, stored with the run
    counts = view.counts_by_reason()
    assert {"kept", "too_similar", "blacklist", "too_short"} <= set(counts)
    assert sum(counts.values()) == view.n_candidates == 3 * 2 * 5
    for it in view.iterations:
        assert len(it.records) == 2
        for record, raw in zip(it.records, it.raw["requests"], strict=True):
            assert record.prompt.startswith(INSTRUCTION_HEADER) and record.prompt.endswith("9.")
            assert record.call_id is not None and raw["finish_reason"] == "stop"
            logged = call_log.get_call(sqlite_engine, record.call_id)
            assert (record.prompt, record.response) == (logged.prompt, logged.choices[0]["text"])
            assert raw["params"] == logged.params and raw["params"]["temperature"] == 0.7
            assert {s.origin for s in record.sample.items} <= {"human", "machine"}
            for d in record.decisions:
                if d.code == "too_similar":
                    assert d.evidence[0].score > 0.7 and len(d.evidence) <= 10
                    assert d.evidence == tuple(sorted(d.evidence, key=lambda s: -s.score))
    # Later prompts draw machine instructions from the pool as it grew.
    assert any(r.sample.n_machine == 2 for r in view.iterations[-1].records)
    # Every kept instruction was classified and got instances, each instance decision recorded.
    assert len(view.items) == view.n_kept > 0
    for item in view.items:
        assert item.verdict is not None and item.instances is not None
        logged = call_log.get_call(sqlite_engine, item.instances.call_id)
        assert item.instances.prompt == logged.prompt and item.instruction in logged.prompt
        assert item.instances.response == logged.choices[0]["text"] != ""
        assert item.is_classification == ("classify" in item.instruction.lower())
        reasons = {d.code for d in item.instances.decisions if not d.kept}
        assert reasons == (
            {"conflicting_outputs"} if item.is_classification else {"duplicate", "input_equals_output"}
        )
        assert item.seed_rouge is not None and 0 <= item.seed_rouge <= 1
    tasks = view.tasks
    assert all(len(t.instances) == (0 if t.is_classification else 1) for t in tasks)
    alpaca = json.loads(export_run(view, "alpaca"))
    assert len(alpaca) == sum(len(t.instances) for t in tasks)
    provenance = [json.loads(line) for line in export_run(view, "provenance").splitlines()]
    assert sum(r["kind"] == "call" for r in provenance) == 6
    assert sum(r["kind"] == "candidate" for r in provenance) == view.n_candidates
    finetune = export_run(view, "finetune", include_seed_tasks=False)
    assert [len(x.splitlines()) for x in (export_run(view, "chat"), finetune)] == [len(alpaca), len(alpaca)]
    # Re-running a finished run changes nothing: every unit is stored.
    before = run_store.results(sqlite_engine, run_id)
    run_store.requeue(sqlite_engine, run_id)
    assert run_once(sqlite_engine) == run_id
    assert run_store.results(sqlite_engine, run_id) == before


def test_a_failed_run_resumes_to_the_same_pool_and_steps_on(engine, use_model):
    """On SQLite and PostgreSQL: a run that fails mid-way resumes where it stopped, asking the model only
    for the iterations it had not finished."""
    params = selfinstruct_params(EMBEDDED, seeds="starter", iterations=3, seed=11)
    whole = ScriptedModel("scripted:whole")
    use_model(whole)
    reference = submit(engine, KIND, params)
    run_once(engine)
    # The same run on another endpoint (so nothing comes from the call log) dies at its second iteration...
    crashing = ScriptedModel("scripted:other", fail_on_generation=2)
    use_model(crashing)
    run_id = submit(engine, KIND, params)
    run_once(engine)
    assert run_store.get_run(engine, run_id).status == "failed"
    partial = run_store.results(engine, run_id)
    assert "iter/000000" in partial and "iter/000001" not in partial
    # ...and resumes: the pool is rebuilt from iteration 0, so iterations 1-2 decide exactly as uninterrupted.
    generations_before_resume = crashing.generations
    run_store.requeue(engine, run_id)
    run_once(engine)
    # Exactly the two missing iterations' requests, each once: iteration 0 was not asked again.
    assert crashing.generations - generations_before_resume == 2
    final = run_store.results(engine, run_id)
    assert run_store.get_run(engine, run_id).status == "done"
    assert all(final[k] == v for k, v in partial.items())
    assert pool_of(engine, run_id) == pool_of(engine, reference)
    strip = lambda rec: [{k: v for k, v in r.items() if k != "call_id"} for r in rec["requests"]]  # noqa: E731
    ref = run_store.results(engine, reference)
    for t in range(3):
        assert strip(final[f"iter/{t:06d}"]) == strip(ref[f"iter/{t:06d}"])

    # Step mode: one more iteration on the finished run; the earlier ones stay as they were.
    extend_run(engine, run_id, iterations=4)
    run_store.requeue(engine, run_id)
    run_once(engine)
    stepped = run_store.results(engine, run_id)
    assert "iter/000003" in stepped and all(stepped[k] == v for k, v in final.items())
    # A target instead: the run goes on until the generated pool is large enough.
    extend_run(engine, run_id, target=len(pool_of(engine, run_id)) + 3)
    run_store.requeue(engine, run_id)
    run_once(engine)
    run = run_store.get_run(engine, run_id)
    assert run.status == "done" and run.progress_done == run.progress_total == run.params["target"]
    assert len(pool_of(engine, run_id)) >= run.params["target"]


def test_iterations_held_for_one_evidence_pass_store_what_one_by_one_stores(
    sqlite_engine, scripted, monkeypatch
):
    """Fast iterations are handed to the finisher in groups, so that one scorer pass fills several
    iterations' evidence: the records stored are those of a run that hands each over at once."""
    params = selfinstruct_params(
        EMBEDDED,
        seeds="starter",
        iterations=12,
        requests_per_iteration=2,
        classify=False,
        instances=False,
        seed=3,
    )
    groups: list[int] = []  # iterations handed over at once
    hand_over = si_job._Loop._hand_over

    def counted(self):
        if self.held:
            groups.append(len(self.held))
        hand_over(self)

    monkeypatch.setattr(si_job._Loop, "_hand_over", counted)
    monkeypatch.setattr(si_job, "HOLD_S", 3600.0)  # every iteration counts as fast
    held = submit(sqlite_engine, KIND, params)
    assert run_once(sqlite_engine) == held
    assert sum(groups) == 12 and max(groups) > 1, groups
    assert max(groups) <= si_job.FINISH_LAG
    monkeypatch.setattr(si_job, "HOLD_S", 0.0)  # none does: each is handed over as it is judged
    groups.clear()
    alone = submit(sqlite_engine, KIND, params)  # the same requests, answered by the call log
    assert run_once(sqlite_engine) == alone
    assert groups == [1] * 12
    assert run_store.results(sqlite_engine, held, "iter/") == run_store.results(sqlite_engine, alone, "iter/")
    assert len(pool_of(sqlite_engine, held)) > 12


def test_responses_are_judged_in_request_order_as_they_come(sqlite_engine, scripted, monkeypatch):
    """Request j is judged as soon as requests 0..j are in, not after the last answer; whatever order the
    answers come in, the stored iterations are those of a run whose answers came in order."""
    params = selfinstruct_params(
        EMBEDDED, seeds="starter", iterations=3, requests_per_iteration=4, instances=False, seed=5
    )
    events: list[str] = []
    generate_many = si_job.LLMClient.generate_many

    def out_of_order(self, requests, *args, **kwargs):
        answers = sorted(generate_many(self, requests, *args, **kwargs))
        for j, answer in [answers[i] for i in (1, 0, 3, 2)]:
            events.append(f"in {j}")
            yield j, answer

    judge_response = si_job.judge_response

    def judged(spec, t, planned, *args):
        events.append(f"judge {planned.j}")
        return judge_response(spec, t, planned, *args)

    monkeypatch.setattr(si_job.LLMClient, "generate_many", out_of_order)
    monkeypatch.setattr(si_job, "judge_response", judged)
    shuffled = submit(sqlite_engine, KIND, params)
    assert run_once(sqlite_engine) == shuffled
    expected = ["in 1", "in 0", "judge 0", "judge 1", "in 3", "in 2", "judge 2", "judge 3"]
    assert events == expected * 3
    monkeypatch.setattr(si_job.LLMClient, "generate_many", generate_many)  # (not undo: the model is scripted)
    monkeypatch.setattr(si_job, "judge_response", judge_response)
    in_order = submit(sqlite_engine, KIND, params)  # the same requests, answered by the call log in order
    assert run_once(sqlite_engine) == in_order
    stored = run_store.results(sqlite_engine, shuffled, "iter/")
    assert len(stored) == 3 and stored == run_store.results(sqlite_engine, in_order, "iter/")
    assert len(pool_of(sqlite_engine, shuffled)) > 3


def test_edits_and_deletions_are_logged_and_applied(sqlite_engine, scripted):
    run_id = submit(sqlite_engine, KIND, selfinstruct_params(EMBEDDED, seeds="starter", iterations=1))
    run_once(sqlite_engine)
    view = load_run(calltexts.results(sqlite_engine, run_id))
    first, second = view.items[0], view.items[1]
    assert (
        record_edit(sqlite_engine, run_id, first.key, "edit", "  Rewrite the text in plain words.  ")
        == "edit/000000"
    )
    record_edit(sqlite_engine, run_id, second.key, "delete")
    with pytest.raises(ValueError):
        record_edit(sqlite_engine, run_id, first.key, "edit", "  ")
    view = load_run(calltexts.results(sqlite_engine, run_id))
    assert (
        view.item(first.key).instruction == "Rewrite the text in plain words." and view.item(first.key).edited
    )
    assert view.item(second.key).deleted and second.key not in {x.key for x in view.pool}
    assert "Rewrite the text in plain words." in {t.instruction for t in view.tasks}
    rows = [json.loads(line) for line in export_run(view, "provenance").splitlines()]
    assert [r["op"] for r in rows if r["kind"] == "edit"] == ["edit", "delete"]
    record_edit(sqlite_engine, run_id, second.key, "restore")
    assert not load_run(calltexts.results(sqlite_engine, run_id)).item(second.key).deleted


def test_a_chat_only_endpoint_gets_the_chat_rendering(sqlite_engine, use_model):
    model = ScriptedModel("scripted:chat")
    model.styles = ("chat",)
    use_model(model)
    params = selfinstruct_params(EMBEDDED, seeds="starter", iterations=1, classification_only=True)
    run_id = submit(sqlite_engine, KIND, params)
    run_once(sqlite_engine)
    assert run_store.get_run(sqlite_engine, run_id).status == "done"
    view = load_run(calltexts.results(sqlite_engine, run_id))
    (raw,) = view.iterations[0].raw["requests"]
    assert raw["style"] == "chat" and [m["role"] for m in raw["messages"]] == ["system", "user"]
    assert raw["messages"][1]["content"] == raw["prompt"]
    assert raw["prompt"].startswith(CLASSIFICATION_HEADER)
    assert "\n\n" not in raw["params"]["stop"]  # a chat reply may open with a line before its list
    # Chat replies are lists of their own: the text before "10." is a preamble, not a candidate.
    assert raw["preamble"] and [d.candidate.number for d in view.iterations[0].records[0].decisions] == [
        10,
        11,
        12,
        13,
    ]
    # Only classification seeds are sampled, and every kept instruction is still asked about (the paper
    # classifies its classification-only run's instructions too): the verdict is the model's, not assumed.
    seeds = {s.instruction: s.is_classification for s in view.seeds}
    assert all(seeds[s.text] for s in view.iterations[0].records[0].sample.items)
    assert view.items and all(x.verdict is not None and x.verdict.raw for x in view.items)
    assert all(x.is_classification == ("classify" in x.instruction.lower()) for x in view.items)


def test_spec_validation_and_parameters_round_trip():
    with pytest.raises(ValueError):
        RunSpec()  # neither iterations nor target
    spec = RunSpec(
        seeds="upload:mine.jsonl", target=50, prompt=small_prompts(), blacklist_extra=("Video", " ", "map")
    )
    again = RunSpec.from_params(json.loads(json.dumps(spec.to_params(EMBEDDED))))
    assert again == spec and again.prompt.version == spec.prompt.version
    assert again.blacklist.count("map") == 1 and "video" in again.blacklist
    assert spec.goes_on(1000, 49) and not spec.goes_on(0, 50)


# --- The embedded model, for real ---------------------------------------------------------------------------------


def test_two_iterations_end_to_end_on_the_embedded_model(sqlite_engine, data_dir):
    share_model(data_dir)
    params = selfinstruct_params(
        EMBEDDED, seeds="starter", iterations=2, prompt=small_prompts(64, 32), on_length="drop_last", seed=1
    )
    run_id = submit(sqlite_engine, KIND, params)
    assert run_once(sqlite_engine) == run_id
    run = run_store.get_run(sqlite_engine, run_id)
    assert run.status == "done", run.error
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    assert [it.t for it in view.iterations] == [0, 1]
    with sqlite_engine.connect() as conn:
        logged = set(conn.execute(select(calls.c.id).where(calls.c.run_id == run_id)).scalars())
    for it in view.iterations:
        (record,) = it.records
        assert record.prompt.startswith(INSTRUCTION_HEADER) and record.call_id in logged
        assert it.raw["requests"][0]["params"]["max_tokens"] == 64
        for d in record.decisions:
            assert d.kept or d.reason  # every candidate has an outcome, a drop its reason
    for item in view.items:  # each kept instruction went through classification and instances
        assert item.verdict is not None and item.verdict.answer in ("yes", "no", "unknown")
        assert item.instances is not None and item.instances.call_id in logged
    assert len(view.pool) == view.n_kept == sum(len(it.kept) for it in view.iterations)
    for line in export_run(view, "provenance").splitlines():
        json.loads(line)


def test_a_killed_worker_resumes_with_no_duplicate_and_no_gap(engine, data_dir, llama_server, monkeypatch):
    """On SQLite and PostgreSQL, at the real llama.cpp server: a worker killed after the first iteration; the
    next one finishes the run, and every call row and every request at the server is counted."""
    params = selfinstruct_params(
        llama_settings(llama_server).public_dict(),
        seeds="starter",
        iterations=2,
        prompt=small_prompts(48),
        on_length="drop_last",
        classify=False,
        instances=False,
        seed=5,
    )
    run_id = submit(engine, KIND, params, name="kill me")
    served_before = llama_server.requests_served("/v1/completions")
    kill_worker_when(
        lambda: "iter/000000" in run_store.result_keys(engine, run_id), app_env(data_dir), "iteration 0"
    )
    partial = run_store.results(engine, run_id, "iter/")
    assert "iter/000000" in partial and len(partial) < 2, "the worker should have died mid-run"
    assert run_store.get_run(engine, run_id).status == "running"  # as the dead worker left it

    monkeypatch.setattr(runner_mod, "STALE_AFTER", timedelta(0))
    assert run_once(engine) == run_id
    assert run_store.get_run(engine, run_id).status == "done"
    final = run_store.results(engine, run_id, "iter/")
    assert sorted(final) == ["iter/000000", "iter/000001"]
    assert all(final[k] == v for k, v in partial.items())  # nothing stored before the kill was redone
    with engine.connect() as conn:
        stored = conn.execute(
            select(func.count())
            .select_from(run_results)
            .where(run_results.c.run_id == run_id, run_results.c.key.startswith("iter/"))
        ).scalar_one()
    assert stored == 2
    assert load_run(calltexts.results(engine, run_id)).missing == []
    # One request per iteration: two call rows, two requests at the server (and at most one more, the
    # request in flight when the worker died, which it never logged).
    assert count_call_rows(engine, run_id) == (2, 0)
    served = llama_server.requests_served("/v1/completions") - served_before
    assert 2 <= served <= 3, f"{served} requests at the server for 2 iterations"

    # An uninterrupted run with the same seed, answered from the call log: the very same records and pool.
    again = submit(engine, KIND, params)
    assert run_once(engine) == again
    assert run_store.results(engine, again, "iter/") == final
    assert pool_of(engine, again) == pool_of(engine, run_id)
    assert count_call_rows(engine, again) == (0, 0)
    assert llama_server.requests_served("/v1/completions") - served_before == served


def test_a_run_on_a_chat_only_llama_server(sqlite_engine, llama_server, monkeypatch):
    """The whole loop (instructions, classification, instances) at a real endpoint that serves chat only, as
    configured by WORKBENCH_API_STYLES: every request is a chat request, none a completion."""
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server.base_url)
    monkeypatch.setenv("WORKBENCH_MODEL", LLAMA_MODEL)
    monkeypatch.setenv("WORKBENCH_API_STYLES", "chat")
    monkeypatch.setenv("WORKBENCH_MAX_CONCURRENCY", "1")
    monkeypatch.setenv("WORKBENCH_MAX_RETRIES", "0")  # so the server's count equals the call rows
    monkeypatch.setenv("WORKBENCH_TIMEOUT_S", str(LLAMA_TIMEOUT_S))
    settings = settings_from_env()
    assert settings.provider == "openai" and settings.styles == ("chat",)
    # A tiny target, capped at two iterations so a model that keeps nothing still ends.
    params = selfinstruct_params(
        settings.public_dict(),
        seeds="starter",
        target=1,
        iterations=2,
        prompt=small_prompts(48, 24),
        on_length="drop_last",
        seed=3,
    )
    completions = llama_server.requests_served("/v1/completions")
    chats = llama_server.requests_served("/v1/chat/completions")
    run_id = submit(sqlite_engine, KIND, params)
    assert run_once(sqlite_engine) == run_id
    run = run_store.get_run(sqlite_engine, run_id)
    assert run.status == "done", run.error
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    assert view.iterations and view.missing == []
    if view.n_kept == 0:
        assert len(view.iterations) == 2  # nothing kept: the cap ended the run
    else:
        assert len(view.pool) >= 1
    for it in view.iterations:
        (raw,) = it.raw["requests"]
        assert raw["style"] == "chat" and [m["role"] for m in raw["messages"]] == ["system", "user"]
        assert raw["messages"][1]["content"] == raw["prompt"]
    for item in view.items:  # classification and instances went through chat too
        assert item.verdict is not None and item.instances is not None
        # A chat call logs messages: the record keeps its completion-form prompt, the log has the answer.
        logged = call_log.get_call(sqlite_engine, item.instances.call_id)
        assert logged.prompt is None and logged.messages[1]["content"] == item.instances.prompt
        assert item.instances.response == logged.choices[0]["text"]
    with sqlite_engine.connect() as conn:
        styles = list(conn.execute(select(calls.c.style).where(calls.c.run_id == run_id)).scalars())
    assert styles and set(styles) == {"chat"}
    assert llama_server.requests_served("/v1/completions") == completions
    assert llama_server.requests_served("/v1/chat/completions") - chats == len(styles)


def test_command_line_generate_resume_and_export(data_dir, tmp_path):
    share_model(data_dir)
    seeds = tmp_path / "my_seeds.jsonl"
    rows = [
        {
            "id": f"s{i}",
            "name": f"task_{i}",
            "instruction": text,
            "instances": [{"input": "", "output": "An answer."}],
            "is_classification": i % 3 == 0,
        }
        for i, text in enumerate(
            [
                "Tell me whether the sentence is a question.",
                "Write a haiku about the first snow of winter.",
                "Give three tips for sleeping better at night.",
                "Decide if the number given is prime or not.",
                "Explain what inflation means to a teenager.",
                "Suggest a name for a small bakery by the sea.",
                "Rank the three cities by population, largest first.",
                "Describe the smell of rain in two sentences.",
            ]
        )
    ]
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = app_env(data_dir)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return run_cli("core.selfinstruct", *args, env=env)

    common = [
        "--max-tokens",
        "48",
        "--instance-max-tokens",
        "24",
        "--clf-instance-max-tokens",
        "24",
        "--on-length",
        "drop_last",
    ]
    # One generation request per iteration (the command line's default is the paper's 5), to keep it short.
    one = ["--iterations", "1", "--requests", "1"]
    out = cli("generate", "--seeds", str(seeds), "--model", "embedded", *one, *common)
    assert out.returncode == 0, out.stderr[-2000:]
    run_id = int(re.search(r"^run (\d+):", out.stdout, re.MULTILINE).group(1))
    assert f"run {run_id} done: 1 iterations" in out.stdout
    assert "it/s" in out.stderr or "s/it" in out.stderr  # the progress bar
    resumed = cli("generate", "--resume", str(run_id), "--iterations", "2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"run {run_id} done: 2 iterations" in resumed.stdout

    from core.store import dispose_all, get_engine

    dispose_all()
    engine = get_engine()
    run = run_store.get_run(engine, run_id)
    assert run.params["seeds"] == "upload:my_seeds.jsonl" and run.params["k_human"] == 6
    view = load_run(calltexts.results(engine, run_id), run.params)
    assert [it.t for it in view.iterations] == [0, 1]
    assert {s.instruction for s in view.seeds} == {r["instruction"] for r in rows}
    for fmt in ("alpaca", "finetune", "chat", "provenance"):
        target = tmp_path / f"out.{fmt}"
        done = cli("export", str(run_id), "--format", fmt, "--out", str(target))
        assert done.returncode == 0, done.stderr
        assert target.read_text() == export_run(view, fmt)
    provenance = [json.loads(line) for line in (tmp_path / "out.provenance").read_text().splitlines()]
    assert [r["iteration"] for r in provenance if r["kind"] == "call"] == [0, 1]
    assert isinstance(json.loads((tmp_path / "out.alpaca").read_text()), list)
    dispose_all()
