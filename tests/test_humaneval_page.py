"""The Human Evaluation page through Streamlit's AppTest: curation, imports, campaigns, blind rating."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.datasets import import_folder
from core.datasets.loaders import load_eval_tasks, load_predictions
from core.datasets.records import EvalTask, Instance
from core.humaneval.campaign import CampaignSpec
from core.humaneval.display import escape_markdown
from core.humaneval.generate import eval_prompt, response_run_params
from core.humaneval.identity import configured_owners, parse_names, person
from core.humaneval.response_files import model_name_for, parse_response_file
from core.jobs import run_once
from core.store import calls as call_log
from core.store import evalset
from core.store import ratings as rating_store
from core.store import runs as run_store
from tests.conftest import LLAMA_MODEL, LLAMA_TIMEOUT_S, OWNER_PASSWORD
from tests.pages import button, click, ok, open_page, rendered

pytestmark = pytest.mark.usefixtures("owner_password")

OFFICIAL_SET = "user-oriented-252"
EVAL_FILE = "self-instruct/user_oriented_instructions.jsonl"


@pytest.fixture()
def official(data_dir: Path, shared_datasets: Path) -> Path:
    """The official 252 tasks and the 8 prediction files in the app's data folder."""
    import_folder(shared_datasets, data_dir / "datasets", groups=["user_oriented", "predictions"])
    return data_dir / "datasets"


def _page(rater: str = "olga", role: str = "owner", user: dict | None = None) -> AppTest:
    """The Human Evaluation page as `rater` (the owner, proved with the owner password, by default)."""
    return open_page("pages/humaneval.py", rater=rater, role=role, user=user)


def _section(at: AppTest, name: str) -> None:
    at.segmented_control(key="section").set_value(name).run()
    ok(at)


def _frame(at: AppTest, column: str):
    """The first table with this column (tables without a selection expose no key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _visible(markdown: str) -> str:
    """What an escaped Markdown message reads as (outside text in messages is escaped, see ui.common)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


# --- Identity ---------------------------------------------------------------------------------------------


def test_profile_form_then_owner_sections(data_dir):
    at = open_page("pages/humaneval.py")
    assert any(s.value == "Who is rating?" for s in at.subheader)
    assert any("Owner rights need the owner password" in c.value for c in at.caption)
    at.text_input(key="heval-new-name").set_value("olga")
    at.radio[0].set_value("owner")
    at.text_input(key="heval-profile-secret").set_value(OWNER_PASSWORD)
    click(at, "Start")
    assert at.query_params["rater"] == "olga"
    assert at.segmented_control(key="section").options == [
        "Tasks",
        "Responses",
        "Campaigns",
        "Rate",
        "Results",
    ]


