"""Instruction Workbench: the router. Pages live in pages/, their shared views in ui/, logic in core/."""

from pathlib import Path

import streamlit as st

from ui.common import runner

# A local file: a Material or emoji page icon becomes a favicon fetched from a CDN, and the app is offline-first.
ICON = Path(__file__).parent / "assets" / "icon.png"

st.set_page_config(page_title="Instruction Workbench", page_icon=str(ICON), layout="wide")

pages = {
    "Workbench": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/induction.py", title="Instruction Induction", icon=":material/lightbulb:"),
        st.Page("pages/selfinstruct.py", title="Self-Instruct", icon=":material/autorenew:"),
        st.Page("pages/humaneval.py", title="Human Evaluation", icon=":material/rate_review:"),
        st.Page("pages/review.py", title="Data Quality Review", icon=":material/fact_check:"),
    ],
    "System": [
        st.Page("pages/calls.py", title="Call log", icon=":material/receipt_long:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ],
}
# Start the background job workers with the server, so runs left unfinished by a restart resume.
runner()
st.navigation(pages).run()
