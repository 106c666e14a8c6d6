"""The Instruction Induction page puts a started run above the long New run form, and clears it once the form
holds another task (the run stays under Runs)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import core.datasets as datasets
from core.store import get_engine
from core.store import runs as run_store
from tests.pages import click, open_page


def _flat(at: AppTest) -> list:
    out = []

    def walk(node) -> None:
        out.append(node)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    return out


def _index(at: AppTest, predicate) -> int:
    return next(n for n, node in enumerate(_flat(at)) if predicate(node))


def _start(at: AppTest) -> None:
    # Ten held-out inputs at the assumed 10 s a call is just over ten minutes: tick when asked.
    for box in at.checkbox:
        if box.key == "ind_confirm_long":
            box.check().run()
    click(at, "Start induction")


def test_a_started_run_sits_above_the_form_and_goes_when_the_task_changes(data_dir) -> None:
    at = open_page("pages/induction.py")
    tasks = datasets.instruction_task_names()
    assert len(tasks) >= 2 and at.selectbox(key="ind_task").value == tasks[0]
    _start(at)
    run_id = at.session_state["ind_run"]
    heading = f"Run {run_id}"
    assert [h.value for h in at.subheader].count(heading) == 1
    # Above the form: the run's heading comes before the task selector and the start button.
    run_at = _index(at, lambda n: getattr(n, "type", "") == "subheader" and n.value == heading)
    task_at = _index(at, lambda n: getattr(n, "key", None) == "ind_task")
    start_at = _index(at, lambda n: getattr(n, "label", None) == "Start induction")
    assert run_at < task_at < start_at
    assert any(t.value == run_store.get_run(get_engine(), run_id).name for t in at.text)

    # Other settings of the same task keep it in view ...
    at.number_input(key="ind_limit").set_value(2).run()
    assert heading in [h.value for h in at.subheader]
    # ... another task clears it: its report would not match the form any more.
    at.selectbox(key="ind_task").set_value(tasks[1]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert heading not in [h.value for h in at.subheader]
    assert "ind_run" not in at.session_state
    # The run itself is kept: the Runs section lists it.
    at.segmented_control(key="ind_section").set_value("Runs").run()
    assert run_id in list(at.dataframe[0].value["run"])


def test_close_hides_the_current_run(data_dir) -> None:
    at = open_page("pages/induction.py")
    _start(at)
    heading = f"Run {at.session_state['ind_run']}"
    assert heading in [h.value for h in at.subheader]
    at.button(key="ind_current_close").click().run()
    assert heading not in [h.value for h in at.subheader]