def test_owner_list_decides_and_raters_only_rate(data_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OWNERS", "olga@example.com, Pat")
    at = _page(user={"is_logged_in": True, "email": "Olga@Example.com", "name": "Olga"})
    assert at.segmented_control(key="section").value == "Tasks"
    # A local profile cannot promote itself past the list, even with the owner password.
    rater = _page(rater="ann", role="owner")
    assert not rater.segmented_control
    assert any("ann is not listed in WORKBENCH_OWNERS" in _visible(e.value) for e in rater.error)
    assert any("No campaign lists ann as a rater" in i.value for i in rater.info)
    assert not rater.dataframe
    # With a login configured but nobody logged in, the page asks for a login and shows nothing else.
    anonymous = _page(user={"is_logged_in": False})
    assert [b.label for b in anonymous.button] == ["Log in"] and not anonymous.segmented_control
    assert configured_owners(" a, b ,a,, ") == ("a", "b")
    assert person("pat", False, False, ("Pat",)).owner
    assert parse_names("ann, ben\n\ncy,ann") == ("ann", "ben", "cy")


# --- Tasks: curation --------------------------------------------------------------------------------------


def test_curation_edit_validate_delete_and_revert_through_the_ui(official, store, shared_datasets):
    at = _page()
    assert any("official 252" in c.value for c in at.caption)
    assert "252 shown" in " ".join(c.value for c in at.caption)
    at.text_input(key="heval-q").set_value("wordy, complicated").run()
    assert any(c.value.startswith("1 shown") for c in at.caption)
    at.text_input(key="heval-q").set_value("").run()
    at.selectbox(key="heval-has-input").set_value("Without input").run()
    without = int(next(c.value for c in at.caption if " shown" in c.value).split()[0])
    assert 0 < without < 252
    at.selectbox(key="heval-has-input").set_value("Any").run()

    task_id = "user_oriented_task_3"
    original = evalset.get_task(store, OFFICIAL_SET, task_id)
    at.selectbox(key="heval-task").set_value(task_id).run()
    ok(at)

    # An empty instruction is refused with the task and field named; nothing is stored.
    instruction = next(t for t in at.text_area if t.label == "Instruction")
    instruction.set_value("   ")
    click(at, "Save changes")
    assert any("field 'instruction'" in _visible(e.value) for e in at.error)
    assert evalset.get_task(store, OFFICIAL_SET, task_id).instruction == original.instruction

    next(t for t in at.text_area if t.label == "Instruction").set_value("A clearer instruction.")
    next(t for t in at.text_input if t.label == "Motivation app").set_value("NewApp")
    click(at, "Save changes")
    assert any(f"Saved {task_id}" in _visible(s.value) for s in at.success)
    edited = evalset.get_task(store, OFFICIAL_SET, task_id)
    assert (edited.instruction, edited.motivation_app) == ("A clearer instruction.", "NewApp")
    change = evalset.history(store, OFFICIAL_SET, task_id)[0]
    assert (change.action, change.actor) == ("edit", "olga")

    click(at, "Delete this task")
    assert evalset.get_task(store, OFFICIAL_SET, task_id) is None
    at.toggle(key="heval-show-deleted").set_value(True).run()
    at.selectbox(key="heval-task").set_value(task_id).run()
    click(at, "Restore this task")
    assert evalset.get_task(store, OFFICIAL_SET, task_id) is not None

    # History: undo the edit; the set exports byte-identical to the official file again.
    pick = next(s for s in at.selectbox if s.label == "Change to undo")
    pick.set_value(change.id).run()
    click(at, "Revert this change")
    assert any(f"Reverted change #{change.id}" in _visible(s.value) for s in at.success)
    assert evalset.get_task(store, OFFICIAL_SET, task_id).instruction == original.instruction
    actions = [(c.action, c.actor) for c in evalset.history(store, OFFICIAL_SET, task_id)]
    assert actions == [("revert", "olga"), ("restore", "olga"), ("delete", "olga"), ("edit", "olga")]
    source = (shared_datasets / EVAL_FILE).read_text(encoding="utf-8")
    assert evalset.export_set(store, OFFICIAL_SET) == source
    assert any(b.label == "Export as JSONL" for b in at.download_button)


def test_add_task_and_import_another_set(official, store):
    at = _page()
    at.text_input(key="heval-add-id").set_value("user_oriented_task_0")
    at.text_area(key="heval-add-instruction").set_value("x")
    at.text_area(key="heval-add-output").set_value("y")
    click(at, "Add task")
    assert any("already has this id" in e.value for e in at.error)
    at.text_input(key="heval-add-id").set_value("mine_1")
    at.text_area(key="heval-add-instruction").set_value("")
    click(at, "Add task")
    assert any("field 'instruction'" in _visible(e.value) for e in at.error)
    at.text_area(key="heval-add-instruction").set_value("Say hello.")
    at.text_area(key="heval-add-output").set_value("Hello.")
    click(at, "Add task")
    assert evalset.get_task(store, OFFICIAL_SET, "mine_1").instruction == "Say hello."

    rows = [
        {
            "id": "a",
            "motivation_app": "X",
            "instruction": "Do a.",
            "instances": [{"input": "", "output": "A"}],
        },
        {
            "id": "a",
            "motivation_app": "X",
            "instruction": "Do b.",
            "instances": [{"input": "", "output": "B"}],
        },
    ]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    at.file_uploader(key="heval-import-file").upload("mine.jsonl", data, "application/jsonl").run()
    click(at, "Import as a new set")
    assert any("duplicate id 'a'" in _visible(e.value) and "line 2" in _visible(e.value) for e in at.error)
    rows[1]["id"] = "b"
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    at.file_uploader(key="heval-import-file").set_value(("mine.jsonl", data, "application/jsonl")).run()
    click(at, "Import as a new set")
    assert [t.id for t in evalset.list_tasks(store, "mine")] == ["a", "b"]
    assert at.selectbox(key="heval-set").value == "mine"
    assert evalset.export_set(store, "mine").encode() == data


def test_starter_set_when_the_official_file_is_absent(data_dir, store):
    at = _page()
    assert any("starter tasks" in c.value for c in at.caption)
    assert evalset.set_names(store) == ["starter-eval"]


# --- Responses --------------------------------------------------------------------------------------------


def test_import_official_predictions_with_unmatched_report(official, store):
    at = _page()
    # A task deleted before the import leaves one row of every prediction file without a task.
    evalset.set_deleted(store, OFFICIAL_SET, "user_oriented_task_5", True, actor="olga")
    _section(at, "Responses")
    click(at, "Import the 8 official prediction files")
    assert any("8 row(s) matched no task" in w.value for w in at.warning)
    counts = rating_store.response_models(store, OFFICIAL_SET)
    assert len(counts) == 8 and set(counts.values()) == {251}
    problems = _frame(at, "problem")
    assert len(problems) == 8 and set(problems["line"]) == {6}
    assert set(problems["problem"]) == {"no task with this instruction and input"}

    # A user's file: by task id or by instruction; rows that match nothing are listed with their line.
    rows = [
        {"task_id": "user_oriented_task_0", "response": "by id"},
        {"instruction": "No task says this.", "input": "", "response": "?"},
        {"id": "nope", "response": "?"},
    ]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    at.file_uploader(key="heval-resp-file").upload("mymodel_predictions.jsonl", data).run()
    assert next(t for t in at.text_input if t.label.startswith("Model name")).value == "mymodel"
    click(at, "Import responses")
    problems = _frame(at, "problem")
    assert list(problems["line"]) == [2, 3]
    assert "no task with id 'nope'" in set(problems["problem"])
    assert rating_store.response_models(store, OFFICIAL_SET)["mymodel"] == 1


def test_response_file_errors_name_the_line():
    rows = parse_response_file(
        "r.jsonl", b'{"id": "t1", "response": "x"}\n{"instruction": "I", "response": "y"}\n'
    )
    assert [(r.line, r.task_id, r.instruction) for r in rows] == [(1, "t1", None), (2, None, "I")]
    with pytest.raises(Exception, match=r"r.jsonl, line 2, field 'instruction'"):
        parse_response_file("r.jsonl", b'{"id": "t1", "response": "x"}\n{"response": "y"}\n')
    with pytest.raises(Exception, match=r"line 1, field 'response'"):
        parse_response_file("r.jsonl", b'{"id": "t1", "response": 3}\n')
    assert model_name_for("text-davinci-003_predictions.jsonl") == "text-davinci-003"


def test_generation_prompt_matches_the_prediction_files(shared_datasets):
    tasks = load_eval_tasks(shared_datasets / EVAL_FILE)
    preds = load_predictions(shared_datasets / "self-instruct/predictions/davinci_predictions.jsonl")
    same = sum(
        eval_prompt(t.instruction, t.instances[0].input) == p.prompt
        for t, p in zip(tasks, preds, strict=True)
    )
    assert same >= 250  # two upstream prompts differ in whitespace inside the instruction
    assert eval_prompt(" Say hi. ", "") == "Say hi.\nOutput:"
    assert eval_prompt("Add.", "1 2") == "Add.\n\nInput: 1 2\nOutput:"


def test_a_finished_generation_run_becomes_responses(store):
    tasks = [EvalTask(f"t{i}", "", f"Do {i}.", [Instance("", "ok")]) for i in range(3)]
    evalset.import_set(store, "gen", tasks, actor="olga")
    params = response_run_params(tasks, {"provider": "embedded"}, "gen", "my-model", {"max_tokens": 8})
    assert [i["key"] for i in params["items"]] == ["t0", "t1", "t2"]
    assert params["items"][0]["prompt"] == "Do 0.\nOutput:"
    run_id = run_store.create_run(store, "generate", params)
    for t in tasks:
        run_store.save_result(store, run_id, t.id, {"text": f" answer {t.id}\n", "finish_reason": "stop"})
    assert rating_store.uncollected_runs(store) == []  # not done yet
    run_store.update_run(store, run_id, status="done")
    assert rating_store.uncollected_runs(store) == [run_id]
    assert rating_store.store_generated(store, run_id) == 3
    assert rating_store.uncollected_runs(store) == []
    item = rating_store.response_item(store, "gen", "t1", "my-model")
    assert item.response == "answer t1"


def test_generate_responses_through_the_page(store, llama_server, monkeypatch):
    """From the button to stored responses at the real llama.cpp server (completion style)."""
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server.base_url)
    monkeypatch.setenv("WORKBENCH_MODEL", LLAMA_MODEL)
    monkeypatch.setenv("WORKBENCH_API_STYLES", "completion")
    monkeypatch.setenv("WORKBENCH_MAX_RETRIES", "0")  # so the server's count equals the call rows
    monkeypatch.setenv("WORKBENCH_TIMEOUT_S", str(LLAMA_TIMEOUT_S))
    at = _page()
    _section(at, "Responses")
    tasks = evalset.list_tasks(store, "starter-eval")
    assert any(f"{len(tasks)} of {len(tasks)} tasks need a response" in c.value for c in at.caption)
    at.number_input(key="heval-gen-max").set_value(8).run()  # a handful of short answers
    served_before = llama_server.requests_served("/v1/completions")
    click(at, "Generate responses")
    run_id = at.session_state["heval-gen-run"]
    # Page tests have no worker threads (conftest): run the queued job here, as a worker would.
    assert run_once(store, ("generate",)) == run_id
    run = run_store.get_run(store, run_id)
    assert run.status == "done", run.error
    assert run.params["model"]["model"] == LLAMA_MODEL and run.params["items"][0]["params"]["max_tokens"] == 8
    at.run()
    ok(at)
    assert any(f"Stored {len(tasks)} generated responses" in s.value for s in at.success)
    assert rating_store.response_models(store, "starter-eval") == {LLAMA_MODEL: len(tasks)}
    # One request per task reached the server, and each stored response is the text of its own call.
    assert llama_server.requests_served("/v1/completions") - served_before == len(tasks)
    results = run_store.results(store, run_id)
    calls = {c.id: c for c in call_log.list_calls(store, run_id=run_id, limit=100)}
    assert len(calls) == len(tasks)
    for task in tasks:
        call = calls[results[task.id]["call_id"]]
        assert call.prompt.startswith(task.instruction.strip()) and call.prompt.endswith("\nOutput:")
        stored = rating_store.response_item(store, "starter-eval", task.id, LLAMA_MODEL).response
        assert stored == call.choices[0]["text"].strip()
    assert any(f"0 of {len(tasks)} tasks need a response" in c.value for c in at.caption)


