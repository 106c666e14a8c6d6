"""Every page renders without an exception (Streamlit's AppTest), and Settings reaches the model."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

PAGES = [
    "pages/home.py",
    "pages/induction.py",
    "pages/selfinstruct.py",
    "pages/humaneval.py",
    "pages/review.py",
    "pages/calls.py",
    "pages/settings.py",
]


def _app() -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page, data_dir):
    at = _app()
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{page} shows no title"


def test_settings_generates_a_sample_completion_from_the_embedded_model(data_dir):
    at = _app()
    at.run()
    at.switch_page("pages/settings.py")
    at.run()
    at.text_area[0].set_value("The capital of France is")
    next(b for b in at.button if b.label == "Generate a sample completion").click()
    at.run()
    assert not at.exception
    assert at.code and at.code[0].value.strip()
    assert any("new call" in c.value for c in at.caption)
    at.switch_page("pages/calls.py")
    at.run()
    assert not at.exception
    assert any("The capital of France is" in c.value for c in at.code)


def test_api_key_is_never_echoed(data_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-shown-123")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("WORKBENCH_MODEL", "m")
    at = _app()
    at.run()
    at.switch_page("pages/settings.py")
    at.run()
    assert not at.exception
    rendered = repr(at._tree)
    assert "sk-never-shown-123" not in rendered
    assert "a key is set (hidden)" in rendered


def test_a_running_job_shows_what_the_model_is_writing(data_dir):
    from core.store import get_engine
    from core.store import runs as run_store

    engine = get_engine()
    run_id = run_store.create_run(engine, "datasets", {}, worker="elsewhere")
    run_store.update_run(engine, run_id, live="Come up with <b>tasks</b>: 9. Translate")
    at = _app()
    at.session_state["datasets_run"] = run_id
    at.run()
    at.switch_page("pages/settings.py")
    at.run()
    assert not at.exception
    assert any(c.value == "Come up with <b>tasks</b>: 9. Translate" for c in at.code)
