"""Self-Instruct (or the induction benchmark) at paper scale against a loopback endpoint; prints figures.

    python benchmarks/selfinstruct_scale.py [--target 52000] [--latency 0] [--concurrency 64]
    python benchmarks/selfinstruct_scale.py --latency 0.05 --target 3000
    python benchmarks/selfinstruct_scale.py --induction [--n-sets 100] [--latency 0.05] [--concurrency 64]
    python benchmarks/selfinstruct_scale.py --call-log 3000 [--concurrency 64]
    python benchmarks/selfinstruct_scale.py --keep /tmp/si52k --views-only [--full-read]

The loopback endpoint runs in its own process (so its work does not count against the client) and is only a
load generator: it answers every request after `--latency` seconds with grammar-made text of the right
shape (varied instructions that pass the novelty filter, Yes/No classifications, instances, induced
instructions, outputs). The run goes through the real command lines (`core.selfinstruct` / `core.induction`)
on a fresh SQLite database, then the script prints wall time, requests/s, efficiency against the ideal
(requests x latency / concurrency), peak memory of this process, the database size by table, and the time
to open the run's Self-Instruct page and page, search and sort its pool (the index reads the page makes).
`--keep DIR --views-only` times the page again on the run already stored in DIR (no new run).
`--call-log N` measures the store alone: N calls logged from `--concurrency` threads, through `log_call`
(group commit) and through one transaction per call, as calls/s and CPU per call. `--client N` measures the
client path alone: N distinct calls through one `LLMClient` (cache lookup, transport, call log) at
`--concurrency`. The endpoint is one asyncio loop that sends each answer in one write, and its own CPU is
printed beside the client's. Start-up imports (the job kinds pull in scikit-learn, the openai SDK) happen
before the clock starts and are printed apart. `--profile FILE` writes a cProfile of every thread's CPU time.

Measured on the 2-core development machine. Wall times there vary by up to half between hours (the host's
steal time went from 1% to 23% during one run), so client CPU per request is the figure to compare, and a
change is judged by runs of the old and new code taken in turn; the 52K rows below are one run each.
"earlier" is issue #12's first client work (a shared machine, load 10-17); "before" adds the hand-written
HTTP/1.1 exchange, the one-statement cache look-up, a 64-connection SQLite pool, one database writer for
calls and results, the kept instructions' evidence scored once per iteration, and parsed induction tasks
kept while their files are unchanged; "client" adds one cache look-up for many requests (`generate_many`,
an iteration's stage requests), requests refilled as each ends rather than when the caller reads, the
writer's own SQLite connection and driver-level inserts, compression in the writer's thread, and the
induction task files checked in one pass; "now" adds records that name their call instead of repeating its
prompt and answer, the call log's parameters compressed, the page index folding in the records the job
hands it rather than reading them back, and one cache key per looked-up request. "now" was taken in turn
with "client" in the same minutes (the 52K row is one run each):

| run | earlier | before | client | now |
|---|---|---|---|---|
| `--client 3000` (C=64, instant) | 0.66-1.74 ms CPU/call, 539-632 calls/s | 0.84-1.00 ms CPU/call, 1,051-1,321 calls/s | 0.42-0.55 ms CPU/call, 1,946-2,594 calls/s | 0.45-0.54 ms CPU/call, 1,989-2,380 calls/s |
| `--latency 0.05 --target 3000` (paper: 5 requests per iteration) | 2.9 ms/request, 47.8 s, 12% | 1.6-2.9 ms/request, 18.0-24.1 s, 23-31% | 1.91-1.97 ms/request, 19.9-20.3 s, 27-28%, 13 MB database | 1.63-1.71 ms/request, 18.7-19.2 s, 29%, 9 MB database |
| the same with `--requests 16` (a labelled option) | - | 1.6-2.5 ms/request, 11.2-18.9 s, 30-50% | 1.74-1.91 ms/request, 12.8-14.4 s, 39-44%, 17.6 MB | 1.56-1.75 ms/request, 11.8-13.5 s, 41-47% (median 1.56 ms, 47%), 9.1 MB |
| `--induction --latency 0.05 --n-sets 10 --limit 10` | 1.8 ms/request, 26.1 s, 16% | 1.5-1.8 ms/request, 7.8-9.1 s, 47-55% | 1.2-1.3 ms/request, 6.5-7.0 s, 61-65% | 1.17 ms/request, 6.4 s, 67% |
| `--induction --latency 0.05 --n-sets 100 --k 1 --limit 20` (53,050 requests) | - | - | 1.04 ms/request, 59.3 s, 70% | - |
| `--target 10000` (instant) | 4.3 ms/request, 24,262 requests, 57.7 MB | 1.83 ms/request, 42.7 s, 44 MB; 2.69-2.72 ms/request, 62.5-62.8 s in a slower hour | 2.18-2.21 ms/request, 50.6-51.3 s, 44 MB; 1.94 ms/request, 44.0 s this session | 1.66 ms/request, 38.6 s, 31 MB (in turn with "client" at 44.0 s) |
| `--target 52000` (instant) | - | 169,630 requests, 601 s (3.75 ms/request) and 949 s (5.88 ms/request, a slower hour), 350 MB peak memory, 393 MB of database | 169,630 requests, 1,049.5 s (5.92 ms/request, a slow hour), 342 MB peak memory, 330 MB of database (148 MB iteration and stage records, 144 MB call log) | 169,630 requests, 941.7 s (5.61 ms/request), 334 MB peak memory, 248.8 MB of database (90 MB records, 120 MB call log, 18 MB page index) |

Since that table ("worker"): a Self-Instruct run's classification and instances move to a worker process
of their own from 32 requests in flight (`core/selfinstruct/stage_process.py`; `WORKBENCH_STAGE_PROCESS=off`
keeps them on threads); an iteration's evidence, record and page index are finished on a thread while
the next iteration's requests are out; `generate_many` sends from one shared pool of threads instead of
starting a thread per request; the database writer hands each caller its row id through a lock instead of
a Future; the openai SDK is imported only when a request needs it. Off and auto taken in turn:

| run | threads (`WORKBENCH_STAGE_PROCESS=off`) | worker (auto) |
|---|---|---|
| `--latency 0.05 --target 3000 --requests 16` | 40-43%, 13.1-13.9 s, 1.75-1.77 ms/request | 51-58%, 9.7-11.0 s, 1.61-1.89 ms/request (6.6-7.8 s of it in the worker; peak memory 267 MB + 236 MB for the worker) |
| `--latency 0.05 --target 3000` (paper: 5 requests per iteration) | 29%, 19.2 s | 30-33%, 16.7-18.1 s |
| `--target 52000` (instant) | - | 805.5 s (5.45 ms/request, 111 s of it in the worker), 301 MB peak memory of the run's process, 248.9 MB of database |
| `--induction --latency 0.05 --n-sets 10 --limit 10` | 76%, 5.6 s, 0.95 ms/request (no stage worker there) | |
| `--client 3000` | 2,036-2,548 calls/s, 0.43-0.53 ms CPU/call | |

The worker takes about half a second to start (imports), during which its stages wait, and on this
machine it shares the two cores with the loopback endpoint (2 s of CPU in a 3,000 run); an endpoint on
another machine leaves it the whole second core. At 52K the run's own process is the limit: its novelty
checks (813 s of CPU) are sequential by design.

Since the "worker" table ("filter"): the novelty index asks a candidate to share two elements of its
prefix with a pool item (one when a single shared token can exceed the threshold) before their exact
check, which cut the exact checks of a 20K pool 7-fold (44.5M to 6.5M), and scores the surviving pairs of
a candidate in one rapidfuzz call from 64 of them; a kept instruction's closest seed is found with its
other evidence, off the decision path; the finishing thread may lag one iteration behind the judging; a
kept candidate is tokenized once; the streamed answer of each iteration (the page's live text) goes over
the lean transport too, where the openai SDK cost ~2 ms of CPU per answer and, since it is imported on first
use, ~0.8 s in the first iteration. "filter" was measured before that last change (with the SDK imported
before the clock), "lean stream" after it:

| run | worker | filter | lean stream |
|---|---|---|---|
| `--target 52000` (instant) | 805.5 s, 813 s of CPU in the run's process | 503.8 s (3.81 ms/request, 535 s of CPU in the run's process, 112 s in the worker), 312 MB peak memory, 249.2 MB of database | 479.1 s (3.63 ms/request, 500 s of CPU in the run's process, 116 s in the worker), 273 MB peak memory, 249.9 MB of database |
| `--latency 0.05 --target 3000 --requests 16`, old and new code in turn | 56-66% (8.5-9.9 s) | 57-62% (9.1-9.8 s) | 55-57% (9.7-10.3 s, two runs) |

At 3,000 instructions and 50 ms the run's own novelty work is small and the spread between minutes is
larger than the change; at 52K the filter is what moved. What remained of the 52K run's process was mostly
the probe of that index (set operations over the postings of a candidate's rarest words, which this
grammar makes long) and the stage and call-log bookkeeping.

Since the "filter" table ("count"): a probe no longer intersects sets. An item met at two elements of the
candidate's prefix (within the looser of the two positional bounds) survives, so the probe joins the
postings it meets (C-int arrays, each ascending) and finds the repeated items with one stable sort in
numpy. Replaying the benchmark's candidates into a 30K pool gives the same digest, and novelty time fell
from 29.9 s to 17.5-18.7 s (probe 18.7 s to 7.1-7.4 s). The finishing thread may also lag up to
eight iterations (`FINISH_LAG`): when it falls behind, it scores the waiting iterations' evidence in one
rapidfuzz pass. A pass over 50K items took 4.7 ms for one instruction, 5.8 ms for four and 14.1 ms for
sixteen; at 20K, a third of the passes covered two or more iterations. Same decisions: 13,126 iterations,
407,410 candidates dropped as too similar.

| run | lean stream | count |
|---|---|---|
| `--target 52000` (instant) | 479.1 s; 501.5 s this session under py-spy | 403.3 s (the probe alone); 374.8 s and 375.4 s with the batched evidence (3.07 ms/request, 403 s of CPU in the run's process, 119 s in the worker), 283 MB peak memory, 247.6 MB of database |
| `--latency 0.05 --target 3000 --requests 16`, old and new code in turn | 53-61% (9.1-10.6 s, five runs) | 51-60% (9.4-10.9 s, six runs) |

The 52K run now spends about half its wall time waiting for each iteration's five answers, not judging
them: ~15 ms per iteration against an endpoint that answers at once. Measured at 20K, a generation call
took ~3.7 ms at the endpoint and ~5 ms to be committed to the call log. The endpoint is also serving the
stage worker's ~60 requests in flight, and the stage worker writes to the same SQLite file. A Python
switch interval of 0.5 ms instead of 5 ms did not change it.

Since the "count" table ("groups"): the judging thread also waited for the finishing thread's scorer
passes. rapidfuzz converts all of a pass's pool strings while holding the interpreter; a thread running
the finisher's passes in a loop beside a 30K novelty replay took each check from ~120 to ~210 us. Fast
iterations (judged less than `HOLD_S` apart) are now handed to the finisher in groups of 16 kept
instructions, at most 8 iterations (`EVIDENCE_BATCH` in core/selfinstruct/job.py), so one pass serves
several. A kept instruction's ten best scores are also partitioned from the scores above a cut instead of
the whole pool; that partition had been a fifth of the finisher's time at 20K. At 36K, old and new code
in turn: 195.6 s to 151.2 s, the judging thread's time 100 s to 74 s and the evidence's 135 s to 56 s.
Tried and not kept, at 36K (new code: 140-151 s): handing generation answers to the judge before their
call rows are committed (the wait fell by 15 s, judging rose by 12 s, with the writer now running beside
it); groups of 32 (146 s); the stage worker at nice 10 (167 s); a 1 ms switch interval (150 s). Measured
in the run, the judging thread's CPU per candidate is ~3x that of the same checks alone, with 38% of its
wall time spent waiting for a core or the interpreter: on two cores shared with the stage worker and the
endpoint, the rest is contention.

| run | count | groups |
|---|---|---|
| `--target 52000` (instant) | 374.8 s and 375.4 s | 342.6 s and 326.6 s (2.41-2.55 ms/request, 409-433 s of CPU of which 112-118 s in the worker), 287-292 MB peak memory, 246 MB of database; same decisions |
| `--latency 0.05 --target 3000 --requests 16` | 51-60% (9.4-10.9 s) | 49% and 55% (11.4 s, 10.2 s) |

Since the "groups" table ("places"): a stage unit's thread gives its place in the in-flight budget back
once its answer is in, then waits for that answer to be logged and its result stored; with one thread per
place, a 3,000 run at 50 ms kept ~38 of the stage worker's 48 places at the model (the call log's
timestamps, in half-second bins). The stage pools now have two threads per place (`THREADS_PER_PLACE` in
core/selfinstruct/stages.py). Old and new code in turn:

| run | groups | places |
|---|---|---|
| `--latency 0.05 --target 3000 --requests 16` | 53%, 59%, 59%, 59% (9.6-10.6 s, 33.9-38.0 in flight) | 62%, 65%, 65%, 68% (8.2-9.0 s, 40.0-43.5 in flight) |
| `--latency 0.05 --target 3000` (paper: 5 requests) | 33% (16.5 s) | 35% and 38% (15.7 s, 14.5 s) |
| the same with `WORKBENCH_STAGE_PROCESS=off`, `--requests 16` | 40-43% (the "worker" table) | 57% (9.9 s) |
| `--target 36000` (instant) | 151.7 s and 164.7 s | 148.8 s and 165.8 s |
| `--target 52000` (instant) | 342.6 s and 326.6 s | 340.3 s (2.52 ms/request, 428 s of CPU of which 119 s in the worker), 290 MB peak memory, 245.7 MB of database; same decisions |

Since the "places" table ("lock"): on SQLite the group writer takes the write lock itself (`BEGIN
IMMEDIATE` with the driver's busy timeout off, asked again after 0.2 ms, doubling to 2 ms), instead of
waiting in SQLite's busy handler, which sleeps in steps of whole milliseconds while the stage worker
commits. Measured at 20K, the writer's lock waits had been 5.8 s of its 11 s; the writer's time fell to
7.2 s and the time to log the generation calls from 59.7 s to 43.8 s. `--target 52000` (instant): 324.7 s
(2.42 ms/request, 411 s of CPU of which 115 s in the worker; the endpoint 39.5 s), 293 MB peak memory of
the run's process and 211 MB of the worker's, 246.9 MB of database, the page open in 0.26 s; same
decisions (13,126 iterations, 407,410 candidates too similar).

Since the "lock" paragraph ("as they come"): the loop judges an iteration's responses in request order as
they come in, request j as soon as requests 0..j are in, while the later ones are still being answered and
logged; the decisions are the same (`test_responses_are_judged_in_request_order_as_they_come`). Measured
inside one 20K run by switching between the two ways from one iteration to the next (and again with the
parities swapped), this way took ~0.5 ms less per iteration (~2%). Also: a candidate's exact checks take
their pool sequences from an object array (5 us to pick 500 of them, against 19 us from the list);
whitespace is folded with `str.split`, which agrees with re's whitespace class on every code point
(checked), instead of a regular expression; ASCII text that contains none of the blacklist words (their
first part) skips the case-insensitive pattern. The novelty replay of a 20K pool went from 84-85 to 80 us
per candidate. Old and new code in turn, two pairs in two hours (in the first, the new code also shared
one parameter dict among equal decoding parameters for their cache keys, since undone: 1 and 1.0 are equal
keys of a cache but not the same JSON):

| run | lock | as they come |
|---|---|---|
| `--target 52000` (instant) | 294.8 s (2.22 ms/request, 376 s of CPU of which 105 s in the worker) | 281.6 s (2.16 ms/request, 367 s of CPU of which 107 s in the worker); 290.3 s in another run |
| the same, a faster hour | 282.5 s (2.12 ms/request, 360 s of CPU of which 101 s in the worker) | 258.4 s (1.99 ms/request, 338 s of CPU of which 101 s in the worker), 296 MB peak memory of the run's process and 211 MB of the worker's, 245.8 MB of database, the page open in 0.18 s; same decisions |
| `--latency 0.05 --target 3000 --requests 16` | 62-68% (the "places" table) | 67% and 72% (7.8-8.4 s, 42.7-46.0 in flight) |
| `--latency 0.05 --target 3000` (paper: 5 requests) | 35-38% | 39% (14.1 s) |
| `--induction --latency 0.05 --n-sets 10 --limit 10` | 76% | 76% (5.6 s, 0.89 ms/request) |

The "lock" code took 292.0 s earlier that day (timed with per-thread instrumentation) and 324.7 s the day
before: the hour moves the figure more than these changes do.

What is left at 50 ms: the stage worker's CPU (~1.1 ms per request, on the core it shares with the
endpoint) bounds the stages to ~850 requests/s, and it starts ~0.5 s after the run (its imports).

The 52K run judged 459,410 candidates to keep 52,000 (the load generator's grammar repeats itself as the
pool grows, so 89% are dropped as too similar), in 13,126 iterations. Late in that run most of the time is
the novelty check (~27% of samples at a 32K pool: about 500 exact LCS checks per candidate, each a call into
rapidfuzz that costs ~0.6 us; one compiled call over all of a candidate's pairs was measured no faster) and
the kept instructions' evidence (~14%: each scored against every instruction before it, as the reference's
`avg_similarity_score` needs). The "before" run's 393 MB was measured on code from partway through that work.
A provenance export of the 52K run reads the run (12.5 s), builds the view (13.5 s) and reads the prompts
and answers back from the call log (10.6 s, `--views-only --full-read`).

With the paper's 5 generation requests per iteration and exactly sequential decisions, a 3,000-instruction
run needs ~211 iterations one after another, i.e. at least 211 x 50 ms = 10.5 s against an ideal of 5.5 s:
52% is the ceiling at 50 ms whatever the client does; `--lookahead` (or more `--requests`) lifts it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# --- the load generator -----------------------------------------------------------------------------------

VERBS = [
    "Write",
    "Describe",
    "Explain",
    "Summarize",
    "List",
    "Compare",
    "Suggest",
    "Create",
    "Design",
    "Outline",
    "Propose",
    "Rewrite",
    "Plan",
    "Draft",
    "Evaluate",
    "Recommend",
    "Translate",
    "Classify",
    "Estimate",
    "Predict",
]
ADJS = [
    "short",
    "detailed",
    "formal",
    "funny",
    "persuasive",
    "simple",
    "technical",
    "friendly",
    "critical",
    "balanced",
    "brief",
    "vivid",
    "polite",
    "practical",
    "creative",
    "neutral",
    "concise",
    "playful",
    "careful",
    "honest",
]
NOUNS = [
    "letter",
    "story",
    "essay",
    "report",
    "guide",
    "review",
    "summary",
    "speech",
    "checklist",
    "proposal",
    "recipe",
    "schedule",
    "itinerary",
    "slogan",
    "riddle",
    "dialogue",
    "memo",
    "outline",
    "lesson",
    "budget",
]
TOPICS = [
    "gardening",
    "astronomy",
    "banking",
    "chess",
    "cooking",
    "cycling",
    "dentistry",
    "ecology",
    "fencing",
    "genetics",
    "hiking",
    "insurance",
    "journalism",
    "knitting",
    "linguistics",
    "marketing",
    "navigation",
    "oceanography",
    "photography",
    "quilting",
    "robotics",
    "sailing",
    "taxation",
    "urbanism",
    "volcanoes",
    "weaving",
    "yoga",
    "zoology",
    "archery",
    "bakeries",
    "ceramics",
    "dairy",
    "elections",
    "falconry",
    "geology",
    "harbors",
    "irrigation",
    "jazz",
    "kayaking",
    "libraries",
    "mining",
    "nutrition",
    "orchards",
    "pottery",
    "quarries",
    "railways",
    "surfing",
    "tunnels",
    "upholstery",
    "vineyards",
    "welding",
    "beekeeping",
    "calligraphy",
    "dance",
    "embroidery",
    "forestry",
    "glassblowing",
]
AUDIENCES = [
    "children",
    "students",
    "retirees",
    "nurses",
    "farmers",
    "engineers",
    "tourists",
    "beginners",
    "managers",
    "teachers",
    "pilots",
    "chefs",
    "artists",
    "lawyers",
    "athletes",
]
PLACES = [
    "Lisbon",
    "Nairobi",
    "Osaka",
    "Quito",
    "Reykjavik",
    "Tbilisi",
    "Hanoi",
    "Oslo",
    "Lima",
    "Accra",
    "Perth",
    "Dakar",
    "Riga",
    "Sofia",
    "Cusco",
]
PATTERNS = (
    "{verb} a {adj} {noun} about {topic} for {aud} in {place}.",
    "{verb} three ideas that connect {topic} and {topic2} for a {noun}.",
    "Given a {noun} on {topic}, {verb_l} it for {aud} who know nothing about {topic2}.",
    "{verb} how {topic} differs from {topic2} in {place}, in a {adj} way.",
    "For {aud} visiting {place}, {verb_l} a {adj} {noun} on {topic}.",
)


def _instruction(rng: random.Random) -> str:
    t1, t2 = rng.sample(TOPICS, 2)
    verb = rng.choice(VERBS)
    return rng.choice(PATTERNS).format(
        verb=verb,
        verb_l=verb.lower(),
        adj=rng.choice(ADJS),
        noun=rng.choice(NOUNS),
        topic=t1,
        topic2=t2,
        aud=rng.choice(AUDIENCES),
        place=rng.choice(PLACES),
    )


def answer(prompt: str) -> str:
    """A plausible answer for each kind of prompt; deterministic in the prompt (replays match)."""
    rng = random.Random(hashlib.sha256(prompt.encode()).digest())
    tail = prompt[-300:]
    if tail.rstrip().endswith("Is it classification?"):
        return " Yes" if rng.random() < 0.3 else " No"
    if prompt.startswith("Come up with a series of tasks"):
        last = prompt.rstrip().rsplit("\n", 1)[-1]
        start = int(last.rstrip(".").strip() or 9) if last.rstrip(".").strip().isdigit() else 9
        lines = [f" {_instruction(rng)}"] + [f"{n}. {_instruction(rng)}" for n in range(start + 1, 16)]
        return "\n".join(lines)
    if prompt.startswith("Given the classification task definition"):
        return "\n".join(f"Class label: {lab}\nInput: {_instruction(rng)}" for lab in ("Yes", "No"))
    if prompt.startswith("Come up with examples"):
        return "\n" + "\n".join(
            f"Example {i}\nInput: {_instruction(rng)}\nOutput: {_instruction(rng)}" for i in range(1, 3)
        )
    if "nstruction" in tail and tail.rstrip().endswith("Output:"):  # induction execution
        return " " + rng.choice(TOPICS)
    return " " + _instruction(rng)  # an induced instruction, or anything else


def respond(path: str, body: dict) -> tuple[bytes, str]:
    """The answer to one request body, as (payload, content type), the way an OpenAI-compatible server
    would send it (a whole body, or with "stream" one server-sent event and [DONE])."""
    chat = path.endswith("/chat/completions")
    prompt = "\n".join(m["content"] for m in body["messages"]) if chat else body["prompt"]
    text = answer(prompt)
    if chat:
        choices = [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
    else:
        choices = [{"index": 0, "text": text, "finish_reason": "stop"}]
    usage = {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(text) // 4 + 1}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    payload = {"id": "x", "object": "text_completion", "created": 0, "model": "bench", "choices": choices}
    payload["usage"] = usage
    if body.get("stream"):
        if chat:
            payload["object"] = "chat.completion.chunk"
            payload["choices"] = [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}]
        return f"data: {json.dumps(payload)}\n\ndata: [DONE]\n\n".encode(), "text/event-stream"
    if chat:
        payload["object"] = "chat.completion"
    return json.dumps(payload).encode(), "application/json"


async def _handle(reader, writer, latency: float) -> None:
    """One keep-alive connection: HTTP/1.1 requests with a Content-Length body, each answer sent in one
    write (headers and body apart would meet the client's delayed ACK: ~40 ms per request)."""
    import asyncio

    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            raw = await reader.readexactly(length) if length else b""
            if method == "GET":  # /v1/models
                data = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}).encode()
                kind = "application/json"
            else:
                if latency:
                    await asyncio.sleep(latency)
                data, kind = respond(path, json.loads(raw))
            writer.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def _serve(port_out, cpu_out, latency: float) -> None:
    """The endpoint's process: one asyncio loop, so it takes as little of the machine's CPU as it can."""
    import asyncio
    import signal

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: _handle(r, w, latency), "127.0.0.1", 0, backlog=1024)
        port_out.put(server.sockets[0].getsockname()[1])
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        cpu_out.put(_cpu_s())  # how much CPU serving took, reported beside the client's

    asyncio.run(main())


