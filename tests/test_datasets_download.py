"""Download (against a loopback server serving the shared files), import FOLDER, status and the CLI."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

import core.datasets as ds
from core.datasets.errors import ChecksumError, DatasetError, DownloadError
from core.datasets.manifest import EVAL_FILE, SEED_FILE, entries_for
from tests.conftest import app_env, run_cli

WRONG = b'{"id": "not the seed tasks"}\n'


class Mirror(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.root = root
        self.wrong: set[str] = set()  # paths served with other content
        self.drop: dict[str, int] = {}  # path -> how many more responses to cut off halfway
        self.requests: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class MirrorHandler(BaseHTTPRequestHandler):
    server: Mirror

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        rel = unquote(self.path.lstrip("/"))
        wanted = self.headers.get("Range")
        self.server.requests.append((rel, wanted))
        path = self.server.root / rel
        if rel in self.server.wrong:
            body = WRONG
        elif path.is_file():
            body = path.read_bytes()
        else:
            self.send_error(404)
            return
        start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
        chunk = body[start:]
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if self.server.drop.get(rel, 0) > 0:
            self.server.drop[rel] -= 1
            self.wfile.write(chunk[: len(chunk) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the rest never arrives
            return
        self.wfile.write(chunk)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture()
def mirror(shared_datasets: Path) -> Iterator[Mirror]:
    server = Mirror(shared_datasets)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------------
# Download


def test_download_verifies_and_skips_what_is_present(tmp_path: Path, mirror: Mirror, shared_datasets: Path):
    events: list[ds.Progress] = []
    report = ds.download(
        tmp_path, groups=["seed_tasks", "user_oriented"], base_url_override=mirror.url, progress=events.append
    )
    assert report.fetched == [SEED_FILE, EVAL_FILE]
    for rel in (SEED_FILE, EVAL_FILE):
        assert (tmp_path / rel).read_bytes() == (shared_datasets / rel).read_bytes()
    assert files_under(tmp_path) == sorted([SEED_FILE, EVAL_FILE])  # no .part left behind
    assert [e.state for e in events if e.state == "verified"] == ["verified", "verified"]
    assert events[-1].done == events[-1].total
    mirror.requests.clear()
    again = ds.download(tmp_path, groups=["seed_tasks"], base_url_override=mirror.url)
    assert again.present == [SEED_FILE] and mirror.requests == []


def test_checksum_mismatch_is_refused_and_nothing_is_kept(tmp_path: Path, mirror: Mirror):
    mirror.wrong.add(SEED_FILE)
    [entry] = entries_for(["seed_tasks"])
    with pytest.raises(ChecksumError) as info:
        ds.download(tmp_path, groups=["seed_tasks"], base_url_override=mirror.url)
    message = str(info.value)
    assert message.startswith(f"{SEED_FILE}: checksum mismatch")
    assert f"expected sha256 {entry.sha256}" in message and f"got {sha(WRONG)}" in message
    assert files_under(tmp_path) == []


def test_a_dropped_transfer_resumes_with_range(tmp_path: Path, mirror: Mirror, shared_datasets: Path):
    size = (shared_datasets / EVAL_FILE).stat().st_size
    mirror.drop[EVAL_FILE] = 1
    events: list[ds.Progress] = []
    ds.download(
        tmp_path, groups=["user_oriented"], base_url_override=mirror.url, progress=events.append, backoff=0
    )
    assert mirror.requests == [(EVAL_FILE, None), (EVAL_FILE, f"bytes={size // 2}-")]
    assert (tmp_path / EVAL_FILE).read_bytes() == (shared_datasets / EVAL_FILE).read_bytes()
    assert {"retrying", "resuming", "verified"} <= {e.state for e in events}


def test_an_interrupted_download_resumes_on_the_next_run(
    tmp_path: Path, mirror: Mirror, shared_datasets: Path
):
    size = (shared_datasets / SEED_FILE).stat().st_size
    mirror.drop[SEED_FILE] = 1
    with pytest.raises(DownloadError) as info:
        ds.download(tmp_path, groups=["seed_tasks"], base_url_override=mirror.url, retries=0)
    assert "run the download again to resume" in str(info.value)
    part = tmp_path / (SEED_FILE + ".part")
    assert part.stat().st_size == size // 2 and not (tmp_path / SEED_FILE).exists()
    ds.download(tmp_path, groups=["seed_tasks"], base_url_override=mirror.url)
    assert mirror.requests[-1] == (SEED_FILE, f"bytes={size // 2}-")
    assert (tmp_path / SEED_FILE).read_bytes() == (shared_datasets / SEED_FILE).read_bytes()
    assert not part.exists()


def test_http_errors_are_reported(tmp_path: Path, mirror: Mirror):
    with pytest.raises(DownloadError, match=r"HTTP 404"):
        ds.download(tmp_path, groups=["seed_tasks"], base_url_override=mirror.url + "/nowhere")
    with pytest.raises(ValueError, match="unknown dataset group"):
        ds.download(tmp_path, groups=["everything"], base_url_override=mirror.url)


# ---------------------------------------------------------------------------------------------------
# Import, status, facade


def test_import_folder_then_everything_is_official(data_dir: Path, shared_datasets: Path):
    dest = data_dir / "datasets"
    assert {g.id: g.state for g in ds.status()} == dict.fromkeys(ds.GROUPS, "missing")
    report = ds.import_folder(shared_datasets)
    assert len(report.fetched) == 108 and report.missing == []
    assert {g.id: g.state for g in ds.status()} == dict.fromkeys(ds.GROUPS, "present")
    assert not any(p.name.endswith(".part") for p in dest.rglob("*"))
    assert ds.instruction_task_names() == list(ds.TASK_NAMES)
    assert len(ds.seed_tasks()) == 175 and ds.seed_tasks()[0].source == "official"
    assert len(ds.eval_tasks()) == 252 and len(ds.predictions()) == 8
    assert len(ds.import_folder(shared_datasets).present) == 108  # a second import copies nothing


def test_import_refuses_a_bad_file_before_copying_anything(tmp_path: Path, shared_datasets: Path):
    source = tmp_path / "source"
    for rel in (SEED_FILE, EVAL_FILE):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_datasets / rel, source / rel)
    (source / EVAL_FILE).write_bytes(b"edited\n")
    with pytest.raises(ChecksumError) as info:
        ds.import_folder(source, tmp_path / "dest")
    assert str(info.value).startswith(f"{EVAL_FILE}: checksum mismatch") and sha(b"edited\n") in str(
        info.value
    )
    assert not (tmp_path / "dest").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no dataset files found"):
        ds.import_folder(tmp_path / "empty", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_partial_import_and_corrupt_status(tmp_path: Path, shared_datasets: Path):
    source, dest = tmp_path / "source", tmp_path / "dest"
    (source / SEED_FILE).parent.mkdir(parents=True)
    shutil.copyfile(shared_datasets / SEED_FILE, source / SEED_FILE)
    report = ds.import_folder(source, dest)
    assert report.fetched == [SEED_FILE] and len(report.missing) == 107
    states = {g.id: g.state for g in ds.status(dest)}
    assert states == {"instruction_induction": "missing", "seed_tasks": "present", "user_oriented": "missing",
                      "predictions": "missing", "si_templates": "missing"}  # fmt: skip
    (dest / SEED_FILE).write_bytes((dest / SEED_FILE).read_bytes().replace(b"seed_task_0", b"seed_task_X"))
    [seeds] = [g for g in ds.status(dest) if g.id == "seed_tasks"]
    assert (seeds.state, seeds.corrupt) == ("corrupt", [SEED_FILE])
    some = dest / "self-instruct" / "predictions"
    some.mkdir()
    shutil.copyfile(
        shared_datasets / "self-instruct/predictions/davinci_predictions.jsonl",
        some / "davinci_predictions.jsonl",
    )
    [preds] = [g for g in ds.status(dest) if g.id == "predictions"]
    assert (preds.state, preds.ok, preds.files) == ("partial", 1, 8)


# ---------------------------------------------------------------------------------------------------
# Command line


def cli(*args: str, data: Path) -> subprocess.CompletedProcess:
    return run_cli("core.datasets", *args, env=app_env(data), timeout_s=120)


def test_cli_status_download_and_failures(tmp_path: Path, mirror: Mirror):
    data = tmp_path / "data"
    run = cli("status", data=data)
    assert run.returncode == 0 and "missing  0/96 files" in run.stdout
    run = cli("download", "--group", "seed_tasks", "--base-url", mirror.url, data=data)
    assert run.returncode == 0, run.stderr
    assert f"verified  {SEED_FILE}" in run.stdout and "Downloaded 1 file(s)" in run.stdout
    run = cli("status", data=data)
    assert "Self-Instruct seed tasks" in run.stdout and "present  1/1 files" in run.stdout

    mirror.wrong.add(EVAL_FILE)
    run = cli("download", "--group", "user_oriented", "--base-url", mirror.url, data=data)
    assert run.returncode == 1
    assert f"error: {EVAL_FILE}: checksum mismatch" in run.stderr
    assert not (data / "datasets" / EVAL_FILE).exists()

    run = cli("import", str(tmp_path / "nowhere"), data=data)
    assert run.returncode == 1 and "not a folder" in run.stderr
    run = cli("download", "--group", "bogus", data=data)
    assert run.returncode == 2  # argparse usage error


def test_cli_import(tmp_path: Path, shared_datasets: Path):
    data = tmp_path / "data"
    run = cli("import", str(shared_datasets), data=data)
    assert run.returncode == 0, run.stderr
    assert "Imported 108 file(s)" in run.stdout
    assert cli("status", data=data).stdout.count("present") == 5
