"""The call log at scale: compact storage round-trips, old rows stay readable, the cache still answers."""

from __future__ import annotations

import copy
import json
import zlib

import pytest
from sqlalchemy import create_engine, func, insert, select

from core.llm import GenParams, LLMClient, Request
from core.llm.openai_compat import OpenAICompatProvider
from core.llm.types import cache_key
from core.store import calls as call_log
from core.store import compact
from core.store.db import utcnow
from core.store.migrations import LATEST, migrate
from core.store.schema import call_dicts, calls

TEMPLATE = "".join(
    f"Task: example instruction number {i} about topic {i * 7 % 13}.\nIs it classification? No\n\n"
    for i in range(60)
)


def _record(i: int, **changes) -> call_log.CallRecord:
    base = dict(
        cache_key=f"{i:064d}",
        provider="openai",
        endpoint="http://127.0.0.1:1/v1",
        model="m",
        style="completion",
        prompt=TEMPLATE + f"Task: write a poem about the number {i}.\nIs it classification?",
        messages=None,
        params={"max_tokens": 3, "stop": ["\n"]},
        sample_index=0,
        choices=[{"text": " No" if i % 2 else " Yes", "finish_reason": "stop"}],
        prompt_tokens=900,
        completion_tokens=1,
        latency_ms=12.5,
    )
    return call_log.CallRecord(**{**base, **changes})


def _fields(rec: call_log.CallRecord) -> dict:
    return {k: v for k, v in rec.__dict__.items() if k not in ("id", "created_at")}


def test_every_form_round_trips(engine):
    long_answer = [
        {"text": "1. Sort the list.\n" * 40, "finish_reason": "length"},
        {"text": "ok", "finish_reason": "stop"},
    ]
    records = [
        _record(1),  # long prompt against a new dictionary
        _record(2, choices=long_answer),  # same family, long answer compressed too
        _record(3, prompt="short prompt", choices=[{"text": "x", "finish_reason": "stop"}]),  # stays plain
        _record(
            4,
            style="chat",
            prompt=None,
            messages=[
                {"role": "system", "content": TEMPLATE},
                {"role": "user", "content": "Über → ünïcode 漢字"},
            ],
        ),
        _record(5, choices=None, error="HTTP 500 from endpoint"),
    ]
    ids = [call_log.log_call(engine, r) for r in records[:2]] + call_log.log_calls(engine, records[2:])
    assert len(set(ids)) == 5
    for rec, call_id in zip(records, ids, strict=True):
        assert _fields(call_log.get_call(engine, call_id)) == _fields(rec)
    listed = {r.id: _fields(r) for r in call_log.list_calls(engine, limit=10)}
    assert listed == {i: _fields(r) for i, r in zip(ids, records, strict=True)}
    assert call_log.find_cached(engine, records[1].cache_key).choices == long_answer
    assert call_log.find_cached(engine, records[4].cache_key) is None  # a failure is never a cache answer
    with engine.connect() as conn:
        plain = conn.execute(select(calls.c.prompt, calls.c.prompt_z).where(calls.c.id == ids[0])).one()
    assert plain.prompt is None and plain.prompt_z  # stored compressed, not as text


def test_a_shared_template_is_stored_once(engine):
    records = [_record(i) for i in range(300)]
    call_log.log_calls(engine, records[:150])
    for r in records[150:]:
        call_log.log_call(engine, r)
    raw = sum(len(r.prompt.encode()) for r in records)
    with engine.connect() as conn:
        stored = conn.execute(select(func.sum(func.length(calls.c.prompt_z)))).scalar_one()
        dicts = conn.execute(
            select(func.count(), func.sum(func.length(call_dicts.c.data))).where(
                call_dicts.c.family != compact.PARAMS_FAMILY
            )
        ).one()
    assert dicts[0] == 1  # one family, one dictionary
    # The ~5 KB template costs a few dozen bytes per row once it is in the dictionary.
    assert stored + dicts[1] < raw / 50, (stored, dicts[1], raw)
    assert stored / len(records) < 80
    assert [r.prompt for r in call_log.list_calls(engine, limit=300)][::-1] == [r.prompt for r in records]


