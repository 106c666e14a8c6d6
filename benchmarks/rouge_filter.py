"""Benchmark: grow a Self-Instruct pool from the 175 seeds over 52,000 generated-looking candidates.

Reports our wall time, the reference cost (rouge-score's `_score_lcs`, timed on a sample of the very pairs the
brute-force loop would compare, times the number of comparisons it would make), the ratio, peak memory, and
checks that decisions equal brute force on a prefix: against an exhaustive exact scan (every pair, rapidfuzz
LCS) on `--verify` candidates and against rouge-score's own scorer on `--verify-ref` candidates.

    .venv/bin/python benchmarks/rouge_filter.py [--n 52000] [--seed 0] [--shared PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from rapidfuzz import process  # noqa: E402
from rapidfuzz.distance import LCSseq  # noqa: E402

from core.similarity import NoveltyIndex  # noqa: E402
from core.similarity.rouge import Vocabulary, f_measure_array, tokenize  # noqa: E402

THRESHOLD = 0.7


def _split(words: str, sep: str = " ") -> list[str]:
    return words.split(sep)


OPENERS = _split(
    "Write|Generate|Create|Explain|Describe|List|Suggest|Classify|Summarize|Rewrite|Translate|Identify|Compose|"
    "Find|Give|Design|Compare|Recommend|Come up with|Tell me|Brainstorm|Make|Outline|Convert|Evaluate|Predict",
    "|",
)
OBJECTS = _split(
    "a short story about|a poem about|a list of|three examples of|a tweet about|an essay on|a summary of|"
    "the main idea of|a question about|a recipe for|a slogan for|five tips for|a dialogue about|an email about|"
    "a haiku about|the difference between|a title for|some facts about|a plan for|a review of",
    "|",
)
TAILS = _split(
    "|||.| for a child.| in one sentence.| in the style of a news report.| using the following words:|"
    " and explain your answer.| for each of the following items.| given the input text.|"
    " without using the letter e.| in less than 50 words.",
    "|",
)
SYLLABLES = _split(
    "ba ko ri ten mar lo vi sen dra pol qui ta ne gor fe lin mo sha dor ex pa tri ul zen ca ro mi bel as tor"
)


def shared_datasets(cli_value: str | None) -> Path:
    if cli_value:
        return Path(cli_value)
    return Path(os.environ.get("WORKBENCH_SHARED_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))


def load_seeds(shared: Path) -> list[str]:
    path = shared / "self-instruct" / "seed_tasks.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line)["instruction"] for line in fh if line.strip()]


def generate_candidates(seeds: list[str], n: int, seed: int) -> list[str]:
    """Deterministic instruction-like texts: recombined seed phrases, templates over a Zipf-distributed
    topic lexicon, word substitutions, and near-duplicates of earlier candidates (mostly rejected)."""
    rng = random.Random(seed)
    seed_words = [s.split() for s in seeds]
    lexicon = sorted({w.strip(".,?!:;\"'()").lower() for ws in seed_words for w in ws} - {""})
    for _ in range(12000):  # made-up topic words stand in for the long tail of a real vocabulary
        lexicon.append("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    rng.shuffle(lexicon)
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) ** 0.9 for rank in range(len(lexicon))))

    def topic(k: int) -> str:
        return " ".join(rng.choices(lexicon, cum_weights=cum_weights, k=k))

    def substitute(words: list[str], share: float) -> list[str]:
        return [topic(1) if rng.random() < share else w for w in words]

    def near_duplicate(words: list[str]) -> list[str]:
        words = list(words)
        for _ in range(rng.randint(1, 2)):
            op = rng.random()
            pos = rng.randrange(len(words))
            if op < 0.4:
                words[pos] = topic(1)
            elif op < 0.7 and len(words) > 3:
                del words[pos]
            else:
                words.insert(pos, rng.choice(["the", "a", "some", "please", "briefly", "also"]))
        return words

    out: list[str] = []
    while len(out) < n:
        kind = rng.random()
        if kind < 0.30:  # recombine the start of one seed with the end of another
            a, b = rng.choice(seed_words), rng.choice(seed_words)
            words = a[: rng.randint(1, max(1, len(a) // 2))] + b[rng.randint(0, len(b) // 2) :]
            words = substitute(words, 0.35)
        elif kind < 0.62:  # template over topic words
            words = f"{rng.choice(OPENERS)} {rng.choice(OBJECTS)} {topic(rng.randint(1, 6))}".split()
            words[-1] += rng.choice(TAILS)
        elif kind < 0.80:  # substitute words of a seed or of an earlier candidate
            source = rng.choice(seed_words) if not out or rng.random() < 0.4 else rng.choice(out).split()
            words = substitute(source, rng.uniform(0.15, 0.6))
        else:  # near-duplicate of a recent or any earlier candidate
            if not out:
                continue
            source = out[-rng.randint(1, min(len(out), 2000))] if rng.random() < 0.7 else rng.choice(out)
            words = near_duplicate(source.split())
        text = " ".join(words).strip()
        if text:
            out.append(text[0].upper() + text[1:])
    return out


def grow(seeds: list[str], candidates: list[str]) -> tuple[list[bool], float, float, NoveltyIndex]:
    start, cpu = time.perf_counter(), time.process_time()
    index = NoveltyIndex(seeds, THRESHOLD)
    kept = [index.offer(c).kept for c in candidates]
    return kept, time.perf_counter() - start, time.process_time() - cpu, index


def brute_force_exact(seeds: list[str], candidates: list[str]) -> list[bool]:
    """Every pair scored (exact LCS in rapidfuzz, rouge-score's F formula); no pruning at all."""
    vocab = Vocabulary()
    pool_seqs: list[str] = []
    pool_lens: list[int] = []
    for s in seeds:
        ids = vocab.ids(tokenize(s), grow=True)
        pool_seqs.append(vocab.seq(ids))
        pool_lens.append(len(ids))
    kept = []
    for c in candidates:
        ids = vocab.ids(tokenize(c), grow=True)
        seq = vocab.seq(ids)
        lcs = process.cdist([seq], pool_seqs, scorer=LCSseq.similarity, dtype=np.int64, workers=-1)[0]
        novel = not bool((f_measure_array(lcs, len(ids), np.asarray(pool_lens)) > THRESHOLD).any())
        kept.append(novel)
        if novel:
            pool_seqs.append(seq)
            pool_lens.append(len(ids))
    return kept


def brute_force_reference(seeds: list[str], candidates: list[str]) -> list[bool]:
    """The Self-Instruct loop itself: rouge-score's scorer against every pool instruction."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pool = list(seeds)
    kept = []
    for c in candidates:
        novel = all(scorer.score(c, p)["rougeL"].fmeasure <= THRESHOLD for p in pool)
        kept.append(novel)
        if novel:
            pool.append(c)
    return kept


def reference_pair_seconds(
    seeds: list[str], candidates: list[str], kept: list[bool], samples: int, seed: int
) -> float:
    """Mean time of rouge_scorer._score_lcs over pairs drawn like the brute-force loop's comparisons,
    on texts tokenized beforehand (as the Alpaca generator does)."""
    from rouge_score import rouge_scorer
    from rouge_score import tokenize as rouge_tokenize

    rng = random.Random(seed + 1)
    pool = list(seeds)
    pool_at: list[int] = []  # pool size when each candidate was decided
    for c, k in zip(candidates, kept, strict=True):
        pool_at.append(len(pool))
        if k:
            pool.append(c)
    pairs = []
    for _ in range(samples):
        i = rng.randrange(len(candidates))
        j = rng.randrange(pool_at[i])
        pairs.append((rouge_tokenize.tokenize(candidates[i], None), rouge_tokenize.tokenize(pool[j], None)))
    start = time.perf_counter()
    for target, prediction in pairs:
        rouge_scorer._score_lcs(target, prediction)
    return (time.perf_counter() - start) / samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=52_000, help="number of candidates (default 52000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the candidates")
    parser.add_argument(
        "--shared", help="public datasets folder (default $WORKBENCH_SHARED_DATASETS or ../shared/datasets)"
    )
    parser.add_argument("--samples", type=int, default=5000, help="pairs timed for the reference estimate")
    parser.add_argument("--verify", type=int, default=3000, help="candidates checked against exhaustive scan")
    parser.add_argument("--verify-ref", type=int, default=400, help="candidates checked against rouge-score")
    args = parser.parse_args(argv)

    seeds = load_seeds(shared_datasets(args.shared))
    candidates = generate_candidates(seeds, args.n, args.seed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    kept, ours, ours_cpu, index = grow(seeds, candidates)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_kept = sum(kept)
    pool_sizes = len(seeds) * len(candidates) + sum(np.cumsum([0, *kept[:-1]]).tolist())
    per_pair = reference_pair_seconds(seeds, candidates, kept, args.samples, args.seed)
    reference = per_pair * pool_sizes

    print(
        f"candidates         {len(candidates):,} (seed {args.seed}); kept {n_kept:,}, rejected "
        f"{len(candidates) - n_kept:,} ({(len(candidates) - n_kept) / len(candidates):.1%}); pool {len(index):,}"
    )
    print(
        f"(a) our wall time  {ours:.2f} s  (CPU {ours_cpu:.2f} s; {index.comparisons:,} exact LCS computations, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"(b) reference      {reference:,.0f} s = {pool_sizes:,} comparisons x {per_pair * 1e6:.1f} us "
        f"(rouge_scorer._score_lcs, {args.samples:,} sampled pairs) = {reference / 3600:.1f} core-hours"
    )
    print(f"(c) speed-up       {reference / ours:,.0f}x")
    print(f"(d) peak memory    {rss_after / 1024:.0f} MiB RSS (before the run {rss_before / 1024:.0f} MiB)")

    m = min(args.verify, len(candidates))
    start = time.perf_counter()
    same = brute_force_exact(seeds, candidates[:m]) == kept[:m]
    print(f"(e) first {m:,} decisions == exhaustive exact scan: {same} ({time.perf_counter() - start:.1f} s)")
    r = min(args.verify_ref, len(candidates))
    start = time.perf_counter()
    same_ref = brute_force_reference(seeds, candidates[:r]) == kept[:r]
    print(
        f"    first {r:,} decisions == rouge-score brute-force loop: {same_ref} ({time.perf_counter() - start:.1f} s)"
    )
    return 0 if same and same_ref else 1


if __name__ == "__main__":
    raise SystemExit(main())
