"""Self-Instruct (Wang et al., ACL 2023)."""

import streamlit as st

from pages.common import model_banner

st.title("Self-Instruct")
model_banner()
st.info(
    "Coming next: bootstrap instructions from the 175 seed tasks, one iteration at a time — the sampled "
    "instructions, the exact prompt, the raw response, and each candidate kept or dropped with its reason."
)
