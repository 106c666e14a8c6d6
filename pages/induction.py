"""Instruction Induction (Honovich et al., 2022)."""

import streamlit as st

from pages.common import model_banner

st.title("Instruction Induction")
model_banner()
st.info(
    "Coming next: enter input→output demonstrations (or sample them from the paper's 24 tasks), let the model "
    "induce the instruction, execute it zero-shot on held-out inputs and compare its execution accuracy with the "
    "human-written instructions."
)
