"""Shared fixtures: the public datasets folder and an isolated working folder per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """`../shared/datasets`, or `WORKBENCH_SHARED_DATASETS`; the data tests need it and say so loudly."""
    path = Path(os.environ.get("WORKBENCH_SHARED_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))
    if not (path / "MANIFEST.tsv").exists():
        pytest.fail(f"public datasets not found at {path} (set WORKBENCH_SHARED_DATASETS)")
    return path


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh app working folder for one test."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(path))
    # Page tests run queued jobs themselves (core.jobs.run_once), so no worker threads outlive a test.
    monkeypatch.setenv("WORKBENCH_JOB_THREADS", "0")
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _postgres_url() -> str:
    url = os.environ.get("WORKBENCH_TEST_PG_URL")
    if not url:
        pytest.fail(
            "PostgreSQL tests need a server: set WORKBENCH_TEST_PG_URL "
            "(.ci/run installs PostgreSQL from Debian's packages and starts it on 127.0.0.1)"
        )
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, data_dir: Path) -> str:
    """The store under test, on SQLite and on a real PostgreSQL server (emptied first)."""
    from core.store import dispose_all

    dispose_all()
    if request.param == "sqlite":
        return f"sqlite:///{data_dir / 'test.db'}"
    url = _postgres_url()
    from sqlalchemy import create_engine, text

    eng = create_engine("postgresql+psycopg://" + url.removeprefix("postgresql://"))
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()
    return url


@pytest.fixture()
def engine(db_url: str):
    from core.store import dispose_all, get_engine

    yield get_engine(db_url)
    dispose_all()


@pytest.fixture()
def sqlite_engine(data_dir: Path):
    from core.store import dispose_all, get_engine

    dispose_all()
    yield get_engine(f"sqlite:///{data_dir / 'workbench.db'}")
    dispose_all()
