"""A Self-Instruct run names every way it departs from the paper: in its stored parameters and its export."""

from __future__ import annotations

import json
from dataclasses import replace

from core.selfinstruct.fidelity import PAPER_REQUESTS_PER_ITERATION, departures, departures_label
from core.selfinstruct.prompts import PAPER_SOURCE, PromptConfig
from core.selfinstruct.spec import RunSpec, with_decoding
from core.selfinstruct.view import export_run, load_run


def _paper_spec(**changes) -> RunSpec:
    prompt = replace(PromptConfig(), template_source=PAPER_SOURCE)
    return RunSpec(
        **{"target": 100, "requests_per_iteration": PAPER_REQUESTS_PER_ITERATION, "prompt": prompt, **changes}
    )


def test_the_papers_settings_have_no_departure() -> None:
    spec = _paper_spec()
    assert departures(spec) == []
    assert departures_label([]) == "Settings: the paper's method."
    # The stopping rule, the seed and the stall limits are not the method.
    assert departures(_paper_spec(seed=7, max_idle_iterations=3)) == []


def test_each_change_is_named_with_the_papers_value() -> None:
    spec = _paper_spec(
        k_human=8,
        k_machine=0,
        threshold=0.5,
        requests_per_iteration=1,
        seeds="starter",
        blacklist_extra=("table",),
        classification_rule="lenient",
    )
    spec = replace(spec, prompt=with_decoding(spec.prompt, max_tokens=128, clf_instance_max_tokens=200))
    found = departures(spec)
    assert "8 human + 0 machine instructions per prompt (paper: 6 + 2)" in found
    assert "ROUGE-L threshold 0.5 (paper: 0.7)" in found
    assert "1 generation request(s) per iteration (paper: 5)" in found
    assert "seed tasks: starter (paper: the 175 official seed tasks)" in found
    assert "extra blacklist words: table" in found
    assert "generation max_tokens 128 (paper: 1024)" in found
    assert "classification instances max_tokens 200 (paper: 300)" in found
    assert any(d.startswith("classification answers read the lenient way") for d in found)
    assert len(found) == 8


def test_fallback_templates_are_a_departure() -> None:
    spec = replace(_paper_spec(), prompt=PromptConfig())  # the project's own few-shot examples
    assert departures(spec) == ["few-shot templates: workbench fallback (paper: the published templates)"]


def test_departures_are_stored_with_the_run_and_exported() -> None:
    spec = _paper_spec(threshold=0.6)
    params = spec.to_params({"provider": "embedded"})
    assert params["departures"] == ["ROUGE-L threshold 0.6 (paper: 0.7)"]
    assert departures(RunSpec.from_params(params)) == params["departures"]  # survives the round trip
    head = json.loads(export_run(load_run({}, params), "provenance").splitlines()[0])
    assert head["kind"] == "run" and head["departures"] == params["departures"]