def start_endpoint(latency: float) -> tuple[multiprocessing.Process, str]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_serve, args=(queue, queue, latency), daemon=True)
    proc.start()
    proc.cpu_queue = queue  # type: ignore[attr-defined]
    return proc, f"http://127.0.0.1:{queue.get(timeout=30)}/v1"


def stop_endpoint(proc: multiprocessing.Process) -> float | None:
    """Stop the endpoint; the CPU seconds it used."""
    proc.terminate()
    try:
        return proc.cpu_queue.get(timeout=10)  # type: ignore[attr-defined]
    except Exception:
        return None


# --- measuring ----------------------------------------------------------------------------------------------


def _db_sizes(path: Path) -> tuple[float, float, dict[str, float]]:
    """The database file, its write-ahead log, and the pages each table and index uses."""
    main_mb = path.stat().st_size / 1e6
    wal = path.with_name(path.name + "-wal")
    wal_mb = wal.stat().st_size / 1e6 if wal.exists() else 0.0
    tables: dict[str, float] = {}
    try:
        with sqlite3.connect(path) as conn:
            for name, size in conn.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            ):
                tables[name] = size / 1e6
    except sqlite3.OperationalError:  # sqlite built without dbstat
        pass
    return main_mb, wal_mb, tables


def _cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(label: str, fn, timings: list[tuple[str, float]]):
    t0 = time.perf_counter()
    out = fn()
    timings.append((label, time.perf_counter() - t0))
    return out


