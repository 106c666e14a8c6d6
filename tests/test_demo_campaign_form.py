"""Human Evaluation page details a new user trips over: the intro line, an emptied campaign form after
Create (a second click creates nothing), and the task history's before/after."""

from __future__ import annotations

import pytest

from core.datasets.records import EvalTask, Instance
from core.humaneval.history import field_changes, summary
from core.store import evalset
from core.store import ratings as rating_store
from tests.pages import click
from tests.test_humaneval_page import _page, _section, _visible

pytestmark = pytest.mark.usefixtures("owner_password")


def _set(store) -> None:
    tasks = [EvalTask(f"t{i}", "Mail", f"Do thing {i}.", [Instance(f"in {i}", f"out {i}")]) for i in range(3)]
    evalset.import_set(store, "form-set", tasks, actor="olga")
    rating_store.save_responses(store, "form-set", "m1", {t.id: "answer" for t in tasks}, source="test")


def test_intro_line_and_campaign_form_clears_after_create(store):
    _set(store)
    at = _page()
    assert any(m.value.startswith("Rate model responses to user-oriented tasks") for m in at.markdown)
    _section(at, "Campaigns")
    at.selectbox(key="heval-set").set_value("form-set").run()
    at.text_input(key="heval-c-name").set_value("Pilot")
    at.text_area(key="heval-c-raters").set_value("ann, ben").run()
    click(at, "Create campaign")
    assert any("Created campaign" in _visible(s.value) for s in at.success)
    assert [c.name for c in rating_store.list_campaigns(store)] == ["Pilot"]
    assert at.text_input(key="heval-c-name").value == ""
    assert at.text_area(key="heval-c-raters").value == "olga"  # back to the default

    click(at, "Create campaign")  # the same button again: refused, nothing duplicated
    assert any("needs a name" in _visible(e.value) for e in at.error)
    at.text_input(key="heval-c-name").set_value("Pilot").run()
    click(at, "Create campaign")
    assert any("already exists" in _visible(e.value) for e in at.error)
    assert len(rating_store.list_campaigns(store)) == 1


def test_history_shows_before_and_after(store):
    _set(store)
    task = evalset.get_task(store, "form-set", "t1")
    evalset.edit_task(
        store, "form-set", EvalTask("t1", task.motivation_app, "Do it better.", task.instances), actor="olga"
    )
    at = _page()
    at.selectbox(key="heval-set").set_value("form-set").run()
    at.selectbox(key="heval-task").set_value("t1").run()
    table = next(d.value for d in at.dataframe if "what changed" in d.value.columns)
    assert table["what changed"].iloc[0] == "instruction: “Do thing 1.” → “Do it better.”"
    shown = [c.value for c in at.code]
    assert "Do thing 1." in shown and "Do it better." in shown


def test_field_changes_name_each_changed_field_with_both_sides() -> None:
    before = {"instruction": "a", "motivation_app": "Mail", "instances": [{"input": "x", "output": "y"}]}
    after = {**before, "motivation_app": "Docs", "deleted": True}
    changes = field_changes(before, after)
    assert [(c.field, c.before, c.after) for c in changes] == [
        ("motivation app", "Mail", "Docs"),
        ("deleted", "(none)", "yes"),
    ]
    assert summary(field_changes({"instruction": "x" * 100}, {"instruction": "y"}), limit=10) == (
        "instruction: “xxxxxxxxx…” → “y”"
    )
