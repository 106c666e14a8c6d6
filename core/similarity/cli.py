"""`python -m core.similarity dedupe FILE`: the Self-Instruct novelty filter over any instruction dataset.

Rows are read one at a time from JSONL and CSV, so memory grows with the kept pool only (its instruction texts
and token ids), never with the rest of the rows. A JSON list (Alpaca style) has to be read whole first; its items
are still decoded one by one. Kept rows are written in the input's format, and every dropped row goes to a JSONL
report with its closest earlier neighbour (a kept row or an --against seed) and their ROUGE-L:

    {"row": 5, "line": 6, "text": "...", "score": 0.83, "neighbour": "...", "neighbour_source": "kept",
     "neighbour_row": 3}

`row` counts data rows from 1 (in FILE, or in the --against file for its seeds); `line` is where the row starts.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from core.datasets.uploads import csv_problem
from core.similarity.index import NoveltyIndex

FORMATS = ("json", "jsonl", "csv")


class InputError(Exception):
    """Bad input; the message names the file, the line and the field."""


@dataclass(frozen=True, slots=True)
class Row:
    number: int  # 1-based among data rows
    line: int  # line of the file where the row starts
    text: str
    raw: Any  # what the writer copies: the JSONL line (bytes), the CSV fields, or the JSON object


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    with path.open("rb") as fh:  # .json and anything else: look at the first non-blank byte
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl"
    raise InputError(f"{path}: cannot tell whether this is a JSON list, JSONL or CSV; pass --format")


def _json_error(path: Path, exc: json.JSONDecodeError, line: int | None = None) -> str:
    return f"{path}:{line or exc.lineno}: invalid JSON at column {exc.colno}: {exc.msg.removesuffix(' at')}"


def _too_deep(path: Path, line: int) -> str:
    # Python's JSON reader recurses once per level and gives up near the recursion limit (~1,000 levels).
    return f"{path}:{line}: JSON nested too deeply to read (lists or objects about 1,000 levels deep)"


def _text_of(path: Path, where: str, record: Any, field: str) -> str:
    if not isinstance(record, dict):
        raise InputError(f"{path}:{where}: expected a JSON object, got {type(record).__name__}")
    if field not in record:
        raise InputError(
            f"{path}:{where}: no field {field!r} (fields: {', '.join(map(str, record)) or 'none'})"
        )
    value = record[field]
    if not isinstance(value, str):
        raise InputError(f"{path}:{where}: field {field!r} is {type(value).__name__}, expected a string")
    return value


class Source:
    """One input file (JSON list, JSONL or CSV) and its rows."""

    def __init__(self, path: Path, field: str, fmt: str | None = None) -> None:
        if path.is_dir():
            raise InputError(f"{path}: a folder, not a file")
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        self.path, self.field = path, field
        self.format = fmt or detect_format(path)
        self.csv_header: list[str] | None = None  # known once reading has begun
        self.csv_dialect: Any = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel

    def estimated_rows(self) -> int | None:
        """Newline count (cheap, streamed): the progress bar's total for line-based formats."""
        if self.format == "json":
            return None
        lines = 0
        with self.path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                lines += chunk.count(b"\n")
        return max(0, lines - (1 if self.format == "csv" else 0))

    def rows(self) -> Iterator[Row]:
        return {"jsonl": self._jsonl_rows, "csv": self._csv_rows, "json": self._json_rows}[self.format]()

    def _jsonl_rows(self) -> Iterator[Row]:
        number = 0
        with self.path.open("rb") as fh:
            for line_no, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
                except UnicodeDecodeError as exc:
                    raise InputError(f"{self.path}:{line_no}: not UTF-8 ({exc.reason})") from None
                except json.JSONDecodeError as exc:
                    raise InputError(_json_error(self.path, exc, line_no)) from None
                except RecursionError:
                    raise InputError(_too_deep(self.path, line_no)) from None
                number += 1
                text = _text_of(self.path, str(line_no), record, self.field)
                yield Row(number, line_no, text, raw if raw.endswith(b"\n") else raw + b"\n")

    def _csv_rows(self) -> Iterator[Row]:
        with self.path.open(encoding="utf-8-sig", newline="") as fh:
            # strict: an unterminated quote is an error, not a field that swallows the rest of the file
            reader = csv.reader(fh, self.csv_dialect, strict=True)
            start = 1
            try:
                header = next(reader, None)
                if header is None:
                    raise InputError(f"{self.path}:1: empty file, expected a header row")
                if self.field not in header:
                    raise InputError(
                        f"{self.path}:1: no column {self.field!r} (columns: {', '.join(header)})"
                    )
                self.csv_header = header
                col, number, start = header.index(self.field), 0, reader.line_num + 1
                for fields in reader:
                    line_no, start = start, reader.line_num + 1
                    if not fields:
                        continue
                    if col >= len(fields):
                        raise InputError(
                            f"{self.path}:{line_no}: {len(fields)} fields, no value for column {self.field!r}"
                        )
                    number += 1
                    yield Row(number, line_no, fields[col], fields)
            except csv.Error as exc:
                raise InputError(f"{self.path}:{start}: {csv_problem(exc, start, reader.line_num)}") from None
            except UnicodeDecodeError as exc:
                raise InputError(f"{self.path}:{reader.line_num + 1}: not UTF-8 ({exc.reason})") from None

    def _json_rows(self) -> Iterator[Row]:
        try:
            doc = self.path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.path}: not UTF-8 ({exc.reason})") from None
        decoder = json.JSONDecoder()
        ws = " \t\r\n"

        def skip(pos: int) -> int:
            while pos < len(doc) and doc[pos] in ws:
                pos += 1
            return pos

        def fail(pos: int, msg: str) -> InputError:
            line = doc.count("\n", 0, pos) + 1
            return InputError(f"{self.path}:{line}:{pos - doc.rfind(chr(10), 0, pos)}: {msg}")

        pos = skip(0)
        if not doc.startswith("[", pos):
            raise fail(pos, "expected a JSON list of objects")
        pos, number, line, counted = skip(pos + 1), 0, 1, 0
        if doc.startswith("]", pos):
            return
        while True:
            line += doc.count("\n", counted, pos)  # running line count: no quadratic recount
            counted = pos
            try:
                record, end = decoder.raw_decode(doc, pos)
            except json.JSONDecodeError as exc:
                raise InputError(_json_error(self.path, exc)) from None
            except RecursionError:
                raise InputError(_too_deep(self.path, line)) from None
            number += 1
            yield Row(
                number, line, _text_of(self.path, f"{line} (item {number})", record, self.field), record
            )
            pos = skip(end)
            if doc.startswith("]", pos):
                if skip(pos + 1) != len(doc):
                    raise fail(skip(pos + 1), "unexpected data after the list")
                return
            if not doc.startswith(",", pos):
                raise fail(pos, "expected ',' or ']' after a list item")
            pos = skip(pos + 1)


