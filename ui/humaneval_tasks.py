"""Human Evaluation → Tasks: browse, edit, add, delete and restore tasks, with history, revert and export."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from core.datasets import DatasetError, EvalTask, Instance, parse_upload
from core.humaneval import history
from core.humaneval.browse import HAS_INPUT_CHOICES, filter_tasks, next_task_id, task_rows
from core.humaneval.curation import CurationError
from core.humaneval.display import escape_markdown, shorten
from core.humaneval.identity import Person
from core.store import evalset
from ui.common import engine, escape
from ui.humaneval_common import SET_KEY, literal, prose, select_next, set_picker, take_pending

TASK_KEY = "heval-task"


def render(who: Person) -> None:
    eng = engine()
    set_name = set_picker(eng)
    tasks = evalset.list_tasks(eng, set_name, include_deleted=True)
    deleted = evalset.deleted_ids(eng, set_name)
    _flash()

    c1, c2, c3, c4 = st.columns([3, 2, 2, 1], vertical_alignment="bottom")
    query = c1.text_input(
        "Search", key="heval-q", placeholder="words in the id, instruction, input or output"
    )
    apps = c2.multiselect(
        "Motivation app", sorted({t.motivation_app for t in tasks if t.motivation_app}), key="heval-apps"
    )
    input_filter = c3.selectbox("Input", HAS_INPUT_CHOICES, key="heval-has-input")
    show_deleted = c4.toggle("Deleted too", key="heval-show-deleted")
    pool = tasks if show_deleted else [t for t in tasks if t.id not in deleted]
    shown = filter_tasks(pool, query, apps, input_filter)
    live = len(tasks) - len(deleted)
    st.caption(f"{len(shown)} shown · {live} tasks in the set · {len(deleted)} deleted")
    ids = [t.id for t in shown]
    st.dataframe(
        pd.DataFrame(
            task_rows(shown, deleted),
            columns=["id", "motivation app", "instruction", "input", "output", "instances", "deleted"],
        ),
        hide_index=True,
        height=280,
        key="heval-task-table",
        on_select=partial(_pick_from_table, ids),
        selection_mode="single-row",
    )

    if ids:
        take_pending(TASK_KEY)
        if st.session_state.get(TASK_KEY) not in ids:
            st.session_state[TASK_KEY] = ids[0]
        by_id = {t.id: t for t in shown}
        task_id = st.selectbox(
            "Task",
            ids,
            key=TASK_KEY,
            format_func=lambda i: f"{i} — {shorten(by_id[i].instruction, 90)}",
        )
        _task_panel(eng, set_name, by_id[task_id], task_id in deleted, who)
    else:
        st.info("No task matches the search and filters.")

    st.divider()
    _add_task(eng, set_name, tasks, who)
    _export(eng, set_name)
    _import(eng, who)
    with st.expander("Every change to this set"):
        _history_table(evalset.history(eng, set_name, limit=200), "set")


def _flash() -> None:
    message = st.session_state.pop("heval-tasks-flash", None)
    if message:
        st.success(escape(message))  # messages name tasks, whose ids come from files


def _pick_from_table(ids: list[str]) -> None:
    rows = st.session_state["heval-task-table"].selection.rows
    if rows and rows[0] < len(ids):
        st.session_state[TASK_KEY] = ids[rows[0]]


def _task_panel(eng: Engine, set_name: str, task: EvalTask, is_deleted: bool, who: Person) -> None:
    changes = evalset.history(eng, set_name, task.id)
    # Widget keys carry the task's latest change, so the edit form refills after a save or a revert.
    version = changes[0].id if changes else 0
    status = " · **deleted**" if is_deleted else ""
    # Escaped text, not inline code: backslash escapes would show literally inside backticks.
    st.markdown(
        f"**{escape_markdown(task.id)}** · {escape_markdown(task.motivation_app or 'no app')}{status}"
    )
    view, edit, hist = st.tabs(["View", "Edit", f"History ({len(changes)})"])
    with view:
        st.caption("Instruction")
        prose(task.instruction)
        for n, inst in enumerate(task.instances, start=1):
            suffix = f" {n}" if len(task.instances) > 1 else ""
            st.caption(f"Input{suffix}")
            literal(inst.input, "(no input)")
            st.caption(f"Output{suffix}")
            literal(inst.output)
    with edit:
        _edit_form(eng, set_name, task, who, version)
        if is_deleted:
            if st.button("Restore this task", key=f"heval-restore-{version}"):
                evalset.set_deleted(eng, set_name, task.id, False, who.name)
                _done(f"Restored {task.id}.")
        elif st.button("Delete this task", key=f"heval-delete-{version}", help="A soft delete: restorable."):
            evalset.set_deleted(eng, set_name, task.id, True, who.name)
            _done(f"Deleted {task.id}; turn on “Deleted too” to find and restore it.")
    with hist:
        _history_table(changes, "task")
        revertible = [c for c in changes if c.before is not None or c.action == "create"]
        if revertible:
            labels = {
                c.id: f"#{c.id} {c.action} by {c.actor} at {c.at:%Y-%m-%d %H:%M:%S}" for c in revertible
            }
            change_id = st.selectbox(
                "Change to undo", list(labels), format_func=labels.get, key=f"heval-revert-pick-{version}"
            )
            if st.button("Revert this change", key=f"heval-revert-{version}"):
                try:
                    evalset.revert(eng, change_id, who.name)
                except CurationError as exc:
                    st.error(escape(exc))
                else:
                    _done(f"Reverted change #{change_id} of {task.id}.")


def _done(message: str) -> None:
    st.session_state["heval-tasks-flash"] = message
    st.rerun()


def _edit_form(eng: Engine, set_name: str, task: EvalTask, who: Person, version: int) -> None:
    first = task.instances[0] if task.instances else Instance("", "")
    with st.form(f"heval-edit-{version}-{task.id}"):
        app = st.text_input("Motivation app", task.motivation_app)
        instruction = st.text_area("Instruction", task.instruction, height=120)
        input_ = st.text_area("Input", first.input, height=100)
        output = st.text_area("Output (reference)", first.output, height=120)
        if len(task.instances) > 1:
            st.caption(f"The first instance is edited here; the other {len(task.instances) - 1} are kept.")
        if st.form_submit_button("Save changes", type="primary"):
            edited = EvalTask(
                id=task.id,
                motivation_app=app.strip(),
                instruction=instruction,
                instances=[Instance(input_, output), *task.instances[1:]],
                source=task.source,
                extra=task.extra,
            )
            try:
                evalset.edit_task(eng, set_name, edited, who.name)
            except CurationError as exc:
                st.error(f"Not saved: {escape(exc)}")
            else:
                _done(f"Saved {task.id}.")


def _describe(change) -> str:
    if change.action == "import":
        return f"imported {(change.after or {}).get('tasks', '?')} tasks"
    if not change.before:
        return "new task"
    return history.summary(history.field_changes(change.before, change.after))


def _history_table(changes, scope: str) -> None:
    if not changes:
        st.caption("No changes recorded.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "change": c.id,
                    "when (UTC)": c.at.strftime("%Y-%m-%d %H:%M:%S"),
                    "who": c.actor,
                    "task": c.task_id,
                    "action": c.action,
                    "what changed": _describe(c),
                }
                for c in changes
            ]
        ),
        hide_index=True,
    )
    detailed = {c.id: c for c in changes if c.action != "import" and c.before}
    if detailed:
        labels = {i: f"#{i} {c.action} by {c.actor} at {c.at:%Y-%m-%d %H:%M:%S}" for i, c in detailed.items()}
        pick = st.selectbox(
            "Before and after of change",
            list(labels),
            format_func=labels.get,
            key=f"heval-diff-{scope}-{changes[0].id}",
        )
        for diff in history.field_changes(detailed[pick].before, detailed[pick].after):
            st.caption(diff.field.capitalize())
            left, right = st.columns(2)
            with left:
                st.caption("Before")
                literal(diff.before, height=200)
            with right:
                st.caption("After")
                literal(diff.after, height=200)


def _add_task(eng: Engine, set_name: str, tasks: list[EvalTask], who: Person) -> None:
    with st.expander("Add a task"), st.form("heval-add"):
        task_id = st.text_input("Id", next_task_id([t.id for t in tasks]), key="heval-add-id")
        app = st.text_input("Motivation app", key="heval-add-app")
        instruction = st.text_area("Instruction", height=100, key="heval-add-instruction")
        input_ = st.text_area("Input (may be empty)", height=80, key="heval-add-input")
        output = st.text_area("Output (reference)", height=100, key="heval-add-output")
        if st.form_submit_button("Add task"):
            task = EvalTask(
                task_id.strip(), app.strip(), instruction, [Instance(input_, output)], source="added"
            )
            try:
                evalset.add_task(eng, set_name, task, who.name)
            except (CurationError, IntegrityError) as exc:
                st.error(f"Not added: {escape(exc)}")
            else:
                select_next(TASK_KEY, task.id)
                _done(f"Added {task.id}.")


def _export(eng: Engine, set_name: str) -> None:
    st.download_button(
        "Export as JSONL",
        evalset.export_set(eng, set_name).encode("utf-8"),
        file_name=f"{set_name}.jsonl",
        mime="application/jsonl",
        help="The original file's shape; an unchanged set exports byte-identical to its source file.",
        on_click="ignore",
    )


def _import(eng: Engine, who: Person) -> None:
    with st.expander("Import another set"):
        st.caption(
            "A file in the shape of user_oriented_instructions.jsonl (or a JSON array, or CSV with "
            "instruction, input, output and optional id, motivation_app columns). It becomes a new set."
        )
        upload = st.file_uploader("Tasks file", type=["jsonl", "json", "csv"], key="heval-import-file")
        stem = Path(upload.name).stem if upload else ""
        typed = st.text_input("Name of the new set", key="heval-import-name", placeholder=stem)
        if st.button("Import as a new set", disabled=upload is None):
            name = typed.strip() or stem
            try:
                tasks = parse_upload(upload.name, upload.getvalue(), "eval_tasks")
                evalset.import_set(eng, name, tasks, who.name, source=f"upload:{upload.name}")
            except (DatasetError, CurationError) as exc:
                st.error(f"Not imported: {escape(exc)}")
            else:
                select_next(SET_KEY, name)
                _done(f"Imported {len(tasks)} tasks as the set {name}.")
