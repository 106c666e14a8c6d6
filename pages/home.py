"""Home: what the workbench does, which model it uses, and the state of the datasets."""

from __future__ import annotations

import streamlit as st

from core.datasets import status
from pages.common import model_banner

st.title("Instruction Workbench")
st.write(
    "Study and build instruction data for language models: induce instructions from a few examples, "
    "bootstrap an instruction set from seed tasks, and run blind human evaluations of model outputs."
)
model_banner()

c1, c2, c3 = st.columns(3)
with c1.container(border=True):
    st.subheader("Instruction Induction")
    st.caption("Honovich et al., 2022")
    st.write(
        "A model reads input→output demonstrations and writes the instruction behind them; the instruction "
        "is judged by how well a model follows it on held-out inputs."
    )
    st.page_link("pages/induction.py", label="Open", icon=":material/lightbulb:")
with c2.container(border=True):
    st.subheader("Self-Instruct")
    st.caption("Wang et al., ACL 2023")
    st.write(
        "Grow an instruction dataset from 175 human seed tasks, watching every sampled prompt, every "
        "candidate and why the filters kept or dropped it."
    )
    st.page_link("pages/selfinstruct.py", label="Open", icon=":material/autorenew:")
with c3.container(border=True):
    st.subheader("Human Evaluation")
    st.caption("252 expert-written user-oriented tasks")
    st.write(
        "Curate the evaluation set, rate model responses A/B/C/D without seeing the model, and measure "
        "agreement between raters."
    )
    st.page_link("pages/humaneval.py", label="Open", icon=":material/rate_review:")

st.subheader("Data")
missing = [g.label for g in status() if g.state != "present"]
if missing:
    st.warning(
        "Using the project's **starter set** for: " + ", ".join(missing) + ". Download or import the papers' "
        "data in Settings.",
        icon=":material/dataset:",
    )
else:
    st.success("The papers' datasets are downloaded and verified.", icon=":material/verified:")
st.page_link("pages/settings.py", label="Datasets and model settings", icon=":material/settings:")
