"""Human Evaluation → Responses: import prediction files, or generate responses with the session's model."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from core import datasets
from core.datasets import DatasetError
from core.humaneval.generate import response_run_params, task_prompt
from core.humaneval.identity import Person
from core.humaneval.matching import MatchReport, ResponseRow, match_responses
from core.humaneval.response_files import model_name_for, parse_response_file, prediction_rows
from core.induction.cost import estimate_tokens
from core.store import evalset
from core.store import ratings as rating_store
from core.store import runs as run_store
from ui import run_estimate
from ui.common import engine, escape, model_banner, model_settings, run_status, runner
from ui.humaneval_common import set_picker

REPORT_KEY = "heval-import-reports"
RUN_KEY = "heval-gen-run"
# How many tasks the embedded model answers by default: about a minute of its time.
EMBEDDED_DEFAULT_TASKS = 5


@dataclass
class ImportReport:
    model: str
    source: str
    rows: int
    new: int
    report: MatchReport = field(repr=False)


def render(who: Person) -> None:
    eng = engine()
    set_name = set_picker(eng)
    _collect_finished(eng)
    live = evalset.list_tasks(eng, set_name)
    counts = rating_store.response_models(eng, set_name)
    if counts:
        st.dataframe(
            pd.DataFrame(
                [{"model": m, "responses": n, "tasks in set": len(live)} for m, n in counts.items()]
            ),
            hide_index=True,
        )
    else:
        st.info("No responses yet for this set: import prediction files or generate responses below.")
    _show_reports()

    st.subheader("Import prediction files")
    official = datasets.predictions()
    if official:
        if st.button(f"Import the {len(official)} official prediction files", type="primary"):
            reports = []
            for model, preds in official.items():
                reports.append(_store(eng, set_name, model, prediction_rows(preds), "official predictions"))
            _finish(reports)
    else:
        st.caption(
            "The official prediction files (8 models on the 252 tasks) are not in the data folder; "
            "download or import them on the Home page."
        )
    upload = st.file_uploader(
        "Or a JSONL file with a `response` and the task id (`task_id` or `id`) or `instruction` + `input`",
        type=["jsonl", "json"],
        key="heval-resp-file",
    )
    model = st.text_input(
        "Model name for these responses",
        model_name_for(upload.name) if upload else "",
        key=f"heval-resp-model-{upload.name if upload else ''}",
    )
    if st.button("Import responses", disabled=upload is None):
        try:
            if not model.strip():
                raise DatasetError(upload.name, "give the model a name")
            rows = parse_response_file(upload.name, upload.getvalue())
        except DatasetError as exc:
            st.error(f"Not imported: {escape(exc)}")
        else:
            _finish([_store(eng, set_name, model.strip(), rows, f"upload:{upload.name}")])

    st.subheader("Generate responses")
    _generate(eng, set_name, live, counts)


def _store(eng: Engine, set_name: str, model: str, rows: list[ResponseRow], source: str) -> ImportReport:
    report = match_responses(evalset.list_tasks(eng, set_name), rows)
    new = rating_store.save_responses(eng, set_name, model, report.matched, source=source)
    return ImportReport(model=model, source=source, rows=len(rows), new=new, report=report)


def _finish(reports: list[ImportReport]) -> None:
    st.session_state[REPORT_KEY] = reports
    st.rerun()


def _show_reports() -> None:
    reports: list[ImportReport] | None = st.session_state.get(REPORT_KEY)
    if not reports:
        return
    unmatched = sum(len(r.report.unmatched) for r in reports)
    box = st.warning if unmatched else st.success
    box(
        f"Imported responses of {len(reports)} model(s): {sum(r.new for r in reports)} new. "
        + (
            f"{unmatched} row(s) matched no task — see the report."
            if unmatched
            else "Every row matched a task."
        )
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "model": r.model,
                    "rows": r.rows,
                    "matched": len(r.report.matched),
                    "new": r.new,
                    "unmatched": len(r.report.unmatched),
                    "duplicates": len(r.report.duplicates),
                    "tasks without a response": len(r.report.tasks_without_response),
                }
                for r in reports
            ]
        ),
        hide_index=True,
        key="heval-import-report",
    )
    problems = [
        {"model": r.model, "line": line, "problem": why}
        for r in reports
        for line, why in (*r.report.unmatched, *r.report.duplicates)
    ]
    if problems:
        with st.expander(f"Unmatched and duplicate rows ({len(problems)})", expanded=True):
            st.dataframe(pd.DataFrame(problems), hide_index=True, key="heval-unmatched")
    missing = {r.model: r.report.tasks_without_response for r in reports if r.report.tasks_without_response}
    if missing:
        with st.expander("Tasks left without a response"):
            for model, ids in missing.items():
                st.text(f"{model}: {', '.join(ids[:50])}" + (" …" if len(ids) > 50 else ""))
    if st.button("Dismiss the report"):
        st.session_state.pop(REPORT_KEY, None)
        st.rerun()


def _collect_finished(eng: Engine) -> None:
    stored = st.session_state.pop("heval-gen-stored", None)
    if stored:
        st.success(stored)
    # Runs finish while nobody watches; whoever opens this section next stores their responses.
    for run_id in rating_store.uncollected_runs(eng):
        new = rating_store.store_generated(eng, run_id)
        if new:
            st.success(f"Stored {new} generated responses from run {run_id}.")


def _generate(eng: Engine, set_name: str, live, counts: dict[str, int]) -> None:
    model_banner()
    settings = model_settings()
    label = st.text_input(
        "Name these responses as",
        settings.model or settings.label,
        help="The model name raters never see and results show. Tasks that already have a response "
        "under this name are left out.",
        key="heval-gen-label",
    )
    c1, c2 = st.columns(2)
    max_tokens = c1.number_input("max_tokens", 1, 4096, 256, key="heval-gen-max")
    temperature = c2.number_input("temperature", 0.0, 2.0, 0.0, step=0.1, key="heval-gen-temp")
    have = rating_store.responded_tasks(eng, set_name).get(label.strip(), set())
    todo = [t for t in live if t.id not in have]
    chat = "completion" not in settings.styles
    st.caption(
        f"{len(todo)} of {len(live)} tasks need a response under this name. Prompt: the instruction, "
        "“Input: …” when there is one, then “Output:” — as in the paper's prediction files"
        + (" (sent as a chat message: the endpoint serves chat only)." if chat else ".")
    )
    # The embedded model takes seconds a task: it answers a handful by default, a served model all of them.
    embedded = settings.provider == "embedded"
    chosen = []
    if todo:
        n = st.number_input(
            "Tasks to answer now (the first ones in set order; run again for the rest)",
            1,
            len(todo),
            min(len(todo), EMBEDDED_DEFAULT_TASKS) if embedded else len(todo),
            key=f"heval-gen-n-{len(todo)}",  # a new key when the count changes keeps the value in range
        )
        chosen = todo[: int(n)]
    confirmed = True
    if chosen:
        model = settings.public_dict()
        prompt_tokens = sum(estimate_tokens(task_prompt(t)) for t in chosen)
        completion_tokens = len(chosen) * int(max_tokens)
        cost = run_estimate.price(model, prompt_tokens, completion_tokens)
        run_estimate.show_estimate(len(chosen), prompt_tokens + completion_tokens, cost, model)
        st.caption(
            f"One call per task, each answer up to {int(max_tokens)} tokens; "
            f"{run_estimate.price_note(model, cost is not None)}."
        )
        confirmed = run_estimate.confirm_long_run(len(chosen), model, "heval-gen")
    if st.button("Generate responses", disabled=not chosen or not label.strip() or not confirmed):
        params = response_run_params(
            chosen,
            settings.public_dict(),
            set_name,
            label.strip(),
            {"max_tokens": int(max_tokens), "temperature": float(temperature)},
            chat=chat,
        )
        st.session_state[RUN_KEY] = runner().submit(
            "generate", params, name=f"Responses of {label.strip()} on {set_name}", settings=settings
        )
    run_id = st.session_state.get(RUN_KEY)
    if run_id is None:
        return
    run = run_status(run_id)
    if run is not None and run.status in run_store.ACTIVE:
        _store_when_done(run_id)
    if run is not None and run.status in ("failed", "cancelled"):
        done = len(run_store.result_keys(eng, run_id))
        if done and st.button(f"Store the {done} responses generated so far"):
            st.success(f"Stored {rating_store.store_generated(eng, run_id)} new responses.")


@st.fragment(run_every=2.0)
def _store_when_done(run_id: int) -> None:
    eng = engine()
    run = run_store.get_run(eng, run_id)
    if run is not None and run.status == "done" and run_id in rating_store.uncollected_runs(eng):
        new = rating_store.store_generated(eng, run_id)
        st.session_state["heval-gen-stored"] = f"Stored {new} generated responses from run {run_id}."
        st.rerun(scope="app")
