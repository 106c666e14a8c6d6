"""The paper's execution metrics on hand-made cases, including the normalisation's quirks."""

from __future__ import annotations

import json

import pytest

from core import metrics
from core.datasets.registry import TASK_METRICS
from core.metrics import contains, em, exact_set, execution_score, f1, normalize

# --- normalisation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  The cat and the dog.  ", "the cat the dog"),  # " and " -> " ", strip, cut at ".", lowercase
        ("black and white", "black white"),
        ("and", "and"),  # no spaces around it: kept
        ("Andes", "andes"),
        ("x  and  y", "x   y"),  # the replacement keeps both neighbouring spaces
        ("Sentence 1: A b. Sentence 2: c", "a b"),
        ("Sentence 2: The child started crying.", "the child started crying"),
        ("\n\nParis\nLondon", "paris"),  # strip happens before the first-line cut
        ("Paris \n London", "paris "),  # ...and not again after it
        ("Yes\r\nNo", "yes\r"),  # only "\n" splits lines; "\r" is not punctuation
        ("ninety-four", "ninety four"),
        ("3 - probably", "3   probably"),
        ("Mt. Everest", "mt"),  # everything after the first "." goes
        ("e.g. something", "e"),
        (".hidden", ""),
        ("I can't", "i cant"),
        ("I can’t", "i can’t"),  # non-ASCII punctuation stays
        ("¿Qué?", "¿qué"),
        ("«Bonjour»!", "«bonjour»"),
        ("!!!", ""),
        ("", ""),
        ("c++ (and) [x]", "c and x"),  # " and " needs spaces; "(and)" is not one
        ("a_b", "ab"),  # "_" is ASCII punctuation
        ("\tTabbed\t", "tabbed"),
        ("THE END", "the end"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_order_sentence_markers_then_strip() -> None:
    # The markers become spaces first, then the whole is stripped: the leading marker leaves no space.
    assert normalize("Sentence 1:   hello") == "hello"
    # Lowercasing comes after the markers are removed, so a lowercase marker is not one.
    assert normalize("sentence 1: hello") == "sentence 1 hello"


# --- exact match -----------------------------------------------------------------------------------


def test_em_basic_and_multi_answer() -> None:
    assert em("Positive.", ["positive"]) == 1.0
    assert em(" positive\nThe input is a review.", ["positive"]) == 1.0
    assert em("negative", ["positive"]) == 0.0
    assert em("not the same", ["not the same", "no", "false"]) == 1.0
    assert em("No.", ["not the same", "no", "false"]) == 1.0
    assert em("No, they differ", ["not the same", "no", "false"]) == 0.0


def test_em_whitespace_and_hyphens_matter_as_in_the_paper() -> None:
    assert em("ninety four", ["ninety-four"]) == 1.0
    assert em("94", ["ninety-four"]) == 0.0
    assert em("3 - probably", ["3 - probably"]) == 1.0
    assert em("3 -probably", ["3 - probably"]) == 0.0  # two spaces vs three after normalisation
    assert em("Yes\r\nNo", ["yes"]) == 0.0  # "\r" survives
    assert em("yes \nno", ["yes"]) == 0.0  # trailing space after the cut survives


def test_em_empty_and_punctuation_only() -> None:
    assert em("", ["positive"]) == 0.0
    assert em("", [""]) == 1.0
    assert em("...", ["!"]) == 1.0  # both normalise to ""
    assert em("!!!", ["positive"]) == 0.0
    assert em(None, [""]) == 1.0  # type: ignore[arg-type]  # a missing prediction counts as ""


def test_answers_edge_cases() -> None:
    assert em("x", []) == 0.0
    assert f1("x", []) == 0.0
    assert exact_set("x", []) == 0.0
    assert contains("x", []) == 0.0
    # A bare string is one answer, not a list of characters.
    assert em("cat", "cat") == 1.0
    assert em("c", "cat") == 0.0


# --- F1 --------------------------------------------------------------------------------------------


def _f1(p: float, r: float) -> float:
    return (2 * p * r) / (p + r)


def test_f1_values() -> None:
    assert f1("the cat sat", ["the cat"]) == _f1(2 / 3, 1.0)
    assert f1("a a a", ["a"]) == _f1(1 / 3, 1.0)  # multiset overlap: one "a" shared
    assert f1("a a", ["a a b"]) == _f1(1.0, 2 / 3)
    assert f1("dog", ["cat"]) == 0.0
    assert f1("", ["cat"]) == 0.0
    assert f1("", [""]) == 0.0  # nothing shared, even though both are empty
    assert f1("It is my opinion.", ["It is my opinion that this is interesting."]) == _f1(1.0, 0.5)


def test_f1_best_answer_and_normalisation() -> None:
    answers = ["involve oscillations.", "things that vibrate"]
    assert f1("Involve oscillations", answers) == 1.0
    assert f1("they vibrate", answers) == _f1(0.5, 1 / 3)
    # " and " goes before "-" becomes " ": the answer loses its "and", the prediction keeps it.
    assert f1("rock-and-roll", ["rock and roll"]) == _f1(2 / 3, 1.0)


# --- exact set -------------------------------------------------------------------------------------


def test_exact_set() -> None:
    assert exact_set("chicken, spider, tortoise", ["chicken, spider, tortoise"]) == 1.0
    assert exact_set("tortoise, chicken and spider", ["chicken, spider, tortoise"]) == 1.0
    assert exact_set("spider, chicken", ["chicken, spider, tortoise"]) == 0.0
    assert exact_set("that thinks", ["thinks that"]) == 1.0
    assert exact_set("t t", ["t"]) == 1.0  # repeats do not matter
    assert exact_set("", [""]) == 1.0
    assert exact_set("Chicken, spider.\nDog", ["spider chicken"]) == 1.0


# --- contains --------------------------------------------------------------------------------------


def test_contains_whole_words() -> None:
    assert contains("happy, glad", ["glad"]) == 1.0
    assert contains("gladly", ["glad"]) == 0.0
    assert contains("I am glad.", ["Glad"]) == 1.0
    assert contains("you go up now", ["go up"]) == 1.0
    assert contains("you go  up now", ["go up"]) == 0.0
    assert contains("glad. happy", ["happy"]) == 0.0  # the prediction is cut at its first "."
    assert contains("big", ["large", "big"]) == 1.0


def test_contains_regex_edge_cases() -> None:
    # An answer that normalises to "" gives r"\b()\b": it matches wherever there is a word boundary.
    assert contains("x", [""]) == 1.0
    assert contains("x", ["..."]) == 1.0
    assert contains("", [""]) == 0.0
    assert contains("!!!", [""]) == 0.0
    # ASCII metacharacters are gone after normalisation; what is left matches literally.
    assert contains("c# is nice", ["c++"]) == 1.0
    assert contains("a (b) c", ["(b)"]) == 1.0
    assert contains("a.b", ["a*"]) == 1.0
    # A trailing space left inside the answer needs a word character after it in the prediction.
    assert contains("I am glad", ["glad !"]) == 0.0
    assert contains("I am glad today", ["glad !"]) == 1.0
    # Non-ASCII letters are word characters for \b; non-ASCII punctuation is matched literally.
    assert contains("le café noir", ["café"]) == 1.0
    assert contains("cafés", ["café"]) == 0.0
    # ...so an answer starting with one ("¿") has no \b before it and can never match.
    assert contains("¿qué tal", ["¿qué"]) == 0.0
    assert contains("tal ¿qué", ["qué"]) == 1.0
    assert contains("schön", ["Schön"]) == 1.0


# --- per-task dispatch -----------------------------------------------------------------------------


def test_execution_score_uses_the_task_metric() -> None:
    assert execution_score("synonyms", "big, large", ["large"]) == 1.0  # contains
    assert execution_score("antonyms", "big, large", ["large"]) == 0.0  # exact match
    assert execution_score("taxonomy_animal", "bear, beetle", ["beetle, bear"]) == 1.0  # exact set
    assert execution_score("larger_animal", "bear, beetle", ["beetle, bear"]) == 0.0
    assert execution_score("common_concept", "involve going", ["involve going up."]) == _f1(1.0, 2 / 3)
    assert execution_score("informal_to_formal", "", [""]) == 0.0  # F1 of two empty strings
    assert execution_score("sentiment", "", [""]) == 1.0
    assert (
        execution_score(
            "cause_and_effect", "Sentence 1: The child hurt their knee.", ["The child hurt their knee."]
        )
        == 1.0
    )


def test_execution_score_identity_for_every_task() -> None:
    for task in TASK_METRICS:
        assert execution_score(task, "The answer here", ["the answer here."]) == 1.0, task
        assert execution_score(task, "zzz", ["the answer here."]) == 0.0, task


def test_unknown_task_and_metric() -> None:
    with pytest.raises(KeyError) as info:
        execution_score("no_such_task", "a", ["a"])
    message = str(info.value)
    assert "no_such_task" in message
    assert all(task in message for task in TASK_METRICS)
    assert metrics.score_with_metric("es", "b a", ["a b"]) == 1.0
    with pytest.raises(KeyError, match="valid metrics"):
        metrics.score_with_metric("bleu", "a", ["a"])


def test_normalized_forms() -> None:
    forms = metrics.normalized_forms("Ninety-four.\nmore", ["ninety-four", "94"])
    assert forms.prediction == "ninety four"
    assert forms.answers == ("ninety four", "94")
    assert metrics.normalized_forms("X", "Y").answers == ("y",)


def test_gold_outputs_score_one_on_the_paper_data(shared_datasets) -> None:
    """Sanity over the real files: each execute example's own output is a correct prediction."""
    answer_keys = {
        "rhymes": "other_rhymes",
        "translation_en-de": "possible_translations",
        "translation_en-es": "possible_translations",
        "translation_en-fr": "possible_translations",
        "word_in_context": "possible_outputs",
        "common_concept": "all_common_concepts",
    }
    for task in TASK_METRICS:
        path = shared_datasets / "instruction-induction" / "execute" / f"{task}.json"
        for example in json.loads(path.read_text(encoding="utf-8"))["examples"].values():
            if task == "cause_and_effect":
                output, answers = example["cause"], [example["cause"]]
            elif task == "common_concept":
                output, answers = example["all_common_concepts"][0], example["all_common_concepts"]
            else:
                output, answers = (
                    example["output"],
                    example.get(answer_keys.get(task, ""), [example["output"]]),
                )
            assert execution_score(task, output, answers) == 1.0, (task, output, answers)
