"""Errors raised while reading, downloading or importing datasets.

Every message names the file and, when known, the line and field, so a user can fix an upload without
guessing: "seed_tasks.jsonl, line 12, field 'instruction': expected a non-empty string, got int".
"""

from __future__ import annotations


class DatasetError(Exception):
    """A dataset file that cannot be used, with where and why."""

    def __init__(
        self,
        file: str,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.file = file
        self.message = message
        self.line = line
        self.field = field
        self.expected = expected
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}"


class ChecksumError(DatasetError):
    """A file whose sha256 differs from the manifest: it is never kept."""

    def __init__(self, file: str, expected_sha256: str, actual_sha256: str) -> None:
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256
        super().__init__(
            file,
            f"checksum mismatch: expected sha256 {expected_sha256}, got {actual_sha256}; the file was not kept",
            expected=f"sha256 {expected_sha256}",
        )


class DownloadError(DatasetError):
    """A file that could not be fetched (network error, HTTP status, too many interruptions)."""


def type_name(value: object) -> str:
    """How a JSON value is named in messages ("got int", "got null", "got an empty string")."""
    if value is None:
        return "null"
    if isinstance(value, str) and not value.strip():
        return "an empty string"
    return type(value).__name__


def wrong_type(
    file: str, expected: str, value: object, *, line: int | None = None, field: str | None = None
) -> DatasetError:
    return DatasetError(
        file, f"expected {expected}, got {type_name(value)}", line=line, field=field, expected=expected
    )


def missing(file: str, expected: str, *, line: int | None = None, field: str) -> DatasetError:
    return DatasetError(file, f"missing (expected {expected})", line=line, field=field, expected=expected)
