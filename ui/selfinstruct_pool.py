"""The Self-Instruct page's Pool tab: the generated instructions a page at a time (search, sort and filters in
SQL over the run's index), the consistency check's signals as columns when a check covers the run, and the
editor of one item. A fragment: paging and filtering redraw this tab alone."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from core.review import consistency
from core.selfinstruct import index
from core.selfinstruct import pages as si_pages
from core.selfinstruct.job import record_edit
from core.store import reviews as review_store
from core.store import runs as run_store
from ui.common import engine

SUSPECT_DEFAULT = 0.2  # the review page's default: ROUGE-L below this on either signal
COLUMNS = ["item", "instruction", "classification", "instances", "seed ROUGE-L", "edited", "deleted"]
CHECK_COLUMNS = [
    "suspect",
    "induced ROUGE-L",
    "induced BERTScore",
    "execution ROUGE-L",
    "induced instruction",
]


def check_runs(run_id: int) -> list[run_store.Run]:
    """Consistency runs over this Self-Instruct run's tasks (through a review sampled from it), newest first."""
    eng = engine()
    reviews = {
        r.id
        for r in review_store.list_reviews(eng)
        if (r.spec.get("source") or {}) == {"kind": "run", "run_id": run_id}
    }
    return [
        r
        for r in run_store.list_runs(eng, kind=consistency.KIND)
        if (r.params.get("source") or {}).get("review_id") in reviews
    ]


def _edit(run_id: int, item: str, op: str, text_key: str | None = None) -> None:
    text = st.session_state.get(text_key, "") if text_key else ""
    try:
        record_edit(engine(), run_id, item, op, text)  # type: ignore[arg-type]
    except ValueError as exc:
        st.session_state["si_error"] = str(exc)
    else:
        index.sync(engine(), run_id)


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 3)


def _consistency_controls(run_id: int) -> tuple[int | None, float | None, float]:
    """Which check's signals to show, and the suspect filter; or a pointer to start a check."""
    runs = check_runs(run_id)
    if not runs:
        st.caption(
            "No consistency check covers this run yet. To add its columns (induced-instruction and execution "
            "agreement), create a review from this run on the Data Quality Review page and run its "
            "Consistency check; the signals then show here."
        )
        st.page_link("pages/review.py", label="Open Data Quality Review", icon=":material/fact_check:")
        return None, None, SUSPECT_DEFAULT
    by_id = {r.id: r for r in runs}
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    check = c1.selectbox(
        "Consistency check",
        list(by_id),
        format_func=lambda i: (
            f"Run {i} · {by_id[i].status} · {by_id[i].progress_done}/{by_id[i].progress_total} tasks"
        ),
        key=f"si_check_{run_id}",
    )
    threshold = c2.slider(
        "Suspect below (ROUGE-L)", 0.0, 1.0, SUSPECT_DEFAULT, 0.05, key=f"si_suspect_at_{run_id}"
    )
    only = c3.toggle("Only suspect", key=f"si_suspect_{run_id}")
    index.sync_checks(engine(), check)
    st.caption(
        f"A task is suspect when the instruction induced from its instances (ROUGE-L against the generated "
        f"instruction) or the outputs of executing it (mean ROUGE-L against the generated outputs) score "
        f"below {threshold:.2f}. Items outside the check's sample have empty columns."
    )
    return check, (threshold if only else None), threshold


def pool_tab(run: run_store.Run, state: int) -> None:
    st.fragment(_pool)(run.id, state)


def _pool(run_id: int, state: int) -> None:
    eng = engine()
    c1, c2, c3, c4 = st.columns([3, 2, 1, 1.3], vertical_alignment="bottom")
    query = c1.text_input("Search", key=f"si_search_{run_id}", placeholder="words in the instruction")
    sort = c2.selectbox("Sort by", list(si_pages.SORTS), key=f"si_sort_{run_id}")
    descending = c3.toggle("Descending", key=f"si_desc_{run_id}")
    show_deleted = c4.toggle("Show deleted", key=f"si_deleted_{run_id}")
    check, suspect_below, threshold = _consistency_controls(run_id)
    q = si_pages.PoolQuery(query, show_deleted, sort, descending, check, suspect_below)
    size = si_pages.PAGE_SIZE
    first = si_pages.pool_page(eng, run_id, q, 0, 0)
    if not first.total:
        st.info("The generated pool is empty so far.")
        return
    pages = max(1, math.ceil(first.matching / size))
    page_key = f"si_page_{run_id}"
    if st.session_state.get(page_key, 1) > pages:
        st.session_state[page_key] = pages  # the filter shrank the result: stay on its last page
    c1, c2 = st.columns([1, 4], vertical_alignment="bottom")
    n = c1.number_input(f"Page (of {pages})", 1, pages, key=page_key)
    page = si_pages.pool_page(eng, run_id, q, (int(n) - 1) * size, size, counts=False)
    shown = f"{(int(n) - 1) * size + 1}–{(int(n) - 1) * size + len(page.rows)}" if page.rows else "0"
    c2.caption(f"{first.matching} of {first.total} items match · showing {shown}")
    rows = []
    for r in page.rows:
        row = {
            "item": r.item,
            "instruction": r.instruction,
            "classification": r.classification,
            "instances": r.instances or 0,
            "seed ROUGE-L": r.seed_rouge,
            "edited": r.edited,
            "deleted": r.deleted,
        }
        if check is not None:
            signals = {"induced_rouge": r.induced_rouge, "execution_rouge": r.execution_rouge}
            row |= {
                "suspect": consistency.suspect(signals, threshold) if r.checked else None,
                "induced ROUGE-L": _num(r.induced_rouge),
                "induced BERTScore": _num(r.induced_bertscore),
                "execution ROUGE-L": _num(r.execution_rouge),
                "induced instruction": r.induced or "",
            }
        rows.append(row)
    # The signals next to the instruction they judge; the induced instruction (long text) last.
    columns = (
        COLUMNS[:2] + CHECK_COLUMNS[:-1] + COLUMNS[2:] + CHECK_COLUMNS[-1:] if check is not None else COLUMNS
    )
    st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True)
    st.caption("Sort by orders the whole pool; a click on a column header orders only the rows of this page.")
    if not page.rows:
        return
    by_key = {r.item: r for r in page.rows}
    chosen = st.selectbox(
        "Edit or delete an item (of this page)",
        list(by_key),
        format_func=lambda k: f"{k} · {by_key[k].instruction[:80]}",
        key=f"si_pick_{run_id}",
    )
    item = si_pages.pool_item(eng, run_id, chosen) if chosen else None
    if item is None:
        return
    text_key = f"si_edit_{run_id}_{item.key}_{state}"
    st.text_area("Instruction", item.instruction, key=text_key)
    if item.edited:
        st.caption("Originally generated as")
        st.text(item.original)
    b1, b2 = st.columns(2)
    b1.button("Save edit", on_click=_edit, args=(run_id, item.key, "edit", text_key), key=f"si_save_{run_id}")
    if item.deleted:
        b2.button("Restore", on_click=_edit, args=(run_id, item.key, "restore"), key=f"si_restore_{run_id}")
    else:
        b2.button("Delete", on_click=_edit, args=(run_id, item.key, "delete"), key=f"si_delete_{run_id}")
    if item.instances and item.instances.kept:
        st.dataframe(
            pd.DataFrame([{"input": i.input, "output": i.output} for i in item.instances.kept]),
            hide_index=True,
        )
    if edits := si_pages.edit_count(eng, run_id):
        st.caption(f"Edit log: {edits} change(s), kept with the run and in the provenance export.")