# --- Campaigns and rating -------------------------------------------------------------------------------


def test_create_campaign_through_the_ui(official, store):
    at = _page()
    _section(at, "Responses")
    click(at, "Import the 8 official prediction files")
    _section(at, "Campaigns")
    click(at, "Create campaign")
    assert any("The campaign needs a name." in _visible(e.value) for e in at.error)
    at.text_input(key="heval-c-name").set_value("Pilot")
    at.multiselect(key="heval-c-models").set_value(["davinci", "text-davinci-003"])
    at.radio(key="heval-c-mode").set_value("sample").run()
    at.number_input(key="heval-c-n").set_value(4)
    at.text_area(key="heval-c-raters").set_value("ann, ben\ncy").run()
    next(n for n in at.number_input if n.label == "Raters per response").set_value(2)
    at.number_input(key="heval-c-seed").set_value(11).run()
    click(at, "Create campaign")
    assert any("Created campaign" in s.value for s in at.success)
    (campaign,) = rating_store.list_campaigns(store)
    spec = CampaignSpec.from_dict(campaign.spec)
    assert (campaign.name, campaign.owner, campaign.set_name) == ("Pilot", "olga", OFFICIAL_SET)
    assert spec.models == ("davinci", "text-davinci-003") and len(spec.task_ids) == 4
    assert spec.raters == ("ann", "ben", "cy") and spec.overlap == 2 and spec.seed == 11
    assert spec.show_reference and "A: Valid and satisfying" in spec.guidelines
    # The form is empty again after Create: a second click creates nothing (tests/test_demo_campaign_form.py).
    assert at.text_input(key="heval-c-name").value == ""


