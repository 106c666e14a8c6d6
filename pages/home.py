"""Home: what the workbench does, which model it uses, and the state of the datasets."""

from __future__ import annotations

import streamlit as st

from core.datasets import status
from ui.common import model_banner

st.title("Instruction Workbench")
st.write(
    "Study and build instruction data for language models: induce instructions from a few examples, "
    "bootstrap an instruction set from seed tasks, and run blind human evaluations of model outputs."
)
model_banner()

WORKFLOWS = [
    (
        "Instruction Induction",
        "Honovich et al., 2022",
        "A model reads input→output demonstrations and writes the instruction behind them; the instruction is "
        "judged by how well a model follows it on held-out inputs.",
        "pages/induction.py",
        ":material/lightbulb:",
    ),
    (
        "Self-Instruct",
        "Wang et al., ACL 2023",
        "Grow an instruction dataset from 175 human seed tasks, watching every sampled prompt, every candidate "
        "and why the filters kept or dropped it.",
        "pages/selfinstruct.py",
        ":material/autorenew:",
    ),
    (
        "Human Evaluation",
        "252 expert-written user-oriented tasks",
        "Curate the evaluation set, rate model responses A/B/C/D without seeing the model, and measure agreement "
        "between raters.",
        "pages/humaneval.py",
        ":material/rate_review:",
    ),
]
for column, (title, source, text, page, icon) in zip(st.columns(len(WORKFLOWS)), WORKFLOWS, strict=True):
    with column.container(border=True):
        st.subheader(title)
        st.caption(source)
        st.write(text)
        st.page_link(page, label="Open", icon=icon)

st.subheader("Data")
missing = [g.label for g in status() if g.state != "present"]
if missing:
    st.warning(
        "Not downloaded yet: " + ", ".join(missing) + ". Meanwhile the app runs on its own **starter set** "
        "(a few synthetic induction tasks, a dozen seed tasks, a handful of evaluation tasks). Download or import "
        "the papers' data in Settings.",
        icon=":material/dataset:",
    )
else:
    st.success("The papers' datasets are downloaded and verified.", icon=":material/verified:")
st.page_link("pages/settings.py", label="Datasets and model settings", icon=":material/settings:")
