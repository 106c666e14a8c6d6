"""A running app (`streamlit run app.py`) and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import httpx
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import REPO_ROOT
from tests.llm_servers import free_port

CHROMIUM = "/usr/bin/chromium"
STARTUP_TIMEOUT_S = 180.0
# The first script run of a fresh app process imports the whole app; on a loaded machine that alone has taken
# over 30 s. Tests wait this long for the first page to render (a wait for the state, not a delay).
FIRST_RENDER_MS = int(STARTUP_TIMEOUT_S * 1000)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def running_app(data_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "WORKBENCH_DATA_DIR": str(data_dir),
        "WORKBENCH_JOB_THREADS": "2",
        **(extra_env or {}),
    }
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            # Poll the health endpoint (the state itself), with room for a busy machine.
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# True once the app's script has finished and has stayed finished across two animation frames: a rerun that
# a click or a fragment timer queues starts within that time, so a page that passes is really at rest.
_AT_REST = """() => new Promise((resolve) => {
    const idle = () => {
        const app = document.querySelector('[data-testid="stApp"]');
        const status = document.querySelector('[data-testid="stStatusWidget"]');
        return app !== null && app.getAttribute("data-test-script-state") === "notRunning"
            && (status === null || status.offsetParent === null);
    };
    if (!idle()) { resolve(false); return; }
    requestAnimationFrame(() => requestAnimationFrame(() => resolve(idle())));
})"""


def wait_idle(page: Page, timeout_ms: int = 60_000) -> None:
    """Wait until no script run is in progress: a click that lands mid-rerun can hit a button that is
    about to be replaced and be lost. Waits for the state (script not running, no status widget, and still
    so a couple of frames later), never for a fixed time."""
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout_ms
    )
    page.wait_for_function(_AT_REST, timeout=timeout_ms, polling=50)


def settle_for_screenshot(page: Page, timeout_ms: int = 60_000) -> None:
    """Before a screenshot, after a resize: the app at rest (see `wait_idle`) and its web fonts loaded, so
    the picture shows the laid-out page rather than a frame of the re-layout."""
    wait_idle(page, timeout_ms)
    page.wait_for_function("() => document.fonts.status === 'loaded'", timeout=timeout_ms, polling=50)
    wait_idle(page, timeout_ms)


def record_outside_requests(page: Page, outside: list[str]) -> None:
    """Append to `outside` every URL the page requests from anywhere but this machine (the app is offline-first)."""

    def note(request) -> None:
        if urlparse(request.url).hostname not in (
            "127.0.0.1",
            "localhost",
            None,
        ) and not request.url.startswith(("data:", "blob:")):
            outside.append(request.url)

    page.on("request", note)


# Short generations for the embedded model in browser tests: a run of the Self-Instruct page finishes in
# seconds instead of minutes at the paper's token limits.
SHORT_SELFINSTRUCT_LIMITS = (
    ("Max tokens per generation (paper: 1024)", "48"),
    ("Max tokens for instances of other tasks (paper: 350)", "16"),
    ("Max tokens for instances of classification tasks (paper: 300)", "16"),
)


def shorten_selfinstruct_limits(page: Page) -> None:
    """Fill the Self-Instruct start form's token limits with SHORT_SELFINSTRUCT_LIMITS, each confirmed."""
    for label, value in SHORT_SELFINSTRUCT_LIMITS:
        box = page.get_by_label(label)
        box.fill(value)
        box.press("Enter")
        expect(box).to_have_value(value)
