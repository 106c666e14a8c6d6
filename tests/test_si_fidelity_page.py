"""The Self-Instruct page names its templates (paper or fallback), lets a user edit a copy for one run (stored and
labelled as a departure), links the fidelity notes, shows outside text plainly, and resumes a stalled run with a
larger limit."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import core.datasets as datasets
from core.jobs import JobRunner, submit
from core.selfinstruct.job import STALL_PREFIX, stall_message
from core.selfinstruct.spec import KIND, selfinstruct_params
from core.store import dispose_all, get_engine
from core.store import runs as run_store
from tests.conftest import REPO_ROOT


@pytest.fixture()
def page(data_dir, monkeypatch):
    monkeypatch.setattr(JobRunner, "_loop", lambda self: None)  # runs stay queued: the test inspects them
    dispose_all()

    def open_page() -> AppTest:
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("pages/selfinstruct.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    yield open_page
    dispose_all()


def started_run(at: AppTest) -> run_store.Run:
    at.button(key="si_start").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return run_store.get_run(get_engine(), at.session_state["si_run"])


def test_without_the_files_the_page_says_fallback_and_the_run_stores_it(page):
    at = page()
    labels = [e.label for e in at.expander]
    assert "Few-shot templates · templates: workbench fallback" in labels
    assert any("workbench fallback" in w.value for w in at.warning)
    assert any(e.label.startswith("How this page follows the paper") for e in at.expander)
    assert any(m.value.startswith("## Self-Instruct") and "sha256" in m.value for m in at.markdown)
    assert at.number_input(key="si_inst_tokens").value == 350
    assert at.number_input(key="si_clf_inst_tokens").value == 300
    assert at.number_input(key="si_max_idle").value == 20
    run = started_run(at)
    assert run.params["templates"] == "templates: workbench fallback"
    decoding = run.params["prompt"]
    assert decoding["instance_decoding"]["max_tokens"] == 350
    assert decoding["instance_decoding_classification"]["max_tokens"] == 300
    assert run.params["max_idle_iterations"] == 20


def test_the_papers_templates_are_shown_and_an_edited_copy_is_a_labelled_departure(page, shared_datasets):
    datasets.import_folder(shared_datasets, groups=["si_templates"])
    paper = datasets.paper_templates()
    at = page()
    assert "Few-shot templates · templates: paper" in [e.label for e in at.expander]
    shown = [c.value for c in at.code]
    assert paper.classify in shown and paper.output_first in shown and paper.input_first in shown
    at.toggle(key="si_edit_input_first_template").set_value(True).run()
    edited = paper.input_first.replace("Come up with examples", "Invent examples", 1)
    at.text_area(key="si_tpl_input_first_template").set_value(edited).run()
    assert any("edited copy (departure)" in w.value for w in at.warning)
    at.number_input(key="si_clf_inst_tokens").set_value(280).run()
    run = started_run(at)
    assert (
        run.params["templates"]
        == "templates: paper · edited copy (departure): instances, input-first (other tasks)"
    )
    assert run.params["prompt"]["input_first_template"] == edited
    assert run.params["prompt"]["classify_template"] == paper.classify
    assert run.params["prompt"]["instance_decoding_classification"]["max_tokens"] == 280
    assert run.params["prompt"]["instance_decoding"]["max_tokens"] == 350


def test_a_stalled_run_resumes_from_the_page_with_a_larger_limit(page):
    engine = get_engine()
    params = selfinstruct_params(
        {"provider": "openai", "model": "**bold** ![x](http://evil.test/x.png)"},
        seeds="starter",
        target=10,
        max_idle_iterations=3,
    )
    run_id = submit(engine, KIND, params, name="stalled")
    run_store.update_run(engine, run_id, status="failed", error=stall_message("iterations", 3, 3))
    at = page()
    at.selectbox(key="si_run").set_value(run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    # The model name is outside text: shown plainly, never as Markdown.
    assert any("**bold** ![x](http://evil.test/x.png)" in t.value for t in at.text)
    assert not any("evil.test" in m.value for m in at.markdown)
    assert at.number_input(key=f"si_idle_{run_id}").value == 6
    at.number_input(key=f"si_idle_{run_id}").set_value(9)
    at.button(key=f"si_idle_go_{run_id}").click().run()
    run = run_store.get_run(engine, run_id)
    assert run.status == "queued" and run.params["max_idle_iterations"] == 9
    assert run.error is None or not run.error.startswith(STALL_PREFIX)
