"""Self-Instruct (Wang et al., ACL 2023): grow an instruction set from seed tasks and watch every decision."""

from __future__ import annotations

import streamlit as st

from core.humaneval.display import escape_markdown
from ui import selfinstruct_live as live
from ui import selfinstruct_start as start
from ui.common import model_banner

st.title("Self-Instruct")
st.caption(
    "Wang et al., ACL 2023. Sample instructions from the seed tasks and the growing pool, ask the model for "
    "more, and keep only the well-formed, novel ones; then classify each and generate its instances."
)
model_banner()

with st.expander("How this page follows the paper (docs/fidelity.md)"):
    st.markdown(start.fidelity_section())

if error := st.session_state.pop("si_error", None):
    st.error(escape_markdown(error))

selected = start.run_selector()
if selected is None:
    start.start_form()
else:
    live.run_page(selected)