def _page_views(engine, run_id: int, full: bool = False) -> list[tuple[str, float]]:
    """What the Self-Instruct page does when it opens the run, then when it pages, searches and sorts
    (each step as the page calls it, without Streamlit's caches); with `full`, also the whole-run read
    that only an export does now (and that the page did on every open before the index)."""
    from core.selfinstruct import analysis_job, calltexts, index
    from core.selfinstruct import pages as si_pages
    from core.selfinstruct.view import load_run
    from core.store import runs as run_store

    timings: list[tuple[str, float]] = []
    run = run_store.get_run(engine, run_id)
    first = index.indexed_upto(engine, run_id) is None
    _timed("index sync (first open)" if first else "index sync", lambda: index.sync(engine, run_id), timings)
    t0 = time.perf_counter()
    state = _timed("open: state", lambda: index.indexed_upto(engine, run_id), timings)
    summary = _timed("open: summary", lambda: si_pages.summary(engine, run_id), timings)
    _timed("open: table 1", lambda: si_pages.table1(engine, run_id), timings)
    _timed(
        "open: iteration view", lambda: si_pages.iteration(engine, run_id, summary.iterations - 1), timings
    )
    page = _timed("open: pool page 1", lambda: si_pages.pool_page(engine, run_id), timings)
    _timed("open: pool item", lambda: si_pages.pool_item(engine, run_id, page.rows[0].item), timings)
    _timed("open: analysis lookup", lambda: analysis_job.latest(engine, run_id), timings)
    timings.append(("page open total", time.perf_counter() - t0))
    last = (page.matching - 1) // si_pages.PAGE_SIZE * si_pages.PAGE_SIZE
    _timed("pool: last page", lambda: si_pages.pool_page(engine, run_id, offset=last), timings)
    q = si_pages.PoolQuery(search="write essay")
    _timed("pool: search", lambda: si_pages.pool_page(engine, run_id, q), timings)
    q = si_pages.PoolQuery(sort="seed ROUGE-L", descending=True)
    _timed("pool: sort", lambda: si_pages.pool_page(engine, run_id, q), timings)
    # What the live step of a running run reads (once per running iteration / stored state).
    _timed("live: job pool", lambda: si_pages.job_pool(engine, run_id), timings)
    _timed("live: seeds", lambda: si_pages.seeds(engine, run_id), timings)
    _timed("live: stages done", lambda: si_pages.stages_done(engine, run_id, True), timings)
    print(f"run {run_id}: {summary.items} items in {summary.iterations} iterations (state {state})")
    if full:
        results = _timed("full read (exports)", lambda: run_store.results(engine, run_id), timings)
        _timed("load_run (exports)", lambda: load_run(results, run.params), timings)
        # The provenance export also reads back the prompts and answers the records leave to the call log.
        _timed("restore texts (provenance)", lambda: calltexts.restore(engine, results), timings)
    return timings


