"""Views of the Data Quality Review page: create a review, label items blind, read the results.

Reviewers see only a `ReviewItem`'s instruction, input and output: never where it came from, the task id, or
anyone else's labels. Every answer is stored the moment it is given (append-only, as ratings are).
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from core.datasets.errors import DatasetError
from core.humaneval.campaign import resume_index
from core.humaneval.display import escape_markdown
from core.humaneval.identity import Person, parse_names
from core.review.export import labels_to_csv, labels_to_jsonl, table_rows, table_to_csv, table_to_markdown
from core.review.notes import protocol_notes
from core.review.questions import QUESTION_KEYS, QUESTIONS, ROW_TITLES
from core.review.records import ReviewLabel
from core.review.results import failing_items, label_counts, reviewer_agreement, table2
from core.review.sampling import DEFAULT_SAMPLE, sample_items
from core.review.sources import FORM_TITLES, parse_dataset, tasks_from_run
from core.review.spec import ReviewSpec
from core.selfinstruct.spec import KIND as SELFINSTRUCT_KIND
from core.selfinstruct.view import load_run
from core.store import reviews as review_store
from core.store import runs as run_store
from ui.common import engine
from ui.humaneval_common import literal

PREFIX = "rev"


def _picker(eng: Engine, reviews: list[review_store.Review], key: str) -> review_store.Review | None:
    if not reviews:
        return None
    by_id = {r.id: r for r in reviews}
    rid = st.selectbox("Review", list(by_id), format_func=lambda i: f"#{i} {by_id[i].name}", key=key)
    return by_id[rid]


# --- Create ------------------------------------------------------------------------------------------------


def _source_tasks(eng: Engine) -> tuple[dict, list] | None:
    """The chosen source's tasks, or None (after saying why) when there is nothing to sample."""
    kind = st.radio(
        "Source",
        ["run", "upload"],
        format_func=lambda k: "A Self-Instruct run" if k == "run" else "An uploaded dataset",
        horizontal=True,
        key=f"{PREFIX}-source",
    )
    if kind == "run":
        runs = [r for r in run_store.list_runs(eng, kind=SELFINSTRUCT_KIND)]
        if not runs:
            st.info("No Self-Instruct runs yet: start one on the Self-Instruct page, or upload a dataset.")
            return None
        by_id = {r.id: r for r in runs}
        run_id = st.selectbox(
            "Run",
            list(by_id),
            format_func=lambda i: f"Run {i} · {by_id[i].name or 'Self-Instruct'} · {by_id[i].status}",
            key=f"{PREFIX}-run",
        )
        view = load_run(run_store.results(eng, run_id), by_id[run_id].params)
        return {"kind": "run", "run_id": run_id}, tasks_from_run(view)
    st.caption("JSON or JSON Lines in one of: " + "; ".join(FORM_TITLES.values()) + ".")
    upload = st.file_uploader("Dataset", type=["json", "jsonl"], key=f"{PREFIX}-upload")
    if upload is None:
        return None
    try:
        form, tasks = parse_dataset(upload.name, upload.getvalue())
    except DatasetError as exc:
        st.error(str(exc))
        return None
    st.caption(f"Read {len(tasks)} tasks in {FORM_TITLES[form]} form.")
    return {"kind": "upload", "file": upload.name, "form": form}, tasks


