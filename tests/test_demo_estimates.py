"""Every start button on the Self-Instruct and Human Evaluation pages shows calls, tokens, cost and a duration;
the embedded model's defaults stay near a minute; a run estimated over ten minutes waits for a tick."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import JobRunner, submit
from core.selfinstruct.spec import KIND, selfinstruct_params
from core.store import dispose_all, get_engine
from core.store import runs as run_store
from tests.pages import ok, open_page
from tests.test_humaneval_page import _page as humaneval_page
from tests.test_humaneval_page import _section, official  # noqa: F401 (a fixture)
from ui.run_estimate import ASSUMED_SECONDS_PER_CALL, CONFIRM_OVER_SECONDS

pytestmark = pytest.mark.usefixtures("owner_password")

FIGURES = {"Model calls, at most", "Tokens, about", "Cost", "Duration, about"}


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _calls(at: AppTest) -> int:
    return int(_metric(at, "Model calls, at most").replace(",", ""))


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


@pytest.fixture()
def si_page(data_dir, monkeypatch):
    monkeypatch.setattr(JobRunner, "_loop", lambda self: None)  # runs stay where the test puts them
    dispose_all()

    yield lambda: open_page("pages/selfinstruct.py")
    dispose_all()


def test_self_instruct_start_shows_the_four_figures_and_long_runs_need_a_tick(si_page):
    at = si_page()
    assert {m.label for m in at.metric} >= FIGURES
    assert any("assuming 10 s a call" in c.value for c in at.caption)
    # The default on the embedded model (step mode: one iteration with its classification and instances)
    # is about a minute at the assumed latency, and starts without a tick.
    assert _calls(at) * ASSUMED_SECONDS_PER_CALL <= 90
    assert not [c for c in at.checkbox if c.key == "si_confirm_long"]
    assert not _button(at, "si_start").disabled
    at.radio(key="si_mode").set_value("iterations").run()
    assert at.number_input(key="si_iterations").value == 2
    assert _calls(at) * ASSUMED_SECONDS_PER_CALL <= CONFIRM_OVER_SECONDS

    # A pool of 1,000 is hours on this model: the button waits for an explicit tick.
    at.radio(key="si_mode").set_value("target").run()
    assert at.number_input(key="si_target").value == 10
    at.number_input(key="si_target").set_value(1000).run()
    assert _calls(at) * ASSUMED_SECONDS_PER_CALL > CONFIRM_OVER_SECONDS
    assert _button(at, "si_start").disabled
    at.checkbox(key="si_confirm_long").check().run()
    assert not _button(at, "si_start").disabled
    at.button(key="si_start").click().run()
    ok(at)
    run = run_store.get_run(get_engine(), at.session_state["si_run"])
    assert run.params["target"] == 1000


def test_self_instruct_go_on_shows_an_estimate_for_each_choice(si_page):
    engine = get_engine()
    params = selfinstruct_params({"provider": "embedded"}, seeds="starter", iterations=1)
    run_id = submit(engine, KIND, params, name="stopped")
    run_store.update_run(engine, run_id, status="done")
    at = si_page()
    at.selectbox(key="si_run").set_value(run_id).run()
    ok(at)
    # One more iteration: the figures are there and the button needs no tick.
    assert {m.label for m in at.metric} >= FIGURES
    assert not _button(at, f"si_next_{run_id}").disabled
    # "A number more" starts at one iteration on the embedded model.
    at.radio(key=f"si_how_{run_id}").set_value("more").run()
    assert at.number_input(key=f"si_more_{run_id}").value == 1
    one_more = _calls(at)
    at.number_input(key=f"si_more_{run_id}").set_value(100).run()
    assert _calls(at) == 100 * one_more
    assert _button(at, f"si_more_btn_{run_id}").disabled
    at.checkbox(key=f"si_go_{run_id}_confirm_long").check().run()
    assert not _button(at, f"si_more_btn_{run_id}").disabled
    at.button(key=f"si_more_btn_{run_id}").click().run()
    ok(at)
    assert run_store.get_run(engine, run_id).params["iterations"] == 100  # none stored yet: 0 + 100


def test_generate_responses_defaults_to_a_handful_on_the_embedded_model(official, store):  # noqa: F811
    at = humaneval_page()
    _section(at, "Responses")
    box = next(n for n in at.number_input if n.key.startswith("heval-gen-n-"))
    assert box.value == 5 and int(box.max) >= 252
    assert {m.label for m in at.metric} >= FIGURES
    assert _calls(at) == 5
    start = next(b for b in at.button if b.label == "Generate responses")
    assert not start.disabled
    # All 252 at the assumed 10 s a call is over ten minutes: the button waits for the tick.
    box.set_value(int(box.max)).run()
    assert _calls(at) == int(box.max)
    assert next(b for b in at.button if b.label == "Generate responses").disabled
    at.checkbox(key="heval-gen_confirm_long").check().run()
    assert not next(b for b in at.button if b.label == "Generate responses").disabled
    # A start with the default takes the first five tasks only.
    box = next(n for n in at.number_input if n.key.startswith("heval-gen-n-"))
    box.set_value(5).run()
    next(b for b in at.button if b.label == "Generate responses").click().run()
    ok(at)
    run = run_store.get_run(store, at.session_state["heval-gen-run"])
    assert len(run.params["items"]) == 5
