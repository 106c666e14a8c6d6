"""The induction page's paper preset, execution model, labels and plain-text rendering (AppTest)."""

from __future__ import annotations

from pathlib import Path

import core.datasets as ds
from core.llm import ModelSettings
from tests.pages import click, open_page


def test_paper_settings_button_selects_the_papers_method(data_dir: Path, shared_datasets: Path) -> None:
    ds.import_folder(shared_datasets)
    task = ds.load_task("antonyms")
    at = open_page("pages/induction.py")
    at.selectbox(key="ind_task").set_value("antonyms").run()
    assert not any("The paper's method, exactly." in s.value for s in at.success)
    assert any("Departures from the paper:" in c.value for c in at.caption)
    click(at, "Paper settings")
    assert any("The paper's method, exactly." in s.value for s in at.success)
    assert at.radio(key="ind_demo_source").value == "paper"
    assert at.number_input(key="ind_n_sets").value == 100
    assert at.radio(key="ind_decoding").value == "reference"
    assert at.radio(key="ind_postprocess").value == "paper_exact"
    assert (
        at.number_input(key="ind_max_tokens").value,
        at.number_input(key="ind_exec_max_tokens").value,
    ) == (
        50,
        30,
    )
    # 100 inductions, then at most 100 induced and every gold instruction on every held-out input.
    calls = 100 + (100 + len(set(task.annotations))) * len(task.execute)
    assert any(m.label == "Model calls, at most" and m.value == f"{calls:,}" for m in at.metric)
    # Narrowing it is named as a departure.
    at.number_input(key="ind_n_sets").set_value(3).run()
    assert any("3 demonstration set(s) per task, not 100" in c.value for c in at.caption)
    # The fidelity document is reachable from the page.
    assert any("Instruction Induction" in m.value and "paper_exact" in m.value for m in at.markdown)


def test_execution_model_is_chosen_apart_from_the_induction_model(data_dir: Path) -> None:
    at = open_page("pages/induction.py")
    assert at.selectbox(key="ind_exec_model").options[0].startswith("The induction model")
    assert not any("another model executes" in c.value for c in at.caption)
    # An endpoint model induces; another model at that endpoint executes.
    at.session_state["model_settings"] = ModelSettings(
        provider="openai", base_url="http://127.0.0.1:9/v1", model="inducer"
    )
    at.run()
    at.selectbox(key="ind_exec_model").set_value("other").run()
    at.text_input(key="ind_exec_model_name").set_value("executor").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("another model executes the instructions" in c.value for c in at.caption)
    # The embedded model as the executor.
    at.selectbox(key="ind_exec_model").set_value("embedded").run()
    assert any("another model executes the instructions" in c.value for c in at.caption)


def test_outside_text_in_errors_is_plain_text(data_dir: Path) -> None:
    at = open_page("pages/induction.py")
    at.radio(key="ind_source").set_value("own").run()
    # The reason quotes the pasted header cell: Markdown that would load an image from elsewhere.
    evil = "![x](http://127.0.0.1:9/leak.png) **bold** $x$"
    at.text_area(key="ind_paste").set_value(f"input\toutput\t{evil}\ncat\tcats\tz").run()
    click(at, "Load into the table")
    assert at.error and all("leak.png" not in e.value for e in at.error)
    assert any("leak.png" in t.value for t in at.text)
    assert all("leak.png" not in m.value for m in at.markdown)
    assert all("leak.png" not in c.value for c in at.caption)
