"""`python -m core.selfinstruct` and `python -m core.datasets` refuse bad arguments up front: a non-zero exit,
a message on stderr, never a traceback, and no run created for a refused `generate`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import app_env, run_cli


def _cli(module: str, args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    return run_cli(module, *args, env=app_env(data_dir), timeout_s=120)


GEN = ["generate", "--seeds", "starter", "--iterations", "1"]

# (arguments, a word the error must contain)
SELFINSTRUCT_REFUSED = [
    ([*GEN, "--threshold", "1.5"], "threshold"),
    ([*GEN, "--threshold", "-0.2"], "threshold"),
    ([*GEN, "--threshold", "nan"], "threshold"),
    (["generate", "--seeds", "starter", "--target", "-3"], "target"),
    (["generate", "--seeds", "starter", "--target", "0"], "target"),
    ([*GEN, "--requests", "0"], "requests"),
    ([*GEN, "--k-human", "0", "--k-machine", "0"], "k-human"),
    ([*GEN, "--k-human", "-1"], "k-human"),
    ([*GEN, "--max-tokens", "-5"], "max-tokens"),
    ([*GEN, "--max-tokens", "0"], "max-tokens"),
    ([*GEN, "--instance-max-tokens", "0"], "instance-max-tokens"),
    ([*GEN, "--clf-instance-max-tokens", "-1"], "clf-instance-max-tokens"),
    ([*GEN, "--temperature", "9"], "temperature"),
    ([*GEN, "--temperature", "-0.1"], "temperature"),
    ([*GEN, "--iterations", "0"], "iterations"),
    ([*GEN, "--concurrency", "0"], "concurrency"),
    ([*GEN, "--seed", "-1"], "seed"),
    ([*GEN, "--max-idle-iterations", "0"], "max-idle-iterations"),
    ([*GEN, "--resume", "0"], "resume"),
    ([*GEN, "--thresh", "0.5"], "unrecognized"),  # no abbreviations
    ([*GEN, "--classification", "x"], "unrecognized"),
    (["gen", "--seeds", "starter"], "invalid choice"),
    (["export", "1", "--form", "alpaca"], "required: --format"),  # not read as --format
    (["export", "0", "--format", "alpaca"], "run"),
    (["export", "abc", "--format", "alpaca"], "run"),
    ([*GEN, "--seeds", "/no/such/seeds.jsonl"], "--seeds"),
    ([*GEN, "--seeds", "official"], "seed tasks"),  # the official seeds are not in this data folder
    (["generate", "--seeds", "starter"], "--target"),  # no stopping point
    ([*GEN, "--templates", "paper"], "template"),  # the paper's template files are not here either
]


@pytest.mark.parametrize(
    ("args", "word"), SELFINSTRUCT_REFUSED, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_selfinstruct_refuses_nonsense_without_a_traceback(data_dir, args, word):
    out = _cli("core.selfinstruct", args, data_dir)
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr + out.stdout
    assert word.lower() in out.stderr.lower(), out.stderr
    assert not out.stdout.startswith("run "), "a run was created"


def _broken_seed_files(tmp: Path) -> list[Path]:
    files = {
        "broken.jsonl": '{"instruction": "Say hi.", "instances": [\n',
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "deep.jsonl": "[" * 100_000 + "]" * 100_000 + "\n",
        "wrong.csv": 'name,instruction\n"unterminated,quote\n',
        "empty.jsonl": "",
        "binary.jsonl": "\x00\xff\xfe",
    }
    for name, text in files.items():
        (tmp / name).write_text(text, encoding="utf-8", errors="surrogateescape")
    return [tmp / name for name in files]


def test_broken_seed_files_are_one_line_errors(data_dir, tmp_path):
    for path in _broken_seed_files(tmp_path):
        out = _cli("core.selfinstruct", [*GEN, "--seeds", str(path)], data_dir)
        assert out.returncode != 0, path.name
        assert "Traceback" not in out.stderr, (path.name, out.stderr[-500:])
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: --seeds"), (path.name, out.stderr)
        assert path.name in lines[0]


def test_export_refuses_a_missing_folder_and_a_folder_as_out(data_dir, tmp_path):
    for out_path, word in ((tmp_path / "missing" / "x.json", "does not exist"), (tmp_path, "is a folder")):
        out = _cli(
            "core.selfinstruct", ["export", "1", "--format", "alpaca", "--out", str(out_path)], data_dir
        )
        assert out.returncode != 0 and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and word in out.stderr, out.stderr
    absent = _cli("core.selfinstruct", ["export", "7", "--format", "alpaca"], data_dir)
    assert absent.returncode != 0 and "no Self-Instruct run 7" in absent.stderr


DATASETS_REFUSED = [
    (["stat"], "invalid choice"),
    (["download", "--grou", "seed_tasks"], "unrecognized"),
    (["download", "--group", "nope"], "invalid choice"),
    (["download", "--base-url", "ftp://x"], "http"),
    (["import", "/no/such/folder"], "not a folder"),
    (["status", "--des=x"], "unrecognized"),
]


@pytest.mark.parametrize(
    ("args", "word"), DATASETS_REFUSED, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_datasets_refuses_nonsense_without_a_traceback(data_dir, args, word):
    out = _cli("core.datasets", args, data_dir)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr + out.stdout
    assert word in out.stderr, out.stderr


def test_datasets_dest_that_is_a_file_is_refused(data_dir, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for args in (["--dest", str(blocker), "import", str(tmp_path)], ["--dest", str(blocker), "status"]):
        out = _cli("core.datasets", args, data_dir)
        assert out.returncode != 0 and "Traceback" not in out.stderr
        assert "is a file" in out.stderr


def test_a_valid_export_still_works_and_names_its_templates(data_dir, tmp_path, use_model):
    # A run made in-process with a scripted model, then exported by the command line.
    from core.jobs import run_once, submit
    from core.llm import Choice, ModelSettings, Response
    from core.selfinstruct.spec import KIND, selfinstruct_params
    from core.store import dispose_all, get_engine

    class Echo:
        kind = model = "echo"
        endpoint = "echo:"
        styles = ("completion",)
        max_concurrency = 1

        def call(self, request, on_text=None):
            return Response((Choice(" Name three rivers in Europe and their lengths.", "stop"),), 1, 1, 0.0)

    use_model(Echo())
    try:
        engine = get_engine()
        run_id = submit(
            engine, KIND, selfinstruct_params(ModelSettings().public_dict(), seeds="starter", iterations=1)
        )
        run_once(engine)
    finally:
        dispose_all()
    target = tmp_path / "x.jsonl"
    out = _cli(
        "core.selfinstruct", ["export", str(run_id), "--format", "provenance", "--out", str(target)], data_dir
    )
    assert out.returncode == 0, out.stderr
    assert "templates: workbench fallback" in out.stderr
    first = json.loads(target.read_text().splitlines()[0])
    assert first == {
        "kind": "run",
        "templates": "templates: workbench fallback",
        "prompt_version": first["prompt_version"],
        "departures": first["departures"],
    }
    assert "few-shot templates: workbench fallback (paper: the published templates)" in first["departures"]
