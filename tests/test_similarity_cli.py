"""`python -m core.similarity dedupe`: round trips in JSONL, CSV and JSON list, and errors naming file/line/field."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.similarity import filter_novel, rouge_l
from core.similarity.cli import main

REPO_ROOT = Path(__file__).resolve().parent.parent

ROWS = [
    {"instruction": "Write a poem about the sea.", "input": "", "output": "Waves..."},
    {"instruction": "Write a poem about the sea!", "input": "", "output": "Tides, again"},
    {"instruction": "List three fruits that are red.", "input": "", "output": "apple, cherry"},
    {"instruction": "Café naïve: explain, in one line", "input": "x,y", "output": 'quote " inside'},
    {"instruction": "List three fruits which are red", "input": "", "output": "strawberry"},
    {"instruction": "Translate the sentence into French.", "input": "Hello", "output": "Bonjour"},
    {"instruction": "", "input": "", "output": "empty instruction"},
]
SEEDS = ["Translate the following sentence into French.", "Give three tips for staying healthy."]


def expected_kept(texts: list[str], seeds: list[str] = ()) -> list[bool]:  # type: ignore[assignment]
    return list(filter_novel(texts, seeds, 0.7))


def read_report(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_jsonl_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "data.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in ROWS]
    # a blank line, and no newline at the end
    src.write_text(lines[0] + "\n\n" + "\n".join(lines[1:]), encoding="utf-8")
    assert main(["dedupe", str(src), "--no-progress"]) == 0
    kept = expected_kept([r["instruction"] for r in ROWS])
    assert kept == [True, False, True, True, False, True, True]
    out = tmp_path / "data.kept.jsonl"
    assert out.read_text(encoding="utf-8") == "".join(
        f"{line}\n" for line, k in zip(lines, kept, strict=True) if k
    )
    report = read_report(tmp_path / "data.dropped.jsonl")
    assert [(r["row"], r["line"], r["neighbour_row"], r["neighbour_source"]) for r in report] == [
        (2, 3, 1, "kept"),
        (5, 6, 3, "kept"),
    ]
    assert report[0]["text"] == ROWS[1]["instruction"] and report[0]["neighbour"] == ROWS[0]["instruction"]
    assert report[1]["score"] == rouge_l(ROWS[4]["instruction"], ROWS[2]["instruction"]) > 0.7
    assert "kept 5 of 7 rows, dropped 2" in capsys.readouterr().err


def test_csv_round_trip_with_against(tmp_path: Path) -> None:
    src, seeds = tmp_path / "data.csv", tmp_path / "seeds.jsonl"
    with src.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, ["instruction", "input", "output"])
        writer.writeheader()
        writer.writerows(ROWS)
    seeds.write_text("".join(json.dumps({"instruction": s}) + "\n" for s in SEEDS), encoding="utf-8")
    out, report = tmp_path / "o.csv", tmp_path / "r.jsonl"
    args = ["dedupe", str(src), "--against", str(seeds), "--out", str(out), "--report", str(report)]
    assert main([*args, "--no-progress"]) == 0
    kept = expected_kept([r["instruction"] for r in ROWS], SEEDS)
    with out.open(encoding="utf-8", newline="") as fh:
        assert list(csv.DictReader(fh)) == [r for r, k in zip(ROWS, kept, strict=True) if k]
    dropped = read_report(report)
    assert len(dropped) == kept.count(False)
    translate = next(r for r in dropped if r["row"] == 6)
    assert (translate["neighbour_source"], translate["neighbour_row"], translate["neighbour"]) == (
        "against",
        1,
        SEEDS[0],
    )
    assert translate["line"] == 7


def test_json_list_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "alpaca.json"
    src.write_text(json.dumps(ROWS, indent=4, ensure_ascii=False), encoding="utf-8")
    assert main(["dedupe", str(src), "--threshold", "0.5", "--no-progress"]) == 0
    kept = list(filter_novel([r["instruction"] for r in ROWS], [], 0.5))
    assert json.loads((tmp_path / "alpaca.kept.json").read_text(encoding="utf-8")) == [
        r for r, k in zip(ROWS, kept, strict=True) if k
    ]
    report = read_report(tmp_path / "alpaca.dropped.jsonl")
    assert [r["row"] for r in report] == [i + 1 for i, k in enumerate(kept) if not k]
    assert report[0]["line"] == 1 + 5 * (report[0]["row"] - 1) + 1  # indent=4: five lines per item


def test_empty_inputs(tmp_path: Path) -> None:
    for name, content, expected in [
        ("e.jsonl", "", ""),
        ("e.json", "[]", "[]\n"),
        ("e.csv", "instruction\n", None),
    ]:
        src = tmp_path / name
        src.write_text(content, encoding="utf-8")
        assert main(["dedupe", str(src), "--no-progress"]) == 0
        kept = (tmp_path / name.replace("e.", "e.kept.")).read_bytes().decode("utf-8")
        assert kept == (expected if expected is not None else "instruction\r\n")  # the csv module's newline


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "bad.jsonl",
            '{"instruction": "ok"}\n{"instruction": "oops\n',
            "bad.jsonl:2: invalid JSON at column",
        ),
        (
            "bad.jsonl",
            '{"instruction": "ok"}\n\n{"prompt": "x"}\n',
            "bad.jsonl:3: no field 'instruction' (fields: prompt)",
        ),
        (
            "bad.jsonl",
            '{"instruction": "ok"}\n{"instruction": 3}\n',
            "bad.jsonl:2: field 'instruction' is int",
        ),
        ("bad.jsonl", '["not", "an object"]\n', "bad.jsonl:1: expected a JSON object, got list"),
        ("bad.csv", "prompt,output\na,b\n", "bad.csv:1: no column 'instruction' (columns: prompt, output)"),
        ("bad.csv", "output,instruction\na,b\nc\n", "bad.csv:3: 1 fields, no value for column 'instruction'"),
        (
            "bad.json",
            '[{"instruction": "a"},\n {"input": "b"}]',
            "bad.json:2 (item 2): no field 'instruction'",
        ),
        ("bad.json", '[{"instruction": "a"}\n {"instruction": "b"}]', "bad.json:2:2: expected ',' or ']'"),
        ("bad.json", '{"instruction": "a"}', "bad.jsonl"),  # a .json holding JSONL is read as JSONL: no error
    ],
)
def test_malformed_input_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, message: str
) -> None:
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    code = main(["dedupe", str(src), "--no-progress"])
    err = capsys.readouterr().err
    if message == "bad.jsonl":
        assert code == 0
        return
    assert code == 2
    assert f"error: {tmp_path / message.split(':')[0]}" in err and message.split(":", 1)[1] in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no partial outputs left behind


def test_refuses_to_overwrite_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "d.jsonl"
    src.write_text('{"instruction": "a"}\n', encoding="utf-8")
    assert main(["dedupe", str(src), "--out", str(src), "--no-progress"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["dedupe", str(tmp_path / "missing.jsonl"), "--no-progress"]) == 2


def test_module_entry_point_with_progress_bar(tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "core.similarity", "dedupe", str(src), "--field", "instruction"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "rows" in result.stderr and "kept 5 of 7 rows" in result.stderr  # tqdm writes to stderr
    assert result.stdout == ""
    assert len((tmp_path / "d.kept.jsonl").read_text().splitlines()) == 5
