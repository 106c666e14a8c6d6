"""Fetching the official files (or copying them from a local folder) into the datasets folder, verified.

Every file is written to `<name>.part`, checked against the manifest's sha256 and only then renamed into
place, so the datasets folder never holds a file that failed its check. An interrupted download keeps its
`.part` and resumes from there with an HTTP Range request.
"""

from __future__ import annotations

import http.client
import os
import shutil
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.config import data_dir
from core.datasets.errors import ChecksumError, DatasetError, DownloadError
from core.datasets.manifest import GROUPS, ManifestEntry, entries_for, sha256_of

CHUNK = 64 * 1024
USER_AGENT = "instruction-workbench/0.1 (+dataset download)"
# Errors after which a retry with Range can pick up where the transfer stopped.
_TRANSIENT = (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError, TimeoutError)


def datasets_dir() -> Path:
    return data_dir() / "datasets"


@dataclass
class Progress:
    """One progress report: `done`/`total` bytes of file `index` (1-based) of `count`."""

    path: str
    index: int
    count: int
    done: int
    total: int
    state: str  # "downloading", "resuming", "copying", "verified", "present", "retrying"


ProgressFn = Callable[[Progress], None]


@dataclass
class Report:
    fetched: list[str] = field(default_factory=list)  # downloaded or copied, and verified
    present: list[str] = field(default_factory=list)  # already in place with the right checksum
    missing: list[str] = field(default_factory=list)  # import only: not in the source folder


def _noop(_: Progress) -> None:
    pass


# ---------------------------------------------------------------------------------------------------
# Verification, with a cache so status() does not rehash unchanged files


_hash_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        _hash_cache[key] = sha256_of(path)
    return _hash_cache[key]


def is_verified(path: Path, entry: ManifestEntry) -> bool:
    return path.is_file() and path.stat().st_size == entry.bytes and file_sha256(path) == entry.sha256


def _accept(part: Path, target: Path, entry: ManifestEntry) -> None:
    """Rename a finished `.part` into place if its checksum matches; otherwise delete it and refuse."""
    actual = sha256_of(part)
    if actual != entry.sha256:
        part.unlink(missing_ok=True)
        raise ChecksumError(entry.path, entry.sha256, actual)
    os.replace(part, target)


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


# ---------------------------------------------------------------------------------------------------
# Download


def _fetch(url: str, part: Path, entry: ManifestEntry, timeout: float, report: Callable[[int, str], None]):
    """Append to `part` from where it stops (Range), or start over when the server ignores the Range."""
    have = part.stat().st_size if part.exists() else 0
    if have > entry.bytes:
        part.unlink()
        have = 0
    if have == entry.bytes:
        return
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part is complete (the checksum decides)
            return
        raise DownloadError(entry.path, f"HTTP {exc.code} {exc.reason} from {url}") from None
    with response:
        resumed = bool(have) and response.status == 206
        if not resumed:
            have = 0
        report(have, "resuming" if resumed else "downloading")
        declared = response.length  # Content-Length, when the server sent one
        received = 0
        with part.open("ab" if resumed else "wb") as fh:
            while chunk := response.read(CHUNK):
                fh.write(chunk)
                have += len(chunk)
                received += len(chunk)
                report(have, "downloading")
                if have > entry.bytes:  # longer than the manifest says: stop, the checksum will refuse it
                    return
    # http.client returns b"" rather than raising when a connection closes early; a short body is a drop.
    if declared is not None and received < declared:
        raise http.client.IncompleteRead(b"", declared - received)


