"""Data quality review, pure parts: sources, sampling, Table 2, agreement, exports."""

from __future__ import annotations

import csv
import io
import json
import math
import random

import pytest
from sklearn.metrics import cohen_kappa_score

from core.datasets.errors import DatasetError
from core.review.export import labels_to_csv, labels_to_jsonl, table_to_csv, table_to_markdown
from core.review.records import ReviewLabel, SourceTask
from core.review.results import binary_agreement, failing_items, reviewer_agreement, table2
from core.review.sampling import sample_items
from core.review.sources import parse_dataset
from core.review.spec import ReviewSpec


def _tasks(n: int) -> list[SourceTask]:
    return [
        SourceTask(
            f"t{i:03d}", f"Instruction {i}", tuple((f"in {i}.{j}", f"out {i}.{j}") for j in range(1 + i % 4))
        )
        for i in range(n)
    ]


def test_sampling_is_seeded_stable_and_order_free():
    tasks = _tasks(300)
    first = sample_items(tasks, 200, seed=7)
    shuffled = tasks[:]
    random.Random(1).shuffle(shuffled)
    assert sample_items(shuffled, 200, seed=7) == first
    assert len(first) == 200 and len({i.task_id for i in first}) == 200
    assert sample_items(tasks, 200, seed=8) != first
    # One instance of each sampled task, shown as stored.
    by_id = {t.id: t for t in tasks}
    for item in first:
        assert (item.input, item.output) == by_id[item.task_id].instances[item.instance]
    # The instance picked for a task does not depend on which other tasks exist.
    more = sample_items(tasks + _tasks(400)[300:], 400, seed=7)
    picked = {i.task_id: i.instance for i in more}
    assert all(picked[i.task_id] == i.instance for i in first)


def test_sampling_skips_tasks_without_instances_and_takes_all_when_few():
    tasks = [*_tasks(5), SourceTask("empty", "No instances", ())]
    items = sample_items(tasks, 200, seed=0)
    assert sorted(i.task_id for i in items) == [f"t{i:03d}" for i in range(5)]
    with pytest.raises(ValueError):
        sample_items(tasks, 0)


def test_upload_forms_are_recognised():
    si = b'{"instruction": "Add.", "instances": [{"input": "1 2", "output": "3"}, {"input": "", "output": "x"}]}\n'
    form, tasks = parse_dataset("gen.jsonl", si)
    assert form == "selfinstruct" and tasks[0].instances == (("1 2", "3"), ("", "x"))
    alpaca = json.dumps(
        [
            {"instruction": "Add.", "input": "1 2", "output": "3"},
            {"instruction": "Add.", "input": "2 2", "output": "4"},
            {"instruction": "Greet.", "output": "Hi"},
        ]
    ).encode()
    form, tasks = parse_dataset("alpaca.json", alpaca)
    assert form == "alpaca"
    assert [(t.instruction, len(t.instances)) for t in tasks] == [("Add.", 2), ("Greet.", 1)]
    chat = (
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Name a colour."},
                    {"role": "assistant", "content": "Blue"},
                ]
            }
        )
        + "\n"
    ).encode()
    form, tasks = parse_dataset("chat.jsonl", chat)
    assert (
        form == "chat" and tasks[0].instruction == "Name a colour." and tasks[0].instances == (("", "Blue"),)
    )


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "a.jsonl",
            b'{"instruction": "x", "output": "y"}\n{"instruction": 3, "output": "y"}\n',
            "a.jsonl, line 2, field 'instruction': expected a non-empty string, got int",
        ),
        (
            "b.jsonl",
            b'{"instruction": "x", "instances": [{"input": "1"}]}\n',
            "b.jsonl, line 1, field 'instances[0].output': missing (expected a string)",
        ),
        (
            "c.jsonl",
            b'{"messages": [{"role": "user", "content": "q"}]}\n',
            "c.jsonl, line 1, field 'messages': expected an optional system turn",
        ),
        ("d.jsonl", b'{"foo": 1}\n', "d.jsonl, line 1: cannot tell the form"),
        ("e.csv", b"instruction,output\n", "e.csv: unsupported file type '.csv'"),
        ("f.jsonl", b'{"instruction": "x", "output": "y"}\n{oops\n', "f.jsonl, line 2: invalid JSON"),
    ],
)
def test_upload_errors_are_one_line_with_file_line_field(name, data, message):
    with pytest.raises(DatasetError) as err:
        parse_dataset(name, data)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def _label(item, reviewer, i, inp, out, skipped=False):
    return ReviewLabel(item, reviewer, {"instruction": i, "input": inp, "output": out}, skipped)


