"""Human evaluation of model responses on the 252 user-oriented tasks."""

import streamlit as st

st.title("Human Evaluation")
st.info(
    "Coming next: curate the 252 expert-written tasks, import or generate model responses, rate them "
    "A/B/C/D without seeing the model, and measure agreement between raters (Cohen's κ, Krippendorff's α)."
)