def render_create(who: Person) -> None:
    eng = engine()
    if message := st.session_state.pop(f"{PREFIX}-flash", None):
        st.success(message)
    reviews = review_store.list_reviews(eng)
    if reviews:
        rows = []
        for r in reviews:
            spec = ReviewSpec.from_dict(r.spec)
            rows.append(
                {
                    "id": r.id,
                    "name": r.name,
                    "items": len(spec.items),
                    "reviewers": ", ".join(spec.reviewers),
                    "per item": spec.overlap,
                    "labels": sum(x.complete for x in review_store.latest_labels(eng, r.id)),
                    "owner": r.owner,
                }
            )
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.subheader("New review")
    picked = _source_tasks(eng)
    if picked is None:
        return
    source, tasks = picked
    with_instances = sum(1 for t in tasks if t.instances)
    st.caption(
        f"{len(tasks)} tasks, {with_instances} with at least one instance (only those can be reviewed)."
    )
    name = st.text_input("Name", key=f"{PREFIX}-name")
    c1, c2 = st.columns(2)
    size = int(c1.number_input("Tasks to sample", 1, 100_000, DEFAULT_SAMPLE, key=f"{PREFIX}-n"))
    seed = int(
        c2.number_input("Seed (sample and each reviewer's order)", 0, 2**31 - 1, 0, key=f"{PREFIX}-seed")
    )
    reviewers = parse_names(
        st.text_area("Reviewers (one per line, or comma-separated)", who.name, height=80, key=f"{PREFIX}-who")
    )
    overlap = int(
        st.number_input(
            "Reviewers per item",
            1,
            max(1, len(reviewers)),
            1,
            key=f"{PREFIX}-overlap-{len(reviewers)}",
            help="The paper had one expert annotator; two or more let you measure agreement.",
        )
    )
    items = tuple(sample_items(tasks, size, seed)) if with_instances else ()
    sampled = {i.task_id for i in items}
    instances = {t.id: t.instances for t in tasks if t.id in sampled}
    spec = ReviewSpec(name.strip(), items, reviewers, overlap, seed, size, source, instances)
    for note in protocol_notes(spec):
        st.caption(escape_markdown(note))
    if st.button("Create review", type="primary", key=f"{PREFIX}-create"):
        problems = spec.problems()
        if any(r.name == spec.name for r in reviews):
            problems.append(f"A review named {spec.name!r} already exists.")
        if problems:
            st.error("The review was not created: " + " ".join(problems))
            return
        rid = review_store.create_review(eng, spec.name, spec.to_dict(), who.name)
        st.session_state[f"{PREFIX}-flash"] = (
            f"Created review #{rid}: {len(items)} items, {len(reviewers)} reviewers, {overlap} per item."
        )
        st.rerun()


# --- Label -------------------------------------------------------------------------------------------------


def _pos_key(rid: int, reviewer: str) -> str:
    return f"{PREFIX}-pos-{rid}-{reviewer}"


def _finished(label: ReviewLabel | None) -> bool:
    return label is not None and (label.complete or label.skipped)


def _answer(rid: int, item_id: str, reviewer: str, key: str, value: bool | None, pos: int) -> None:
    eng = engine()
    mine = {x.item_id: x for x in review_store.latest_labels(eng, rid, reviewer)}
    before = mine.get(item_id)
    comment = str(st.session_state.get(f"{PREFIX}-comment-{rid}-{item_id}", "")).strip()
    base = before if before is not None and not before.skipped else ReviewLabel(item_id, reviewer)
    label = base.with_answer(key, value)
    label = ReviewLabel(item_id, reviewer, label.answers, False, comment)
    review_store.add_label(eng, rid, label)
    # Completing an item moves on; changing an answer on a finished item stays put.
    if label.complete and not (before is not None and before.complete):
        st.session_state[_pos_key(rid, reviewer)] = pos + 1
    st.toast("Saved", duration="short")


def _answer_open(rid: int, item_id: str, reviewer: str, value: bool, pos: int) -> None:
    """Answer the item's first unanswered question (read from the store, so two quick presses answer two)."""
    latest = {x.item_id: x for x in review_store.latest_labels(engine(), rid, reviewer)}.get(item_id)
    answers = latest.answers if latest is not None and not latest.skipped else {}
    open_key = next((k for k in QUESTION_KEYS if answers.get(k) is None), None)
    if open_key is not None:
        _answer(rid, item_id, reviewer, open_key, value, pos)


def _skip(rid: int, item_id: str, reviewer: str, pos: int) -> None:
    comment = str(st.session_state.get(f"{PREFIX}-comment-{rid}-{item_id}", "")).strip()
    review_store.add_label(engine(), rid, ReviewLabel(item_id, reviewer, {}, True, comment))
    st.session_state[_pos_key(rid, reviewer)] = pos + 1
    st.toast("Skipped", duration="short")


