"""A tour of every page at two window sizes, as a new user would see it: no exception, no raw "None"/"nan",
nothing wider than the window, and not one request leaving this machine (the app is offline-first)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import FIRST_RENDER_MS, chromium, record_outside_requests, running_app, wait_idle

pytestmark = pytest.mark.browser

PAGES = [
    "Home",
    "Instruction Induction",
    "Self-Instruct",
    "Human Evaluation",
    "Data Quality Review",
    "Call log",
    "Settings",
]
VIEWPORTS = [(1440, 900), (1024, 768)]
RAW_VALUE = re.compile(r"(?<![\w.])(None|nan|NaN)(?![\w.])")


def _heading(title: str) -> str:
    return "Instruction Workbench" if title == "Home" else title


def _visible_text(page: Page) -> str:
    return page.get_by_test_id("stMain").inner_text()


def _overflow_px(page: Page) -> int:
    # How far the page or its main column is wider than what the window shows (a cut table, a wide chart).
    return page.evaluate(
        """() => Math.max(...['html', '[data-testid="stMain"]', '[data-testid="stMainBlockContainer"]']
            .map(sel => document.querySelector(sel))
            .filter(Boolean)
            .map(el => el.scrollWidth - el.clientWidth))"""
    )


def _settle(page: Page) -> None:
    wait_idle(page)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=60_000)


def _screenshots(page: Page, stem: str, width: int, height: int) -> None:
    """The first viewport as a user sees it, and the whole page (the main column scrolls inside the window,
    so a full-page screenshot needs a window as tall as the content)."""
    page.screenshot(path=f"{stem}.png")
    content = page.evaluate(
        "() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight"
    )
    page.set_viewport_size({"width": width, "height": min(max(height, content + 160), 12_000)})
    _settle(page)
    page.screenshot(path=f"{stem}-full.png")
    page.set_viewport_size({"width": width, "height": height})


def test_every_page_reads_cleanly_at_two_sizes_and_stays_offline(data_dir, tmp_path, artifacts_dir):
    out = artifacts_dir / "tour"
    out.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    with running_app(data_dir, tmp_path / "app.log") as url, chromium() as browser:
        for width, height in VIEWPORTS:
            page = browser.new_page(viewport={"width": width, "height": height})
            record_outside_requests(page, outside)
            page.goto(url)
            expect(page.get_by_role("heading", name="Instruction Workbench")).to_be_visible(
                timeout=FIRST_RENDER_MS
            )
            for title in PAGES:
                page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
                expect(page.get_by_role("heading", name=_heading(title)).first).to_be_visible(timeout=30_000)
                _settle(page)
                slug = title.lower().replace(" ", "-")
                _screenshots(page, str(out / f"{slug}-{width}x{height}"), width, height)
                assert page.get_by_test_id("stException").count() == 0, f"{title} raised an exception"
                raw = RAW_VALUE.findall(_visible_text(page))
                assert not raw, f"{title} at {width}px shows raw values: {raw}"
                assert _overflow_px(page) <= 2, f"{title} at {width}px is wider than the window"
            page.close()
    assert not outside, f"requests left this machine: {sorted(set(outside))[:5]}"
