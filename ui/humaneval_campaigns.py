"""Human Evaluation → Campaigns: who rates which responses, how often, under which guidelines."""

from __future__ import annotations

import random

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from core.humaneval.campaign import DEFAULT_GUIDELINES, CampaignSpec
from core.humaneval.identity import Person, parse_names
from core.store import evalset
from core.store import ratings as rating_store
from ui.common import engine, escape
from ui.humaneval_common import set_picker

FORM_PREFIX = "heval-c-"  # every widget key of the new-campaign form
TASK_CHOICES = {
    "all": "Every task with a response from each chosen model",
    "sample": "A random sample of those tasks",
    "pick": "Tasks I choose",
}


def render(who: Person) -> None:
    eng = engine()
    set_name = set_picker(eng)
    message = st.session_state.pop("heval-campaign-flash", None)
    if message:
        st.success(escape(message))
    _overview(eng)
    st.subheader("New campaign")
    _create(eng, set_name, who)


def progress_rows(eng: Engine, campaign: rating_store.Campaign) -> list[dict[str, object]]:
    spec = CampaignSpec.from_dict(campaign.spec)
    latest = rating_store.latest_ratings(eng, campaign.id)
    rows = []
    for rater, items in spec.assignments().items():
        mine = [r for r in latest if r.rater == rater]
        rows.append(
            {
                "rater": rater,
                "assigned": len(items),
                "rated": sum(r.label is not None for r in mine),
                "skipped": sum(r.label is None for r in mine),
                "flagged": sum(r.flagged for r in mine),
            }
        )
    return rows


def _overview(eng: Engine) -> None:
    campaigns = rating_store.list_campaigns(eng)
    if not campaigns:
        st.caption("No campaigns yet.")
        return
    rows = []
    for c in campaigns:
        spec = CampaignSpec.from_dict(c.spec)
        rows.append(
            {
                "campaign": f"#{c.id} {c.name}",
                "set": c.set_name,
                "tasks × models": f"{len(spec.task_ids)} × {len(spec.models)}",
                "raters": ", ".join(spec.raters),
                "per response": spec.overlap,
                "ratings needed": len(spec.item_ids()) * spec.overlap,
                "owner": c.owner,
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    by_id = {c.id: c for c in campaigns}
    with st.expander("Progress per rater"):
        cid = st.selectbox(
            "Campaign", list(by_id), format_func=lambda i: f"#{i} {by_id[i].name}", key="heval-progress"
        )
        st.dataframe(pd.DataFrame(progress_rows(eng, by_id[cid])), hide_index=True)


def _create(eng: Engine, set_name: str, who: Person) -> None:
    responded = rating_store.responded_tasks(eng, set_name)
    if not responded:
        st.info("This set has no responses yet: import or generate them in the Responses section first.")
        return
    name = st.text_input("Name", key="heval-c-name")
    models = st.multiselect("Models", sorted(responded), default=sorted(responded), key="heval-c-models")
    live = evalset.list_tasks(eng, set_name)
    eligible = [t.id for t in live if all(t.id in responded.get(m, set()) for m in models)]
    mode = st.radio(
        "Tasks", list(TASK_CHOICES), format_func=TASK_CHOICES.get, horizontal=True, key="heval-c-mode"
    )
    seed = int(
        st.number_input("Seed (task sample and each rater's order)", 0, 2**31 - 1, 0, key="heval-c-seed")
    )
    if mode == "all":
        task_ids = eligible
    elif mode == "sample":
        size = int(
            st.number_input(
                "How many tasks", 1, max(1, len(eligible)), min(50, max(1, len(eligible))), key="heval-c-n"
            )
        )
        chosen = set(random.Random(f"sample\x1f{seed}").sample(eligible, min(size, len(eligible))))
        task_ids = [t for t in eligible if t in chosen]
    else:
        task_ids = st.multiselect("Choose tasks", eligible, key="heval-c-tasks")
    st.caption(
        f"{len(task_ids)} tasks × {len(models)} models = {len(task_ids) * len(models)} responses to rate."
    )
    raters = parse_names(
        st.text_area("Raters (one per line, or comma-separated)", who.name, height=80, key="heval-c-raters")
    )
    overlap = int(
        st.number_input(
            "Raters per response",
            1,
            max(1, len(raters)),
            min(2, max(1, len(raters))),
            key=f"heval-c-overlap-{len(raters)}",
            help="Two or more let you measure agreement between raters.",
        )
    )
    show_reference = st.checkbox("Show the reference output to raters by default", True, key="heval-c-ref")
    guidelines = st.text_area("Guidelines", DEFAULT_GUIDELINES, height=220, key="heval-c-guide")
    if st.button("Create campaign", type="primary"):
        spec = CampaignSpec(
            name=name.strip(),
            task_ids=tuple(task_ids),
            models=tuple(models),
            raters=raters,
            overlap=overlap,
            seed=seed,
            guidelines=guidelines,
            show_reference=show_reference,
        )
        problems = spec.problems()
        if any(c.name == spec.name for c in rating_store.list_campaigns(eng)):
            problems.append(f"A campaign named {spec.name!r} already exists.")
        if problems:
            st.error("The campaign was not created:\n\n" + "\n".join(f"- {escape(p)}" for p in problems))
            return
        cid = rating_store.create_campaign(eng, spec.name, set_name, spec.to_dict(), who.name)
        st.session_state["heval-campaign-flash"] = (
            f"Created campaign #{cid} {spec.name}: {len(spec.item_ids())} responses, "
            f"{len(spec.raters)} raters, {spec.overlap} per response."
        )
        # An empty form for the next campaign: a second click must not create this one again.
        for key in [k for k in st.session_state if str(k).startswith(FORM_PREFIX)]:
            del st.session_state[key]
        st.rerun()
