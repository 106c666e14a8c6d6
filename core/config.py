"""Where things live and how the app is configured.

Settings come from environment variables first, then `.streamlit/secrets.toml` (read as plain TOML so
`core` never imports Streamlit). The Settings page may override them for one browser session only.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The app's working folder (database, datasets, model cache); `WORKBENCH_DATA_DIR` moves it."""
    path = Path(os.environ.get("WORKBENCH_DATA_DIR", REPO_ROOT / "data")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@lru_cache(maxsize=1)
def _secrets() -> dict:
    path = REPO_ROOT / ".streamlit" / "secrets.toml"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def setting(name: str, default: str | None = None) -> str | None:
    """An environment variable, else the same key in `.streamlit/secrets.toml`, else `default`."""
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    value = _secrets().get(name)
    return str(value) if value not in (None, "") else default
