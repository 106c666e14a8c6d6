"""Before/after of one curation change, field by field, for the task history ("what changed")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.humaneval.display import shorten

FIELDS: dict[str, str] = {
    "instruction": "instruction",
    "motivation_app": "motivation app",
    "instances": "instances",
    "deleted": "deleted",
}


@dataclass(frozen=True)
class FieldChange:
    field: str  # the label shown, e.g. "motivation app"
    before: str
    after: str


def _text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, dict) and set(v) >= {"input", "output"} for v in value):
        return "\n\n".join(f"input: {v['input']}\noutput: {v['output']}" for v in value)
    return json.dumps(value, ensure_ascii=False, indent=1)


def field_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[FieldChange]:
    """The fields whose value differs, in a fixed order; a created task lists its fields against '(none)'."""
    before, after = before or {}, after or {}
    return [
        FieldChange(label, _text(before.get(key)), _text(after.get(key)))
        for key, label in FIELDS.items()
        if before.get(key) != after.get(key)
    ]


def summary(changes: list[FieldChange], limit: int = 40) -> str:
    """'instruction: "old" → "new"; deleted: no → yes' (each side shortened)."""
    return "; ".join(
        f"{c.field}: “{shorten(c.before, limit)}” → “{shorten(c.after, limit)}”" for c in changes
    )
