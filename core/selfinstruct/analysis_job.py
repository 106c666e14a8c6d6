"""The Self-Instruct analysis as a background job (kind "selfinstruct_analysis"), cached with the run.

One analysis run reads the indexed pool of one Self-Instruct run as it stood when the analysis was asked
for (`upto`: the run's last result id then) and stores one result, `analysis`: the paper's Figure 3 (root
verb and direct-object noun of every instruction, spaCy `nlp.pipe` in batches), Figure 4 (ROUGE-L with the
closest seed) and the length distributions, as histogram counts. The page shows the newest analysis of the
run, and says when the run has grown since.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from core.jobs.context import JobContext
from core.jobs.registry import job_kind
from core.selfinstruct import index
from core.selfinstruct.analysis import DEFAULT_SPACY_MODEL, load_nlp, sunburst_data, verb_noun_pairs
from core.store import runs as run_store
from core.store.schema import si_items

KIND = "selfinstruct_analysis"
RESULT = "analysis"
CHUNK = 1000  # instructions parsed between progress reports
BINS = 20


def analysis_params(run_id: int, upto: int, spacy_model: str = DEFAULT_SPACY_MODEL) -> dict[str, Any]:
    return {"run_id": run_id, "upto": upto, "spacy_model": spacy_model}


def histogram(
    values: Sequence[float], bins: int = BINS, lo: float | None = None, hi: float | None = None
) -> dict:
    """Counts of `values` in `bins` equal bins over [lo, hi] (the data's range by default); the last bin
    holds its upper edge, as numpy.histogram counts."""
    if not values:
        return {"edges": [], "counts": []}
    lo = min(values) if lo is None else lo
    hi = max(values) if hi is None else hi
    if hi <= lo:
        hi = lo + 1
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        if lo <= v <= hi:
            counts[min(int((v - lo) / width), bins - 1)] += 1
    return {"edges": [lo + k * width for k in range(bins + 1)], "counts": counts}


@dataclass(frozen=True)
class PoolTexts:
    instructions: list[str]  # the pool after edits and deletions
    seed_rouge: list[float]  # every kept instruction's, as RunView.seed_rouge
    input_lengths: list[int]
    output_lengths: list[int]


def pool_texts(engine: Engine, run_id: int) -> PoolTexts:
    c = si_items.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.instruction, c.deleted, c.seed_rouge, c.input_lengths, c.output_lengths)
            .where(c.run_id == run_id)
            .order_by(c.t, c.i)
        ).all()
    live = [r for r in rows if not r.deleted]
    return PoolTexts(
        instructions=[r.instruction for r in live],
        seed_rouge=[r.seed_rouge for r in rows if r.seed_rouge is not None],
        input_lengths=[n for r in live for n in (r.input_lengths or ())],
        output_lengths=[n for r in live for n in (r.output_lengths or ())],
    )


@job_kind(KIND)
def run_analysis(ctx: JobContext) -> None:
    if ctx.done(RESULT):
        return
    source = int(ctx.params["run_id"])
    index.sync(ctx.engine, source)
    texts = pool_texts(ctx.engine, source)
    total = len(texts.instructions)
    ctx.progress(0, total, "loading spaCy")
    nlp = load_nlp(ctx.params.get("spacy_model") or DEFAULT_SPACY_MODEL)
    pairs = []
    for start in range(0, total, CHUNK):
        pairs += verb_noun_pairs(texts.instructions[start : start + CHUNK], nlp=nlp)
        ctx.progress(len(pairs), total, f"parsed {len(pairs):,} of {total:,} instructions")
    words = [len(t.split()) for t in texts.instructions]
    ctx.save(
        RESULT,
        {
            "upto": ctx.params.get("upto"),
            "instructions": total,
            "with_pair": sum(bool(p.verb and p.noun) for p in pairs),
            "sunburst": sunburst_data(pairs),
            "seed_rouge": histogram(texts.seed_rouge, BINS, 0.0, 1.0),
            "lengths": {
                "instruction": histogram(words),
                "input": histogram(texts.input_lengths),
                "output": histogram(texts.output_lengths),
            },
        },
    )
    ctx.progress(total, total, "done")


def latest(engine: Engine, run_id: int) -> run_store.Run | None:
    """The newest analysis run of a Self-Instruct run (done or not)."""
    return next((r for r in run_store.list_runs(engine, kind=KIND) if r.params.get("run_id") == run_id), None)


def stored(engine: Engine, analysis_run_id: int) -> dict[str, Any] | None:
    return run_store.results(engine, analysis_run_id, RESULT).get(RESULT)
