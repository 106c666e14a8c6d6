"""Exact ROUGE-L (bit-identical to rouge-score) and a fast, exact Self-Instruct novelty filter.

`python -m core.similarity dedupe FILE` runs the filter over a dataset file (see `core.similarity.cli`).
"""

from core.similarity.index import Decision, Neighbour, NoveltyIndex, filter_novel
from core.similarity.rouge import rouge_l, tokenize
from core.similarity.seeds import HistogramBin, max_rouge_l_to_seeds, rouge_l_histogram

__all__ = [
    "Decision",
    "HistogramBin",
    "Neighbour",
    "NoveltyIndex",
    "filter_novel",
    "max_rouge_l_to_seeds",
    "rouge_l",
    "rouge_l_histogram",
    "tokenize",
]
