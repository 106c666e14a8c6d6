"""The database schema: every table the app stores, in one place.

Rows hold JSON where the shape belongs to a pipeline (parameters, results), so a new pipeline needs no new
table for its intermediate results; tables exist where the app queries by column.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

# A run is one unit of user work (an induction experiment, a Self-Instruct bootstrap, a response
# generation); background jobs execute runs and model calls are attributed to them.
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | done | failed | cancelled
    Column("progress_done", Integer, nullable=False, default=0),
    Column("progress_total", Integer, nullable=False, default=0),
    Column("message", Text, nullable=False, default=""),
    Column("error", Text, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("worker", String(120), nullable=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)
Index("ix_runs_status", runs.c.status)

# Results a job produced, keyed within its run: the unique key is what makes resuming exact
# (a unit of work whose key is present is never redone, and can never be stored twice).
run_results = Table(
    "run_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("run_id", "key", name="uq_run_results_key"),
)

# Every model call: the log that doubles as the cache (looked up by cache_key).
calls = Table(
    "calls",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cache_key", String(64), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("provider", String(64), nullable=False),
    Column("endpoint", String(500), nullable=False, default=""),
    Column("model", String(200), nullable=False),
    Column("style", String(16), nullable=False),  # completion | chat
    Column("prompt", Text, nullable=True),
    Column("messages", JSON, nullable=True),
    Column("params", JSON, nullable=False),
    Column("sample_index", Integer, nullable=False, default=0),
    Column("choices", JSON, nullable=True),  # [{"text": ..., "finish_reason": ...}]
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("latency_ms", Float, nullable=False, default=0.0),
    Column("cost", Float, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_calls_cache_key", calls.c.cache_key)
Index("ix_calls_run_id", calls.c.run_id)

# Price per 1,000 tokens, editable in Settings; a model with no row has no money estimate.
prices = Table(
    "prices",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("prompt_per_1k", Float, nullable=False),
    Column("completion_per_1k", Float, nullable=False),
)
