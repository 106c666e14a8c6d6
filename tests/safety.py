"""Marker secrets and the search for them, shared by the secret-safety tests."""

from __future__ import annotations

import base64
from pathlib import Path

# Marker secrets: if any of these shows up in a file, an output or a page, a secret leaked.
KEY = "sk-test-MARKER-7f3a9c1e5b2d"
PLAIN_KEY = "wbkey-MARKER-2d8e4f6a0c"  # not shaped like a key: only knowing it as the key can mask it
USER, PASSWORD = "alice", "pw-MARKER-91c4e7b3"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def leaks(text: str | bytes, *secrets: str) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [s for s in secrets if s.encode() in data]


def assert_no_secret_in(folder: Path, *secrets: str) -> None:
    """No file under `folder` (the database, its WAL and journal, exports, logs) holds any of `secrets`."""
    secrets = secrets or (KEY, PLAIN_KEY, PASSWORD, BASIC)
    found = {
        str(path): hit
        for path in folder.rglob("*")
        if path.is_file() and path.suffix != ".gguf" and (hit := leaks(path.read_bytes(), *secrets))
    }
    assert not found, f"secrets found in files: {found}"