def _time_apptest(run_id: int) -> None:
    """The Self-Instruct page itself, script and all, in Streamlit's AppTest (no browser rendering)."""
    from streamlit.testing.v1 import AppTest

    from core.jobs import JobRunner

    JobRunner._loop = lambda self: None  # measure the page, not a worker picking up queued runs
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.switch_page("pages/selfinstruct.py").run()
    steps = [
        ("select the run (page open)", lambda: at.selectbox(key="si_run").set_value(run_id).run()),
        ("page open again (rerun)", lambda: at.run()),
        ("pool: next page", lambda: at.number_input(key=f"si_page_{run_id}").set_value(2).run()),
        ("pool: search", lambda: at.text_input(key=f"si_search_{run_id}").set_value("write essay").run()),
    ]
    for label, step in steps:
        t0 = time.perf_counter()
        step()
        print(f"page: {label:28s} {time.perf_counter() - t0:.2f} s")
    assert not at.exception, [e.value for e in at.exception]


def _time_analysis(engine, run_id: int) -> None:
    """The background analysis job, run here on the benchmark's run (it stores its result with it)."""
    from core.jobs import run_once, submit
    from core.selfinstruct import analysis_job, index
    from core.store import runs as run_store

    job = submit(
        engine, analysis_job.KIND, analysis_job.analysis_params(run_id, index.last_result_id(engine, run_id))
    )
    t0 = time.perf_counter()
    assert run_once(engine) == job
    run = run_store.get_run(engine, job)
    print(f"analysis job         {time.perf_counter() - t0:.1f} s ({run.status}; {run.message})")