def download(
    dest: Path | None = None,
    *,
    groups: list[str] | None = None,
    base_url_override: str | None = None,
    progress: ProgressFn | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    backoff: float = 0.5,
) -> Report:
    """Fetch the official files of `groups` (all by default) into `dest` (data/datasets).

    `base_url_override` replaces each upstream URL by `<override>/<manifest path>` (a mirror, or a
    loopback server in tests). Files already present and verified are skipped. Raises ChecksumError
    when a file's sha256 differs (the file is not kept) and DownloadError when it cannot be fetched.
    """
    dest = Path(dest) if dest else datasets_dir()
    progress = progress or _noop
    entries = entries_for(groups)
    result = Report()
    for index, entry in enumerate(entries, start=1):
        target = dest / entry.path
        if is_verified(target, entry):
            progress(Progress(entry.path, index, len(entries), entry.bytes, entry.bytes, "present"))
            result.present.append(entry.path)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        url = entry.url
        if base_url_override:
            url = base_url_override.rstrip("/") + "/" + entry.path
        part = part_path(target)

        def report(done: int, state: str, entry=entry, index=index) -> None:
            progress(Progress(entry.path, index, len(entries), done, entry.bytes, state))

        for attempt in range(retries + 1):
            try:
                _fetch(url, part, entry, timeout, report)
                break
            except _TRANSIENT + (urllib.error.URLError,) as exc:
                kept = part.stat().st_size if part.exists() else 0
                if attempt == retries:
                    kept_note = (
                        f"{kept} of {entry.bytes} bytes kept in {part.name}, run the download again to resume"
                        if kept
                        else "nothing was received"
                    )
                    raise DownloadError(
                        entry.path,
                        f"download failed after {retries + 1} attempts from {url} ({exc}); {kept_note}",
                    ) from None
                report(kept, "retrying")
                time.sleep(backoff * (attempt + 1))
        _accept(part, target, entry)
        report(entry.bytes, "verified")
        result.fetched.append(entry.path)
    return result


# ---------------------------------------------------------------------------------------------------
# Import from a local folder


def import_folder(
    folder: Path,
    dest: Path | None = None,
    *,
    groups: list[str] | None = None,
    progress: ProgressFn | None = None,
) -> Report:
    """Copy the official files found in `folder` (laid out like ../shared/datasets) into `dest`.

    Every source file is checked before anything is copied, so a folder with one bad file changes nothing.
    Files absent from the folder are listed in `Report.missing`; a folder with none of them is refused.
    """
    folder = Path(folder)
    dest = Path(dest) if dest else datasets_dir()
    progress = progress or _noop
    if not folder.is_dir():
        raise DatasetError(str(folder), "not a folder")
    entries = entries_for(groups)
    result = Report()
    found = []
    for entry in entries:
        source = folder / entry.path
        if not source.is_file():
            result.missing.append(entry.path)
            continue
        actual = file_sha256(source)
        if actual != entry.sha256:
            raise ChecksumError(entry.path, entry.sha256, actual)
        found.append(entry)
    if not found:
        raise DatasetError(
            str(folder),
            "no dataset files found; expected a folder laid out like ../shared/datasets "
            "(e.g. self-instruct/seed_tasks.jsonl)",
        )
    for index, entry in enumerate(found, start=1):
        source, target = folder / entry.path, dest / entry.path
        if is_verified(target, entry):
            progress(Progress(entry.path, index, len(found), entry.bytes, entry.bytes, "present"))
            result.present.append(entry.path)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        progress(Progress(entry.path, index, len(found), 0, entry.bytes, "copying"))
        part = part_path(target)
        shutil.copyfile(source, part)
        _accept(part, target, entry)  # the copy is checked too, not only its source
        progress(Progress(entry.path, index, len(found), entry.bytes, entry.bytes, "verified"))
        result.fetched.append(entry.path)
    return result


# ---------------------------------------------------------------------------------------------------
# Status


@dataclass
class GroupStatus:
    id: str
    label: str
    state: str  # "present", "missing", "partial" or "corrupt"
    files: int
    ok: int
    bytes: int
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)


def status(dest: Path | None = None) -> list[GroupStatus]:
    """Per dataset group: all files verified (present), none there (missing), some (partial) or bad."""
    dest = Path(dest) if dest else datasets_dir()
    result = []
    for group, label in GROUPS.items():
        entries = entries_for([group])
        missing, corrupt = [], []
        for entry in entries:
            path = dest / entry.path
            if not path.is_file():
                missing.append(entry.path)
            elif not is_verified(path, entry):
                corrupt.append(entry.path)
        ok = len(entries) - len(missing) - len(corrupt)
        if corrupt:
            state = "corrupt"
        elif not missing:
            state = "present"
        elif ok == 0:
            state = "missing"
        else:
            state = "partial"
        size = sum(e.bytes for e in entries)
        result.append(GroupStatus(group, label, state, len(entries), ok, size, missing, corrupt))
    return result


def group_present(group: str, root: Path, file_name: str | None = None) -> bool:
    """Cheap presence check used to choose official data over the starter set (sizes, no hashing); with
    `file_name`, only the group's files of that name (one induction task's four)."""
    entries = [e for e in entries_for([group]) if file_name is None or Path(e.path).name == file_name]
    return all(_size(root / e.path) == e.bytes for e in entries)


def _size(path: Path) -> int | None:
    """The size of a regular file, None when there is none (one stat call)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
