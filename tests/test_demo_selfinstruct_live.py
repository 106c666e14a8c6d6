"""Self-Instruct's live view, from a run's stored state mid-iteration: only the running iteration is shown as
current (its prompt, the streaming response, then where its candidates will come, in that order), finished
iterations are labelled finished, and the counter only moves forward.

The stored iterations are built by the job's own functions (plan, judge, record) from responses written here,
as a worker would store them; the page is read as a user would see it.
"""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import JobRunner, submit
from core.selfinstruct.job import resolve_seeds
from core.selfinstruct.records import Task
from core.selfinstruct.requests import plan_iteration
from core.selfinstruct.rows import iteration_record, judge_response, seed_row
from core.selfinstruct.spec import KIND, RunSpec, iter_key, selfinstruct_params
from core.selfinstruct.view import load_run
from core.similarity import NoveltyIndex
from core.store import dispose_all, get_engine
from core.store import runs as run_store
from tests.pages import ok, open_page
from ui.selfinstruct_live import counter

RESPONSES = [
    "Write a limerick about a cat who is afraid of mice.\n9. Convert the given temperature from Celsius to Kelvin.",
    "Suggest three names for a bakery that sells only bread.\n9. Explain how a rainbow forms in two sentences.",
    "List the planets of the solar system ordered by their size.\n9. Rewrite the sentence in the passive voice.",
]


def _store_iteration(engine, run_id: int, t: int, response: str) -> dict:
    """Iteration t's record as the job builds it, from a given response to every request."""
    run = run_store.get_run(engine, run_id)
    spec = RunSpec.from_params(run.params)
    results = run_store.results(engine, run_id)
    seeds = [Task.from_dict(r) for r in results["seeds"]]
    view = load_run(results, run.params)
    machine = [Task(text, id=f"{it.t}/{i}") for it in view.iterations for i, text in enumerate(it.kept)]
    texts = [s.instruction for s in seeds]
    pool = NoveltyIndex(texts, spec.threshold)
    for m in machine:
        pool.add(m.instruction)
    seed_pool = NoveltyIndex(texts, spec.threshold)
    planned = plan_iteration(spec, seeds, machine, t, "completion")
    requests = [
        judge_response(spec, t, p, response, "stop", None, "completion", pool, seed_pool) for p in planned
    ]
    record = iteration_record(t, requests, len(machine), spec.prompt.version)
    assert run_store.save_result(engine, run_id, iter_key(t), record)
    return record


@pytest.fixture()
def page(data_dir, monkeypatch):
    monkeypatch.setattr(JobRunner, "_loop", lambda self: None)  # the test moves the run along itself
    dispose_all()
    yield open_page("pages/selfinstruct.py")
    dispose_all()


def _counter_number(engine, run_id: int) -> tuple[int, str]:
    """The first number of the status bar's text (iterations done or running) and the text."""
    run = run_store.get_run(engine, run_id)
    # From the stored records read whole, not from the page's index.
    view = load_run(run_store.results(engine, run_id))
    _, text = counter(run, RunSpec.from_params(run.params), len(view.iterations), view.n_kept)
    return int(re.search(r"\d+", text).group()), text


def _bar(at: AppTest) -> str:
    """The page's status bar text, its Markdown escapes taken off."""
    return at.progress[0].proto.text.replace("\\", "")


