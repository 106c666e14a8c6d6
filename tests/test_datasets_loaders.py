"""The official files load faithfully: counts, answer keys, paper demonstrations, byte-exact export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import core.datasets as ds
from core.datasets.loaders import load_eval_tasks, load_induction_task, load_predictions, load_seed_tasks
from core.datasets.manifest import EVAL_FILE, INDUCTION_DIR, SEED_FILE, read_manifest
from core.datasets.registry import TASK_ANSWER_KEYS, TASK_METRICS, TASK_NAMES

# Execute-set sizes that differ from the usual 100 (cause_and_effect: 25 pairs shown in both orders).
EXECUTE_COUNTS = {"cause_and_effect": 50, "common_concept": 16, "informal_to_formal": 15}
MODELS = {
    "davinci",
    "davinci-self-instruct",
    "davinci-superni-ft",
    "davinci-t0-ft",
    "davinci-self-instruct-and-superni-ft",
    "text-davinci-001",
    "text-davinci-002",
    "text-davinci-003",
}


@pytest.fixture(scope="session")
def tasks(shared_datasets: Path) -> dict[str, ds.InductionTask]:
    return {name: load_induction_task(shared_datasets, name) for name in TASK_NAMES}


def raw_examples(root: Path, kind: str, task: str) -> list[dict]:
    doc = json.loads((root / INDUCTION_DIR / kind / f"{task}.json").read_text(encoding="utf-8"))
    return list(doc["examples"].values())


def test_registry_is_the_24_tasks_of_the_manifest():
    assert len(TASK_NAMES) == 24
    assert set(TASK_ANSWER_KEYS) <= set(TASK_NAMES)
    stems = {Path(e.path).stem for e in read_manifest() if e.path.startswith(INDUCTION_DIR)}
    assert stems == set(TASK_NAMES)


def test_packaged_manifest_matches_the_shared_one(shared_datasets: Path):
    assert read_manifest() == read_manifest(shared_datasets / "MANIFEST.tsv")
    assert len(read_manifest()) == 108


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_loads_with_its_counts(tasks, shared_datasets: Path, name: str):
    task = tasks[name]
    assert task.metric == TASK_METRICS[name]
    assert task.source == "official"
    assert len(task.execute) == EXECUTE_COUNTS.get(name, 100)
    pool = raw_examples(shared_datasets, "induce", name)
    assert len(task.induce) == len(pool) * (2 if name == "cause_and_effect" else 1)
    assert 4 <= len(task.annotations) <= 10
    assert all(isinstance(a, str) and a for a in task.annotations)
    assert all(e.input and e.answers for e in task.induce + task.execute)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_paper_demo_sets(tasks, name: str):
    sets = tasks[name].paper_demos
    assert len(sets) == 100
    assert [s.id for s in sets] == [str(i) for i in range(1, 101)]
    for demo_set in sets:
        assert len(demo_set.demos) == 5
        for given, output in demo_set.demos:
            assert f"Input: {given}\nOutput: {output}" in demo_set.prompt


def test_metrics_follow_the_paper(tasks):
    assert {n for n, t in tasks.items() if t.metric == "f1"} == {"common_concept", "informal_to_formal"}
    assert {n for n, t in tasks.items() if t.metric == "es"} == {"orthography_starts_with", "taxonomy_animal"}
    assert {n for n, t in tasks.items() if t.metric == "contains"} == {"synonyms"}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("rhymes", "other_rhymes"),
        ("translation_en-de", "possible_translations"),
        ("translation_en-es", "possible_translations"),
        ("translation_en-fr", "possible_translations"),
        ("word_in_context", "possible_outputs"),
    ],
)
def test_multi_answer_keys(tasks, shared_datasets: Path, name: str, key: str):
    raw = raw_examples(shared_datasets, "execute", name)
    task = tasks[name]
    assert [e.answers for e in task.execute] == [r[key] for r in raw]
    assert [e.output for e in task.execute] == [r["output"] for r in raw]
    assert any(len(e.answers) > 1 for e in task.execute)


def test_single_answer_tasks(tasks, shared_datasets: Path):
    similarity = tasks["sentence_similarity"].execute
    assert similarity[0].answers == ["3 - probably"]
    assert all(e.answers == [e.output] for e in similarity)
    raw = raw_examples(shared_datasets, "execute", "sum")
    assert [(e.input, e.answers) for e in tasks["sum"].execute] == [(r["input"], [r["output"]]) for r in raw]
    assert tasks["sum"].execute[0].raw["x"] == 0  # task-specific fields stay available


def test_cause_and_effect_both_orders(tasks, shared_datasets: Path):
    task = tasks["cause_and_effect"]
    pairs = raw_examples(shared_datasets, "execute", "cause_and_effect")
    assert len(pairs) == 25
    for i, pair in enumerate(pairs):
        first, second = task.execute[2 * i], task.execute[2 * i + 1]
        assert first.input == f"Sentence 1: {pair['cause']} Sentence 2: {pair['effect']}"
        assert second.input == f"Sentence 1: {pair['effect']} Sentence 2: {pair['cause']}"
        assert first.answers == second.answers == [pair["cause"]]
    # The induce file holds pairs too; the paper's demonstrations show both orders, answer = cause.
    induce_pairs = raw_examples(shared_datasets, "induce", "cause_and_effect")
    assert len(task.induce) == 2 * len(induce_pairs) == 52
    causes = {p["cause"] for p in induce_pairs}
    assert all(output in causes for s in task.paper_demos for _, output in s.demos)


def test_common_concept_items_and_answers(tasks, shared_datasets: Path):
    task = tasks["common_concept"]
    raw = raw_examples(shared_datasets, "execute", "common_concept")
    assert [e.input for e in task.execute] == [", ".join(r["items"]) for r in raw]
    assert [e.answers for e in task.execute] == [r["all_common_concepts"] for r in raw]
    assert task.induce[0].output == raw_examples(shared_datasets, "induce", "common_concept")[0]["concept"]


def test_seed_tasks(shared_datasets: Path):
    seeds = load_seed_tasks(shared_datasets / SEED_FILE)
    assert len(seeds) == 175
    assert sum(s.is_classification for s in seeds) == 26
    assert seeds[0].id == "seed_task_0" and seeds[0].instances[0].input == ""
    assert all(s.instruction and s.instances for s in seeds)


def test_eval_tasks(shared_datasets: Path):
    tasks = load_eval_tasks(shared_datasets / EVAL_FILE)
    assert len(tasks) == 252
    assert tasks[0].motivation_app == "Grammarly"
    assert len({t.id for t in tasks}) == 252


def test_predictions(shared_datasets: Path):
    by_model = ds.predictions(shared_datasets)
    assert set(by_model) == MODELS
    tasks = ds.eval_tasks(shared_datasets)
    for model, rows in by_model.items():
        assert len(rows) == 252, model
        assert [r.row for r in rows] == list(range(252))
        # Row i answers evaluation task i.
        assert all(r.input == t.instances[0].input for r, t in zip(rows, tasks, strict=True))
    one = load_predictions(shared_datasets / "self-instruct/predictions/davinci_predictions.jsonl")
    assert one[0].model == "davinci" and one[0].prompt.endswith("Output:")


@pytest.mark.parametrize(
    ("path", "load", "export"),
    [
        (SEED_FILE, load_seed_tasks, ds.export_seed_tasks),
        (EVAL_FILE, load_eval_tasks, ds.export_eval_tasks),
    ],
)
def test_export_reproduces_the_file_byte_for_byte(shared_datasets: Path, path, load, export):
    original = (shared_datasets / path).read_bytes()
    assert export(load(shared_datasets / path)).encode("utf-8") == original


def test_facade_uses_a_given_folder(shared_datasets: Path):
    assert ds.instruction_task_names(shared_datasets) == list(TASK_NAMES)
    assert ds.load_task("sum", shared_datasets).source == "official"
    assert len(ds.seed_tasks(shared_datasets)) == 175
    assert len(ds.eval_tasks(shared_datasets)) == 252
