"""Charts never draw blank and always name their axes: no data or all zeros becomes a plain note, a model
without ratings never reaches Figure 6, and the Self-Instruct run charts follow the same rule."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import JobRunner, submit
from core.selfinstruct.job import resolve_seeds
from core.selfinstruct.rows import seed_row
from core.selfinstruct.spec import KIND, selfinstruct_params
from core.store import dispose_all, get_engine
from core.store import runs as run_store
from tests.pages import open_page
from tests.test_demo_selfinstruct_live import _store_iteration
from ui.charts import NO_DATA, blank_reason


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def _chart_frames(at: AppTest) -> list[pd.DataFrame]:
    """The data each chart was sent (Streamlit ships it beside the spec, as Arrow)."""
    frames = []
    for chart in at.get("vega_lite_chart"):
        for named in chart.proto.datasets:
            frames.append(pa.ipc.open_stream(named.data.data).read_pandas())
        if chart.proto.data.data:
            frames.append(pa.ipc.open_stream(chart.proto.data.data).read_pandas())
    return frames


def _titles(spec: dict) -> list[str]:
    """Every axis title in a Vega-Lite spec (layers and encodings included)."""
    found = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for axis in ("x", "y"):
                enc = node.get("encoding", {}).get(axis)
                if isinstance(enc, dict) and enc.get("title"):
                    found.append(enc["title"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


def test_blank_reason_names_empty_null_and_zero_data() -> None:
    assert blank_reason(pd.DataFrame({"a": []})) == NO_DATA
    assert blank_reason(pd.DataFrame({"a": [None, None]})) == NO_DATA
    assert "zero" in blank_reason(pd.Series([0, 0.0, None]))
    assert blank_reason(pd.DataFrame({"a": [0, 1]})) is None
    assert blank_reason(pd.DataFrame({"t": ["x", "y"], "a": [0, 0.5]}), ["a"]) is None


def _figure6_app(models: list[tuple[str, list[str]]]) -> AppTest:
    def script(models) -> None:
        from core.humaneval.records import Rating  # noqa: F401 (the page's record type)
        from core.humaneval.results import model_results
        from ui import charts

        class R:  # what model_results reads of a rating
            def __init__(self, model: str, label: str) -> None:
                self.model, self.label, self.task_id, self.skipped = model, label, "t", False

        ratings = [R(m, label) for m, labels in models for label in labels]
        charts.figure6(model_results(ratings, models=[m for m, _ in models]))

    return AppTest.from_function(script, args=(models,), default_timeout=60).run()


def test_figure6_leaves_out_unrated_models_and_names_them() -> None:
    at = _figure6_app([("alpha", ["A", "B", "D"]), ("silent", [])])
    assert not at.exception, [e.value for e in at.exception]
    (spec,) = _specs(at)
    assert set(_chart_frames(at)[0]["model"]) == {"alpha"}
    assert "model (n = ratings)" in _titles(spec) and "Share of ratings" in _titles(spec)
    assert [c.value for c in at.caption] == [
        r"No ratings yet for\: silent\."
    ]  # escaped: model names are outside text

    at = _figure6_app([("silent", [])])
    assert not _specs(at)
    assert any(NO_DATA in i.value for i in at.info)


@pytest.fixture()
def si_page(data_dir, monkeypatch):
    monkeypatch.setattr(JobRunner, "_loop", lambda self: None)
    dispose_all()
    yield
    dispose_all()


def test_self_instruct_run_charts_are_titled_or_a_note(si_page) -> None:
    engine = get_engine()
    params = selfinstruct_params(
        {"provider": "embedded"}, seeds="starter", iterations=2, classify=False, instances=False
    )
    run_id = submit(engine, KIND, params, name="charts")
    run_store.save_result(engine, run_id, "seeds", [seed_row(s) for s in resolve_seeds("starter")])
    # Iteration 1 keeps nothing (an empty response), so the pool stays at zero: a note, not a flat line.
    _store_iteration(engine, run_id, 0, "")
    run_store.update_run(engine, run_id, status="done")
    at = open_page("pages/selfinstruct.py")
    at.selectbox(key="si_run").set_value(run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(i.value.startswith("pool size: Every value is zero") for i in at.info)

    # A second iteration keeps instructions: the pool chart is drawn, with both axes titled.
    _store_iteration(
        engine,
        run_id,
        1,
        "Write a limerick about a cat who is afraid of mice.\n9. Explain how a rainbow forms in two sentences.",
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any(i.value.startswith("pool size:") for i in at.info)
    titled = [set(_titles(s)) for s in _specs(at)]
    assert {"iteration", "pool size"} in titled and {"iteration", "candidates"} in titled
