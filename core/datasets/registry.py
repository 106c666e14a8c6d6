"""The 24 Instruction Induction tasks and the metric each is scored with: the one list in the project.

Metric names: "em" exact match, "f1" token F1, "es" exact set, "contains" whole-word containment
(as in the paper's evaluation code).
"""

from __future__ import annotations

TASK_METRICS: dict[str, str] = {
    "active_to_passive": "em",
    "antonyms": "em",
    "cause_and_effect": "em",
    "common_concept": "f1",
    "diff": "em",
    "first_word_letter": "em",
    "informal_to_formal": "f1",
    "larger_animal": "em",
    "letters_list": "em",
    "negation": "em",
    "num_to_verbal": "em",
    "orthography_starts_with": "es",
    "rhymes": "em",
    "second_word_letter": "em",
    "sentence_similarity": "em",
    "sentiment": "em",
    "singular_to_plural": "em",
    "sum": "em",
    "synonyms": "contains",
    "taxonomy_animal": "es",
    "translation_en-de": "em",
    "translation_en-es": "em",
    "translation_en-fr": "em",
    "word_in_context": "em",
}

TASK_NAMES: tuple[str, ...] = tuple(TASK_METRICS)

# Tasks whose examples carry several accepted answers, and the field holding them (as in the paper's
# evaluation code). sentence_similarity is absent on purpose: its execute file has no `possible_outputs`.
# cause_and_effect and common_concept have their own shapes, handled in `core.datasets.loaders`.
TASK_ANSWER_KEYS: dict[str, str] = {
    "rhymes": "other_rhymes",
    "translation_en-de": "possible_translations",
    "translation_en-es": "possible_translations",
    "translation_en-fr": "possible_translations",
    "word_in_context": "possible_outputs",
}
