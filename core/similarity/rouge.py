"""ROUGE-L exactly as `rouge-score` computes it, on integer token ids so the LCS can run in compiled code.

The reference (rouge_score 0.1.2) lowercases, turns every run of characters outside [a-z0-9] into one space,
splits on whitespace, optionally Porter-stems tokens longer than 3 characters, and keeps tokens that are
non-empty [a-z0-9]+. It scores `score(target, prediction)` as P = lcs/len(prediction), R = lcs/len(target),
F = 2*P*R/(P+R), and 0 when either side has no tokens. We evaluate the same expressions in the same order, so
the floats are bit-identical (both Python and numpy use correctly rounded IEEE-754 double operations).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from rapidfuzz.distance import LCSseq

# Characters outside a-z0-9 after lowercasing. Note that str.lower() can turn a non-ASCII character into
# ASCII (e.g. the Kelvin sign into "k"), which is why we lowercase first, exactly as the reference does.
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_VALID_TOKEN = re.compile(r"[a-z0-9]+")

# Token ids become code points of a str: rapidfuzz reads a str buffer directly (about 3x faster than a list).
MAX_CODE_POINT = 0x10FFFF


@lru_cache(maxsize=1)
def _porter() -> object:
    from nltk.stem import porter  # lazy: importing nltk costs a second and is only needed for stemming

    return porter.PorterStemmer()


@lru_cache(maxsize=200_000)
def _stem(token: str) -> str:
    return _porter().stem(token)  # type: ignore[attr-defined]


def tokenize(text: str, *, stemmer: bool = False) -> list[str]:
    """The tokens `rouge_score`'s default tokenizer produces for `text`."""
    tokens = _NON_ALNUM.sub(" ", text.lower()).split()
    if stemmer:
        tokens = [_stem(tok) if len(tok) > 3 else tok for tok in tokens]
        tokens = [tok for tok in tokens if _VALID_TOKEN.fullmatch(tok)]
    return tokens


def f_measure(lcs: int, target_len: int, prediction_len: int) -> float:
    """ROUGE-L F from an LCS length, in the reference's operation order (P over the prediction)."""
    if target_len == 0 or prediction_len == 0:
        return 0.0
    precision = lcs / prediction_len
    recall = lcs / target_len
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def f_measure_array(lcs: np.ndarray, target_lens: object, prediction_lens: object) -> np.ndarray:
    """`f_measure` element by element (lengths broadcast), with the same IEEE operations in the same order."""
    lcs = np.asarray(lcs, dtype=np.float64)
    targets = np.broadcast_to(np.asarray(target_lens, dtype=np.float64), lcs.shape)
    predictions = np.broadcast_to(np.asarray(prediction_lens, dtype=np.float64), lcs.shape)
    ok = (targets > 0) & (predictions > 0)
    precision = np.divide(lcs, predictions, out=np.zeros(lcs.shape), where=ok)
    recall = np.divide(lcs, targets, out=np.zeros(lcs.shape), where=ok)
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros(lcs.shape), where=ok & (total > 0))


def _encode_pair(a: Sequence[str], b: Sequence[str]) -> tuple[str, str] | tuple[list[int], list[int]]:
    ids: dict[str, int] = {}
    ia = [ids.setdefault(tok, len(ids)) for tok in a]
    ib = [ids.setdefault(tok, len(ids)) for tok in b]
    if len(ids) > MAX_CODE_POINT:  # absurdly long texts: rapidfuzz compares small ints exactly as well
        return ia, ib
    return "".join(map(chr, ia)), "".join(map(chr, ib))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (exact; token strings compared by id)."""
    if not a or not b:
        return 0
    sa, sb = _encode_pair(a, b)
    return int(LCSseq.similarity(sa, sb))


def rouge_l_tokens(target: Sequence[str], prediction: Sequence[str]) -> float:
    """ROUGE-L F-measure of two already tokenized texts."""
    return f_measure(lcs_length(target, prediction), len(target), len(prediction))


def rouge_l(target: str, prediction: str, *, stemmer: bool = False) -> float:
    """`RougeScorer(["rougeL"], use_stemmer=stemmer).score(target, prediction)["rougeL"].fmeasure`, exactly."""
    return rouge_l_tokens(tokenize(target, stemmer=stemmer), tokenize(prediction, stemmer=stemmer))


class Vocabulary:
    """Token string -> small int id, and token lists -> id sequences that rapidfuzz compares exactly.

    Ids start at 1; 0 is reserved for tokens the vocabulary has not seen (when not growing), which by
    construction match nothing already encoded. Sequences are str of code points until there are more than
    0x10FFFF distinct tokens, after which they are tuples of ints (callers re-encode via `convert`).
    """

    __slots__ = ("_ids", "as_str")

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.as_str = True

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self, tokens: Sequence[str], *, grow: bool) -> list[int]:
        table = self._ids
        if not grow:
            return [table.get(tok, 0) for tok in tokens]
        out = []
        for tok in tokens:
            tid = table.get(tok)
            if tid is None:
                tid = table[tok] = len(table) + 1
            out.append(tid)
        if self.as_str and len(table) > MAX_CODE_POINT:
            self.as_str = False
        return out

    def seq(self, ids: list[int]) -> str | tuple[int, ...]:
        return "".join(map(chr, ids)) if self.as_str else tuple(ids)

    @staticmethod
    def seq_ids(seq: str | tuple[int, ...]) -> list[int]:
        return list(map(ord, seq)) if isinstance(seq, str) else list(seq)
