"""Data quality review (the Self-Instruct paper's Table 2): sample generated items, label them blind, measure."""

from __future__ import annotations

import streamlit as st

from ui import consistency_views, judge_views, review_views
from ui.humaneval_common import current_person
from ui.sections import route_by_role

OWNER_SECTIONS = {
    "Reviews": review_views.render_create,
    "Review": review_views.render_label,
    "Results": review_views.render_results,
    "Judge": judge_views.render_judge,
    "Consistency": consistency_views.render_consistency,
}

st.title("Data Quality Review")
st.caption(
    "The Self-Instruct paper's audit (Table 2): sample generated tasks, one instance each, and answer three "
    "yes/no questions about the instruction, the input and the output."
)
who = current_person()
if who is None:
    st.stop()

route_by_role(who, OWNER_SECTIONS, review_views.render_label, key="review-section")
