"""Result files into the call log: every valid answer becomes the cache entry its request will look up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from core.batch.jsonl import PROVIDER, endpoint_of, read_requests, read_results
from core.store import calls as call_log


@dataclass
class IngestReport:
    requests: int = 0
    ingested: int = 0
    already: int = 0  # answered in the call log before: left as they are (ingest is idempotent)
    problems: list[str] = field(default_factory=list)


def ingest(engine: Engine, requests_path: Path, results_path: Path, base_url: str) -> IngestReport:
    """Log each successful result as a call at `base_url` (the endpoint the later run will use).

    Lines with problems are reported and skipped; the valid rest is ingested, so fixing or re-running
    the failed requests and ingesting again completes the set without duplicating anything."""
    entries, problems = read_requests(requests_path, base_url)
    answers, result_problems = read_results(results_path, entries)
    report = IngestReport(requests=len(entries), problems=problems + result_problems)
    endpoint = endpoint_of(base_url)
    prices = call_log.get_prices(engine)
    records = []
    for answer in answers:
        entry = entries[answer.custom_id]
        key = answer.custom_id.split(":", 2)[2]
        if call_log.find_cached(engine, key) is not None:
            report.already += 1
            continue
        request = entry.request
        records.append(
            call_log.CallRecord(
                cache_key=key,
                provider=PROVIDER,
                endpoint=endpoint,
                model=entry.model,
                style=request.style,
                prompt=request.prompt,
                messages=request.messages_list(),
                params=request.params.to_dict(),
                sample_index=request.sample_index,
                choices=answer.choices,
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
                latency_ms=0.0,  # answered offline: no per-request latency
                cost=call_log.estimate_cost(
                    prices, entry.model, answer.prompt_tokens, answer.completion_tokens
                ),
            )
        )
    call_log.log_calls(engine, records)
    report.ingested = len(records)
    return report
