"""The Instruction Induction page in AppTest: enter demonstrations, induce, see results, judge by hand."""

from __future__ import annotations

from core.induction.job import model_from_dict
from core.jobs import run_once
from core.store import calls as call_log
from core.store import get_engine
from core.store import runs as run_store
from tests.pages import click, open_page

EMBEDDED = {"provider": "embedded"}
PASTED = (
    "input\toutput\tsplit\ncat\tcats\tinduce\ndog\tdogs\tinduce\nbox\tboxes\tinduce\ncup\tcups\texecute\n"
)


def _run_job(run_id: int) -> run_store.Run:
    """Run the queued job here, as a worker would (the tests' app starts no worker threads)."""
    engine = get_engine()
    params = run_store.get_run(engine, run_id).params
    assert run_once(engine, ("induction",), model_from_dict(params["model"])) == run_id
    return run_store.get_run(engine, run_id)


def test_enter_demonstrations_induce_and_see_results(data_dir) -> None:
    at = open_page("pages/induction.py")
    at.radio(key="ind_source").set_value("own").run()
    # Paste TSV, load it into the editable table, then edit the table like a user would.
    at.text_area(key="ind_paste").set_value(PASTED).run()
    click(at, "Load into the table")
    assert any("Loaded 4 demonstrations" in s.value for s in at.success)
    table = at.data_editor(key="ind_demo_editor").value
    assert table["input"].tolist() == ["cat", "dog", "box", "cup"]
    assert table["held_out"].tolist() == [False, False, False, True]
    at.session_state["ind_demo_editor"] = {
        "edited_rows": {1: {"output": "dogs"}},
        "added_rows": [{"input": "pen", "output": "pens", "held_out": True}],
        "deleted_rows": [],
    }
    at.run()
    assert any("3 demonstrations · 2 held-out examples" in c.value for c in at.caption)
    assert any(m.label == "Model calls, at most" and m.value == "3" for m in at.metric)

    # A bad paste is refused with the line and the reason, and the table stays as it was.
    at.text_area(key="ind_paste").set_value("cat\tcats\ndog").run()
    click(at, "Load into the table")
    # Our words in the alert, the reason (which quotes the pasted text) as plain text beside it.
    assert any("Could not read the pasted demonstrations" in e.value for e in at.error)
    assert any("line 2" in t.value and "input<TAB>output" in t.value for t in at.text)

    click(at, "Start induction")
    run_id = at.session_state["ind_run"]
    run = _run_job(run_id)
    assert run.status == "done", run.error
    assert run.params["demos"] == [["cat", "cats"], ["dog", "dogs"], ["box", "boxes"]]
    assert run.params["tests"] == [["cup", ["cups"]], ["pen", ["pens"]]]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert {"Induced instructions", "Drill-down"} <= {s.value for s in at.subheader}
    assert any(m.label == "Distinct / induced" and m.value == "1 / 1" for m in at.metric)
    drill = [d for d in at.dataframe if "normalised output" in d.value.columns]
    assert drill and sorted(drill[0].value["input"]) == ["cup", "pen"]
    assert set(drill[0].value["accepted answers"]) == {"cups", "pens"}

    before = call_log.count_calls(get_engine())
    click(at, "Re-score from stored outputs")
    assert any("0 model calls made" in s.value for s in at.success)
    assert call_log.count_calls(get_engine()) == before

    # A second run, sampled, to compare with the first in the Runs section.
    at.radio(key="ind_decoding").set_value("sampled").run()
    at.number_input(key="ind_k").set_value(2).run()
    click(at, "Start induction")
    second = _run_job(at.session_state["ind_run"])
    assert second.status == "done", second.error
    at.segmented_control(key="ind_section").set_value("Runs").run()
    assert not at.exception, [e.value for e in at.exception]
    listed = at.dataframe[0].value
    assert listed["run"].tolist() == [second.id, run_id] and set(listed["status"]) == {"done"}
    at.segmented_control(key="ind_runs_view").set_value("Compare two").run()
    assert not at.exception, [e.value for e in at.exception]
    # A static table whose long values wrap; st.table reads Markdown, so every cell is escaped.
    compared = next(t.value for t in at.table if list(t.value.columns) == ["", "A", "B"])
    decoding = compared.set_index("").loc["decoding"]
    assert sorted(decoding) == ["greedy", r"sampled T\=0\.7"]


def test_benchmark_section_starts_a_run_and_shows_the_table(data_dir) -> None:
    at = open_page("pages/induction.py")
    at.segmented_control(key="ind_section").set_value("Benchmark").run()
    at.multiselect(key="ind_b_tasks").set_value(["starter_sum"]).run()
    at.number_input(key="ind_b_limit").set_value(1).run()
    at.toggle(key="ind_b_bert").set_value(False).run()
    # One induction, then the induced and the 3 gold instructions on the one held-out input.
    assert any(m.label == "Model calls, at most" and m.value == "5" for m in at.metric)
    click(at, "Start benchmark")
    run_id = at.session_state["ind_bench_run"]
    engine = get_engine()
    assert run_once(engine, ("induction_benchmark",), model_from_dict(EMBEDDED)) == run_id
    assert run_store.get_run(engine, run_id).status == "done"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "percent_of_human" in d.value.columns)
    assert table["task"].tolist() == ["starter_sum"] and table["inputs"].tolist() == [1]
    assert any(m.label == "Tasks complete" and m.value == "1 / 1" for m in at.metric)
    assert any(m.label == "% of human performance" for m in at.metric)


def test_typed_test_inputs_are_judged_by_hand(data_dir) -> None:
    at = open_page("pages/induction.py")
    at.radio(key="ind_source").set_value("own").run()
    at.radio(key="ind_own_mode").set_value("judge").run()
    # Untick the starter table's held-out rows: every test input is then typed and judged by hand.
    at.session_state["ind_demo_editor"] = {
        "edited_rows": {5: {"held_out": False}, 6: {"held_out": False}, 7: {"held_out": False}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert any("2 test inputs, no answers" in c.value for c in at.caption)
    click(at, "Start induction")
    run = _run_job(at.session_state["ind_run"])
    assert run.status == "done", run.error
    assert [answers for _, answers in run.params["tests"]] == [[], []]
    at.run()
    assert any(s.value == "Judge outputs by hand" for s in at.subheader)
    assert len(at.feedback) == 2
    at.feedback[0].set_value(1).run()  # thumbs up on the first output
    assert not at.exception, [e.value for e in at.exception]
    verdicts = run_store.results(get_engine(), run.id, "judge/")
    assert list(verdicts.values()) == [{"ok": True}]
    assert len(at.feedback) == 1  # a judgement is final: its widget is gone
    assert any(m.label == "Induced accuracy" and m.value == "100.0%" for m in at.metric)
