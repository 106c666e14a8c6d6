"""core.similarity: ROUGE-L bit-identical to rouge-score, and a filter that decides exactly like brute force."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

import core.similarity.index as index_module
import core.similarity.rouge as rouge_module
from core.similarity import NoveltyIndex, filter_novel, rouge_l, tokenize
from core.similarity.index import INF, LcsBounds
from core.similarity.rouge import f_measure, rouge_l_tokens
from core.similarity.seeds import HistogramBin, max_rouge_l_to_seeds, rouge_l_histogram

SCORERS = {
    False: rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False),
    True: rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True),
}


def reference(target: str, prediction: str, stemmer: bool = False) -> float:
    return SCORERS[stemmer].score(target, prediction)["rougeL"].fmeasure


def brute_force(
    candidates: list[str], pool: list[str], threshold: float, stemmer: bool = False
) -> list[bool]:
    """The Self-Instruct loop with rouge-score itself."""
    pool = list(pool)
    kept = []
    for c in candidates:
        novel = all(reference(c, p, stemmer) <= threshold for p in pool)
        kept.append(novel)
        if novel:
            pool.append(c)
    return kept


# fmt: off
WORDS = [
    "the", "a", "an", "of", "to", "write", "explain", "list", "three", "running", "runs", "ran", "runner",
    "happily", "happy", "generalization", "general", "poem", "poems", "story", "stories", "café", "naïve",
    "Zürich", "don't", "it's", "700-1000", "x2", "42", "e.g.", "U.S.A.", "co-operate", "ÉCOLE", "straße",
    "İstanbul", "Kelvin", "\u212a", "ﬁne", "１２３", "😀", "snake_case", "CamelCase",
]
# fmt: on
PUNCT = ["", "", "", ",", ".", "!", "?", " -", "...", ":", "'", '"', "(", ")"]


def random_text(rng: random.Random, max_words: int = 14, words: list[str] = WORDS) -> str:
    out = []
    for _ in range(rng.randint(0, max_words)):
        word = rng.choice(words)
        if rng.random() < 0.2:
            word = word.upper() if rng.random() < 0.5 else word.capitalize()
        out.append(word + rng.choice(PUNCT))
    sep = rng.choice([" ", "  ", "\t", "\n", " / "])
    return sep.join(out)


ADVERSARIAL = [
    "",
    " ",
    "!!!",
    "... ,,, ???",
    "\t\n",
    "café naïve",
    "cafe naive",
    "caf na ve",
    "CAFÉ NAÏVE",
    "straße strasse",
    "İstanbul istanbul",  # "İ".lower() is "i" + a combining dot: an ASCII letter appears
    "\u212a is a Kelvin sign k",  # lowercases to ASCII "k"
    "ﬁne fine",
    "１２３ 123",
    "the the the the the",
    "the",
    "the cat the cat the",
    "a b c d e f g h i j",
    "j i h g f e d c b a",
    "don't can't won't",
    "snake_case_words and CamelCaseWords",
    "700-1000 calories, 1/2 cup",
    "running runs ran runner generalization generously",
    "😀 emoji 😀 only 😀",
    "x",
    "x x",
]


@pytest.mark.parametrize("stemmer", [False, True])
def test_adversarial_pairs_equal_rouge_score_both_orders(stemmer: bool) -> None:
    for a in ADVERSARIAL:
        for b in ADVERSARIAL:
            assert rouge_l(a, b, stemmer=stemmer) == reference(a, b, stemmer), (a, b)


@pytest.mark.parametrize("stemmer", [False, True])
def test_random_pairs_equal_rouge_score(stemmer: bool) -> None:
    rng = random.Random(1234 + stemmer)
    for _ in range(1500):
        a, b = random_text(rng), random_text(rng)
        assert rouge_l(a, b, stemmer=stemmer) == reference(a, b, stemmer), (a, b)
        assert rouge_l(b, a, stemmer=stemmer) == reference(b, a, stemmer), (b, a)


def test_long_texts_equal_rouge_score() -> None:
    rng = random.Random(7)
    for _ in range(6):
        a = random_text(rng, 300)
        b = a if rng.random() < 0.3 else random_text(rng, 300)
        for stemmer in (False, True):
            assert rouge_l(a, b, stemmer=stemmer) == reference(a, b, stemmer)
            assert rouge_l(b, a, stemmer=stemmer) == reference(b, a, stemmer)


def test_tokenizer_matches_rouge_score() -> None:
    from rouge_score import tokenizers

    for stemmer in (False, True):
        ref = tokenizers.DefaultTokenizer(use_stemmer=stemmer)
        for text in ADVERSARIAL:
            assert tokenize(text, stemmer=stemmer) == ref.tokenize(text)
    assert tokenize("Café naïve") == ["caf", "na", "ve"]


def test_f_measure_equals_reference_on_every_small_length_triple() -> None:
    # Distinct tokens with a shared prefix of length L have LCS exactly L. This covers every float edge,
    # e.g. F(7, 7, 13) == 0.7000000000000001 but F(7, 10, 10) == 0.7 exactly.
    for m in range(1, 21):
        for n in range(1, 21):
            target = [f"t{i}" for i in range(m)]
            for lcs in range(min(m, n) + 1):
                prediction = target[:lcs] + [f"p{i}" for i in range(n - lcs)]
                expected = rouge_scorer._score_lcs(target, prediction).fmeasure
                assert f_measure(lcs, m, n) == expected
                assert rouge_l_tokens(target, prediction) == expected
    assert f_measure(7, 7, 13) > 0.7 and f_measure(7, 10, 10) == 0.7 and f_measure(21, 23, 37) < 0.7


texts = st.lists(
    st.sampled_from(list("abcAB xyzéï  ,.!-'0129\t") + ["the ", "run", "running ", "\u212a", "ß", "İ", "ﬁ"]),
    max_size=25,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts, texts, st.booleans())
def test_property_equal_rouge_score(a: str, b: str, stemmer: bool) -> None:
    score = rouge_l(a, b, stemmer=stemmer)
    assert score == reference(a, b, stemmer)
    assert 0.0 <= score <= 1.0
    assert rouge_l(a, a) == (1.0 if tokenize(a) else 0.0)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 80),
    st.integers(0, 80),
    st.sampled_from([0.0, 0.1, 0.3, 0.5, 2 / 3, 0.7, 0.75, 0.9, 1.0, 1.5]),
)
def test_property_need_is_the_exact_smallest_exceeding_lcs(m: int, n: int, threshold: float) -> None:
    need = LcsBounds(threshold).need(m, n)
    exceeding = [lcs for lcs in range(min(m, n) + 1) if f_measure(lcs, m, n) > threshold]
    assert need == (exceeding[0] if exceeding else INF)


def test_min_bounds_are_minima() -> None:
    bounds = LcsBounds(0.7)
    for length in range(0, 40):
        assert bounds.min_over_m(length) == min([bounds.need(m, length) for m in range(1, 200)], default=INF)
        assert bounds.min_over_n(length) == min([bounds.need(length, n) for n in range(1, 200)], default=INF)


def test_threshold_validation() -> None:
    with pytest.raises(ValueError):
        NoveltyIndex([], threshold=-0.1)
    with pytest.raises(ValueError):
        NoveltyIndex([], threshold=float("nan"))


# -- the filter ------------------------------------------------------------------------------------------------


def mutate(rng: random.Random, text: str, vocab: list[str]) -> str:
    words = text.split()
    for _ in range(rng.randint(0, 3)):
        op = rng.random()
        if op < 0.35 and words:
            words[rng.randrange(len(words))] = rng.choice(vocab)
        elif op < 0.6 and words:
            del words[rng.randrange(len(words))]
        elif op < 0.8:
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
        elif len(words) > 1:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def random_stream(rng: random.Random, n_pool: int, n_candidates: int) -> tuple[list[str], list[str]]:
    vocab = [f"w{i}" for i in range(rng.choice([8, 30, 200]))] + ["the", "a", "of"]
    pool = [" ".join(rng.choices(vocab, k=rng.randint(0, 16))) for _ in range(n_pool)]
    candidates: list[str] = []
    for _ in range(n_candidates):
        sources = pool + candidates
        if sources and rng.random() < 0.6:  # near-duplicates: many scores land around 0.7
            candidates.append(mutate(rng, rng.choice(sources), vocab))
        else:
            candidates.append(" ".join(rng.choices(vocab, k=rng.randint(0, 16))))
    return pool, candidates


@pytest.mark.parametrize("seed", range(6))
def test_filter_equals_rouge_score_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    pool, candidates = random_stream(rng, rng.randint(0, 25), 150)
    threshold = [0.7, 0.7, 0.5, 2 / 3, 0.0, 1.0][seed]
    assert list(filter_novel(candidates, pool, threshold)) == brute_force(candidates, pool, threshold)


def test_filter_with_stemmer_equals_rouge_score_brute_force() -> None:
    rng = random.Random(99)
    words = WORDS[7:19] + ["the", "a"]  # inflections the Porter stemmer merges
    pool = [random_text(rng, 8, words) for _ in range(10)]
    candidates = [random_text(rng, 8, words) for _ in range(120)]
    got = list(filter_novel(candidates, pool, 0.7, stemmer=True))
    assert got == brute_force(candidates, pool, 0.7, stemmer=True)


def exact_length_pair(lcs: int, m: int, n: int, tag: str) -> tuple[str, str]:
    """A candidate of m tokens and a pool text of n tokens whose LCS is exactly `lcs`."""
    pool_words = [f"{tag}p{i}" for i in range(n)]
    return " ".join(pool_words[:lcs] + [f"{tag}c{i}" for i in range(m - lcs)]), " ".join(pool_words)


def test_filter_on_scores_at_exactly_the_threshold() -> None:
    triples = []
    for m in range(1, 45):
        for n in range(1, 45):
            for lcs in range(1, min(m, n) + 1):
                if (
                    abs(2 * lcs / (m + n) - 0.7) < 1e-9
                    or abs(2 * lcs / (m + n) - 0.7) < 0.02
                    and lcs % 5 == 0
                ):
                    triples.append((lcs, m, n))
    pool, candidates = [], []
    for k, (lcs, m, n) in enumerate(triples):
        candidate, pool_text = exact_length_pair(lcs, m, n, f"k{k}x")
        pool.append(pool_text)
        candidates.append(candidate)
    got = list(filter_novel(candidates, pool, 0.7))
    expected = [reference(c, p) <= 0.7 for c, p in zip(candidates, pool, strict=True)]
    assert got == expected
    assert True in got and False in got
    assert got[triples.index((7, 7, 13))] is False  # 0.7000000000000001
    assert got[triples.index((7, 10, 10))] is True  # 0.7 exactly


def exhaustive(candidates: list[str], pool: list[str], threshold: float) -> list[bool]:
    """Brute force on rouge_l (itself checked against rouge-score above), for streams too long for the latter."""
    pool_tokens = [tokenize(p) for p in pool]
    kept = []
    for c in candidates:
        tokens = tokenize(c)
        novel = all(rouge_l_tokens(tokens, p) <= threshold for p in pool_tokens)
        kept.append(novel)
        if novel:
            pool_tokens.append(tokens)
    return kept


@pytest.mark.parametrize("batch_from", [1, 64, 10**9])
def test_filter_through_reindexing_equals_exhaustive_scan(
    batch_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "_BATCH_VERIFY", batch_from)
    rng = random.Random(5)
    pool, candidates = random_stream(rng, 300, 1200)  # the pool doubles past 256, 512, 1024: re-indexing
    index = NoveltyIndex(pool, 0.7)
    got = [index.offer(c).kept for c in candidates]
    assert got == exhaustive(candidates, pool, 0.7)
    brute_pairs = sum(len(pool) + sum(got[:i]) for i in range(len(candidates)))
    assert index.comparisons < brute_pairs / 5  # the bounds do prune


@pytest.mark.parametrize("batch_from", [1, 10**9])
def test_filter_after_switching_to_int_tuples(monkeypatch: pytest.MonkeyPatch, batch_from: int) -> None:
    monkeypatch.setattr(rouge_module, "MAX_CODE_POINT", 12)  # pretend the vocabulary outgrew code points
    monkeypatch.setattr(index_module, "_BATCH_VERIFY", batch_from)  # the tuples through both exact checks
    rng = random.Random(11)
    pool, candidates = random_stream(rng, 20, 300)  # past 256 items: the sequences' array grows
    index = NoveltyIndex(pool, 0.7)
    got = [index.offer(c).kept for c in candidates]
    assert not index._vocab.as_str
    assert got == exhaustive(candidates, pool, 0.7)
    assert [n.index for n in index.top_k(candidates[0], 3)] == [
        n.index for n in NoveltyIndex(pool).top_k(candidates[0], 3)
    ]


def test_filter_novel_is_lazy() -> None:
    seen = []

    def gen():
        for text in ["write a poem", "write a poem", "list three fruits"]:
            seen.append(text)
            yield text

    it = filter_novel(gen(), [])
    assert next(it) is True and seen == ["write a poem"]
    assert list(it) == [False, True]


# -- decisions, top-k ------------------------------------------------------------------------------------------


def brute_scores(candidate: str, pool: list[str]) -> list[float]:
    return [reference(candidate, p) for p in pool]


def test_decision_reports_exact_max_and_earliest_neighbour() -> None:
    pool = ["write a poem about the sea", "list three fruits", "write a poem about the sea", "the sea"]
    index = NoveltyIndex(pool, 0.7)
    d = index.check("Write a poem about the sea!")
    assert (d.kept, d.score, d.neighbour.index, d.neighbour.text) == (False, 1.0, 0, pool[0])
    d = index.check("name three fruits please")
    assert d.kept and d.score is None and d.neighbour is None
    d = index.check("name three fruits please", exact=True)
    assert (
        d.kept and d.score == max(brute_scores("name three fruits please", pool)) and d.neighbour.index == 1
    )
    assert len(index) == 4  # check never adds
    assert index.check("").kept and index.check("").score == 0.0
    assert index.add("name three fruits please") == 4 and index.text(4) == "name three fruits please"
    assert not index.check("name three fruits please").kept


@pytest.mark.parametrize("batch_from", [1, 10**9], ids=["one compiled call", "pair by pair"])
def test_offer_decisions_carry_exact_scores(batch_from: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Both ways of scoring a candidate's surviving pairs (the choice is by how many there are).
    monkeypatch.setattr(index_module, "_BATCH_VERIFY", batch_from)
    rng = random.Random(3)
    pool, candidates = random_stream(rng, 15, 120)
    index = NoveltyIndex(pool, 0.7)
    current = list(pool)
    for c in candidates:
        d = index.offer(c)
        scores = brute_scores(c, current)
        if not d.kept:
            assert d.score == max(scores) and d.neighbour.index == scores.index(max(scores))
            assert d.neighbour.text == current[d.neighbour.index]
        else:
            current.append(c)


@pytest.mark.parametrize("seed", range(4))
def test_top_k_equals_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    pool, candidates = random_stream(rng, 60, 30)
    pool += pool[:10]  # exact ties
    index = NoveltyIndex(pool, 0.7)
    for c in candidates:
        for k in (1, 3, 10, 100):
            scores = brute_scores(c, pool)
            expected = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], i))[:k]
            got = index.top_k(c, k)
            assert [n.index for n in got] == expected
            assert [n.score for n in got] == [scores[i] for i in expected]
            assert all(n.text == pool[n.index] for n in got)
    assert index.top_k("", 5) == [] and index.top_k("zzz unseen", 5) == []
    assert NoveltyIndex([]).top_k("anything", 5) == []


@given(st.lists(st.integers(0, 40), min_size=2, max_size=300), st.integers(1, 12))
def test_kth_largest_equals_the_kth_of_a_full_sort(values: list[int], k: int) -> None:
    """Including the pools the cuts cannot narrow: one high score over many low ones, ties, all zero."""
    if len(values) <= k:
        values = values + [0] * (k + 1 - len(values))
    scores = np.array(values, dtype=np.float64) / 40
    assert index_module._kth_largest(scores, k) == np.sort(scores)[-k]


def test_top_k_many_equals_top_k_one_by_one() -> None:
    rng = random.Random(8)
    pool, candidates = random_stream(rng, 60, 40)
    index = NoveltyIndex(pool, 0.7)
    candidates += ["", "zzz unseen words only"]
    got = index.top_k_many(candidates, 3)
    assert got == [index.top_k(c, 3) for c in candidates]
    assert any(got) and got[-2] == []


def test_keep_texts_false() -> None:
    index = NoveltyIndex(["write a poem"], keep_texts=False)
    d = index.check("write a poem")
    assert not d.kept and d.neighbour.index == 0 and d.neighbour.text is None
    with pytest.raises(ValueError):
        index.text(0)


# -- Figure 4 --------------------------------------------------------------------------------------------------


def test_max_rouge_l_to_seeds_equals_brute_force() -> None:
    rng = random.Random(8)
    seeds = [random_text(rng) for _ in range(20)]
    instructions = [random_text(rng) for _ in range(50)] + ["", seeds[3]]
    got = max_rouge_l_to_seeds(instructions, seeds, chunk=7)
    assert got == [max(brute_scores(i, seeds)) for i in instructions]
    assert max_rouge_l_to_seeds(["a b"], []) == [0.0]


def test_histogram_bins() -> None:
    bins = rouge_l_histogram([0.0, 0.05, 0.1, 0.6999999999999998, 0.7, 0.7000000000000001, 0.99, 1.0])
    assert [round(b.low, 1) for b in bins] == [i / 10 for i in range(10)]
    assert bins[0] == HistogramBin(0.0, 0.1, 2)
    assert [b.count for b in bins] == [2, 1, 0, 0, 0, 0, 1, 2, 0, 2]
    assert bins[-1].high == 1.0 and sum(b.count for b in rouge_l_histogram([])) == 0
    with pytest.raises(ValueError):
        rouge_l_histogram([1.2])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(st.sampled_from(["ab", "cd", "ef", "the", "a"]), max_size=8).map(" ".join), max_size=30)
)
def test_property_filter_equals_brute_force(texts: list[str]) -> None:
    half = len(texts) // 3
    pool, candidates = texts[:half], texts[half:]
    assert list(filter_novel(candidates, pool, 0.7)) == brute_force(candidates, pool, 0.7)