def _report(args, engine, db_path: Path, run_id: int, wall: float, timings) -> None:
    from sqlalchemy import func, select

    from core.store.schema import calls

    with engine.connect() as conn:
        requests = conn.execute(select(func.count()).where(calls.c.run_id == run_id)).scalar_one()
        errors = conn.execute(
            select(func.count()).where(calls.c.run_id == run_id, calls.c.error.is_not(None))
        ).scalar_one()
    total, wal_mb, tables = _db_sizes(db_path)
    print("\n=== figures ===")
    print(
        f"mode                 {'induction' if args.induction else 'selfinstruct'}  compact={not args.no_compact}"
    )
    print(f"latency / C          {args.latency * 1000:.0f} ms / {args.concurrency}")
    print(f"wall time            {wall:.1f} s")
    print(f"model requests       {requests} ({errors} errors)")
    print(f"requests/s           {requests / wall:.1f}")
    # On a shared machine wall time depends on the neighbours; CPU per request is the client's own cost.
    cpu_ms = args.cpu_s * 1000 / max(requests, 1)
    print(
        f"client CPU           {args.cpu_s:.1f} s = {cpu_ms:.2f} ms/request (one core: ~{1000 / cpu_ms:.0f} requests/s)"
    )
    if getattr(args, "worker_cpu_s", 0) > 0.05:
        print(f"  of which worker    {args.worker_cpu_s:.1f} s (the stage worker process, on the other core)")
    if args.endpoint_cpu_s is not None:
        share = args.endpoint_cpu_s / max(args.endpoint_cpu_s + args.cpu_s, 1e-9)
        print(f"endpoint CPU         {args.endpoint_cpu_s:.1f} s ({share:.0%} of client + endpoint)")
    print(f"load average         {os.getloadavg()[0]:.1f} (this machine has {os.cpu_count()} cores)")
    if args.latency > 0:
        ideal = requests * args.latency / args.concurrency
        print(f"ideal wall time      {ideal:.1f} s   efficiency {ideal / wall:.0%}")
        # The endpoint's view: how many requests it was serving on average.
        print(f"mean in flight       {requests * args.latency / wall:.1f} of {args.concurrency}")
    print(f"peak memory (client) {_peak_mb():.0f} MB")
    if getattr(args, "worker_cpu_s", 0) > 0.05:
        print(f"peak memory (worker) {args.worker_peak_mb:.0f} MB")
    used = sum(tables.values()) or total
    print(
        f"database             {total:.1f} MB file + {wal_mb:.1f} MB WAL; {used:.1f} MB in use "
        f"({used / max(requests, 1) * 1e6:.0f} bytes/request)"
    )
    for name, size in list(tables.items())[:8]:
        print(f"  {name:28s} {size:8.1f} MB")
    for label, seconds in timings:
        print(f"view: {label:24s} {seconds:.3f} s")