def test_table2_counts_complete_labels_with_wilson_and_paper():
    labels = [
        _label("a", "r", True, True, True),
        _label("b", "r", True, True, False),
        _label("c", "r", True, False, False),
        _label("d", "r", False, False, False),
        _label("e", "r", True, None, None),  # half answered: left out
        ReviewLabel("f", "r", {}, skipped=True),
    ]
    rows = {r.key: r for r in table2(labels)}
    assert [(rows[k].yes, rows[k].n) for k in ("instruction", "input", "output", "all")] == [
        (3, 4),
        (2, 4),
        (1, 4),
        (1, 4),
    ]
    assert rows["instruction"].share == 0.75
    assert 0 < rows["instruction"].ci_low < 0.75 < rows["instruction"].ci_high < 1
    assert [rows[k].paper for k in ("instruction", "input", "output", "all")] == [0.92, 0.79, 0.58, 0.54]
    assert math.isnan(table2([])[0].share)


def test_binary_kappa_matches_scikit_learn_on_random_labels():
    rng = random.Random(3)
    for _ in range(30):
        n = rng.randint(5, 60)
        a = [rng.random() < 0.7 for _ in range(n)]
        b = [x if rng.random() < 0.6 else rng.random() < 0.5 for x in a]
        got = binary_agreement(a, b)
        if len(set(a)) == 1 and set(a) == set(b):
            assert math.isnan(got["kappa"])
        else:
            assert got["kappa"] == pytest.approx(cohen_kappa_score(a, b, labels=[True, False]))
        assert got["n"] == n and got["agreement"] == pytest.approx(
            sum(x == y for x, y in zip(a, b, strict=True)) / n
        )


def test_reviewer_agreement_per_question_on_shared_items():
    rng = random.Random(5)
    labels, expected = [], {}
    answers = {k: ([], []) for k in ("instruction", "input", "output")}
    for i in range(40):
        pair = []
        for reviewer in ("ann", "bob"):
            x = {k: rng.random() < 0.6 for k in answers}
            labels.append(_label(f"i{i}", reviewer, x["instruction"], x["input"], x["output"]))
            pair.append(x)
        for k in answers:
            answers[k][0].append(pair[0][k])
            answers[k][1].append(pair[1][k])
    labels.append(_label("only-ann", "ann", True, True, True))
    result = reviewer_agreement(labels)[("ann", "bob")]
    for k, (a, b) in answers.items():
        expected[k] = cohen_kappa_score(a, b)
        assert result[k]["kappa"] == pytest.approx(expected[k])
        assert result[k]["n"] == 40


def test_failing_items_filter_and_exports():
    tasks = _tasks(4)
    items = sample_items(tasks, 4, seed=1)
    by_id = {i.item_id: i for i in items}
    ids = list(by_id)
    labels = [
        _label(ids[0], "r", True, True, False),
        _label(ids[1], "r", False, True, True),
        _label(ids[2], "r", True, True, True),
        ReviewLabel(ids[3], "r", {}, skipped=True),
    ]
    assert [f.item.item_id for f in failing_items(labels, by_id)] == ids[:2]
    only_output = failing_items(labels, by_id, ["output"])
    assert [(f.item.item_id, f.failed) for f in only_output] == [(ids[0], ("output",))]
    rows = [json.loads(line) for line in labels_to_jsonl(labels, by_id).splitlines()]
    assert (
        rows[0]["output_correct"] == "no" and rows[0]["all_valid"] == "no" and rows[2]["all_valid"] == "yes"
    )
    assert rows[3]["skipped"] is True and rows[3]["instruction_valid"] is None
    assert rows[1]["instruction"] == by_id[ids[1]].instruction
    parsed = list(csv.DictReader(io.StringIO(labels_to_csv(labels, by_id))))
    assert [r["all_valid"] for r in parsed] == ["no", "no", "yes", ""]
    table = table2(labels)
    md = table_to_markdown(table, "run | 3", ["one reviewer"])
    assert "| All fields are valid | 1 | 3 | 33% |" in md and "run \\| 3" in md and "54%" in md
    assert table_to_csv(table).splitlines()[0].startswith("quality review question,yes,n,% yes")


def test_spec_round_trips_and_assigns_with_overlap():
    items = tuple(sample_items(_tasks(30), 20, seed=2))
    spec = ReviewSpec(
        "r1", items, ("ann", "bob", "cy"), overlap=2, seed=4, sample_size=20, source={"kind": "x"}
    )
    assert ReviewSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assigned = spec.assignments()
    counts = {i.item_id: sum(i.item_id in v for v in assigned.values()) for i in items}
    assert set(counts.values()) == {2}
    assert spec.reviewer_as_listed("ANN ") == "ann"
    assert ReviewSpec("", (), ()).problems()
