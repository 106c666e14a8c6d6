"""Human Evaluation → Rate: one response at a time, model hidden, A/B/C/D by button or keyboard.

Only a `RaterView` (which has no model field) and the rater's own ratings reach the page; items are known
by blind ids (keyed with the server's secret, see `blind_id`) and the model is looked up on the server
inside the button callbacks. Every rating is stored the moment it is given.
"""

from __future__ import annotations

import streamlit as st

from core.humaneval.campaign import RATING_SCALE, CampaignSpec, resume_index
from core.humaneval.identity import Person
from core.humaneval.records import Rating, blind, blind_id, item_id
from core.store import ratings as rating_store
from ui.common import engine, escape
from ui.humaneval_common import literal, prose

# Scroll-box heights (px): together with the controls beside them they fit a 900-pixel-high window.
RESPONSE_BOX = 320
SIDE_BOX = 140

# Digits 1-4 are the buttons' own Streamlit shortcuts. Letters need this listener: Streamlit reserves "c"
# (it opens "clear cache"), so a-d are caught first, in the capture phase, and click the matching button.
# Static code only: no untrusted text is ever put into it.
KEYS_SCRIPT = """
<script>
(() => {
  if (window.__hevalKeys) return;
  window.__hevalKeys = true;
  window.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(target && target.tagName);
    if (typing || (target && target.isContentEditable)) return;
    const label = { a: "A", b: "B", c: "C", d: "D" }[(event.key || "").toLowerCase()];
    if (!label) return;
    const button = document.querySelector(".st-key-heval-rate-" + label + " button");
    if (!button || button.disabled) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    button.click();
  }, true);
})();
</script>
"""


def render(who: Person) -> None:
    eng = engine()
    mine_campaigns = [c for c in rating_store.list_campaigns(eng) if _as_listed(c.spec, who.name)]
    if not mine_campaigns:
        st.info(f"No campaign lists {escape(who.name)} as a rater yet. An owner adds raters in Campaigns.")
        return
    by_id = {c.id: c for c in mine_campaigns}
    pick, progress = st.columns([2, 3], vertical_alignment="bottom")
    cid = pick.selectbox(
        "Campaign", list(by_id), format_func=lambda i: by_id[i].name, key="heval-rate-campaign"
    )
    campaign = by_id[cid]
    spec = CampaignSpec.from_dict(campaign.spec)
    rater = _as_listed(campaign.spec, who.name) or who.name
    items = _blind_items(spec, cid)
    blind_of = {item_id(task, model): bid for bid, (task, model) in items.items()}
    # From here on the page knows items only by their blind ids (widget keys, callbacks' arguments).
    order = [blind_of[i] for i in spec.assignments().get(rater, [])]
    latest = rating_store.latest_ratings(eng, cid, rater=rater)
    mine = {blind_of[r.item_id]: r for r in latest if r.item_id in blind_of}
    if not order:
        st.info("No responses in this campaign are assigned to you.")
        return
    pos_key = _pos_key(cid, rater)
    if pos_key not in st.session_state:
        st.session_state[pos_key] = resume_index(order, mine)
    pos = min(max(0, int(st.session_state[pos_key])), len(order))

    rated = sum(1 for i in order if i in mine and mine[i].label is not None)
    skipped = sum(1 for i in order if i in mine and mine[i].label is None)
    progress.progress(
        rated / len(order) if order else 1.0,
        text=f"{rated} of {len(order)} rated" + (f" · {skipped} skipped" if skipped else ""),
    )
    if pos >= len(order):
        _guidelines(spec, expanded=False)
        _finished(cid, rater, order, mine, skipped)
        return

    current = order[pos]
    task_id, model = items[current]
    item = rating_store.response_item(eng, campaign.set_name, task_id, model)
    # Texts on the left, each long one in its own scroll box; the controls on the right, so the buttons and
    # the keyboard hint are in the first screenful however long the response is.
    texts, controls = st.columns([3, 2], gap="medium")
    with texts:
        st.subheader(f"Response {pos + 1} of {len(order)}")
        if item is None:
            st.warning("This response is no longer available (its task was deleted or the response removed).")
        else:
            view = blind(item, current, pos, len(order))
            st.caption("Instruction")
            prose(view.instruction)
            st.caption("Input")
            literal(view.input, "(no input)", height=SIDE_BOX)
            if st.toggle("Show the reference output", value=spec.show_reference, key=f"heval-ref-{cid}"):
                st.caption("Reference output: one good answer, not the only one")
                literal(view.reference_output, height=SIDE_BOX)
            st.caption("Response to rate")
            literal(view.response, "(empty response)", height=RESPONSE_BOX)
    with controls:
        _controls(cid, current, rater, pos, mine.get(current), disabled=item is None)
        _guidelines(spec, expanded=not mine)
    st.html(KEYS_SCRIPT, unsafe_allow_javascript=True)