def test_generation_prompts_with_different_first_instructions_share_one_dictionary(engine):
    from core.selfinstruct.prompts import PromptConfig

    config = PromptConfig()
    rest = [f"Write a short poem about the number {n} and its neighbours." for n in range(7)]
    sampled = [[f"{word} the list of numbers in the input.", *rest] for word in ("Sort", "Reverse", "Sum")]
    records = [
        _record(i, prompt=config.instruction_prompt(texts, classification=False))
        for i, texts in enumerate(sampled)
    ]
    # They differ early, right after the header (within the 64 characters that once named a family).
    assert len({r.prompt[:64] for r in records}) == len(records)
    call_log.log_calls(engine, records)
    with engine.connect() as conn:
        prompt_dicts = select(func.count()).where(call_dicts.c.family != compact.PARAMS_FAMILY)
        assert conn.execute(prompt_dicts).scalar_one() == 1
        assert conn.execute(select(func.count()).where(calls.c.prompt_z.is_not(None))).scalar_one() == 3
    assert [r.prompt for r in call_log.list_calls(engine, limit=10)][::-1] == [r.prompt for r in records]


def test_call_parameters_are_stored_compressed_and_read_back_unchanged(engine):
    """Decoding parameters (a seed apart between neighbours) share one dictionary of their own; a row stored
    with plain parameters, as before migration 8, reads the same."""
    records = [_record(i) for i in range(40)]
    for i, r in enumerate(records):
        r.params = {"max_tokens": 1024, "temperature": 0.7, "stop": ["\n\n", "16."], "seed": 1000 + i}
    records[3].params = {"max_tokens": 3, "temperature": 0.0, "stop": ["\n"], "seed": None, "note": "é ✓"}
    ids = call_log.log_calls(engine, records[:20]) + [call_log.log_call(engine, r) for r in records[20:]]
    with engine.begin() as conn:
        stored = conn.execute(
            select(calls.c.params_z, calls.c.params_dict).where(calls.c.params_z.is_not(None))
        ).all()
        assert len(stored) == 40 and len({row.params_dict for row in stored}) == 1
        assert all(len(row.params_z) < 60 for row in stored)  # against ~100 bytes of JSON each
        # As an older row was stored: plain parameters, nothing compressed.
        conn.execute(
            calls.update()
            .where(calls.c.id == ids[5])
            .values(params={"max_tokens": 7, "seed": 5}, params_z=None, params_dict=None)
        )
    found = call_log.get_calls(engine, ids)
    assert [found[i].params for i in ids] == [
        {"max_tokens": 7, "seed": 5} if i == 5 else r.params for i, r in enumerate(records)
    ]
    assert call_log.find_cached(engine, records[3].cache_key).params == records[3].params


def test_rows_written_before_migration_5_stay_readable_and_answer_from_the_cache(data_dir):
    url = f"sqlite:///{data_dir / 'old.db'}"
    old = create_engine(url)
    assert migrate(old, target=3) == 3
    request = Request(
        prompt=TEMPLATE + "Task: old one.\nIs it classification?", params=GenParams(max_tokens=3)
    )
    provider = OpenAICompatProvider("http://127.0.0.1:9/v1", "old-model", max_concurrency=1, max_retries=0)
    key = cache_key(provider.kind, provider.endpoint, provider.model, request)
    with old.begin() as conn:
        # Exactly the columns a version-3 database had: plain prompt, JSON messages and choices.
        conn.execute(
            insert(calls).values(
                cache_key=key,
                provider=provider.kind,
                endpoint=provider.endpoint,
                model=provider.model,
                style="completion",
                prompt=request.prompt,
                messages=None,
                params=request.params.to_dict(),
                sample_index=0,
                choices=[{"text": " Yes", "finish_reason": "stop"}],
                prompt_tokens=10,
                completion_tokens=1,
                latency_ms=5.0,
                created_at=utcnow(),
            )
        )
    old.dispose()
    from core.store import dispose_all, get_engine

    dispose_all()
    engine = get_engine(url)  # migrates to the latest version
    with engine.connect() as conn:
        assert conn.execute(select(func.max(calls.c.id))).scalar_one() == 1
    (rec,) = call_log.list_calls(engine)
    assert rec.prompt == request.prompt and rec.choices == [{"text": " Yes", "finish_reason": "stop"}]
    # Port 9 answers nothing: only the cache can produce this response.
    response = LLMClient(provider, engine).generate(request)
    assert response.cached and response.text == " Yes" and response.call_id == 1
    assert LATEST >= 4
    dispose_all()