def test_a_run_mid_iteration_shows_only_that_iteration_as_current(page):
    at = page
    engine = get_engine()
    params = selfinstruct_params(
        {"provider": "embedded"}, seeds="starter", iterations=2, classify=False, instances=False
    )
    run_id = submit(engine, KIND, params, name="live")
    run_store.save_result(engine, run_id, "seeds", [seed_row(s) for s in resolve_seeds("starter")])
    _store_iteration(engine, run_id, 0, RESPONSES[0])
    _store_iteration(engine, run_id, 1, RESPONSES[1])
    run_store.update_run(engine, run_id, status="done")
    numbers = [_counter_number(engine, run_id)]
    assert numbers[-1][1].startswith("2 iteration(s)")

    # "Run next iteration": the run is queued, then a worker takes it and streams iteration 3's response.
    at.run()  # the selector lists the run made above
    at.selectbox(key="si_run").set_value(run_id).run()
    ok(at)
    at.button(key=f"si_next_{run_id}").click().run()
    ok(at)
    assert run_store.get_run(engine, run_id).status == "queued"
    numbers.append(_counter_number(engine, run_id))
    streamed = "Name three rivers that flow through"
    run_store.update_run(engine, run_id, status="running", live=streamed)
    numbers.append(_counter_number(engine, run_id))
    assert numbers[-1][1].startswith("iteration 3 of 3 running")
    at.run()
    ok(at)
    # The page's bar (read from its index) says what the stored records say.
    assert _bar(at).endswith(numbers[-1][1]), _bar(at)

    markdown = [m.value for m in at.markdown]
    order = [
        "**Now: iteration 3 of 3**",
        "**1 · Sampled instructions**",
        "**2 · The exact prompt**",
        "**3 · Response, as the model writes it**",
        "**4 · Candidates**",
        "**Finished iterations**",
    ]
    positions = [markdown.index(heading) for heading in order]
    assert positions == sorted(positions), markdown
    # The running step's prompt is the one the job plans for iteration 3; the response is the live text.
    codes = [c.value for c in at.code]
    shown_prompt = codes[0]
    assert shown_prompt.startswith("Come up with a series of tasks:")
    assert codes[1] == streamed
    # The finished iteration below is labelled finished; nothing says "Iteration 0" or "of 0".
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Finished iteration 2 of 2") for c in captions)
    everything = " ".join(markdown + captions + [t.value for t in at.text])
    assert not re.search(r"[Ii]teration 0\b|\bof 0\b", everything)

    # The iteration is judged and stored: the stored prompt is the one that was shown while it ran.
    record = _store_iteration(engine, run_id, 2, streamed + " the given country.")
    assert record["requests"][0]["prompt"] == shown_prompt
    run_store.update_run(engine, run_id, live=None)
    numbers.append(_counter_number(engine, run_id))
    at.run()
    ok(at)
    markdown = [m.value for m in at.markdown]
    assert "**Now: iteration 3 of 3**" not in markdown
    assert any(c.value.startswith("Finished iteration 3 of 3") for c in at.caption)

    run_store.update_run(engine, run_id, status="done")
    numbers.append(_counter_number(engine, run_id))
    at.run()
    ok(at)
    assert _bar(at).endswith(numbers[-1][1]), _bar(at)
    assert not [m for m in at.markdown if m.value.startswith("**Now:")]
    assert any(c.value.startswith("Iteration 3 of 3") for c in at.caption)
    # The counter only moved forward: 2 done, 2 stored while queued, 3 running, 3 generated, 3 done.
    assert [n for n, _ in numbers] == sorted(n for n, _ in numbers), numbers
    assert [n for n, _ in numbers] == [2, 2, 3, 3, 3], numbers


def test_the_stages_after_the_last_iteration_are_shown_as_the_current_step(page):
    at = page
    engine = get_engine()
    params = selfinstruct_params({"provider": "embedded"}, seeds="starter", iterations=1)
    run_id = submit(engine, KIND, params, name="stages")
    run_store.save_result(engine, run_id, "seeds", [seed_row(s) for s in resolve_seeds("starter")])
    record = _store_iteration(engine, run_id, 0, RESPONSES[2])
    run_store.update_run(engine, run_id, status="running")
    at.run()  # the selector lists the run made above
    at.selectbox(key="si_run").set_value(run_id).run()
    ok(at)
    markdown = [m.value for m in at.markdown]
    assert "**Now: classification and instances**" in markdown
    assert any(
        f"Kept instructions classified and given instances: 0 of {len(record['kept'])}" in c.value
        for c in at.caption
    )
    assert any(c.value.startswith("Finished iteration 1 of 1") for c in at.caption)
