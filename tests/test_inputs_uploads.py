"""Uploads that used to fail badly (issues 11.10, 11.11): JSON nested 100,000 deep raised a RecursionError the
pages did not catch, and a CSV with an unterminated quote was reported as a wrong cell count."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import core.datasets as ds
from core.datasets.errors import DatasetError
from core.datasets.uploads import DEEP_JSON, too_deep_line
from core.humaneval.response_files import parse_response_file

DEEP = 100_000
EVAL_ROW = '{"instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}]}'


def _error(fn, *args) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        fn(*args)
    return info.value


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("deep.jsonl", EVAL_ROW + "\n" + '{"instruction": ' + "[" * DEEP + "\n", 2),
        ("deep.json", "[" + EVAL_ROW + ",\n" + "[" * DEEP + "]" * DEEP + "]", 2),
        ("deep.json", '\n\n{"examples": {"1": {"input": ' + "[" * DEEP + "]" * DEEP + "}}}", 3),
        ("field.jsonl", '{"instruction": "x", "extra": ' + "[" * DEEP + "]" * DEEP + "}\n", 1),
    ],
)
@pytest.mark.parametrize("kind", ds.UPLOAD_KINDS)
def test_deeply_nested_json_is_a_one_line_error(name: str, text: str, line: int, kind: str) -> None:
    err = _error(ds.parse_upload, name, text.encode(), kind)
    reason = f"JSON nested too deeply to read (more than {DEEP_JSON} levels of lists or objects)"
    assert str(err) == f"{name}, line {line}: {reason}"
    assert "\n" not in str(err)


def test_deep_json_in_a_csv_answers_cell_names_line_and_column() -> None:
    text = 'input,output,answers\nx,y,"' + "[" * DEEP + '"\n'
    err = _error(ds.parse_upload, "demos.csv", text.encode(), "demonstrations")
    assert (err.line, err.field) == (2, "answers")


def test_deeply_nested_response_file_is_a_one_line_error() -> None:
    text = '{"task_id": "t1", "response": "ok"}\n{"task_id": "t2", "response": ' + "[" * DEEP + "\n"
    err = _error(parse_response_file, "preds.jsonl", text.encode())
    assert str(err).startswith("preds.jsonl, line 2: JSON nested too deeply")
    err = _error(parse_response_file, "preds.json", ("[" + "[" * DEEP).encode())
    assert "nested too deeply" in str(err) and err.line == 1


def test_deep_json_upload_stores_nothing(tmp_path: Path) -> None:
    text = "[" * DEEP
    with pytest.raises(DatasetError):
        ds.uploads.save_upload(tmp_path, "deep.json", text.encode(), "eval_tasks")
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.tmp"))


def test_too_deep_line_skips_brackets_inside_strings() -> None:
    assert too_deep_line('{"a": "' + "[" * 1000 + '"}', limit=5) is None
    assert too_deep_line('{"a": "\\"[[[[[[[[[["}', limit=5) is None
    assert too_deep_line('{"a": 1}\n{"b": [[[[[[[1]]]]]]]}', limit=5) == 2
    assert too_deep_line("[]" * 10_000, limit=5) is None


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        (
            'instruction,input,output,id,motivation_app\n"Say hi.",,hi,a,x\n"Say bye.,,bye,b,x\n"Say.",,x,c,x\n',
            "quote.csv, line 3: unterminated quote: the quoted cell opened in the row on line 3 runs on to line 4",
        ),
        (
            'instruction,input,output\n"Say hi."x,,hi\n',
            "quote.csv, line 2: text after a closing quote: a quoted cell must end at a comma or the end of the row",
        ),
        (
            'instruction,input,output\nx,y,z\n"Say hi.,,hi\n',
            "quote.csv, line 3: unterminated quote: the quoted cell opened in the row on line 3 never closes",
        ),
        ('"instruction,input,output\n', "quote.csv, line 1: unterminated quote"),
    ],
)
def test_csv_quote_errors_say_so(csv_text: str, message: str) -> None:
    err = str(_error(ds.parse_upload, "quote.csv", csv_text.encode(), "eval_tasks"))
    assert err.startswith(message)
    assert "cells" not in err


def test_quoted_multiline_cells_still_read() -> None:
    text = 'instruction,input,output\n"Two\nlines, with a comma",,"He said ""hi"""\n'
    [task] = ds.parse_upload("ok.csv", text.encode(), "eval_tasks")
    assert task.instruction == "Two\nlines, with a comma" and task.instances[0].output == 'He said "hi"'


# --- The same files through the pages: a one-line error, no exception -------------------------------------


def _settings_page():
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO_ROOT

    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/settings.py")
    at.run()
    return at


@pytest.mark.parametrize(
    ("kind", "name", "data", "message"),
    [
        ("eval_tasks", "deep.json", b"[" * DEEP, "deep.json, line 1: JSON nested too deeply to read"),
        ("seed_tasks", "deep.jsonl", b'{"x": ' + b"[" * DEEP, "deep.jsonl, line 1: JSON nested too deeply"),
        (
            "eval_tasks",
            "quote.csv",
            b'instruction,input,output\n"a,,b\nc,d,e\n',
            "quote.csv, line 2: unterminated quote",
        ),
    ],
)
def test_settings_upload_panel_reports_one_line(data_dir: Path, kind, name, data, message) -> None:
    at = _settings_page()
    next(s for s in at.selectbox if s.label == "Kind of data").set_value(kind)
    at.run()
    at.file_uploader(key=f"upload-{kind}").set_value((name, data, "application/octet-stream"))
    at.run()
    next(b for b in at.button if b.label == "Validate and save").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    visible = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", error.value)
    assert visible.startswith(f"Not imported — {message}") and "\n" not in visible
    assert not list((data_dir / "datasets").rglob(name))
