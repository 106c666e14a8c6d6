"""Instruction Induction fidelity without a model: seeded subsets of the official files, the paper preset's
parameters and labels, and a search run's report built from stored outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

import core.datasets as ds
from core.induction import bertscore
from core.induction.report import benchmark_rows, build_benchmark, build_report, rows_to_csv, rows_to_markdown
from core.induction.spec import (
    induction_params,
    instruction_hash,
    paper_departures,
    paper_settings,
    record_samples,
    resolve_spec,
)

MODEL = {"provider": "embedded"}


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path):
    data = tmp_path_factory.mktemp("ii") / "data"
    data.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DATA_DIR", str(data))
        ds.import_folder(shared_datasets)
        yield data


def test_a_limit_is_a_seeded_random_sample_not_the_files_first_n(official) -> None:
    task = ds.load_task("sum")
    first = [e.input for e in task.execute[:10]]
    heads = [int(i.split()[0]) for i in first]
    assert heads == sorted(heads) and max(heads) < 10  # the file is sorted: its head is not a fair sample
    params = induction_params(model=MODEL, task="sum", limit=10, seed=0)
    spec = resolve_spec(params)
    picked = [t.input for t in spec.tests]
    assert len(picked) == 10 and picked != first
    assert max(int(i.split()[0]) for i in picked) >= 10
    assert len(set(spec.sample["tests"])) == 10 and spec.sample["tests"] != list(range(10))
    assert [t.input for t in resolve_spec(params).tests] == picked  # same seed, same sample
    other = resolve_spec(induction_params(model=MODEL, task="sum", limit=10, seed=1))
    assert [t.input for t in other.tests] != picked
    # No limit: every held-out input, in the file's order, as the paper.
    everything = resolve_spec(induction_params(model=MODEL, task="sum", seed=0))
    assert [t.input for t in everything.tests] == [e.input for e in task.execute]


def test_paper_sets_subset_is_seeded_and_the_stored_sample_is_used(official) -> None:
    task = ds.load_task("antonyms")
    params = induction_params(model=MODEL, task="antonyms", demo_source="paper", n_sets=5, limit=4, seed=3)
    spec = resolve_spec(params)
    ids = spec.sample["paper_sets"]
    assert len(ids) == 5 and ids != [d.id for d in task.paper_demos[:5]]
    by_id = {d.id: d for d in task.paper_demos}
    assert [tuple((d.input, d.output) for d in s) for s in spec.demo_sets] == [
        tuple(by_id[i].demos) for i in ids
    ]
    # All 100: the paper's sets, in the file's order.
    full = resolve_spec(induction_params(model=MODEL, task="antonyms", demo_source="paper", n_sets=100))
    assert full.sample["paper_sets"] == [d.id for d in task.paper_demos]
    # The stored sample wins over the sampler: a stored run re-scores on exactly its inputs.
    stored = record_samples(params)
    assert stored["samples"]["antonyms"]["tests"] == spec.sample["tests"]
    forced = {**stored, "samples": {"antonyms": {**stored["samples"]["antonyms"], "tests": [0, 1]}}}
    assert [t.input for t in resolve_spec(forced).tests] == [e.input for e in task.execute[:2]]


def test_search_split_is_seeded_and_disjoint_from_the_demonstrations(official) -> None:
    params = induction_params(model=MODEL, task="sum", k=3, temperature=0.7, limit=5, search=8, seed=0)
    spec = resolve_spec(params)
    task = ds.load_task("sum")
    pool_head = [e.input for e in task.induce if e.input not in {d.input for s in spec.demo_sets for d in s}][
        :8
    ]
    assert len(spec.search_examples) == 8 and [t.input for t in spec.search_examples] != pool_head
    assert not {t.input for t in spec.search_examples} & {d.input for s in spec.demo_sets for d in s}
    assert resolve_spec(params).search_examples == spec.search_examples


def test_runs_stored_before_seeded_sampling_keep_their_first_n(official) -> None:
    legacy = induction_params(model=MODEL, task="sum", limit=3)
    del legacy["sampling"]
    task = ds.load_task("sum")
    assert [t.input for t in resolve_spec(legacy).tests] == [e.input for e in task.execute[:3]]


def test_the_paper_preset_has_no_departures_and_others_are_named() -> None:
    params = induction_params(model=MODEL, tasks=["sum"], **paper_settings())
    assert params["top_p"] == 0.0 and params["temperature"] == 1.0
    assert (params["induce_max_tokens"], params["execute_max_tokens"]) == (50, 30)
    assert params["n_sets"] == 100 and params["k"] == 1 and params["limit"] is None
    assert params["postprocess"] == "paper_exact"
    assert paper_departures(params) == []
    limited = {**params, "limit": 3, "n_sets": 2}
    words = " / ".join(paper_departures(limited))
    assert "seeded sample of 3 held-out" in words and "2 demonstration set(s)" in words
    default = induction_params(model=MODEL, task="sum")
    words = " / ".join(paper_departures(default))
    for expected in ("random demonstration sets", "5 instructions per set", "our post-processing"):
        assert expected in words
    with pytest.raises(ValueError, match="postprocess"):
        induction_params(model=MODEL, task="sum", postprocess="mine")


def _stored_run(spec, winner: str, others: dict[str, int]) -> dict:
    """Stored outputs of a searched run: `others` maps instruction -> times induced; the winner's outputs
    are right on every test input, the others' wrong."""
    results = {}
    n = 0
    for text, count in {winner: 1, **others}.items():
        for _ in range(count):
            results[f"induce/{n // spec.k}/{n % spec.k}"] = {"raw": text, "instruction": text}
            n += 1
    for text in [winner, *others, *spec.gold]:
        for i, test in enumerate(spec.tests):
            right = text == winner or text in spec.gold
            answer = test.answers[0] if right else "wrong"
            results[f"exec/{instruction_hash(text)}/{i}"] = {"prediction": answer, "call_id": None}
    results["search"] = {"best": winner, "evaluations": 4, "brute_force_evaluations": 6, "calls_saved": 2}
    return results