class RowWriter:
    """Writes kept rows in the input's format (JSONL lines are copied byte for byte)."""

    def __init__(self, source: Source, fh: IO[bytes]) -> None:
        self._source, self._fh, self._count = source, fh, 0
        self._text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text, source.csv_dialect)

    def _start_csv(self) -> None:
        if self._count == 0:  # the header, copied from the input once reading has begun
            self._csv.writerow(self._source.csv_header or [])

    def write(self, row: Row) -> None:
        fmt = self._source.format
        if fmt == "jsonl":
            self._fh.write(row.raw)
        elif fmt == "csv":
            self._start_csv()
            self._csv.writerow(row.raw)
        else:
            sep = "[\n  " if self._count == 0 else ",\n  "
            self._text.write(sep + json.dumps(row.raw, ensure_ascii=False))
        self._count += 1

    def close(self) -> None:
        if self._source.format == "json":
            self._text.write("[]\n" if self._count == 0 else "\n]\n")
        elif self._source.format == "csv":
            self._start_csv()
        self._text.flush()
        self._text.detach()


@dataclass(frozen=True, slots=True)
class DedupeSummary:
    rows: int
    kept: int
    dropped: int
    out: Path
    report: Path


def _default_path(path: Path, tag: str, suffix: str | None = None) -> Path:
    return path.with_name(f"{path.stem}.{tag}{suffix if suffix is not None else path.suffix}")


