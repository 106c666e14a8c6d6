"""The manifest of official dataset files (path, sha256, size, pinned upstream URL) and their layout.

`manifest.tsv` next to this module is a copy of `../shared/datasets/MANIFEST.tsv`: metadata only, so the
project can download and verify the data without shipping it. Files are grouped into datasets so the UI
can offer one button per dataset.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from core.datasets.errors import DatasetError

MANIFEST_PATH = Path(__file__).with_name("manifest.tsv")
HEADER = ["path", "sha256", "bytes", "upstream_url"]

# Layout of a datasets folder (the same as ../shared/datasets and data/datasets).
INDUCTION_DIR = "instruction-induction"
SEED_FILE = "self-instruct/seed_tasks.jsonl"
EVAL_FILE = "self-instruct/user_oriented_instructions.jsonl"
PREDICTIONS_DIR = "self-instruct/predictions"
PREDICTIONS_SUFFIX = "_predictions.jsonl"
TEMPLATES_DIR = "self-instruct/templates"  # the paper's few-shot prompt templates (Python files read as data)
CLF_TEMPLATE_FILE = TEMPLATES_DIR + "/clf_task_template.py"
INSTANCE_TEMPLATE_FILE = TEMPLATES_DIR + "/instance_gen_template.py"

# Dataset groups, in display order: id -> label.
GROUPS: dict[str, str] = {
    "instruction_induction": "Instruction Induction (24 tasks)",
    "seed_tasks": "Self-Instruct seed tasks",
    "user_oriented": "User-oriented evaluation tasks (252)",
    "predictions": "Model predictions on the 252 tasks",
    "si_templates": "Self-Instruct prompt templates (paper)",
}

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    sha256: str
    bytes: int
    url: str

    @property
    def group(self) -> str:
        return group_of(self.path)


def group_of(path: str) -> str:
    if path.startswith(INDUCTION_DIR + "/"):
        return "instruction_induction"
    if path == SEED_FILE:
        return "seed_tasks"
    if path == EVAL_FILE:
        return "user_oriented"
    if path.startswith(PREDICTIONS_DIR + "/"):
        return "predictions"
    if path.startswith(TEMPLATES_DIR + "/"):
        return "si_templates"
    raise ValueError(f"{path} belongs to no dataset group")


def read_manifest(path: Path | None = None) -> list[ManifestEntry]:
    """Parse a manifest TSV, refusing anything that could write outside the datasets folder."""
    path = path or MANIFEST_PATH
    name = path.name
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != HEADER:
        raise DatasetError(name, f"expected the header {' '.join(HEADER)!r} (tab-separated)", line=1)
    entries = []
    for number, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        cells = text.split("\t")
        if len(cells) != 4:
            raise DatasetError(name, f"expected 4 tab-separated columns, got {len(cells)}", line=number)
        rel, sha, size, url = cells
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or not rel:
            raise DatasetError(name, f"expected a relative path inside the folder, got {rel!r}", line=number)
        if not _SHA256.fullmatch(sha):
            raise DatasetError(name, "expected 64 lowercase hex digits", line=number, field="sha256")
        if not size.isdigit():
            raise DatasetError(name, "expected a whole number of bytes", line=number, field="bytes")
        if not url.startswith(("https://", "http://")):
            raise DatasetError(name, "expected an http(s) URL", line=number, field="upstream_url")
        group_of(rel)  # every file must belong to a known group
        entries.append(ManifestEntry(rel, sha, int(size), url))
    return entries


def entries_for(
    groups: list[str] | None = None, manifest: list[ManifestEntry] | None = None
) -> list[ManifestEntry]:
    """Manifest entries of the given groups (all when None), refusing unknown group ids."""
    entries = manifest if manifest is not None else list(_packaged_manifest())
    if groups is None:
        return entries
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown dataset group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    return [e for e in entries if e.group in groups]


@lru_cache(maxsize=1)
def _packaged_manifest() -> tuple[ManifestEntry, ...]:
    return tuple(read_manifest())


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
