"""Without any download the app runs on the project's own starter set."""

from __future__ import annotations

from pathlib import Path

import pytest

import core.datasets as ds
from core.datasets.starter import STARTER_METRICS, starter_seed_tasks, starter_tasks


def test_starter_set_when_nothing_is_present(data_dir: Path):
    assert not (data_dir / "datasets").exists() or not any((data_dir / "datasets").iterdir())
    names = ds.instruction_task_names()
    assert names == list(STARTER_METRICS)
    assert not set(names) & set(ds.TASK_NAMES)
    tasks = ds.instruction_tasks()
    assert {t.source for t in tasks} == {"starter"}
    seeds = ds.seed_tasks()
    assert len(seeds) == 12 and {s.source for s in seeds} == {"starter"}
    assert 0 < sum(s.is_classification for s in seeds) < 12
    assert ds.eval_tasks() and {t.source for t in ds.eval_tasks()} == {"starter"}
    assert ds.predictions() == {}
    with pytest.raises(ds.DatasetError, match="not in the datasets folder"):
        ds.load_task("sum")
    with pytest.raises(KeyError):
        ds.load_task("no_such_task")


@pytest.mark.parametrize("task", starter_tasks(), ids=lambda t: t.name)
def test_starter_tasks_are_well_formed(task: ds.InductionTask):
    assert task.metric == STARTER_METRICS[task.name]
    assert len(task.induce) >= 30 and len(task.execute) >= 25
    assert not {e.input for e in task.induce} & {e.input for e in task.execute}
    assert len(task.annotations) >= 3
    assert all(e.answers == [e.output] for e in task.induce + task.execute)


def test_starter_answers_are_right():
    by_name = {t.name: t for t in starter_tasks()}
    for example in by_name["starter_sum"].execute:
        a, b = map(int, example.input.split())
        assert example.output == str(a + b)
    for example in by_name["starter_difference"].execute:
        a, b = map(int, example.input.split())
        assert example.output == str(a - b) and a >= b
    assert all(e.output == e.input[0] for e in by_name["starter_first_letter"].execute)
    assert all(e.output.replace(" ", "") == e.input for e in by_name["starter_letters_list"].execute)
    plurals = {
        e.input: e.output for e in by_name["starter_plural"].induce + by_name["starter_plural"].execute
    }
    assert plurals["mouse"] == "mice" and plurals["box"] == "boxes"


def test_starter_set_is_deterministic_and_copied():
    first, second = starter_tasks(), starter_tasks()
    assert first == second
    first[0].execute.clear()
    assert starter_tasks()[0].execute  # editing a returned task does not change the set
    assert starter_seed_tasks() == starter_seed_tasks()
    assert len({s.id for s in starter_seed_tasks()}) == 12
