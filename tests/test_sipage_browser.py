"""The Self-Instruct pool view in Chromium, with the consistency columns of a real check run (screenshot)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.selfinstruct import calltexts
from core.selfinstruct.view import export_run, load_run
from core.store import dispose_all, get_engine
from core.store import runs as run_store
from tests.browser import chromium, running_app
from tests.test_selfinstruct_pipeline import share_model
from tests.test_sipage_consistency import _checked

pytestmark = pytest.mark.browser


def test_pool_view_with_consistency_columns(data_dir, tmp_path, artifacts_dir):
    share_model(data_dir)
    dispose_all()
    run_id, _check_id, _stored = _checked(get_engine(f"sqlite:///{data_dir / 'workbench.db'}"))
    dispose_all()
    with running_app(data_dir, tmp_path / "app.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(url)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Self-Instruct").click()
        expect(page.get_by_role("heading", name="Self-Instruct")).to_be_visible(timeout=30_000)
        page.get_by_test_id("stSelectbox").filter(has_text="Run").first.click()
        page.get_by_role("option", name=f"Run {run_id} · checked").click()
        page.get_by_role("tab", name="Pool").click()
        expect(page.get_by_text("A task is suspect when")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("3 of 3 items match")).to_be_visible()
        assert page.get_by_test_id("stException").count() == 0
        page.wait_for_timeout(1500)  # the data grid paints after its frame is visible
        page.screenshot(path=str(artifacts_dir / "sipage_pool_consistency.png"), full_page=True)

        # Exports are built on the click, from every stored record: the file is the whole export.
        page.get_by_role("tab", name="Export").click()
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="Provenance JSONL").click()
        got = Path(download.value.path()).read_text(encoding="utf-8")
    engine = get_engine(f"sqlite:///{data_dir / 'workbench.db'}")
    run = run_store.get_run(engine, run_id)
    assert got == export_run(load_run(calltexts.results(engine, run_id), run.params), "provenance")
    dispose_all()
