"""Data for the paper's Figure 4: each instruction's highest ROUGE-L against the seed instructions."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from core.similarity.rouge import Vocabulary, f_measure_array, tokenize


def max_rouge_l_to_seeds(
    instructions: Iterable[str], seeds: Sequence[str], *, stemmer: bool = False, chunk: int = 2048
) -> list[float]:
    """For each instruction (as target), its highest ROUGE-L against any seed; 0.0 when there are no seeds.

    Exact (every pair is scored, in compiled code, `chunk` instructions at a time to bound memory).
    """
    vocab = Vocabulary()
    seed_ids = [vocab.ids(tokenize(s, stemmer=stemmer), grow=True) for s in seeds]
    seed_seqs = [vocab.seq(ids) for ids in seed_ids]  # after growing: one representation for all
    seed_lens = np.array([len(s) for s in seed_seqs], dtype=np.int64)
    out: list[float] = []
    batch: list[list[str]] = []

    def flush() -> None:
        if not seed_seqs:
            out.extend(0.0 for _ in batch)
        else:
            seqs = [vocab.seq(vocab.ids(tokens, grow=False)) for tokens in batch]
            lcs = process.cdist(seqs, seed_seqs, scorer=LCSseq.similarity, dtype=np.int64)
            lens = np.array([len(tokens) for tokens in batch], dtype=np.int64)[:, None]
            out.extend(f_measure_array(lcs, lens, seed_lens[None, :]).max(axis=1).tolist())
        batch.clear()

    for text in instructions:
        batch.append(tokenize(text, stemmer=stemmer))
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    return out


@dataclass(frozen=True, slots=True)
class HistogramBin:
    """Scores in [low, high); the last bin also holds 1.0."""

    low: float
    high: float
    count: int


def rouge_l_histogram(scores: Iterable[float], bins: int = 10) -> list[HistogramBin]:
    """Counts of scores in `bins` equal bins over [0, 1] (0.1 wide by default, as in Figure 4)."""
    if bins < 1:
        raise ValueError("bins must be >= 1")
    # Edges as i/bins are the same floats as the literals 0.1, 0.2, ..., so 0.7 lands in [0.7, 0.8).
    inner = [i / bins for i in range(1, bins)]
    counts = [0] * bins
    for score in scores:
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"ROUGE-L score out of [0, 1]: {score!r}")
        counts[bisect_right(inner, score)] += 1
    edges = [0.0, *inner, 1.0]
    return [HistogramBin(edges[i], edges[i + 1], counts[i]) for i in range(bins)]
