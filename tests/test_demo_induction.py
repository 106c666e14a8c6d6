"""Demo issues on the Instruction Induction page (AppTest): manual judging respects held-out ticks and
labels its scoring honestly; opening one task's benchmark report keeps the finished run in view."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.induction.job import model_from_dict
from core.jobs import run_once
from core.llm.embedded import EMBEDDED_MODEL
from core.store import calls as call_log
from core.store import get_engine
from core.store import runs as run_store
from tests.pages import click, open_page
from ui.run_estimate import format_duration

UNTICK_EXAMPLE_HELD_OUT = {
    "edited_rows": {5: {"held_out": False}, 6: {"held_out": False}, 7: {"held_out": False}},
    "added_rows": [],
    "deleted_rows": [],
}


def _judge_mode(at: AppTest) -> None:
    at.radio(key="ind_source").set_value("own").run()
    at.radio(key="ind_own_mode").set_value("judge").run()
    assert not at.exception, [e.value for e in at.exception]


def test_judge_mode_keeps_ticked_rows_held_out(data_dir) -> None:
    at = open_page("pages/induction.py")
    _judge_mode(at)
    # The starter table ticks up/old/wet as held out: they must not become demonstrations.
    assert any(
        "5 demonstrations · 2 test inputs, no answers" in c.value and "3 held-out example(s)" in c.value
        for c in at.caption
    )
    assert at.selectbox(key="ind_metric").value == "em"  # the ticked rows have answers to score
    click(at, "Start induction")
    params = run_store.get_run(get_engine(), at.session_state["ind_run"]).params
    demo_inputs = [i for i, _ in params["demos"]]
    assert demo_inputs == ["hot", "big", "happy", "fast", "light"]
    assert params["tests"] == [
        ["up", ["down"]],
        ["old", ["new", "young"]],
        ["wet", ["dry"]],
        ["tall", []],
        ["early", []],
    ]


def test_judge_only_run_is_labelled_judged_by_hand(data_dir) -> None:
    at = open_page("pages/induction.py")
    _judge_mode(at)
    at.session_state["ind_demo_editor"] = UNTICK_EXAMPLE_HELD_OUT
    at.run()
    assert any("8 demonstrations · 2 test inputs, no answers" in c.value for c in at.caption)
    # No answers anywhere: no metric to choose, and the page says how outputs are scored.
    assert not [s for s in at.selectbox if s.key == "ind_metric"]
    assert any(c.value == "Metric: judged by hand" for c in at.caption)
    click(at, "Start induction")
    engine = get_engine()
    run_id = at.session_state["ind_run"]
    params = run_store.get_run(engine, run_id).params
    assert run_once(engine, ("induction",), model_from_dict(params["model"])) == run_id
    assert run_store.get_run(engine, run_id).status == "done"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [t.value for t in at.text] + [c.value for c in at.caption]
    assert any("metric judged by hand" in v for v in shown)
    assert not any("exact match" in v for v in shown)


def test_opening_a_task_report_keeps_the_finished_benchmark(data_dir) -> None:
    at = open_page("pages/induction.py")
    at.segmented_control(key="ind_section").set_value("Benchmark").run()
    at.multiselect(key="ind_b_tasks").set_value(["starter_sum"]).run()
    at.number_input(key="ind_b_limit").set_value(1).run()
    at.toggle(key="ind_b_bert").set_value(False).run()
    click(at, "Start benchmark")
    run_id = at.session_state["ind_bench_run"]
    labels_while_running = at.selectbox(key="ind_bench_run").options
    engine = get_engine()
    assert run_once(engine, ("induction_benchmark",), model_from_dict({"provider": "embedded"})) == run_id
    assert run_store.get_run(engine, run_id).status == "done"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # The browser sends the chosen option's label back: it must not change when the run finishes, or
    # the next click matches no option and the selector falls back to the new-benchmark form.
    assert at.selectbox(key="ind_bench_run").options == labels_while_running
    at.selectbox(key=f"btask-{run_id}").set_value("starter_sum").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["ind_bench_run"] == run_id
    assert not [b for b in at.button if b.label == "Start benchmark"]
    assert any("task starter_sum" in t.value for t in at.text)  # that task's report caption


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_start_buttons_show_a_duration_and_long_runs_need_a_tick(data_dir) -> None:
    at = open_page("pages/induction.py")
    # Nothing in the call log yet: the duration rests on a stated assumption.
    calls = int(_metric(at, "Model calls, at most").replace(",", ""))
    assert any("assuming 10 s a call" in c.value for c in at.caption)
    assert _metric(at, "Duration, about") == format_duration(calls * 10)
    # The embedded model's defaults are small (2 sets, 5 held-out inputs; the gold instructions' baseline
    # included): about a minute at its usual few seconds a call, and no confirmation even at 10 s a call.
    assert calls <= 30, calls
    assert not [c for c in at.checkbox if c.label.startswith("Yes, start a run estimated")]

    # A benchmark over every starter task is long: its start stays disabled until confirmed.
    at.segmented_control(key="ind_section").set_value("Benchmark").run()
    bench_calls = int(_metric(at, "Model calls, at most").replace(",", ""))
    assert bench_calls * 10 > 600
    start = next(b for b in at.button if b.label == "Start benchmark")
    assert start.disabled
    at.checkbox(key="ind_b_confirm_long").check().run()
    assert not next(b for b in at.button if b.label == "Start benchmark").disabled
    # A small one needs no tick.
    at.multiselect(key="ind_b_tasks").set_value(["starter_sum"]).run()
    at.number_input(key="ind_b_limit").set_value(1).run()
    assert not [c for c in at.checkbox if c.key == "ind_b_confirm_long"]
    assert not next(b for b in at.button if b.label == "Start benchmark").disabled

    # Once the model has logged calls, their mean latency is used instead of the assumption.
    call_log.log_call(
        get_engine(),
        call_log.CallRecord(
            cache_key="demo-ii-latency",
            provider="embedded",
            endpoint="",
            model=EMBEDDED_MODEL,
            style="completion",
            prompt="p",
            messages=None,
            params={},
            sample_index=0,
            choices=[{"text": "x"}],
            latency_ms=2000.0,
        ),
    )
    at.segmented_control(key="ind_section").set_value("New run").run()
    calls = int(_metric(at, "Model calls, at most").replace(",", ""))
    assert any("mean latency in the call log, 2.0 s over 1 call(s)" in c.value for c in at.caption)
    assert _metric(at, "Duration, about") == format_duration(calls * 2)
