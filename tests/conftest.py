"""Shared fixtures: the public datasets folder, an isolated working folder per test, the store on SQLite and
PostgreSQL, the real llama.cpp server, and helpers that wait for a state instead of sleeping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
OWNER_PASSWORD = "page-tests-owner-password"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """`../shared/datasets`, or `WORKBENCH_SHARED_DATASETS`; the data tests need it and say so loudly."""
    path = Path(os.environ.get("WORKBENCH_SHARED_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))
    if not (path / "MANIFEST.tsv").exists():
        pytest.fail(f"public datasets not found at {path} (set WORKBENCH_SHARED_DATASETS)")
    return path


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches() -> None:
    """Streamlit's st.cache_data/st.cache_resource live as long as the process and are keyed without the data
    folder or database (the app has one of each per process): a page test must not be served the tasks,
    runs or engine of the test before it."""
    if "streamlit" in sys.modules:
        import streamlit as st

        st.cache_data.clear()
        st.cache_resource.clear()


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh app working folder for one test."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(path))
    # Page tests run queued jobs themselves (core.jobs.run_once), so no worker threads outlive a test.
    monkeypatch.setenv("WORKBENCH_JOB_THREADS", "0")
    return path


@pytest.fixture()
def owner_password(monkeypatch: pytest.MonkeyPatch) -> str:
    """Owner rights of a local profile need the owner password; page tests enter this one (tests/pages.py).
    A module takes it with `pytestmark = pytest.mark.usefixtures("owner_password")`."""
    monkeypatch.setenv("WORKBENCH_OWNER_PASSWORD", OWNER_PASSWORD)
    return OWNER_PASSWORD


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _postgres_url() -> str:
    # Never skipped: a PostgreSQL case without a server fails, and says how to get one.
    url = os.environ.get("WORKBENCH_TEST_PG_URL")
    if not url:
        pytest.fail(
            "PostgreSQL tests need a server: set WORKBENCH_TEST_PG_URL "
            "(.ci/run installs PostgreSQL from Debian's packages and starts it on 127.0.0.1)"
        )
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store under test, on SQLite and on a real PostgreSQL server (emptied first, so each test starts
    from nothing). It is also the app's database for the test (DATABASE_URL): pages, command lines and
    worker processes started by the test use it too."""
    from core.store import dispose_all

    dispose_all()
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / 'test.db'}"
        monkeypatch.setenv("DATABASE_URL", url)
        return url
    url = _postgres_url()
    monkeypatch.setenv("DATABASE_URL", url)
    from sqlalchemy import text

    eng = bare_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()
    return url


def bare_engine(url: str):
    """An engine on `url` with no migration applied (the app's get_engine migrates)."""
    from sqlalchemy import create_engine

    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url)


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


@pytest.fixture()
def store(sqlite_engine):
    """The page tests' name for it: the app's own database, which the page opens too (ui.common.engine)."""
    return sqlite_engine


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 120.0) -> object:
    """Poll until `condition()` is truthy and return it; fail naming `what` after a generous timeout.
    Tests wait for a state this way, never for a fixed time."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture()
def use_model(monkeypatch: pytest.MonkeyPatch) -> Callable[[object], object]:
    """`use_model(model)`: every job started in this process calls `model` (a scripted stand-in with the
    provider interface) instead of the provider its settings name, until the test ends."""

    def install(model: object) -> object:
        monkeypatch.setattr("core.jobs.context.make_provider", lambda settings: model)
        return model

    return install


def app_env(data_dir: Path, *, without: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """The environment of a command line or worker process run on this test's data folder and database,
    less the variables named in `without` (so the process cannot pick up, say, a key or database of the
    test run's own environment)."""
    env = {k: v for k, v in os.environ.items() if k not in without}
    return {**env, "WORKBENCH_DATA_DIR": str(data_dir), **extra}


def run_cli(
    module: str, *args: str, env: dict[str, str], timeout_s: float = 300
) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` from the repository in `env` (see app_env), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def kill_worker_when(condition: Callable[[], bool], env: dict[str, str], what: str) -> None:
    """Start `python -m core.jobs worker --once` and SIGKILL it as soon as `condition()` holds: a crash
    mid-run, at a point the test chose. Fails if the worker finished first (nothing would be left to resume)."""
    worker = subprocess.Popen([sys.executable, "-m", "core.jobs", "worker", "--once"], cwd=REPO_ROOT, env=env)
    try:
        wait_for(lambda: condition() or worker.poll() is not None, what, timeout_s=300)
        assert worker.poll() is None, f"the worker ended (exit {worker.returncode}) before {what}"
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)


# --- The real llama.cpp server (one for the session), for pipelines on an OpenAI-compatible endpoint ----------

LLAMA_MODEL = "gemma-3-270m"  # the alias the server answers to
# A busy CI machine can take minutes for a request a quiet one answers in a second: waiting long is free
# when the answer comes, and a timeout would only turn slowness into a failure.
LLAMA_TIMEOUT_S = 900.0


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory):
    """`python -m llama_cpp.server` on the embedded GGUF file: a real endpoint serving completion and chat."""
    from core.llm.embedded import model_path
    from tests.llm_servers import LlamaServer

    # The app's own model folder, whichever test first asks (not a module's temporary working folder).
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DATA_DIR", str(REPO_ROOT / "data"))
        path = model_path()
    server = LlamaServer(path, tmp_path_factory.mktemp("llama") / "server.log")
    yield server
    server.stop()


def llama_settings(server, styles: tuple[str, ...] = ("completion", "chat"), max_concurrency: int = 1):
    """Model settings for the llama.cpp server; one request at a time, so a killed worker leaves at most one
    request in flight and the server's request count is exact up to that one."""
    from core.llm import ModelSettings

    return ModelSettings(
        provider="openai",
        base_url=server.base_url,
        model=LLAMA_MODEL,
        styles=styles,
        max_concurrency=max_concurrency,
        max_retries=0,  # a retry would be a second request for one call: the counts would not add up
        timeout_s=LLAMA_TIMEOUT_S,
    )


def count_call_rows(engine, run_id: int) -> tuple[int, int]:
    """(every call row of a run, those with an error): rows, not distinct requests, so a request made twice
    counts twice."""
    from sqlalchemy import func, select

    from core.store.schema import calls

    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(calls).where(calls.c.run_id == run_id))
        errors = conn.execute(
            select(func.count())
            .select_from(calls)
            .where(calls.c.run_id == run_id, calls.c.error.is_not(None))
        )
        return rows.scalar_one(), errors.scalar_one()


@pytest.fixture()
def endpoint_factory():
    """Loopback endpoints (tests/si_scale_endpoint.py: a fault injector), stopped after the test."""
    from tests.si_scale_endpoint import LoopbackEndpoint

    made: list[LoopbackEndpoint] = []

    def make(**kwargs) -> LoopbackEndpoint:
        made.append(LoopbackEndpoint(**kwargs))
        return made[-1]

    yield make
    for e in made:
        e.stop()
