"""The dataset panel: import the official files from a folder through the page, as a background job."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.jobs import run_once
from core.store import dispose_all, get_engine
from core.store import runs as run_store
from tests.conftest import REPO_ROOT


def test_import_from_folder_through_settings(data_dir, shared_datasets):
    dispose_all()
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/settings.py")
    at.run()
    assert any("not downloaded" in m.value for m in at.markdown)
    folder = next(t for t in at.text_input if t.label.startswith("Import from a folder"))
    folder.set_value(str(shared_datasets))
    next(b for b in at.button if b.label == "Import and verify").click()
    at.run()
    assert not at.exception
    engine = get_engine()
    run_id = run_once(engine)
    assert run_id is not None and run_store.get_run(engine, run_id).status == "done"
    report = run_store.results(engine, run_id)["report"]
    assert len(report["fetched"]) == 108 and report["missing"] == []
    at.run()
    assert not at.exception
    assert sum("verified" in m.value for m in at.markdown) == 5
    at.switch_page("pages/home.py")
    at.run()
    assert any("downloaded and verified" in s.value for s in at.success)
