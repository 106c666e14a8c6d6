"""An incremental pool of instructions that answers "is this candidate novel?" exactly and fast.

Self-Instruct keeps a candidate iff its highest ROUGE-L against the pool is <= threshold. We only ever skip a
pool item when a bound proves its score cannot exceed the threshold, so decisions equal the brute-force loop:

* Bounds are exact integers. For a candidate of m tokens (the reference's target) and a pool item of n tokens
  (the prediction), `need(m, n)` is the smallest LCS length whose float F-measure, computed exactly as
  rouge-score does, is > threshold. No epsilon is involved, so scores of exactly 0.7 are handled exactly.
* LCS <= multiset token overlap. Multisets become sets of (token, occurrence) elements, and every text lists
  its elements in one global order (rarest first). If two texts share >= need elements and need >= 2, the
  first length - need + 2 elements of each share at least two of them: list the shared elements in the
  global order; at most length - need elements of a text are not shared, so the first two shared ones sit
  within that prefix of both texts, the first at a position i <= m - need in the candidate and j <= n - need
  in the pool item (prefix and positional filtering, asking for two shared elements instead of one, so a
  pair sharing a single word no longer reaches the exact check; a pair whose need is 1 asks for one). So
  the inverted index holds only pool prefixes, and a probe keeps the items it meets within those bounds.
  Two shared elements within the looser bounds (i <= m - need + 1, j <= n - need + 1) already imply the
  first one is within the stricter ones (both texts list shared elements in the same order), so a probe
  only counts: the postings it meets are joined and sorted in compiled code, and an item met twice survives.
* The global order is frequency in the pool, re-derived (with a full re-index) each time the pool doubles;
  between re-indexes new elements are placed first. Any fixed total order is correct; a good one is fast.
* Surviving pairs get an exact LCS from rapidfuzz (bit-parallel C++) on token-id strings.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from core.similarity.rouge import Vocabulary, f_measure, f_measure_array, tokenize

INF = 1 << 30  # "no LCS length can exceed the threshold"
_UNSEEN = -(1 << 62)  # rank of elements absent from the pool: first, so they use up prefix slots for free
_OCC_SHIFT = 32  # element key = token id | occurrence << 32
_FIRST_REINDEX = 256
_BATCH_VERIFY = 64  # from this many pairs a candidate's exact check goes to rapidfuzz in one call
_PID = "i"  # postings hold pool indexes as C ints, read by numpy as np.intc without a copy
_NONE = np.zeros(0, dtype=np.intc)
_NONE.flags.writeable = False  # shared by every probe that finds nothing


def _elements(ids: list[int]) -> list[int]:
    """The multiset of token ids as a set of (token, occurrence) keys."""
    seen: dict[int, int] = {}
    out = []
    for tid in ids:
        occ = seen.get(tid, 0)
        seen[tid] = occ + 1
        out.append(tid | (occ << _OCC_SHIFT))
    return out


class LcsBounds:
    """Smallest LCS length that makes the ROUGE-L F-measure exceed `threshold`, per pair of lengths."""

    def __init__(self, threshold: float) -> None:
        if math.isnan(threshold) or threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {threshold!r}")
        self.threshold = threshold
        self._rows: dict[int, list[int]] = {}
        self._min_over_m: dict[int, int] = {}
        self._min_over_n: dict[int, int] = {}

    def need(self, m: int, n: int) -> int:
        """Smallest L <= min(m, n) with f_measure(L, m, n) > threshold, else INF (m: target, n: prediction)."""
        top = min(m, n)
        t = self.threshold
        if top == 0 or t >= 2:
            return INF
        # Below t*(m+n)/2 - 2 the exact F is short of t by far more than float error, so start there.
        for lcs in range(max(1, int(t * (m + n) / 2) - 2), top + 1):
            if f_measure(lcs, m, n) > t:
                return lcs
        return INF

    def _scan_limit(self, length: int) -> int:
        # Beyond this other-side length, F <= 2*length/(length+other) is below t by much more than rounding.
        t = self.threshold
        if length == 0:
            return 0  # an empty text scores 0 against everything
        return INF if t <= 0 else int(length * max(2 - t, 0) / t) + 2

    def min_over_m(self, n: int) -> int:
        """min over candidate lengths m of need(m, n): what a pool item of n tokens must index."""
        if n not in self._min_over_m:
            best, m, limit = INF, 1, self._scan_limit(n)
            while m <= limit and best > 1:
                best = min(best, self.need(m, n))
                m += 1
            self._min_over_m[n] = best
        return self._min_over_m[n]

    def min_over_n(self, m: int) -> int:
        """min over pool lengths n of need(m, n): how far a candidate of m tokens must probe."""
        if m not in self._min_over_n:
            best, n, limit = INF, 1, self._scan_limit(m)
            while n <= limit and best > 1:
                best = min(best, self.need(m, n))
                n += 1
            self._min_over_n[m] = best
        return self._min_over_n[m]

    def row(self, m: int, max_n: int) -> list[int]:
        """[need(m, n) for n in 0..max_n] (cached and extended as the pool's longest text grows)."""
        row = self._rows.get(m)
        if row is None:
            row = self._rows[m] = []
        if len(row) <= max_n:
            row.extend(self.need(m, n) for n in range(len(row), max_n + 1))
        return row


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A pool instruction and its ROUGE-L against the candidate (candidate as target)."""

    index: int
    score: float
    text: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a candidate is novel.

    `score` is the candidate's highest ROUGE-L against the pool and `neighbour` the pool item reaching it
    (the earliest on ties). Both are exact whenever the candidate is rejected. When it is kept they are None
    unless `check(..., exact=True)` was asked: the bounds proved the maximum is <= threshold without computing
    it. `compared` counts exact LCS computations spent on this decision.
    """

    kept: bool
    score: float | None
    neighbour: Neighbour | None
    compared: int


class NoveltyIndex:
    """The Self-Instruct novelty filter as an index: `offer` decides a candidate and keeps it if novel.

    Pool items are numbered in insertion order (the initial `pool` first). `keep_texts=False` saves memory
    when neighbour texts are not needed (`Neighbour.text` is then None).
    """

    def __init__(
        self,
        pool: Iterable[str] = (),
        threshold: float = 0.7,
        *,
        stemmer: bool = False,
        keep_texts: bool = True,
    ) -> None:
        self.threshold = threshold
        self.stemmer = stemmer
        self._bounds = LcsBounds(threshold)
        self._vocab = Vocabulary()
        self._seqs: list[str | tuple[int, ...]] = []  # token-id sequences, one per pool item
        # The same sequences in an object array (room to grow at its end): a candidate's few hundred exact
        # checks take theirs by fancy indexing, a third of the cost of picking them from the list in Python.
        self._seq_array = np.empty(_FIRST_REINDEX, dtype=object)
        self._lens = array("q")  # token counts, for numpy in top_k
        self._texts: list[str] | None = [] if keep_texts else None
        self._rank: dict[int, int] = {}
        self._next_new_rank = -1
        # element -> (pool length n, position j of the element in the item's sorted prefix) -> pool indexes,
        # ascending (items are indexed in pool order)
        self._postings: dict[int, dict[tuple[int, int], array[int]]] = {}
        self._max_len = 0
        self._empty = 0  # pool items without a token (their ROUGE-L is 0 against everything)
        self._next_reindex = _FIRST_REINDEX
        self.comparisons = 0  # exact LCS computations so far, for benchmarks and the UI
        self._checked: tuple[str | None, list[str]] = (None, [])  # the last checked text and its tokens
        for text in pool:
            self._append(text, tokenize(text, stemmer=stemmer))
        self._reindex()

    def __len__(self) -> int:
        return len(self._seqs)

    def text(self, index: int) -> str:
        if self._texts is None:
            raise ValueError("this index was built with keep_texts=False")
        return self._texts[index]

    # -- adding ---------------------------------------------------------------------------------------------

    def add(self, text: str) -> int:
        """Put `text` in the pool unconditionally; returns its pool index."""
        checked, tokens = self._checked
        if checked is not text:  # a Self-Instruct step checks a candidate, then adds the same string
            tokens = tokenize(text, stemmer=self.stemmer)
        return self._add(text, tokens)

    def _append(self, text: str, tokens: list[str]) -> tuple[int, list[int]]:
        was_str = self._vocab.as_str
        ids = self._vocab.ids(tokens, grow=True)
        if was_str and not self._vocab.as_str:  # vocabulary outgrew code points: switch to int tuples
            self._seqs = [tuple(Vocabulary.seq_ids(s)) for s in self._seqs]
            self._seq_array = np.empty(max(_FIRST_REINDEX, 2 * len(self._seqs)), dtype=object)
            for i, item in enumerate(self._seqs):  # one by one: a slice would unpack the tuples
                self._seq_array[i] = item
        pid = len(self._seqs)
        seq = self._vocab.seq(ids)
        self._seqs.append(seq)
        if pid == len(self._seq_array):
            self._seq_array = np.concatenate((self._seq_array, np.empty(pid, dtype=object)))
        self._seq_array[pid] = seq
        self._lens.append(len(ids))
        if self._texts is not None:
            self._texts.append(text)
        self._max_len = max(self._max_len, len(ids))
        self._empty += not ids
        return pid, ids

    def _add(self, text: str, tokens: list[str]) -> int:
        pid, ids = self._append(text, tokens)
        if len(self._seqs) >= self._next_reindex:
            self._reindex()
        else:
            rank = self._rank
            for key in _elements(ids):
                if key not in rank:  # a new element goes first; the order of existing ones never changes
                    rank[key] = self._next_new_rank
                    self._next_new_rank -= 1
            self._index(pid, ids)
        return pid

    def _sorted_elements(self, ids: list[int]) -> list[int]:
        rank_get = self._rank.get
        keys = _elements(ids)
        keys.sort(key=lambda key: rank_get(key, _UNSEEN))
        return keys

    def _index(self, pid: int, ids: list[int]) -> None:
        n = len(ids)
        depth = n - self._bounds.min_over_m(n) + 2  # prefix length; <= 1 when nothing can ever exceed
        if depth <= 1:
            return
        postings = self._postings
        for j, key in enumerate(self._sorted_elements(ids)[:depth]):
            by_slot = postings.get(key)
            if by_slot is None:
                by_slot = postings[key] = {}
            bucket = by_slot.get((n, j))
            if bucket is None:
                by_slot[(n, j)] = array(_PID, (pid,))
            else:
                bucket.append(pid)

    def _reindex(self) -> None:
        """Re-derive the global order from the pool's element frequencies and rebuild the postings."""
        df: Counter[int] = Counter()
        for seq in self._seqs:
            df.update(_elements(Vocabulary.seq_ids(seq)))
        self._rank = {key: r for r, key in enumerate(sorted(df, key=lambda key: (df[key], key)))}
        self._next_new_rank = -1
        self._postings = {}
        for pid, seq in enumerate(self._seqs):
            self._index(pid, Vocabulary.seq_ids(seq))
        self._next_reindex = max(_FIRST_REINDEX, 2 * len(self._seqs))

    # -- deciding -------------------------------------------------------------------------------------------

    def check(self, candidate: str, *, exact: bool = False) -> Decision:
        """Decide `candidate` against the pool without adding it. `exact` also scores kept candidates."""
        tokens = tokenize(candidate, stemmer=self.stemmer)
        self._checked = (candidate, tokens)
        return self._decide(tokens, exact=exact)

    def offer(self, candidate: str, *, exact: bool = False) -> Decision:
        """Decide `candidate` and, if it is novel, add it to the pool (one Self-Instruct step)."""
        tokens = tokenize(candidate, stemmer=self.stemmer)
        decision = self._decide(tokens, exact=exact)
        if decision.kept:
            self._add(candidate, tokens)
        return decision

    def _decide(self, tokens: list[str], *, exact: bool) -> Decision:
        m = len(tokens)
        if m == 0 or not self._seqs:  # F is 0 against everything
            return Decision(kept=True, score=0.0 if exact or m == 0 else None, neighbour=None, compared=0)
        ids = self._vocab.ids(tokens, grow=False)
        seq = self._vocab.seq(ids)
        t = self.threshold
        row = self._bounds.row(m, self._max_len)
        found = self._probe(ids, m, row)
        compared = len(found)
        self.comparisons += compared
        best, best_pid = self._verify(seq, m, found, row)
        if best > t:
            return Decision(False, best, self._neighbour(best_pid, best), compared)
        if exact:
            top = self._top(seq, m, 1)
            hit = top[0] if top else None
            return Decision(True, hit.score if hit else 0.0, hit, compared + len(self._seqs))
        return Decision(True, None, None, compared)

    def _verify(
        self, seq: str | tuple[int, ...], m: int, found: np.ndarray, row: list[int]
    ) -> tuple[float, int]:
        """Exact best score among `found` (pairs below need(m, n) are cut off early), earliest index on ties."""
        hits = self._hits_batch if len(found) >= _BATCH_VERIFY else self._hits
        best, best_pid = -1.0, -1
        for pid, lcs, n in hits(seq, found, row, m):
            score = f_measure(lcs, m, n)
            if score > best or (score == best and pid < best_pid):
                best, best_pid = score, pid
        return best, best_pid

    def _hits(
        self, seq: str | tuple[int, ...], found: np.ndarray, row: list[int], m: int
    ) -> Iterator[tuple[int, int, int]]:
        """(pool index, LCS, pool length) of each pair in `found` whose LCS reaches need(m, n)."""
        similarity, seqs = LCSseq.similarity, self._seqs
        for pid in found.tolist():
            other = seqs[pid]
            n = len(other)
            lcs = similarity(seq, other, score_cutoff=row[n])  # 0 when below need: that pair cannot exceed
            if lcs:
                yield pid, lcs, n

    def _hits_batch(
        self, seq: str | tuple[int, ...], pids: np.ndarray, row: list[int], m: int
    ) -> Iterator[tuple[int, int, int]]:
        """`_hits` with the LCS of every pair in one compiled call (called pair by pair from Python, the
        calls cost more than the LCS); only the few pairs that reach need(m, n) come back to Python."""
        lens = np.frombuffer(self._lens, dtype=np.int64)[pids]  # a copy (fancy indexing)
        need = np.array(row, dtype=np.int64)[lens]
        lcs = process.cdist(
            [seq],
            self._seq_array[pids].tolist(),
            scorer=LCSseq.similarity,
            dtype=np.int64,
            score_cutoff=self._bounds.min_over_n(m),
        )[0]
        hits = np.flatnonzero(lcs >= need)
        return zip(pids[hits].tolist(), lcs[hits].tolist(), lens[hits].tolist(), strict=True)

    def _probe(self, ids: list[int], m: int, row: list[int]) -> np.ndarray:
        """Pool items whose token overlap with the candidate could reach need(m, n), ascending."""
        depth = m - self._bounds.min_over_n(m) + 2
        if depth <= 1:
            return _NONE
        met: list[array[int]] = []  # postings within i <= m - need + 1, j <= n - need + 1
        single: list[array[int]] = []  # postings where one shared element may be enough (need == 1)
        postings = self._postings
        for i, key in enumerate(self._sorted_elements(ids)[:depth]):
            by_slot = postings.get(key)
            if by_slot is None:
                continue
            for (n, j), pids in by_slot.items():
                need = row[n]
                if need == 1:
                    single.append(pids)
                elif i <= m - need + 1 and j <= n - need + 1:
                    met.append(pids)
        found = _NONE
        if len(met) > 1:
            # Each posting is ascending and holds an item at most once, so an item met at two elements
            # appears twice; a stable sort merges the ascending runs.
            every = np.sort(np.frombuffer(b"".join(met), dtype=np.intc), kind="stable")
            found = every[1:][every[1:] == every[:-1]]
            if len(found) > 1:  # an item met at three or more elements is listed more than once
                found = found[np.concatenate(([True], found[1:] != found[:-1]))]
        if single:
            found = np.union1d(found, np.frombuffer(b"".join(single), dtype=np.intc))
        return found

    def _neighbour(self, pid: int, score: float) -> Neighbour:
        return Neighbour(pid, score, self._texts[pid] if self._texts is not None else None)

    # -- ranking --------------------------------------------------------------------------------------------

    def top_k(self, candidate: str, k: int = 10) -> list[Neighbour]:
        """The k pool items most similar to `candidate`, best first (earlier pool items first on ties).

        Exact: every pool item is scored (in compiled code). Items with score 0 share no token and are left out.
        """
        return self.top_k_many([candidate], k)[0]

    def top_k_many(self, candidates: Sequence[str], k: int = 10) -> list[list[Neighbour]]:
        """`top_k` for each of `candidates`, in one compiled pass over the pool (the same numbers)."""
        tokens = [tokenize(c, stemmer=self.stemmer) for c in candidates]
        wanted = [i for i, toks in enumerate(tokens) if toks]
        seqs = [self._vocab.seq(self._vocab.ids(tokens[i], grow=False)) for i in wanted]
        found: list[list[Neighbour]] = [[] for _ in candidates]
        for i, top in zip(wanted, self._top_many(seqs, [len(tokens[i]) for i in wanted], k), strict=True):
            found[i] = top
        return found

    def top_k_and_mean_before(self, pids: Sequence[int], k: int = 10) -> list[tuple[list[Neighbour], float]]:
        """For each pool item, its k most similar items among those added before it and its mean ROUGE-L
        against them: the Self-Instruct reference's `most_similar` and `avg_similarity_score`, as they were
        when the item was judged (the pool only grows at its end, so the same numbers). One compiled pass for
        all of them: rapidfuzz spends most of a one-item pass preparing the pool's strings, so a batch of n
        items costs little more than one. An item without a token, or the first one, gets ([], 0.0).

        Safe on another thread while one thread adds to the pool: it reads only the items up to the last
        of `pids`, through copies (a live view of the lengths would stop the pool from growing)."""
        seqs = self._seqs  # one list for queries and pool (it is replaced if the vocabulary outgrows str)
        wanted = sorted({p for p in pids if p > 0 and self._lens[p] > 0})
        found: dict[int, tuple[list[Neighbour], float]] = {}
        if wanted:
            lens = np.frombuffer(self._lens[: wanted[-1] + 1], dtype=np.int64)
            lcs = process.cdist(
                [seqs[p] for p in wanted], seqs[: wanted[-1]], scorer=LCSseq.similarity, dtype=np.int64
            )
            for row, p in zip(lcs, wanted, strict=True):
                scores = self._f_measures(row[:p], int(lens[p]), lens[:p])
                found[p] = (self._best(scores, k), float(np.mean(scores)))
        return [found.get(p, ([], 0.0)) for p in pids]

    def _f_measures(self, lcs: np.ndarray, m: int, lens: np.ndarray) -> np.ndarray:
        """ROUGE-L F of a candidate of m tokens against pool items of lengths `lens`, from their LCS."""
        if self._empty or m <= 0:  # `_empty` only grows: 0 means none of these items is empty
            return f_measure_array(lcs, m, lens)
        # No zero length on either side: f_measure_array's operations in its order, without its masks
        # (a third fewer passes over the pool, per kept instruction).
        lcs = lcs.astype(np.float64)
        precision = lcs / lens.astype(np.float64)
        recall = lcs / float(m)
        total = precision + recall
        return np.divide(2 * precision * recall, total, out=np.zeros(len(lcs)), where=total > 0)

    def _top(self, seq: str | tuple[int, ...], m: int, k: int) -> list[Neighbour]:
        return self._top_many([seq], [m], k)[0]

    def _top_many(self, seqs: list[str | tuple[int, ...]], ms: list[int], k: int) -> list[list[Neighbour]]:
        """The k best pool items for each sequence (of ms[i] tokens), every pool item scored."""
        if not seqs or not self._seqs or k <= 0:
            return [[] for _ in seqs]
        lcs = process.cdist(seqs, self._seqs, scorer=LCSseq.similarity, dtype=np.int64)
        lens = np.frombuffer(self._lens[: lcs.shape[1]], dtype=np.int64)  # a copy: the pool may grow
        return [self._best(self._f_measures(row, m, lens), k) for row, m in zip(lcs, ms, strict=True)]

    def _best(self, scores: np.ndarray, k: int) -> list[Neighbour]:
        if k <= 0:
            return []
        n = len(scores)
        # The k-th largest score over the whole pool: when at least k scores are positive it is the k-th
        # largest positive one, else 0. Every item tied with it is kept, then ordered exactly.
        kth = _kth_largest(scores, k) if n > k else 0.0
        hits = np.flatnonzero(scores >= kth) if kth > 0 else np.flatnonzero(scores > 0)
        order = hits[np.lexsort((hits, -scores[hits]))][:k]
        return [self._neighbour(int(pid), float(scores[pid])) for pid in order]


def _kth_largest(scores: np.ndarray, k: int) -> float:
    """The k-th largest of `scores` (more than k of them, none negative). A partition of the whole pool per
    kept instruction was a fifth of the finishing thread's time at 20K; the best few scores stand above
    most of the pool, so the partition runs over the scores above a cut that still leaves k of them
    (counting them is a twentieth of a partition). Every score of the k largest is at or above such a cut,
    so the result is the whole pool's k-th largest."""
    top = float(scores.max())
    if top <= 0:
        return 0.0
    for share in _CUTS:
        above = scores >= top * share
        count = int(np.count_nonzero(above))
        if count >= k:
            return float(np.partition(scores[above], count - k)[count - k])
    return float(np.partition(scores, len(scores) - k)[len(scores) - k])


# The cuts tried, as shares of the best score, before partitioning the whole pool.
_CUTS = (0.9, 0.75, 0.5, 0.25)


def filter_novel(
    candidates: Iterable[str], pool: Iterable[str] = (), threshold: float = 0.7, *, stemmer: bool = False
) -> Iterator[bool]:
    """For each candidate in order: True (kept) iff its highest ROUGE-L against `pool` plus every candidate
    kept before it is <= threshold. Lazy, so a generation loop can interleave."""
    index = NoveltyIndex(pool, threshold, stemmer=stemmer, keep_texts=False)
    for candidate in candidates:
        yield index.offer(candidate).kept