def dedupe(
    path: Path,
    *,
    threshold: float = 0.7,
    field: str = "instruction",
    against: Path | None = None,
    against_field: str | None = None,
    out: Path | None = None,
    report: Path | None = None,
    fmt: str | None = None,
    stemmer: bool = False,
    progress: bool = True,
) -> DedupeSummary:
    """Filter `path` (see the module doc). Outputs appear only when the whole input was read without error."""
    if not 0 <= threshold < 1:
        raise InputError(f"threshold {threshold} is out of range: use 0 <= threshold < 1")
    source = Source(path, field, fmt)
    out = out or _default_path(path, "kept")
    report = report or _default_path(path, "dropped", ".jsonl")
    for target in (out, report):
        if target.resolve() == path.resolve() or (against and target.resolve() == against.resolve()):
            raise InputError(f"{target}: refusing to overwrite an input file")
        if target.is_dir():
            raise InputError(f"{target}: a folder; name the file to write")
        if not target.parent.is_dir():
            raise InputError(f"{target}: the folder {target.parent} does not exist")
    index = NoveltyIndex(threshold=threshold, stemmer=stemmer)
    origin_rows = array("q")  # pool index -> row number in the --against file, then in FILE
    if against is not None:
        for seed in Source(against, against_field or field).rows():
            index.add(seed.text)
            origin_rows.append(seed.number)
    n_against = len(origin_rows)

    tmp_out, tmp_report = out.with_name(out.name + ".part"), report.with_name(report.name + ".part")
    rows = kept = 0
    try:
        with tmp_out.open("wb") as out_fh, tmp_report.open("w", encoding="utf-8") as report_fh:
            writer = RowWriter(source, out_fh)
            bar = tqdm(
                total=source.estimated_rows(),
                unit=" rows",
                file=sys.stderr,
                disable=not progress,
                dynamic_ncols=True,
            )
            with bar:
                for row in source.rows():
                    rows += 1
                    decision = index.offer(row.text)
                    if decision.kept:
                        kept += 1
                        writer.write(row)
                        origin_rows.append(row.number)
                    else:
                        assert decision.neighbour is not None
                        pid = decision.neighbour.index
                        entry = {
                            "row": row.number,
                            "line": row.line,
                            "text": row.text,
                            "score": decision.score,
                            "neighbour": decision.neighbour.text,
                            "neighbour_source": "against" if pid < n_against else "kept",
                            "neighbour_row": origin_rows[pid],
                        }
                        report_fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
                    bar.update(1)
                bar.total = rows  # the line count was an estimate (blank lines, multi-line CSV fields)
                bar.refresh()
            writer.close()
        os.replace(tmp_out, out)
        os.replace(tmp_report, report)
    finally:
        for tmp in (tmp_out, tmp_report):
            tmp.unlink(missing_ok=True)
    return DedupeSummary(rows, kept, rows - kept, out, report)


def _threshold(value: str) -> float:
    """ROUGE-L lies in [0, 1] and a row is dropped when its score is above the threshold, so 1 or more would
    drop nothing: the filter would be off."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 <= number < 1:
        raise argparse.ArgumentTypeError(
            f"{value} is out of range: ROUGE-L lies between 0 and 1, so use 0 <= threshold < 1 "
            "(rows scoring above it are dropped; the paper uses 0.7)"
        )
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.similarity", description="Exact ROUGE-L tools.", allow_abbrev=False
    )
    commands = parser.add_subparsers(dest="command", required=True)
    d = commands.add_parser(
        "dedupe",
        help="drop rows whose instruction is too similar to an earlier kept row (Self-Instruct's filter)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    d.add_argument("file", type=Path, help="JSON list (Alpaca style), JSONL or CSV")
    d.add_argument("--threshold", type=_threshold, default=0.7, help="drop when ROUGE-L > this (default 0.7)")
    d.add_argument(
        "--field", default="instruction", help="field or column holding the text (default instruction)"
    )
    d.add_argument(
        "--against", type=Path, help="seed instructions every row is also compared with (any format)"
    )
    d.add_argument("--against-field", help="field of the --against file (default: --field)")
    d.add_argument("--out", type=Path, help="kept rows, same format as FILE (default FILE.kept.EXT)")
    d.add_argument("--report", type=Path, help="JSONL of dropped rows (default FILE.dropped.jsonl)")
    d.add_argument("--format", choices=FORMATS, help="input format (default: from the extension and content)")
    d.add_argument("--stemmer", action="store_true", help="Porter-stem tokens, as use_stemmer=True")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = dedupe(
            args.file,
            threshold=args.threshold,
            field=args.field,
            against=args.against,
            against_field=args.against_field,
            out=args.out,
            report=args.report,
            fmt=args.format,
            stemmer=args.stemmer,
            progress=not args.no_progress,
        )
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreadable input, an output folder that does not exist, a full disk
        print(f"error: {exc.filename or args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(
        f"kept {summary.kept:,} of {summary.rows:,} rows, dropped {summary.dropped:,} "
        f"(ROUGE-L > {args.threshold}); kept rows: {summary.out}; report: {summary.report}",
        file=sys.stderr,
    )
    return 0
