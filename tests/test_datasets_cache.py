"""An Instruction Induction task is parsed once while its files stay unchanged: each load returns lists of
its own, and an edited file is read again."""

from __future__ import annotations

import json
import shutil

from core.datasets.loaders import induction_path, load_induction_task

TASK = "sum"


def _copy_task(source, root):
    for kind in ("induce", "execute", "annotations", "induction_input"):
        target = induction_path(root, kind, TASK)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(induction_path(source, kind, TASK), target)


def test_a_task_is_parsed_once_and_read_again_when_its_file_changes(tmp_path, shared_datasets):
    _copy_task(shared_datasets, tmp_path)
    first = load_induction_task(tmp_path, TASK)
    second = load_induction_task(tmp_path, TASK)
    assert second == first and second.execute is not first.execute  # equal, but lists of its own
    assert second.execute[0] is first.execute[0]  # the parsed examples are shared, not parsed again
    second.execute.reverse()
    assert load_induction_task(tmp_path, TASK).execute[0] == first.execute[0]

    path = induction_path(tmp_path, "execute", TASK)
    data = json.loads(path.read_text())
    first_key = next(iter(data["examples"]))
    data["examples"][first_key]["input"] = "edited input"
    path.write_text(json.dumps(data))
    edited = load_induction_task(tmp_path, TASK)
    assert any(e.input == "edited input" for e in edited.execute)
    assert not any(e.input == "edited input" for e in first.execute)


def test_the_one_pass_check_reads_every_task_exactly_as_the_field_by_field_one(shared_datasets, monkeypatch):
    from core.datasets import loaders
    from core.datasets.registry import TASK_NAMES

    quick = {name: loaders._parse_induction_task(shared_datasets, name, None) for name in TASK_NAMES}
    monkeypatch.setattr(loaders, "_plain_examples", lambda examples, answer_key: None)
    careful = {name: loaders._parse_induction_task(shared_datasets, name, None) for name in TASK_NAMES}
    assert quick == careful
    assert sum(len(t.induce) + len(t.execute) for t in quick.values()) > 60_000