def _profile_threads() -> list:
    """cProfile every thread started from now on (cProfile alone sees only the thread that enables it)."""
    import cProfile
    import threading

    profiles: list = []
    original = threading.Thread.run

    def run(self) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU, not waits: GIL and I/O waits would dominate
        profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main = cProfile.Profile(time.thread_time)
    profiles.append(main)
    main.enable()
    return profiles


def _dump_profiles(profiles: list, path: str) -> None:
    """All threads' profiles merged into one file (threads still running are left out)."""
    import pstats

    profiles[0].disable()  # the main thread's
    stats = None
    for profile in profiles:
        try:
            part = pstats.Stats(profile)
        except (TypeError, ValueError):  # a thread that is still running, or never profiled anything
            continue
        stats = part if stats is None else stats.add(part)
    if stats is not None:
        stats.dump_stats(path)


def _call_log_ab(n: int, threads: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import insert

    from core.store import calls as call_log
    from core.store import compact, get_engine
    from core.store.db import utcnow
    from core.store.schema import calls

    engine = get_engine(f"sqlite:///{tempfile.mkdtemp(prefix='wb-calls-')}/calls.db")
    template = "".join(f"Task: example {j} about things.\nIs it classification? No\n\n" for j in range(30))

    def record(i: int) -> call_log.CallRecord:
        return call_log.CallRecord(
            cache_key=f"{i:064d}",
            provider="openai",
            endpoint="http://loopback/v1",
            model="bench",
            style="completion",
            prompt=template + f"Task: {i}\n",
            messages=None,
            params={"max_tokens": 3},
            sample_index=0,
            choices=[{"text": " No", "finish_reason": "stop"}],
        )

    def one_transaction_each(r: call_log.CallRecord) -> int:  # what log_call did before group commit
        values = compact.encode_row(engine, call_log._values(r))
        with engine.begin() as conn:
            statement = insert(calls).values(**values, created_at=utcnow()).returning(calls.c.id)
            return conn.execute(statement).scalar_one()

    ways = {
        "group commit (log_call)": lambda r: call_log.log_call(engine, r),
        "one transaction each": one_transaction_each,
    }
    offset = 0
    for _round in range(2):
        for label, write in ways.items():
            started, cpu = time.perf_counter(), _cpu_s()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda i, w=write: w(record(i)), range(offset, offset + n)))
            wall, cpu = time.perf_counter() - started, _cpu_s() - cpu
            offset += n
            print(
                f"{label:24s} {n / wall:7.0f} calls/s  {cpu * 1000 / n:.2f} ms CPU/call  (load {os.getloadavg()[0]:.1f})"
            )


