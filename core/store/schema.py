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
    LargeBinary,
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
    # What the model is writing right now (a streamed response), for the page to show as it grows.
    Column("live", Text, nullable=True),
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
    # Compact storage (migration 5): a large value is zlib-compressed here against a dictionary shared by
    # results of the same kind (`call_dicts.id`), and `value` holds JSON null. Older rows keep `value`.
    Column("value_z", LargeBinary, nullable=True),
    Column("value_dict", Integer, nullable=True),
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
    # Compact storage (migration 5): large texts are zlib-compressed here instead of the plain columns above,
    # prompts and messages against a shared dictionary (`call_dicts.id`), so a template repeated in every
    # prompt is stored once. Rows written before migration 5 keep the plain columns; readers accept both.
    Column("prompt_z", LargeBinary, nullable=True),
    Column("messages_z", LargeBinary, nullable=True),
    Column("choices_z", LargeBinary, nullable=True),
    Column("dict_id", Integer, nullable=True),
    # Migration 8: the decoding parameters compressed against their own shared dictionary (a call's
    # parameters differ from its neighbours' by a seed at most); `params` then holds JSON null.
    Column("params_z", LargeBinary, nullable=True),
    Column("params_dict", Integer, nullable=True),
)
Index("ix_calls_cache_key", calls.c.cache_key)
Index("ix_calls_run_id", calls.c.run_id)

# Compression dictionaries for the call log: the first prompt seen of each family (its opening characters),
# zlib-compressed. Immutable once written; a duplicate family row written by a concurrent process is harmless.
call_dicts = Table(
    "call_dicts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("family", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_call_dicts_family", call_dicts.c.family)

# Price per 1,000 tokens, editable in Settings; a model with no row has no money estimate.
prices = Table(
    "prices",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("prompt_per_1k", Float, nullable=False),
    Column("completion_per_1k", Float, nullable=False),
)

# --- Human evaluation -------------------------------------------------------------------------------------

# The curated evaluation set (the 252 user-oriented tasks, or an imported set), one row per task.
eval_tasks = Table(
    "eval_tasks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("set_name", String(120), nullable=False),
    Column("task_id", String(200), nullable=False),
    Column("position", Integer, nullable=False),
    Column("motivation_app", String(200), nullable=False, default=""),
    Column("instruction", Text, nullable=False),
    Column("instances", JSON, nullable=False),
    Column("extra", JSON, nullable=False),
    Column("source", String(300), nullable=False, default=""),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False, default=""),
    UniqueConstraint("set_name", "task_id", name="uq_eval_tasks_id"),
)

# Every change to the evaluation set, with who and when: the history view and revert read it.
eval_task_history = Table(
    "eval_task_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("set_name", String(120), nullable=False),
    Column("task_id", String(200), nullable=False),
    Column("action", String(16), nullable=False),  # create | edit | delete | restore | revert | import
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_eval_task_history_task", eval_task_history.c.set_name, eval_task_history.c.task_id)

# Model responses to evaluation tasks (imported prediction files or generated runs).
responses = Table(
    "responses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("set_name", String(120), nullable=False),
    Column("task_id", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("response", Text, nullable=False),
    Column("source", String(300), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("set_name", "task_id", "model", name="uq_responses_item"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("set_name", String(120), nullable=False),
    Column("spec", JSON, nullable=False),  # tasks, models, raters, overlap, guidelines, seed
    Column("owner", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Ratings are only ever appended: two raters on one item at the same moment both land, and a rater who
# changes their mind adds a newer row (the latest per rater and item counts).
ratings = Table(
    "ratings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("task_id", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("rater", String(200), nullable=False),
    Column("label", String(1), nullable=True),  # A-D, or None for a skip
    Column("comment", Text, nullable=False, default=""),
    Column("flagged", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_ratings_campaign_rater", ratings.c.campaign_id, ratings.c.rater)

# Keys the server generates once and keeps, e.g. the one that makes the ids a rater's page uses for items
# unguessable (an HMAC key; without it, ids derived from task and model names would reveal the model).
server_keys = Table(
    "server_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# --- Data quality review (the Self-Instruct paper's Table 2) ---------------------------------------------

# A review: a seeded sample of generated items (stored whole in `spec`, so the sample never changes under
# the reviewers), who reviews them and with what overlap.
reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("spec", JSON, nullable=False),  # source, items, reviewers, overlap, seed, sample size
    Column("owner", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Append-only like ratings: every answer adds a row holding the reviewer's answers so far for the item; the
# latest row per reviewer and item counts. NULL = not answered yet.
review_labels = Table(
    "review_labels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("review_id", Integer, ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("instruction_ok", Boolean, nullable=True),
    Column("input_ok", Boolean, nullable=True),
    Column("output_ok", Boolean, nullable=True),
    Column("skipped", Boolean, nullable=False, default=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_review_labels_review_reviewer", review_labels.c.review_id, review_labels.c.reviewer)

# --- Self-Instruct page index (migration 7) ----------------------------------------------------------------

# A compact, queryable copy of what the Self-Instruct page lists, kept up to date from a run's results
# (core.selfinstruct.index): the page pages, searches, sorts and sums here instead of decoding every stored
# record. Derived data only: dropping these rows loses nothing (the next sync rebuilds them).
si_items = Table(
    "si_items",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("t", Integer, primary_key=True),
    Column("i", Integer, primary_key=True),
    Column("item", String(32), nullable=False),  # "t/i", the pool item's key
    Column("original", Text, nullable=False),
    Column("instruction", Text, nullable=False),  # after the edit log
    Column("folded", Text, nullable=False),  # instruction.casefold(), for search
    Column("edited", Boolean, nullable=False, default=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("is_clf", Boolean, nullable=True),  # None until classified
    Column("n_instances", Integer, nullable=True),  # kept instances; None until generated
    Column("n_empty_input", Integer, nullable=False, default=0),
    Column("instruction_words", Integer, nullable=False, default=0),
    Column("input_words", Integer, nullable=False, default=0),  # summed over non-empty inputs
    Column("output_words", Integer, nullable=False, default=0),
    Column("input_lengths", JSON, nullable=True),  # word counts of the kept non-empty inputs
    Column("output_lengths", JSON, nullable=True),
    Column("seed_rouge", Float, nullable=True),
    Column("closest_seed", Text, nullable=True),
)

# One row per stored iteration: its counts, summed by the run charts without reading the iteration records.
si_iterations = Table(
    "si_iterations",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("t", Integer, primary_key=True),
    Column("pool_before", Integer, nullable=False),
    Column("n_requests", Integer, nullable=False),
    Column("n_candidates", Integer, nullable=False),
    Column("n_kept", Integer, nullable=False),
    Column("outcomes", JSON, nullable=False),  # "kept" or a drop reason code -> candidates
)

# Consistency-check signals per checked task (copied from the check run's stored results, not recomputed).
si_checks = Table(
    "si_checks",
    metadata,
    Column("check_run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("task_id", String(64), primary_key=True),
    Column("induced", Text, nullable=True),
    Column("induced_rouge", Float, nullable=True),
    Column("induced_bertscore", Float, nullable=True),
    Column("execution_rouge", Float, nullable=True),
    Column("skipped", Boolean, nullable=False, default=False),
)

# How far the index has read each run's results (run_results.id), so a sync reads only what is new.
si_index_state = Table(
    "si_index_state",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("last_result_id", Integer, nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