def _move(rid: int, reviewer: str, pos: int) -> None:
    st.session_state[_pos_key(rid, reviewer)] = max(0, pos)


def render_label(who: Person) -> None:
    eng = engine()
    mine_reviews = [
        r for r in review_store.list_reviews(eng) if ReviewSpec.from_dict(r.spec).reviewer_as_listed(who.name)
    ]
    if not mine_reviews:
        st.info(
            f"No review lists {escape_markdown(repr(who.name))} as a reviewer yet. An owner adds reviewers when creating one."
        )
        return
    review = _picker(eng, mine_reviews, f"{PREFIX}-label-review")
    assert review is not None
    spec = ReviewSpec.from_dict(review.spec)
    reviewer = spec.reviewer_as_listed(who.name) or who.name
    order = spec.assignments().get(reviewer, [])
    if not order:
        st.info("No items of this review are assigned to you.")
        return
    mine = {x.item_id: x for x in review_store.latest_labels(eng, review.id, reviewer)}
    finished = [i for i in order if _finished(mine.get(i))]
    pos_key = _pos_key(review.id, reviewer)
    if pos_key not in st.session_state:
        st.session_state[pos_key] = resume_index(order, finished)
    pos = min(max(0, int(st.session_state[pos_key])), len(order))
    done = sum(1 for i in order if i in mine and mine[i].complete)
    skipped = sum(1 for i in order if i in mine and mine[i].skipped)
    st.progress(
        done / len(order),
        text=f"{done} of {len(order)} reviewed" + (f" · {skipped} skipped" if skipped else ""),
    )
    if pos >= len(order):
        st.success(f"All {len(order)} items of this review have your answers or a skip. Thank you!")
        back_to = next((i for i, it in enumerate(order) if not (it in mine and mine[it].complete)), None)
        c1, c2, _ = st.columns([2, 1, 3])
        if back_to is not None:
            c1.button(
                "Review the skipped",
                key=f"{PREFIX}-to-skipped",
                on_click=_move,
                args=(review.id, reviewer, back_to),
            )
        c2.button(
            "← Back", key=f"{PREFIX}-back-end", on_click=_move, args=(review.id, reviewer, len(order) - 1)
        )
        return
    current = order[pos]
    item = spec.by_id()[current]
    st.subheader(f"Item {pos + 1} of {len(order)}")
    st.caption("Instruction")
    literal(item.instruction)
    st.caption("Input")
    literal(item.input, "(no input)")
    st.caption("Output")
    literal(item.output, "(empty output)")
    label = mine.get(current)
    answers = label.answers if label is not None and not label.skipped else {}
    st.text_input(
        "Comment (optional, saved with each answer)",
        label.comment if label else "",
        key=f"{PREFIX}-comment-{review.id}-{current}",
    )
    for n, key in enumerate(QUESTION_KEYS, start=1):
        given = answers.get(key)
        q, yes, no = st.columns([6, 1, 1], vertical_alignment="center")
        q.markdown(f"**{n}. {QUESTIONS[key]}**")
        for col, value, word in ((yes, True, "Yes"), (no, False, "No")):
            col.button(
                word,
                key=f"{PREFIX}-q-{key}-{'yes' if value else 'no'}",
                type="primary" if given is value else "secondary",
                width="stretch",
                on_click=_answer,
                args=(review.id, current, reviewer, key, value, pos),
            )
    # The keyboard's Y and N: buttons whose shortcut never changes (a shortcut that moves between buttons
    # from one run to the next is not picked up by the browser), answering the first open question.
    open_key = next((k for k in QUESTION_KEYS if answers.get(k) is None), None)
    title, yes, no = st.columns([6, 1, 1], vertical_alignment="center")
    title.caption(
        f"Keyboard Y / N: answer question {QUESTION_KEYS.index(open_key) + 1}"
        if open_key
        else "All three answered."
    )
    for col, value, word in ((yes, True, "Yes"), (no, False, "No")):
        col.button(
            word,
            key=f"{PREFIX}-{word.lower()}-open",
            shortcut=word[0].lower(),
            width="stretch",
            on_click=_answer_open,
            args=(review.id, current, reviewer, value, pos),
        )
    back, nxt, _ = st.columns([1, 1, 4])
    back.button(
        "← Back",
        key=f"{PREFIX}-back",
        shortcut="left",
        disabled=pos == 0,
        on_click=_move,
        args=(review.id, reviewer, pos - 1),
    )
    if label is not None and label.complete:
        nxt.button(
            "Next →",
            key=f"{PREFIX}-next",
            shortcut="right",
            on_click=_move,
            args=(review.id, reviewer, pos + 1),
        )
    else:
        nxt.button(
            "Skip",
            key=f"{PREFIX}-skip",
            shortcut="right",
            on_click=_skip,
            args=(review.id, current, reviewer, pos),
        )
    st.caption(
        "Keyboard: Y / N answer the next open question (saved at once); → skips (or moves on), ← goes back."
    )