def test_compressed_calls_answer_from_the_cache_against_a_real_server(llama_server, sqlite_engine):
    provider = OpenAICompatProvider(llama_server.base_url, "gemma-3-270m", max_concurrency=2)
    client = LLMClient(provider, sqlite_engine)
    requests = [
        Request(
            prompt=TEMPLATE[:1500] + f"Task: name a colour, take {i}.\nIs it classification?",
            params=GenParams(max_tokens=4),
        )
        for i in range(3)
    ]
    first = [client.generate(r) for r in requests]
    served = llama_server.requests_served("/v1/completions")
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).where(calls.c.prompt_z.is_not(None))).scalar_one() == 3
    again = [LLMClient(provider, sqlite_engine).generate(r) for r in requests]
    assert all(a.cached for a in again)
    assert [a.text for a in again] == [f.text for f in first]
    assert llama_server.requests_served("/v1/completions") == served
    assert [r.prompt for r in call_log.list_calls(sqlite_engine)][::-1] == [r.prompt for r in requests]


def test_a_wrong_dictionary_is_detected_not_decoded():
    blob = compact.compress(b"hello hello hello", zdict=b"hello dictionary one")
    assert compact.decompress(blob, zdict=b"hello dictionary one") == b"hello hello hello"
    with pytest.raises(zlib.error, match="zdict"):
        compact.decompress(blob, zdict=b"another dictionary")


def test_large_results_are_compressed_and_read_back_unchanged(engine):
    from core.store import runs as run_store
    from core.store.schema import run_results

    run_id = run_store.create_run(engine, "generate", {})
    values = {
        f"inst/{i:06d}": {"instruction": f"task {i}", "prompt": TEMPLATE + f"Task: {i}\n", "kept": [i, None]}
        for i in range(50)
    }
    values["small"] = {"v": 1}
    values["none"] = None
    for key, value in values.items():
        assert run_store.save_result(engine, run_id, key, value)
    assert not run_store.save_result(engine, run_id, "inst/000001", {"other": True})  # still exactly once
    assert run_store.results(engine, run_id) == values
    assert run_store.results(engine, run_id, "inst/") == {
        k: v for k, v in values.items() if k.startswith("inst/")
    }
    with engine.connect() as conn:
        stored = conn.execute(select(func.sum(func.length(run_results.c.value_z)))).scalar_one()
    raw = sum(len(json.dumps(v)) for v in values.values())
    assert stored < raw / 20, (stored, raw)