MARKUP = "<script>alert(1)</script> <b>bold?</b> **bold** [link](http://x)"


def _rating_setup(store, raters=("ann",), overlap: int = 1) -> int:
    tasks = [
        EvalTask("t0", "Mail", f"Reply politely. {MARKUP}", [Instance(f"Input {MARKUP}", "Ref answer.")]),
        EvalTask("t1", "Docs", "Summarise.", [Instance("", "Short.")]),
    ]
    evalset.import_set(store, "rate-set", tasks, actor="olga")
    rating_store.save_responses(store, "rate-set", "secret-model-alpha", {"t0": MARKUP, "t1": "a1"}, "test")
    rating_store.save_responses(store, "rate-set", "secret-model-beta", {"t0": MARKUP, "t1": "b1"}, "test")
    spec = CampaignSpec(
        name="Round one",
        task_ids=("t0", "t1"),
        models=("secret-model-alpha", "secret-model-beta"),
        raters=raters,
        overlap=overlap,
        seed=3,
    )
    return rating_store.create_campaign(store, spec.name, "rate-set", spec.to_dict(), owner="olga")


def _position(at: AppTest) -> str:
    return next(s.value for s in at.subheader if s.value.startswith("Response"))


def test_rate_with_buttons_blind_and_resume(store, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OWNERS", "olga")
    cid = _rating_setup(store)
    at = _page(rater="ann", role="rater")
    assert not at.segmented_control  # a rater sees the Rate section only
    assert _position(at) == "Response 1 of 4"
    shown = rendered(at)
    assert "Reply politely" in shown or "Summarise" in shown  # the walk sees the text shown
    assert "secret-model" not in shown

    at.text_input(key=next(t.key for t in at.text_input if t.label.startswith("Comment"))).set_value("fine")
    next(c for c in at.checkbox if c.label.startswith("Flag")).check()
    click(at, "**B** · Acceptable, minor imperfections")
    (first,) = rating_store.latest_ratings(store, cid, rater="ann")
    assert (first.label, first.comment, first.flagged) == ("B", "fine", True)
    assert _position(at) == "Response 2 of 4"
    assert "secret-model" not in rendered(at)

    click(at, "Skip")
    assert [r.label for r in rating_store.latest_ratings(store, cid, rater="ann")] == ["B", None]
    click(at, "← Back")
    click(at, "← Back")
    assert _position(at) == "Response 1 of 4"
    assert button(at, "**B** · Acceptable, minor imperfections").proto.type == "primary"  # own rating shown
    click(at, "**A** · Valid and satisfying")  # changing one's mind appends a newer rating
    assert rating_store.latest_ratings(store, cid, rater="ann")[-1].label == "A"
    assert rating_store.count_rating_rows(store, cid) == 3

    # A new session (a reload) resumes at the first item without a rating or skip.
    again = _page(rater="ann", role="rater")
    assert _position(again) == "Response 3 of 4"
    click(again, "**D** · Irrelevant or invalid")
    click(again, "**C** · Responds, but with significant errors")
    assert any("Thank you" in s.value for s in again.success)
    click(again, "Rate the 1 skipped")
    assert _position(again) == "Response 2 of 4"
    assert "secret-model" not in rendered(again)


def test_raters_do_not_see_each_others_ratings(store, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OWNERS", "olga")
    cid = _rating_setup(store, raters=("ann", "ben"), overlap=2)
    ann = _page(rater="ann", role="rater")
    click(ann, "**A** · Valid and satisfying")
    ben = _page(rater="ben", role="rater")
    assert _position(ben) == "Response 1 of 4"
    shown = rendered(ben)
    assert "0 of 4 rated" in shown and "1 of 4 rated" not in shown
    assert all(b.proto.type != "primary" for b in ben.button if b.label.startswith("**"))
    assert len(rating_store.latest_ratings(store, cid)) == 1


def test_untrusted_text_renders_as_literal_text(store, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OWNERS", "olga")
    _rating_setup(store)
    at = _page(rater="ann", role="rater")
    while not any(c.value == MARKUP for c in at.code):  # the order is seeded: find a t0 response
        click(at, "Skip")
    # The response and the input are code blocks: shown character for character, never parsed.
    assert any(c.value == f"Input {MARKUP}" for c in at.code)
    # The instruction is Markdown with every markup character escaped, and HTML is never allowed.
    instruction = next(m for m in at.markdown if "Reply politely" in m.value)
    assert instruction.value == escape_markdown(f"Reply politely. {MARKUP}")
    for m in at.markdown:
        assert "<script>" not in m.value and "](http" not in m.value and "**bold**" not in m.value
        assert not m.proto.allow_html or "Reply" not in m.value
    # The only HTML element is the page's own keyboard script; no untrusted text is in it.
    assert all("alert(1)" not in h.proto.body for h in at.get("html"))


def test_escape_markdown_keeps_text_literal():
    # Rendered by a CommonMark parser (markdown-it-py, which Streamlit's rich dependency brings): no markup
    # survives, and the visible text is the original, line for line.
    from markdown_it import MarkdownIt

    text = "# Title\n  - item\n1. x <b>y</b> $x$ :red[z] `c` | a | \\ [l](http://x) &amp; *e*"
    html = MarkdownIt("commonmark").enable("table").render(escape_markdown(text))
    for tag in ("<h1", "<ul", "<ol", "<li", "<b>", "<a ", "<code", "<em", "<table"):
        assert tag not in html
    visible = html.replace("<p>", "").replace("</p>", "").replace("<br />", "").replace("\u00a0", " ")
    unescaped = visible.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    assert unescaped.strip() == text


# --- Results ----------------------------------------------------------------------------------------------


def test_results_agreement_and_exports(store):
    from core.humaneval.records import Rating

    cid = _rating_setup(store, raters=("ann", "ben", "cy"), overlap=3)
    labels = {
        "ann": ["A", "B", "C", "D"],
        "ben": ["A", "C", "C", "D"],
        "cy": ["B", "B", "D", "D"],
    }
    items = [
        ("t0", "secret-model-alpha"),
        ("t0", "secret-model-beta"),
        ("t1", "secret-model-alpha"),
        ("t1", "secret-model-beta"),
    ]
    for rater, given in labels.items():
        for (task, model), label in zip(items, given, strict=True):
            rating_store.add_rating(store, cid, Rating(task, model, rater, label, comment=f"{rater} says"))
    at = _page()
    _section(at, "Results")
    assert [s.value for s in at.subheader][:2] == ["Ratings per model", "Agreement between raters"]
    table = at.dataframe[0].value
    assert list(table["model"]) == ["secret-model-alpha", "secret-model-beta"]
    assert list(table["ratings"]) == [6, 6]
    assert {m.label for m in at.metric} >= {"Krippendorff's α (ordinal)", "Fleiss' κ"}
    assert len(at.dataframe[1].value) == 3  # three pairs of raters
    assert any(s.value.startswith("Disagreements (3)") for s in at.subheader)
    assert {b.label for b in at.download_button} == {
        "Ratings (CSV)",
        "Ratings (JSONL)",
        "Results report (Markdown)",
    }
    at.multiselect(key=f"heval-res-apps-{cid}").set_value(["Docs"]).run()
    ok(at)
    assert list(at.dataframe[0].value["ratings"]) == [3, 3]
