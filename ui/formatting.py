"""Numbers as a reader wants them: "43.9 s" not 43938.3345, "—" not None, runs by name not "run 6".

Pure functions (no Streamlit), shared by the pages that show call-log figures.
"""

from __future__ import annotations

import math

MISSING = "—"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_latency(ms: float | None) -> str:
    """Milliseconds as '850 ms', '43.9 s' or '12.5 min'; '—' when unknown."""
    if _missing(ms):
        return MISSING
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def format_cost(cost: float | None) -> str:
    """Dollars with enough digits for tiny per-call costs; '—' when the model has no price."""
    if _missing(cost):
        return MISSING
    if cost == 0:
        return "$0"
    return f"${cost:.2f}" if cost >= 1 else f"${cost:.4g}"


def format_count(n: float | None) -> str:
    """A whole number with thousands separators ('1,234'), never '6.0'; '—' when unknown."""
    return MISSING if _missing(n) else f"{int(round(n)):,}"


def run_label(run_id: int | None, kind: str | None, name: str | None) -> str:
    """'#6 induction · my run' — the id alone says nothing; calls made outside a run say so."""
    if _missing(run_id):
        return "outside any run"
    parts = [f"#{int(run_id)}"]
    if kind:
        parts.append(str(kind))
    label = " ".join(parts)
    return f"{label} · {name}" if name else label
