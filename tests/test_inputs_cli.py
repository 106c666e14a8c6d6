"""`python -m core.similarity dedupe` refuses nonsense up front and reports every expected failure as one line
on stderr with a non-zero exit, never a traceback (issues 11.10, 11.11). Run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

TEXTS = ("Write a poem about cats.", "Translate this sentence into French.", "List three prime numbers.")
GOOD = "".join(json.dumps({"instruction": t}) + "\n" for t in TEXTS)


def _files(tmp: Path) -> dict[str, Path]:
    """Inputs the table refers to by name."""
    files = {
        "good": ("good.jsonl", GOOD),
        "deep_jsonl": ("deep.jsonl", '{"instruction": "a"}\n{"instruction": ' + "[" * 100_000 + "\n"),
        "deep_json": ("deep.json", '[{"instruction": "a"},\n' + "[" * 100_000 + "]" * 100_000 + "]"),
        "deep_json_field": (
            "deepf.json",
            '[{"instruction": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}]",
        ),
        "unterminated_csv": (
            "quote.csv",
            'instruction,input,output,x,y\n"first",a,b,c,d\n"second,a,b,c,d\n"third",a,b,c,d\n',
        ),
        "text_after_quote_csv": ("after.csv", 'instruction,input\n"one"two,a\n'),
        "not_utf8": ("latin.jsonl", '{"instruction": "caf\xe9"}\n'),
    }
    out = {}
    for key, (name, text) in files.items():
        path = tmp / name
        if key == "not_utf8":
            path.write_bytes(text.encode("latin-1"))
        else:
            path.write_text(text, encoding="utf-8")
        out[key] = path
    (tmp / "a_folder").mkdir()
    out["folder"] = tmp / "a_folder"
    out["missing"] = tmp / "missing.jsonl"
    out["missing_dir_out"] = tmp / "no" / "such" / "dir" / "kept.jsonl"
    return out


# (arguments with {placeholders}, expected exit code, a piece of the one-line message)
CASES = [
    (["{good}", "--threshold", "1.5"], 2, "out of range"),
    (["{good}", "--threshold", "-0.2"], 2, "out of range"),
    (["{good}", "--threshold", "1"], 2, "out of range"),
    (["{good}", "--threshold", "nan"], 2, "out of range"),
    (["{good}", "--threshold", "abc"], 2, "not a number"),
    (["{good}", "--thresh", "0.5"], 2, "unrecognized arguments: --thresh"),  # no abbreviations
    (["{good}", "--no-prog"], 2, "unrecognized arguments: --no-prog"),
    (["{missing}"], 2, "no such file"),
    (["{folder}"], 2, "a folder, not a file"),
    (["{good}", "--against", "{missing}"], 2, "no such file"),
    (["{deep_jsonl}"], 2, "deep.jsonl:2: JSON nested too deeply"),
    (["{deep_json}"], 2, "deep.json:2: JSON nested too deeply"),
    (["{deep_json_field}"], 2, "JSON nested too deeply"),
    (["{good}", "--against", "{deep_jsonl}"], 2, "JSON nested too deeply"),
    (["{unterminated_csv}"], 2, "quote.csv:3: unterminated quote"),
    (["{text_after_quote_csv}"], 2, "after.csv:2: text after a closing quote"),
    (["{not_utf8}"], 2, "latin.jsonl:1: not UTF-8"),
    (["{good}", "--out", "{missing_dir_out}"], 2, "kept.jsonl: the folder"),
    (["{good}", "--report", "{missing_dir_out}"], 2, "does not exist"),
    (["{good}", "--out", "{folder}"], 2, "a_folder: a folder; name the file to write"),
    (["{good}", "--threshold", "0.7"], 0, "kept 3 of 3 rows"),
    (["{good}", "--threshold", "0"], 0, "kept "),
]


@pytest.mark.parametrize(("args", "code", "message"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_dedupe_arguments_and_inputs(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    files = _files(tmp_path)
    argv = [a.format(**files) for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "core.similarity", "dedupe", *argv, "--no-progress"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert message in result.stderr, result.stderr
    if code:
        # One line saying what and where (argparse adds its usage line before its own one-line error).
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "error:" in line]
        assert len(errors) == 1, result.stderr
        assert len(lines) == 1 or lines[0].startswith("usage:"), result.stderr
        # Nothing half-written next to the input.
        assert not list(tmp_path.glob("*.kept.*")) and not list(tmp_path.glob("*.part"))
