"""The store on SQLite and PostgreSQL: migrations, runs, exactly-once results, the call log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect, select, text

from core.store import calls as call_log
from core.store import runs as run_store
from core.store.migrations import LATEST, MIGRATIONS, current_version, migrate
from core.store.schema import runs, schema_version
from tests.conftest import bare_engine


def test_fresh_database_is_migrated_to_latest(engine):
    with engine.connect() as conn:
        assert current_version(conn) == LATEST
        assert {"runs", "run_results", "calls", "prices"} <= set(inspect(conn).get_table_names())
        versions = list(conn.execute(select(schema_version.c.version)).scalars())
    assert versions == [n for n, _, _ in MIGRATIONS]


def test_older_database_upgrades_in_place_keeping_rows(db_url):
    """A version-2 database (no runs.live column; migration 3 adds it) upgrades in place on both backends."""
    eng = bare_engine(db_url)
    try:
        assert migrate(eng, target=2) == 2
        with eng.begin() as conn:
            conn.execute(text("ALTER TABLE runs DROP COLUMN live"))
            when = datetime(2026, 1, 1, tzinfo=UTC)
            # Only the columns a version-2 database had (runs.live has no default, so it is left out).
            conn.execute(
                runs.insert().values(
                    kind="generate", name="kept", params={}, status="done", created_at=when, updated_at=when
                )
            )
        assert "live" not in {c["name"] for c in inspect(eng).get_columns("runs")}
        assert migrate(eng) == LATEST
        assert migrate(eng) == LATEST  # applying again changes nothing
        assert "live" in {c["name"] for c in inspect(eng).get_columns("runs")}
        with eng.connect() as conn:
            assert list(conn.execute(select(schema_version.c.version)).scalars()) == [
                n for n, _, _ in MIGRATIONS
            ]
        (run,) = run_store.list_runs(eng)
        assert run.name == "kept" and run.live is None and run.status == "done"
    finally:
        eng.dispose()


def test_results_are_stored_exactly_once(engine):
    run_id = run_store.create_run(engine, "generate", {})
    assert run_store.save_result(engine, run_id, "a", {"v": 1})
    assert not run_store.save_result(engine, run_id, "a", {"v": 2})
    assert run_store.results(engine, run_id) == {"a": {"v": 1}}


def test_concurrent_writers_lose_nothing(engine):
    run_id = run_store.create_run(engine, "generate", {})
    errors: list[Exception] = []

    def write(worker: int) -> None:
        try:
            for i in range(25):
                run_store.save_result(engine, run_id, f"{worker}-{i}", {"w": worker})
                run_store.save_result(engine, run_id, f"shared-{i}", {"w": worker})
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stored = run_store.results(engine, run_id)
    assert len(stored) == 4 * 25 + 25


def test_a_run_is_claimed_by_one_worker_and_a_stalled_one_is_taken_over(engine):
    run_id = run_store.create_run(engine, "generate", {})
    first = run_store.claim_next(engine, "w1", timedelta(seconds=60), ("generate",))
    assert first is not None and first.id == run_id and first.status == "running"
    assert run_store.claim_next(engine, "w2", timedelta(seconds=60), ("generate",)) is None
    # w1 stops heartbeating: with a zero staleness window w2 takes the run over.
    taken = run_store.claim_next(engine, "w2", timedelta(seconds=-1), ("generate",))
    assert taken is not None and taken.id == run_id


def test_cancel_a_queued_run(engine):
    run_id = run_store.create_run(engine, "generate", {})
    run_store.request_cancel(engine, run_id)
    assert run_store.get_run(engine, run_id).status == "cancelled"
    assert run_store.claim_next(engine, "w", timedelta(seconds=60), ("generate",)) is None


def test_call_log_lookup_totals_and_prices(engine):
    run_id = run_store.create_run(engine, "generate", {}, name="r")
    call_log.set_prices(engine, {"m": (1.0, 2.0)})
    cost = call_log.estimate_cost(call_log.get_prices(engine), "m", 1000, 500)
    assert cost == 2.0
    rec = call_log.CallRecord(
        cache_key="k" * 64,
        provider="openai",
        endpoint="http://x/v1",
        model="m",
        style="completion",
        prompt="p",
        messages=None,
        params={"max_tokens": 5},
        sample_index=0,
        choices=[{"text": "hi", "finish_reason": "stop"}],
        prompt_tokens=1000,
        completion_tokens=500,
        cost=cost,
        run_id=run_id,
    )
    call_log.log_call(engine, rec)
    failed = call_log.CallRecord(**{**rec.__dict__, "choices": None, "cost": None, "error": "boom"})
    call_log.log_call(engine, failed)
    hit = call_log.find_cached(engine, "k" * 64)
    assert hit is not None and hit.choices[0]["text"] == "hi" and hit.error is None
    (total,) = [t for t in call_log.totals_by_run(engine) if t["run_id"] == run_id]
    assert total["calls"] == 2 and total["errors"] == 1 and total["cost"] == 2.0


def test_a_run_created_for_a_worker_is_not_claimable_and_a_stopped_one_can_be_resumed(engine):
    run_id = run_store.create_run(engine, "generate", {}, worker="cli")
    assert run_store.get_run(engine, run_id).status == "running"
    assert run_store.claim_next(engine, "app", timedelta(seconds=60), ("generate",)) is None
    assert run_store.claim(engine, run_id, "other", timedelta(seconds=60)) is None  # alive: not taken
    run_store.update_run(engine, run_id, status="cancelled")
    resumed = run_store.claim(engine, run_id, "other", timedelta(seconds=60))
    assert resumed is not None and resumed.status == "running"