# --- Results -----------------------------------------------------------------------------------------------


def _num(x: float) -> str:
    return "n/a" if isinstance(x, float) and math.isnan(x) else f"{x:.2f}"


def render_results(who: Person) -> None:
    eng = engine()
    review = _picker(eng, review_store.list_reviews(eng), f"{PREFIX}-results-review")
    if review is None:
        st.info("No reviews yet.")
        return
    spec = ReviewSpec.from_dict(review.spec)
    labels = review_store.latest_labels(eng, review.id)
    notes = protocol_notes(spec)
    for note in notes:
        st.caption(escape_markdown(note))
    counts = label_counts(labels)
    st.caption(
        f"{counts['complete']} complete labels · {counts['skipped']} skipped · {counts['partial']} half answered "
        "(only complete labels count)."
    )
    rows = table2(labels)
    st.subheader("Table 2: data quality")
    st.dataframe(pd.DataFrame(table_rows(rows)), hide_index=True)
    c1, c2, c3, c4 = st.columns(4)
    title = f"#{review.id} {review.name}"
    by_id = spec.by_id()
    c1.download_button(
        "Table (Markdown)", table_to_markdown(rows, title, notes), f"review_{review.id}_table.md"
    )
    c2.download_button("Table (CSV)", table_to_csv(rows), f"review_{review.id}_table.csv")
    c3.download_button("Labels (JSONL)", labels_to_jsonl(labels, by_id), f"review_{review.id}_labels.jsonl")
    c4.download_button("Labels (CSV)", labels_to_csv(labels, by_id), f"review_{review.id}_labels.csv")

    st.subheader("Agreement between reviewers")
    pairs = reviewer_agreement(labels)
    if not pairs:
        st.caption("No two reviewers have labelled the same item yet.")
    else:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "reviewers": f"{a} · {b}",
                        "n": stats[QUESTION_KEYS[0]]["n"],
                        **{f"κ {ROW_TITLES[k].lower()}": _num(stats[k]["kappa"]) for k in stats},
                    }
                    for (a, b), stats in pairs.items()
                ]
            ),
            hide_index=True,
        )
    st.subheader("Items that failed")
    c1, c2 = st.columns(2)
    wanted = c1.multiselect(
        "Failed question",
        list(QUESTION_KEYS),
        default=list(QUESTION_KEYS),
        format_func=ROW_TITLES.get,
        key=f"{PREFIX}-fail-q",
    )
    reviewers = c2.multiselect("Reviewer", list(spec.reviewers), key=f"{PREFIX}-fail-who")
    failing = [f for f in failing_items(labels, by_id, wanted) if not reviewers or f.reviewer in reviewers]
    st.caption(f"{len(failing)} failing labels.")
    if failing:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "task": f.item.task_id,
                        "reviewer": f.reviewer,
                        "failed": ", ".join(f.failed),
                        "instruction": f.item.instruction,
                        "input": f.item.input,
                        "output": f.item.output,
                        "comment": f.comment,
                    }
                    for f in failing
                ]
            ),
            hide_index=True,
        )