def _client_calls(n: int, concurrency: int, latency: float) -> None:
    """N distinct model calls through one `LLMClient` (cache lookup, transport, call log) with
    `generate_many` at `concurrency`, against the loopback endpoint: calls/s and client CPU per call."""
    from core.llm import GenParams, LLMClient, Request
    from core.llm.openai_compat import OpenAICompatProvider
    from core.store import get_engine

    engine = get_engine(f"sqlite:///{tempfile.mkdtemp(prefix='wb-client-')}/client.db")
    template = "".join(f"Task: example {j} about things.\nIs it classification? No\n\n" for j in range(30))
    proc, base_url = start_endpoint(latency)
    provider = OpenAICompatProvider(base_url, "bench", styles=("completion",), max_concurrency=concurrency)
    client = LLMClient(provider, engine)
    params = GenParams(max_tokens=3, stop=("\n",))
    for round_ in range(2):
        requests = [
            Request(prompt=f"{template}Task: {round_}/{i}\nIs it classification?", params=params)
            for i in range(n)
        ]
        started, cpu = time.perf_counter(), _cpu_s()
        answered = sum(1 for _ in client.generate_many(requests))
        wall, cpu = time.perf_counter() - started, _cpu_s() - cpu
        print(
            f"{answered} calls in {wall:.1f} s: {answered / wall:.0f} calls/s, "
            f"{cpu * 1000 / answered:.2f} ms client CPU/call (load {os.getloadavg()[0]:.1f})"
        )
    endpoint_cpu = stop_endpoint(proc)
    if endpoint_cpu is not None:
        print(f"endpoint CPU {endpoint_cpu:.1f} s over both rounds")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=int, default=52000, help="Self-Instruct pool size to reach")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer at the endpoint")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--requests", type=int, default=5, help="generation requests per iteration")
    parser.add_argument(
        "--lookahead", type=int, default=0, help="Self-Instruct departure: iterations sent ahead (paper: 0)"
    )
    parser.add_argument("--induction", action="store_true", help="the 24-task induction benchmark instead")
    parser.add_argument("--n-sets", type=int, default=100, help="induction: demonstration sets per task")
    parser.add_argument("--k", type=int, default=5, help="induction: instructions per demonstration set")
    parser.add_argument("--limit", type=int, help="induction: held-out inputs per task (default: all)")
    parser.add_argument("--no-compact", action="store_true", help="store every text plain (for comparison)")
    parser.add_argument("--profile", help="write a cProfile of the run to this file")
    parser.add_argument("--keep", help="folder to keep the working data in (default: a temporary one)")
    parser.add_argument("--call-log", type=int, metavar="N", help="measure only the call log's writes")
    parser.add_argument(
        "--client", type=int, metavar="N", help="measure only N model calls through the client"
    )
    parser.add_argument(
        "--views-only",
        action="store_true",
        help="with --keep: time the page views of the newest run already in that folder (no new run)",
    )
    parser.add_argument("--full-read", action="store_true", help="also time the whole-run read exports do")
    parser.add_argument(
        "--apptest",
        action="store_true",
        help="also open the real page (Streamlit AppTest) on the run and time it, a page turn and a search",
    )
    parser.add_argument(
        "--analysis", action="store_true", help="also time the analysis job (spaCy over the pool) on the run"
    )
    args = parser.parse_args()
    if args.client:
        profiles = _profile_threads() if args.profile else None
        _client_calls(args.client, args.concurrency, args.latency)
        if profiles is not None:
            _dump_profiles(profiles, args.profile)
        return 0
    if args.call_log:
        _call_log_ab(args.call_log, args.concurrency)
        return 0

    work = Path(args.keep or tempfile.mkdtemp(prefix="wb-scale-"))
    (work / "data").mkdir(parents=True, exist_ok=True)
    shared = Path(os.environ.get("WORKBENCH_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
    if not (work / "data" / "datasets").exists():
        (work / "data" / "datasets").symlink_to(shared.resolve())
    os.environ["WORKBENCH_DATA_DIR"] = str(work / "data")
    os.environ["WORKBENCH_MAX_CONCURRENCY"] = str(args.concurrency)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("OPENAI_API_KEY", None)
    db_path = work / "data" / "workbench.db"

    if args.no_compact:
        from core.store import compact

        compact.PLAIN_MAX = compact.RESULT_PLAIN_MAX = 10**12

    if args.views_only:
        from core.store import get_engine
        from core.store import runs as run_store

        engine = get_engine()
        run_id = max(r.id for r in run_store.list_runs(engine, kind="selfinstruct"))
        for label, seconds in _page_views(engine, run_id, args.full_read):
            print(f"view: {label:24s} {seconds:.3f} s")
        if args.apptest:
            _time_apptest(run_id)
        if args.analysis:
            _time_analysis(engine, run_id)
        print(f"peak memory          {_peak_mb():.0f} MB")
        return 0

    proc, base_url = start_endpoint(args.latency)
    print(f"loopback endpoint {base_url} (latency {args.latency * 1000:.0f} ms), data in {work}")
    from core.store import get_engine

    engine = get_engine()
    if args.induction:
        from core.induction.__main__ import main as cli

        argv = ["run", "--tasks", "all", "--induce-model", "bench", "--base-url", base_url, "--paper-demos"]
        argv += [
            "--n-sets",
            str(args.n_sets),
            "--k",
            str(args.k),
            "--no-bertscore",
            "--out",
            str(work / "out"),
        ]
        argv += ["--limit", str(args.limit)] if args.limit else []
    else:
        from core.selfinstruct.__main__ import main as cli

        argv = ["generate", "--seeds", "official", "--model", "bench", "--base-url", base_url]
        argv += [
            "--styles",
            "completion",
            "--concurrency",
            str(args.concurrency),
            "--target",
            str(args.target),
        ]
        argv += ["--requests", str(args.requests)]
        argv += ["--lookahead", str(args.lookahead)] if args.lookahead else []
    # Imported before the clock starts: a one-time start-up cost of the process (the job kinds pull in
    # scikit-learn), not a cost per request.
    from core.jobs.registry import load_all

    started = time.perf_counter()
    load_all()

    print(f"start-up imports     {time.perf_counter() - started:.1f} s (not counted below)")
    profiles = _profile_threads() if args.profile else None
    started, cpu_before = time.perf_counter(), _cpu_s()
    # Processes the run started and waited for (a Self-Instruct stage worker); the endpoint is still running.
    children_before = _cpu_s(resource.RUSAGE_CHILDREN)
    code = cli(argv)
    wall = time.perf_counter() - started
    args.worker_cpu_s = _cpu_s(resource.RUSAGE_CHILDREN) - children_before
    args.worker_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    args.cpu_s = _cpu_s() - cpu_before + args.worker_cpu_s
    if profiles is not None:
        _dump_profiles(profiles, args.profile)
    from core.store import runs as run_store

    run_id = max(r.id for r in run_store.list_runs(engine))
    timings = [] if args.induction else _page_views(engine, run_id, args.full_read)
    args.endpoint_cpu_s = stop_endpoint(proc)
    _report(args, engine, db_path, run_id, wall, timings)
    return code


if __name__ == "__main__":
    sys.exit(main())