def test_results_written_before_migration_5_stay_readable(data_dir):
    from core.store import dispose_all, get_engine
    from core.store import runs as run_store
    from core.store.schema import run_results, runs

    url = f"sqlite:///{data_dir / 'old.db'}"
    old = create_engine(url)
    migrate(old, target=3)
    big = {"prompt": TEMPLATE, "kept": ["a"]}
    with old.begin() as conn:
        now = utcnow()
        conn.execute(
            insert(runs).values(
                id=1,
                kind="k",
                name="",
                params={},
                status="done",
                progress_done=0,
                progress_total=0,
                message="",
                cancel_requested=False,
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(insert(run_results).values(run_id=1, key="iter/000000", value=big, created_at=now))
    old.dispose()
    dispose_all()
    engine = get_engine(url)
    assert run_store.results(engine, 1) == {"iter/000000": big}
    run_store.save_result(engine, 1, "iter/000001", big)  # a new row next to the old one, compressed
    assert run_store.results(engine, 1) == {"iter/000000": big, "iter/000001": big}
    dispose_all()


def test_concurrent_call_logging_commits_every_row_once_and_a_bad_row_fails_alone(engine):
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.exc import IntegrityError

    def write(i: int) -> int:
        # Every 25th call names a run that does not exist: a foreign-key violation for that row only.
        return call_log.log_call(engine, _record(i, run_id=10**9 if i % 25 == 7 else None))

    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = {i: pool.submit(write, i) for i in range(400)}
    failed = {i for i, f in futures.items() if f.exception() is not None}
    assert failed == {i for i in range(400) if i % 25 == 7}
    assert all(isinstance(futures[i].exception(), IntegrityError) for i in failed)
    ids = {i: f.result() for i, f in futures.items() if i not in failed}
    assert len(set(ids.values())) == len(ids) == 400 - len(failed)
    assert call_log.count_calls(engine) == len(ids)
    for i in (0, 133, 399):
        assert call_log.get_call(engine, ids[i]).prompt == _record(i).prompt


def test_prefix_reads_stay_exact_with_the_index_range(engine):
    from core.store import runs as run_store

    run_id = run_store.create_run(engine, "generate", {})
    keys = [
        "clf/000001/0",
        "clf/000001/1",
        "clf/0000010",
        "clf/000002/0",
        "clf/00000",
        "a%b/1",
        "a_b/1",
        "axb/1",
    ]
    for key in keys:
        run_store.save_result(engine, run_id, key, {"k": key})
    assert set(run_store.results(engine, run_id, "clf/000001/")) == {"clf/000001/0", "clf/000001/1"}
    assert set(run_store.results(engine, run_id, "clf/00000")) == {
        k for k in keys if k.startswith("clf/00000")
    }
    assert set(run_store.results(engine, run_id, "a%b/")) == {"a%b/1"}
    assert set(run_store.results(engine, run_id, "a_b/")) == {"a_b/1"}


def test_records_that_name_their_call_get_its_texts_back_and_older_records_keep_theirs(engine):
    """A Self-Instruct record leaves its prompt, parameters and raw answer to the call it names; the page
    and the provenance export read them back from the log. A record stored with its texts (before this) is
    read as it is, and a call the log does not have is named in the texts' place."""
    from core.selfinstruct import calltexts

    (logged,) = call_log.log_calls(engine, [_record(1, params={"max_tokens": 5, "seed": 9})])
    old = {"call_id": logged, "prompt": "old prompt", "params": {"n": 1}, "response": "old answer"}
    results = {
        "iter/000000": {"requests": [{"j": 0, "call_id": logged}, old, {"j": 2, "call_id": None}]},
        "inst/000000/0": {"instruction": "x", "call_id": logged, "decisions": []},
        "inst/000000/1": {"instruction": "y", "call_id": logged + 99, "decisions": []},
        "clf/000000/0": {"instruction": "x", "answer": "no", "call_id": logged},
    }
    restored = calltexts.restore(engine, copy.deepcopy(results))
    new, kept, unnamed = restored["iter/000000"]["requests"]
    record = _record(1)
    assert new == {
        "j": 0,
        "call_id": logged,
        "prompt": record.prompt,
        "messages": None,
        "params": {"max_tokens": 5, "seed": 9},
        "response": " No",
    }
    assert kept == old and unnamed == {"j": 2, "call_id": None}
    assert restored["inst/000000/0"] == {
        **results["inst/000000/0"],
        "prompt": record.prompt,
        "response": " No",
    }
    missing = f"[call {logged + 99} is not in this database's call log]"
    assert restored["inst/000000/1"] == {**results["inst/000000/1"], "prompt": missing, "response": missing}
    assert restored["clf/000000/0"] == results["clf/000000/0"]
