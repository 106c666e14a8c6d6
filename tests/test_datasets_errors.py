"""Malformed files and uploads give errors naming file, line, field and what was expected."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import core.datasets as ds
from core.datasets.errors import DatasetError
from core.datasets.loaders import MB, load_eval_tasks, load_induction_task, load_seed_tasks
from core.datasets.manifest import EVAL_FILE, INDUCTION_DIR, SEED_FILE


@pytest.fixture()
def seed_lines(shared_datasets: Path) -> list[str]:
    return (shared_datasets / SEED_FILE).read_text(encoding="utf-8").splitlines()


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def error_of(call, *args) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        call(*args)
    return info.value


# ---------------------------------------------------------------------------------------------------
# Official-format files


def test_wrong_type_names_file_line_and_field(tmp_path: Path, seed_lines: list[str]):
    row = json.loads(seed_lines[11])
    row["instruction"] = 42
    lines = seed_lines[:11] + [json.dumps(row)] + seed_lines[12:]
    err = error_of(load_seed_tasks, write(tmp_path / "seed_tasks.jsonl", lines))
    assert str(err) == "seed_tasks.jsonl, line 12, field 'instruction': expected a non-empty string, got int"
    assert (err.file, err.line, err.field) == ("seed_tasks.jsonl", 12, "instruction")


def test_bad_json_at_line(tmp_path: Path, seed_lines: list[str]):
    lines = seed_lines[:6] + ['{"id": "seed_task_6", "name": '] + seed_lines[7:]
    err = error_of(load_seed_tasks, write(tmp_path / "seed_tasks.jsonl", lines))
    assert str(err).startswith("seed_tasks.jsonl, line 7: invalid JSON")
    assert err.line == 7


def test_missing_field(tmp_path: Path, seed_lines: list[str]):
    row = json.loads(seed_lines[2])
    del row["is_classification"]
    lines = seed_lines[:2] + [json.dumps(row)] + seed_lines[3:]
    err = error_of(load_seed_tasks, write(tmp_path / "seed_tasks.jsonl", lines))
    assert str(err) == "seed_tasks.jsonl, line 3, field 'is_classification': missing (expected true or false)"


def test_nested_field_and_not_an_object(tmp_path: Path, shared_datasets: Path):
    lines = (shared_datasets / EVAL_FILE).read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[4])
    row["instances"][0]["output"] = ["not", "text"]
    err = error_of(load_eval_tasks, write(tmp_path / "evals.jsonl", lines[:4] + [json.dumps(row)]))
    assert (
        str(err) == "evals.jsonl, line 5, field 'instances[0].output': expected a non-empty string, got list"
    )
    err = error_of(load_eval_tasks, write(tmp_path / "evals.jsonl", lines[:1] + ["[1, 2]"]))
    assert str(err) == "evals.jsonl, line 2: expected a JSON object, got list"


def test_empty_file(tmp_path: Path):
    (tmp_path / "seed_tasks.jsonl").write_bytes(b"")
    assert (
        str(error_of(load_seed_tasks, tmp_path / "seed_tasks.jsonl")) == "seed_tasks.jsonl: the file is empty"
    )
    (tmp_path / "blank.jsonl").write_bytes(b"\n  \n")
    assert str(error_of(load_seed_tasks, tmp_path / "blank.jsonl")) == "blank.jsonl: the file is empty"


def test_50_mb_file_is_refused_by_size_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "seed_tasks.jsonl"
    with path.open("wb") as fh:
        fh.truncate(50 * MB)  # a sparse file: instant to make, and never read by the loader

    def no_reading(*_args, **_kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    err = error_of(load_seed_tasks, path)
    assert str(err).startswith("seed_tasks.jsonl: the file is 50.0 MB, over the 20.0 MB limit")
    monkeypatch.undo()
    err = error_of(ds.parse_upload, "big.csv", bytes(50 * MB), "seed_tasks")
    assert str(err).startswith("big.csv: the file is 50.0 MB, over the 20.0 MB limit")


def test_size_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_datasets: Path):
    monkeypatch.setenv("WORKBENCH_MAX_DATASET_MB", "0.05")
    err = error_of(load_seed_tasks, shared_datasets / SEED_FILE)
    assert "the file is 108 kB, over the 51 kB limit" in str(err)


@pytest.fixture()
def sum_root(tmp_path: Path, shared_datasets: Path) -> Path:
    """A datasets folder with only the `sum` task, to break one of its files."""
    for kind in ("induce", "execute", "annotations", "induction_input"):
        target = tmp_path / INDUCTION_DIR / kind / "sum.json"
        target.parent.mkdir(parents=True)
        shutil.copyfile(shared_datasets / INDUCTION_DIR / kind / "sum.json", target)
    return tmp_path


def edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")


def test_induction_file_errors(sum_root: Path):
    execute = sum_root / INDUCTION_DIR / "execute" / "sum.json"
    edit_json(execute, lambda d: d["examples"]["7"].pop("output"))
    err = error_of(load_induction_task, sum_root, "sum")
    assert str(err) == "execute/sum.json, field 'examples.7.output': missing (expected a string)"

    edit_json(execute, lambda d: d["examples"]["7"].update(output="1"))
    edit_json(execute, lambda d: d["examples"]["9"].update(input="   "))
    err = error_of(load_induction_task, sum_root, "sum")
    assert str(err).startswith("execute/sum.json, field 'examples.9.input': ")

    execute.write_text('{"metadata": {"num_examples": 1},\n "examples": {"1": {"input": "1 2",}}}')
    err = error_of(load_induction_task, sum_root, "sum")
    assert str(err).startswith("execute/sum.json, line 2: invalid JSON")


def test_induction_demo_and_annotation_errors(sum_root: Path):
    demos = sum_root / INDUCTION_DIR / "induction_input" / "sum.json"
    edit_json(demos, lambda d: d["examples"]["3"]["metadata"].update(examples_seen="no demos here"))
    err = error_of(load_induction_task, sum_root, "sum")
    assert err.file == "induction_input/sum.json"
    assert err.field == "examples.3.metadata.examples_seen"

    notes = sum_root / INDUCTION_DIR / "annotations" / "sum.json"
    notes.write_text('{"annotations": ["ok", 3]}')
    err = error_of(load_induction_task, sum_root, "sum")
    assert str(err) == "annotations/sum.json, field 'annotations[1]': expected a string, got int"


def test_num_examples_must_agree(sum_root: Path):
    edit_json(sum_root / INDUCTION_DIR / "execute" / "sum.json", lambda d: d["examples"].pop("100"))
    err = error_of(load_induction_task, sum_root, "sum")
    assert "metadata.num_examples is 100 but there are 99" in str(err)


def test_missing_file(tmp_path: Path):
    err = error_of(load_induction_task, tmp_path, "sum")
    assert str(err).startswith("induce/sum.json: file not found")


# ---------------------------------------------------------------------------------------------------
# Uploads

SEED_CSV = (
    "name,instruction,input,output,is_classification\n"
    "capital,Name the capital city.,France,Paris,false\n"
    'tone,"Is the tone formal, or informal?",hey there,informal,yes\n'
)


def test_upload_seed_csv():
    tasks = ds.parse_upload("mine.csv", SEED_CSV.encode(), "seed_tasks")
    assert [(t.id, t.name, t.is_classification) for t in tasks] == [
        ("mine_0", "capital", False),
        ("mine_1", "tone", True),
    ]
    assert tasks[1].instruction == "Is the tone formal, or informal?"
    assert tasks[0].source == "upload:mine.csv"
    assert ds.export_seed_tasks(tasks).startswith('{"id": "mine_0", "name": "capital"')


def test_upload_csv_errors_name_line_and_column():
    bad = SEED_CSV + "third,Say hi.,,hello,maybe\n"
    err = error_of(ds.parse_upload, "mine.csv", bad.encode(), "seed_tasks")
    assert str(err) == "mine.csv, line 4, field 'is_classification': expected true or false, got 'maybe'"
    bad = SEED_CSV + "third,Say hi.,,,no\n"
    err = error_of(ds.parse_upload, "mine.csv", bad.encode(), "seed_tasks")
    assert str(err) == "mine.csv, line 4, field 'output': expected a non-empty string, got an empty string"
    err = error_of(ds.parse_upload, "mine.csv", b"name,instruction,input\nx,y,z\n", "seed_tasks")
    assert str(err) == "mine.csv, line 1, field 'output': missing column (expected a column named 'output')"


def test_upload_json_array_reports_the_line():
    text = '[\n  {"instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}]},\n  {"instruction": ""}\n]'
    err = error_of(ds.parse_upload, "evals.json", text.encode(), "eval_tasks")
    assert (
        str(err)
        == "evals.json, line 3, field 'instruction': expected a non-empty string, got an empty string"
    )
    good = text.replace(',\n  {"instruction": ""}', "")
    [task] = ds.parse_upload("evals.json", good.encode(), "eval_tasks")
    assert (task.id, task.motivation_app, task.instances[0].output) == ("evals_0", "", "hi")
    err = error_of(ds.parse_upload, "evals.json", b" [ ] ", "eval_tasks")
    assert str(err) == "evals.json: the file holds no records"


def test_upload_of_the_official_files(shared_datasets: Path):
    data = (shared_datasets / EVAL_FILE).read_bytes()
    tasks = ds.parse_upload("user_oriented_instructions.jsonl", data, "eval_tasks")
    assert len(tasks) == 252
    assert ds.export_eval_tasks(tasks).encode() == data
    execute = (shared_datasets / INDUCTION_DIR / "execute" / "sum.json").read_bytes()
    demos = ds.parse_upload("sum.json", execute, "demonstrations")
    assert len(demos) == 100 and demos[0].answers == [demos[0].output]


def test_upload_demonstrations_csv_with_splits():
    text = 'input,output,answers,split\ncat,cats,,\nmouse,mice,"[""mice"", ""mouses""]",execute\n'
    demos = ds.parse_upload("plural.csv", text.encode(), "demonstrations")
    assert demos[1].answers == ["mice", "mouses"]
    err = error_of(ds.parse_upload, "plural.csv", (text + "ox,oxen,,later\n").encode(), "demonstrations")
    assert str(err) == "plural.csv, line 4, field 'split': expected 'induce' or 'execute', got 'later'"


def test_upload_other_errors():
    err = error_of(ds.parse_upload, "notes.txt", b"hello", "seed_tasks")
    assert "unsupported file type '.txt'" in str(err)
    err = error_of(ds.parse_upload, "e.jsonl", b"", "eval_tasks")
    assert str(err) == "e.jsonl: the file is empty"
    row = '{"id": "a", "instruction": "Do it.", "instances": [{"input": "", "output": "done"}]}'
    err = error_of(ds.parse_upload, "e.jsonl", f"{row}\n{row}\n".encode(), "eval_tasks")
    assert str(err) == "e.jsonl, line 2, field 'id': duplicate id 'a'"
    err = error_of(ds.parse_upload, "e.jsonl", b"\xff\xfe", "eval_tasks")
    assert str(err).startswith("e.jsonl, line 1: not valid UTF-8")


def test_failed_upload_touches_nothing_stored(data_dir: Path):
    stored = ds.save_upload("mine.csv", SEED_CSV.encode(), "seed_tasks")
    assert stored == data_dir / "datasets" / "uploads" / "seed_tasks" / "mine.csv"
    with pytest.raises(DatasetError):
        ds.save_upload("mine.csv", (SEED_CSV + "x,y,,z,perhaps\n").encode(), "seed_tasks")
    with pytest.raises(DatasetError):
        ds.save_upload("other.csv", b"name\n", "seed_tasks")
    assert stored.read_text() == SEED_CSV
    assert sorted(p.name for p in stored.parent.iterdir()) == ["mine.csv"]
    assert [t.name for t in ds.uploaded("seed_tasks")] == ["capital", "tone"]
    assert ds.delete_upload("mine.csv", "seed_tasks") and ds.uploaded("seed_tasks") == []


def test_uploaded_demonstrations_become_a_task(data_dir: Path):
    ds.save_upload("plural.csv", b"input,output,split\ncat,cats,\nox,oxen,execute\n", "demonstrations")
    task = ds.load_task("upload_plural")
    assert task.source == "upload:plural.csv"
    assert [e.input for e in task.induce] == ["cat"] and [e.input for e in task.execute] == ["ox"]
