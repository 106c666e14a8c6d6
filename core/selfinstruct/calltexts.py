"""A run's records with the texts they leave to the call log put back: prompts, parameters and raw answers.

A record that names its model call (`call_id`) does not repeat what the call log already holds for it
(`rows.judge_response`, `rows.instances_row`). Readers that show or export those texts (the page's Step
tab, the provenance export) restore them here, from the log, in one read per few hundred calls. Records
written before this, which carry their texts, are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine

from core.selfinstruct.rows import INSTANCES_LOGGED, ITERATION_LOGGED
from core.store import calls as call_log
from core.store import runs as run_store


def _rows(results: dict[str, Any]) -> Iterator[tuple[dict[str, Any], tuple[str, ...]]]:
    """Each record that names a call and lacks its answer (an iteration's requests, instance records), with
    the texts to restore in it."""
    for key, value in results.items():
        if key.startswith("iter/"):
            rows, names = value.get("requests", ()), ITERATION_LOGGED
        elif key.startswith("inst/"):
            rows, names = (value,), INSTANCES_LOGGED
        else:
            continue
        for row in rows:
            if "response" not in row and row.get("call_id") is not None:
                yield row, names


def restore(engine: Engine, results: dict[str, Any]) -> dict[str, Any]:
    """`results` (as `run_store.results` reads them) with the texts each record left to the log filled in
    place. A call missing from the log (a database copied without it) says so in the texts' place."""
    rows = list(_rows(results))
    found = call_log.get_calls(engine, (row["call_id"] for row, _ in rows))
    for row, names in rows:
        call = found.get(row["call_id"])
        if call is None:
            missing = f"[call {row['call_id']} is not in this database's call log]"
            values: dict[str, Any] = {"prompt": missing, "messages": None, "params": {}, "response": missing}
        else:
            values = {
                "prompt": call.prompt,
                "messages": call.messages,
                "params": call.params,
                "response": call.choices[0]["text"] if call.choices else "",
            }
        for name in names:
            row.setdefault(name, values[name])
    return results


def results(engine: Engine, run_id: int, prefix: str = "") -> dict[str, Any]:
    """The run's stored results (those under `prefix`) with their texts restored from the call log."""
    return restore(engine, run_store.results(engine, run_id, prefix))