def test_with_search_induced_accuracy_stays_weighted_and_the_winner_is_reported_apart(official) -> None:
    params = induction_params(
        model=MODEL, task="sum", k=4, temperature=0.7, limit=3, search=4, bertscore=False
    )
    spec = resolve_spec(params)
    results = _stored_run(spec, "Add the two numbers.", {"Write a number.": 3})
    report = build_report(params, results)
    assert report.complete
    assert report.summary.induced == pytest.approx(0.25)  # 1 of 4 induced instructions is right
    assert report.selected_accuracy == 1.0 and report.selected.instruction == "Add the two numbers."
    assert len(report.selected.inputs) == 3  # test inputs, none of them in the search split


def test_with_own_demonstrations_the_selected_accuracy_leaves_the_search_rows_out() -> None:
    tests = [(f"in{i}", [f"out{i}"]) for i in range(6)]
    params = induction_params(
        model=MODEL, demo_source="user", demos=[("a", "b")], tests=tests, k=2, search=2, bertscore=False
    )
    spec = resolve_spec(params)
    assert len(spec.search_in_tests) == 2
    results = _stored_run(spec, "Echo.", {"Other.": 1})
    report = build_report(params, results)
    assert sorted(report.selected.test_indices) == sorted(set(range(6)) - set(spec.search_in_tests))
    assert report.summary.n_inputs == 6


def test_exports_carry_the_labels(official) -> None:
    params = induction_params(model=MODEL, tasks=["sum"], limit=2, k=2, search=3)
    spec = resolve_spec(params, "sum")
    results = {f"sum/{k}": v for k, v in _stored_run(spec, "Add them.", {"Subtract.": 1}).items()}
    bench = build_benchmark(params, results)
    rows = benchmark_rows(bench)
    assert rows[0]["selected_accuracy"] == 1.0
    markdown = rows_to_markdown(rows, bench.overall, bench.notes)
    assert "selected instruction (%)" in markdown
    assert "Departures from the paper:" in markdown and "seeded sample of 2 held-out" in markdown
    assert "not on the paper's scale" in markdown  # BERTScore on, with the offline MiniLM
    csv_text = rows_to_csv(rows)
    assert "selected_accuracy" in csv_text.splitlines()[0] and "seeded sample of 2" in csv_text


def test_bertscore_scale_labels_and_minilm_refuses_rescaling() -> None:
    assert "not on the paper's scale" in bertscore.scale_note(None, False)
    assert bertscore.scale_note("microsoft/deberta-xlarge-mnli", True).endswith("rescaled with baseline")
    with pytest.raises(bertscore.BertScoreUnavailable, match="baseline"):
        bertscore.get_scorer(None, rescale_with_baseline=True)
