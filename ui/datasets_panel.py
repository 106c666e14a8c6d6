"""The dataset status panel (official files: download or import) and the user's own uploads."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.config import REPO_ROOT
from core.datasets import UPLOAD_KINDS, delete_upload, parse_upload, save_upload, status
from core.datasets.download import datasets_dir
from core.datasets.errors import DatasetError
from core.datasets.jobs import dataset_params
from core.datasets.uploads import stored_uploads
from ui.common import escape, run_status, runner

STATE_BADGE = {
    "present": ":green-badge[verified]",
    "missing": ":gray-badge[not downloaded]",
    "partial": ":orange-badge[partial]",
    "corrupt": ":red-badge[checksum mismatch]",
}
UPLOAD_HELP = {
    "demonstrations": "input, output (optional answers, split = induce|execute) — becomes an Instruction Induction task",
    "seed_tasks": "the seed_tasks.jsonl shape, or CSV: name, instruction, input, output, is_classification",
    "eval_tasks": "the user_oriented_instructions.jsonl shape, or CSV: instruction, input, output",
}


def _start(action: str, groups: list[str] | None = None, folder: str | None = None) -> None:
    st.session_state["datasets_run"] = runner().submit(
        "datasets", dataset_params(action, groups, folder), name=f"datasets: {action}"
    )


def status_panel() -> None:
    """One row per dataset with its state and a button to fetch it."""
    groups = status()
    for g in groups:
        c1, c2, c3 = st.columns([3, 2, 1.2], vertical_alignment="center")
        c1.markdown(f"**{g.label}**  \n{g.ok}/{g.files} files · {g.bytes / 1e6:.1f} MB")
        c2.markdown(STATE_BADGE[g.state])
        if g.state != "present" and c3.button("Download", key=f"dl-{g.id}"):
            _start("download", [g.id])
    if all(g.state != "present" for g in groups):
        st.caption(
            "Without the official data the app uses its **starter set**: a few synthetic induction tasks, a "
            "dozen seed tasks and a handful of evaluation tasks written by this project."
        )
    shared = REPO_ROOT.parent / "shared" / "datasets"
    with st.form("import-folder"):
        folder = st.text_input(
            "Import from a folder laid out like the official release (offline route)",
            str(shared) if shared.exists() else "",
        )
        if st.form_submit_button("Import and verify"):
            if not folder.strip() or not Path(folder).is_dir():
                st.error(f"Not a folder: {escape(folder)}")
            else:
                _start("import", folder=folder.strip())
    if "datasets_run" in st.session_state:
        run = run_status(st.session_state["datasets_run"])
        if run is not None and run.status == "failed":
            st.caption("Nothing that was already verified is changed by a failed download or import.")
    st.caption(f"Datasets folder: {escape(datasets_dir())}")


def uploads_panel() -> None:
    """Bring your own data: validated whole before anything is stored."""
    kind = st.selectbox("Kind of data", UPLOAD_KINDS, format_func=lambda k: k.replace("_", " "))
    st.caption(UPLOAD_HELP[kind])
    upload = st.file_uploader("JSON, JSONL or CSV", type=["json", "jsonl", "csv"], key=f"upload-{kind}")
    if upload is not None and st.button("Validate and save", key=f"save-{kind}"):
        data = upload.getvalue()
        try:
            rows = parse_upload(upload.name, data, kind)
            save_upload(upload.name, data, kind)
        except DatasetError as exc:
            st.error(f"Not imported — {escape(exc)}")
        else:
            st.success(f"Saved {escape(upload.name)}: {len(rows)} rows.")
    stored = stored_uploads(datasets_dir(), kind)
    for path in stored:
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.text(path.name)
        if c2.button("Delete", key=f"del-{kind}-{path.name}"):
            delete_upload(path.name, kind)
            st.rerun()
