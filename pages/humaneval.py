"""Human evaluation of model responses on the user-oriented tasks: curate, collect, rate blind, measure.

Each section lives in its own module in ui/; only the chosen one renders, so the Rate section's output holds
nothing from the owner's sections (model names above all).
"""

from __future__ import annotations

import streamlit as st

from ui import (
    humaneval_campaigns,
    humaneval_rate,
    humaneval_responses,
    humaneval_results,
    humaneval_tasks,
)
from ui.humaneval_common import current_person
from ui.sections import route_by_role

OWNER_SECTIONS = {
    "Tasks": humaneval_tasks.render,
    "Responses": humaneval_responses.render,
    "Campaigns": humaneval_campaigns.render,
    "Rate": humaneval_rate.render,
    "Results": humaneval_results.render,
}

st.title("Human Evaluation")
st.write(
    "Rate model responses to user-oriented tasks on the paper's A/B/C/D scale without seeing which model wrote "
    "them, and measure how far raters agree. Owners curate the tasks, collect responses and set up campaigns; "
    "raters rate."
)
who = current_person()
if who is None:
    st.stop()

route_by_role(who, OWNER_SECTIONS, humaneval_rate.render, key="section")
