"""The Self-Instruct page in AppTest: start a run in step mode, run its job here, see every step of it."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import JobRunner, run_once
from core.selfinstruct.view import load_run
from core.store import dispose_all, get_engine
from core.store import runs as run_store
from tests.conftest import REPO_ROOT
from tests.test_selfinstruct_pipeline import share_model


@pytest.fixture()
def app(data_dir, monkeypatch):
    share_model(data_dir)
    # The test runs each job itself with run_once, so the app's worker threads must not take it first.
    monkeypatch.setattr(JobRunner, "_loop", lambda self: None)
    dispose_all()
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/selfinstruct.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    yield at
    dispose_all()


def _errors(at: AppTest) -> list:
    return [e.value for e in at.exception]


def test_step_mode_shows_each_stage_and_steps_back_and_forth(app):
    at = app
    assert at.title[0].value == "Self-Instruct"
    assert any("Estimate:" in c.value and "model calls" in c.value for c in at.caption)
    at.number_input(key="si_max_tokens").set_value(40)
    at.number_input(key="si_inst_tokens").set_value(16)
    at.number_input(key="si_clf_inst_tokens").set_value(16)
    at.radio(key="si_on_length").set_value("drop_last")
    at.run()
    at.button(key="si_start").click()
    at.run()
    assert not at.exception, _errors(at)
    run_id = at.session_state["si_run"]
    engine = get_engine()
    run = run_store.get_run(engine, run_id)
    assert run.status == "queued" and run.params["iterations"] == 1
    assert run.params["prompt"]["instruction_decoding"]["max_tokens"] == 40
    assert run.params["on_length"] == "drop_last" and run.params["seeds"] == "starter"

    assert run_once(engine) == run_id
    at.run()
    assert not at.exception, _errors(at)
    markdown = [m.value for m in at.markdown]
    for heading in ("1 · Sampled", "2 · The exact prompt", "3 · Raw response", "4 · Candidates"):
        assert any(heading in m for m in markdown), heading
    cards = [m for m in markdown if m.startswith((":green-badge", ":red-badge"))]
    assert cards, "candidate cards are shown"
    assert any(c.value.startswith("Come up with a series of tasks:\n1. ") for c in at.code)
    assert any(c.value.startswith("Iteration 1 of 1") for c in at.caption)

    # One more step, then back to the first iteration and forward again.
    at.button(key=f"si_next_{run_id}").click()
    at.run()
    assert not at.exception, _errors(at)
    assert run_store.get_run(engine, run_id).params["iterations"] == 2
    assert run_once(engine) == run_id
    at.run()
    assert any(c.value.startswith("Iteration 2 of 2") for c in at.caption)
    at.button(key=f"si_back_{run_id}").click()
    at.run()
    assert any(c.value.startswith("Iteration 1 of 2") for c in at.caption)
    at.button(key=f"si_fwd_{run_id}").click()
    at.run()
    assert any(c.value.startswith("Iteration 2 of 2") for c in at.caption)
    assert not at.exception, _errors(at)
    # The other tabs render from the same records; every export is offered.
    assert {"Iterations", "Pool (generated)", "Candidates"} <= {m.label for m in at.metric}
    assert any(t.value.iloc[0, 0] == "# of instructions" for t in at.dataframe if t.value.shape[1] == 2)

    # Analysis: a background job parses the pool with spaCy; the page shows its stored result.
    at.button(key=f"si_analyse_{run_id}").click()
    at.run()
    assert not at.exception, _errors(at)
    assert run_once(engine) != run_id  # the analysis job
    at.run()
    assert not at.exception, _errors(at)
    assert any("Figure 4" in m.value for m in at.markdown)
    assert any("have a root verb with a direct-object noun" in c.value for c in at.caption)

    # Pool: edit the first item; the change is logged with the run and shows in the exports.
    view = load_run(run_store.results(engine, run_id))
    assert view.items, "the embedded model kept at least one instruction in two iterations"
    (box,) = [t for t in at.text_area if t.label == "Instruction"]
    box.set_value("Name three rivers that flow through the given country.")
    at.button(key=f"si_save_{run_id}").click()
    at.run()
    assert not at.exception, _errors(at)
    view = load_run(run_store.results(engine, run_id))
    assert view.edits == [
        {
            "op": "edit",
            "item": view.items[0].key,
            "instruction": "Name three rivers that flow through the given country.",
        }
    ]
    assert view.items[0].instruction.startswith("Name three rivers") and view.items[0].edited
    at.button(key=f"si_delete_{run_id}").click()
    at.run()
    assert load_run(run_store.results(engine, run_id)).items[0].deleted
