"""Settings and Call log as a new user reads them: fields that match the chosen provider, a "Try it" answer
that survives the next rerun, and call-log figures formatted for people (no None, no 43938.3345, runs named)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT, llama_settings
from ui.formatting import format_cost, format_count, format_latency, run_label


def _settings_page() -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/settings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_embedded_hides_the_endpoint_fields(data_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("WORKBENCH_PROVIDER", "embedded")
    at = _settings_page()
    labels = [t.label for t in at.text_input]
    assert at.radio(key="settings-provider").value == "embedded"
    assert "Base URL" not in labels and "Model" not in labels and not any("API key" in x for x in labels)
    at.radio(key="settings-provider").set_value("openai").run()
    labels = [t.label for t in at.text_input]
    assert "Base URL" in labels and "Model" in labels and any("API key" in x for x in labels)


def test_try_it_answer_stays_across_reruns_and_the_call_log_reads_cleanly(data_dir, llama_server):
    at = _settings_page()
    at.session_state["model_settings"] = llama_settings(llama_server)
    at.run()
    at.text_area[0].set_value("The capital of France is")
    next(b for b in at.button if b.label == "Generate a sample completion").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    answer = at.code[0].value
    assert answer.strip()
    at.number_input[1].set_value(30).run()  # any other widget: a rerun
    assert at.code[0].value == answer
    assert any("Last answer from" in c.value for c in at.caption)

    # The call log: the call just made, with latency in seconds or ms and an unknown cost as a dash.
    at.switch_page("pages/calls.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert table["cost"].tolist() == ["—"]
    assert table["run"].tolist() == ["outside any run"]
    assert table["model time"].iloc[0].endswith((" ms", " s"))
    text = "\n".join(t.value for t in at.text)
    assert "None" not in text and "cost —" in text


def test_formatting_of_call_log_figures() -> None:
    assert format_latency(43938.3345) == "43.9 s"
    assert format_latency(850.2) == "850 ms"
    assert format_latency(None) == "—" and format_cost(None) == "—"
    assert format_cost(0.000123456) == "$0.0001235" and format_cost(12.345) == "$12.35"
    assert format_count(6.0) == "6" and format_count(12345) == "12,345"
    assert run_label(6, "induction", "larger batch") == "#6 induction · larger batch"
    assert run_label(None, None, None) == "outside any run"


@pytest.mark.parametrize("value", [float("nan")])
def test_nan_is_missing(value) -> None:
    assert format_latency(value) == format_cost(value) == format_count(value) == "—"