def _controls(cid: int, current: str, rater: str, pos: int, previous: Rating | None, disabled: bool) -> None:
    st.text_input(
        "Comment (optional, saved with the rating)",
        previous.comment if previous else "",
        key=f"heval-comment-{cid}-{current}",
    )
    st.checkbox(
        "Flag for the owner",
        bool(previous and previous.flagged),
        help="e.g. a broken task or a response that cannot be rated; the owner sees it under Results.",
        key=f"heval-flag-{cid}-{current}",
    )
    for n, (label, (title, text)) in enumerate(RATING_SCALE.items(), start=1):
        st.button(
            f"**{label}** · {title}",
            key=f"heval-rate-{label}",
            help=text,
            shortcut=str(n),
            type="primary" if previous and previous.label == label else "secondary",
            disabled=disabled,
            width="stretch",
            wrap=True,  # the scale's titles are the point: never cut them off
            on_click=_rate,
            args=(cid, current, rater, label, pos),
        )
    st.caption("Keyboard: 1–4 or a–d rate and save at once (the comment and flag go with it).")
    back, skip = st.columns(2)
    back.button(
        "← Back",
        key="heval-back",
        disabled=pos == 0,
        on_click=_move,
        args=(cid, rater, pos - 1),
        width="stretch",
    )
    if previous is not None and previous.label is not None:
        skip.button("Next →", key="heval-next", on_click=_move, args=(cid, rater, pos + 1), width="stretch")
    else:
        skip.button(
            "Skip", key="heval-skip", on_click=_rate, args=(cid, current, rater, None, pos), width="stretch"
        )


def _guidelines(spec: CampaignSpec, expanded: bool) -> None:
    with st.expander("Guidelines", expanded=expanded), st.container(height=320, border=False):
        st.markdown(spec.guidelines)  # written by the campaign's owner


def _as_listed(spec: dict, name: str) -> str | None:
    """The campaign's spelling of this rater's name (login emails differ in case), or None if not listed."""
    wanted = name.strip().casefold()
    return next((str(r) for r in spec.get("raters", []) if str(r).strip().casefold() == wanted), None)


def _blind_items(spec: CampaignSpec, cid: int) -> dict[str, tuple[str, str]]:
    """blind id -> (task, model) for every item of the campaign; the mapping stays on the server."""
    key = rating_store.blinding_key(engine())
    return {
        blind_id(key, cid, item_id(task, model)): (task, model)
        for task in spec.task_ids
        for model in spec.models
    }


def _rate(cid: int, current: str, rater: str, label: str | None, pos: int) -> None:
    campaign = rating_store.get_campaign(engine(), cid)
    if campaign is None:
        return
    found = _blind_items(CampaignSpec.from_dict(campaign.spec), cid).get(current)
    if found is None:
        return
    task_id, model = found
    comment = str(st.session_state.get(f"heval-comment-{cid}-{current}", "")).strip()
    flagged = bool(st.session_state.get(f"heval-flag-{cid}-{current}", False))
    rating_store.add_rating(engine(), cid, Rating(task_id, model, rater, label, comment, flagged))
    # The next position comes from the rated item's place, so a double key press cannot skip an item.
    st.session_state[_pos_key(cid, rater)] = pos + 1
    st.toast(f"Saved {label}" if label else "Skipped", duration="short")


def _pos_key(cid: int, rater: str) -> str:
    # Per rater too: switching profiles in one browser session must not carry a position over.
    return f"heval-pos-{cid}-{rater}"


def _move(cid: int, rater: str, pos: int) -> None:
    st.session_state[_pos_key(cid, rater)] = max(0, pos)


def _finished(cid: int, rater: str, order: list[str], mine: dict, skipped: int) -> None:
    st.success(f"All {len(order)} responses in this campaign have your rating or skip. Thank you!")
    c1, c2, _ = st.columns([2, 1, 3])
    if skipped:
        first = next(i for i, it in enumerate(order) if it not in mine or mine[it].label is None)
        c1.button(
            f"Rate the {skipped} skipped", key="heval-skipped", on_click=_move, args=(cid, rater, first)
        )
    c2.button("← Back", key="heval-back-end", on_click=_move, args=(cid, rater, len(order) - 1))
