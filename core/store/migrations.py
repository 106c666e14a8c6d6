"""Schema migrations: numbered steps applied in order, so an older database upgrades in place.

Each step is idempotent on its own (checks before it creates), and the applied version is recorded in
`schema_version`. Add a step at the end; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, func, inspect, select, text

from core.store import schema
from core.store.db import utcnow


def _create(*names: str) -> Callable[[Connection], None]:
    def step(conn: Connection) -> None:
        for name in names:
            schema.metadata.tables[name].create(conn, checkfirst=True)

    return step


def _add_column(table: str, column: str) -> Callable[[Connection], None]:
    """ALTER TABLE … ADD COLUMN with the column's current definition (if it is not there yet)."""

    def step(conn: Connection) -> None:
        if column in {c["name"] for c in inspect(conn).get_columns(table)}:
            return
        col = schema.metadata.tables[table].c[column]
        col_type = col.type.compile(dialect=conn.dialect)
        conn.execute(text(f'ALTER TABLE {table} ADD COLUMN "{column}" {col_type}'))

    return step


def _add_columns(table: str, *columns: str) -> Callable[[Connection], None]:
    def step(conn: Connection) -> None:
        for column in columns:
            _add_column(table, column)(conn)

    return step


def _compact_calls(conn: Connection) -> None:
    # Additive only: old rows keep their plain prompt/messages/choices and stay readable as they are.
    _create("call_dicts")(conn)
    for column in ("prompt_z", "messages_z", "choices_z", "dict_id"):
        _add_column("calls", column)(conn)
    for column in ("value_z", "value_dict"):
        _add_column("run_results", column)(conn)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "runs, results, call log, prices", _create("runs", "run_results", "calls", "prices")),
    (
        2,
        "human evaluation: tasks with history, responses, campaigns, ratings",
        _create("eval_tasks", "eval_task_history", "responses", "campaigns", "ratings"),
    ),
    (3, "runs.live: the text a model is streaming", _add_column("runs", "live")),
    (4, "server keys: the secret that keeps rated items' ids blind", _create("server_keys")),
    (
        5,
        "compact storage: call texts and large results compressed against shared dictionaries",
        _compact_calls,
    ),
    (6, "data quality review: reviews and their labels", _create("reviews", "review_labels")),
    (
        7,
        "Self-Instruct page index: pool items, iteration counts, consistency signals",
        _create("si_items", "si_iterations", "si_checks", "si_index_state"),
    ),
    (8, "compact call parameters", _add_columns("calls", "params_z", "params_dict")),
]

LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(select(func.max(schema.schema_version.c.version))).scalar() or 0


def migrate(engine: Engine, target: int | None = None) -> int:
    """Bring the database up to `target` (default: latest); returns the version reached."""
    target = LATEST if target is None else target
    with engine.begin() as conn:
        schema.schema_version.create(conn, checkfirst=True)
        version = current_version(conn)
        for number, _title, step in MIGRATIONS:
            if version < number <= target:
                step(conn)
                conn.execute(schema.schema_version.insert().values(version=number, applied_at=utcnow()))
                version = number
    return version
