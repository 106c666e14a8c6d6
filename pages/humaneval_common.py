"""What the Human Evaluation sections share: the evaluation set in use, identity, and safe text display."""

from __future__ import annotations

from contextlib import suppress

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from core import datasets
from core.humaneval.curation import CurationError
from core.humaneval.display import escape_markdown
from core.humaneval.identity import Person, configured_owners, person, valid_name
from core.store import evalset
from core.store import ratings as rating_store
from pages.common import engine

OFFICIAL_SET = "user-oriented-252"
STARTER_SET = "starter-eval"
SET_KEY = "heval-set"


def default_set(eng: Engine) -> tuple[str, str]:
    """Load the default evaluation set into the store on first use; returns its name and a label."""
    official = datasets.has_official("user_oriented")
    name = OFFICIAL_SET if official else STARTER_SET
    if name not in evalset.set_names(eng):
        # Another session may load it at the same moment; then theirs stands.
        with suppress(CurationError, IntegrityError):
            evalset.import_set(eng, name, datasets.eval_tasks(), actor="system")
    if official:
        return name, "the official 252 user-oriented tasks (Self-Instruct)"
    return name, (
        "the starter tasks written for this app: the official 252 tasks are not in the data folder "
        "(download or import them on the Home page, then they load here as their own set)"
    )


def set_label(name: str) -> str:
    if name == OFFICIAL_SET:
        return f"{name} (official 252)"
    if name == STARTER_SET:
        return f"{name} (starter)"
    return name


def select_next(key: str, value: object) -> None:
    """Choose `value` in the widget `key` on the next run (a rendered widget's state cannot be set)."""
    st.session_state[f"{key}-next"] = value


def take_pending(key: str) -> None:
    if f"{key}-next" in st.session_state:
        st.session_state[key] = st.session_state.pop(f"{key}-next")


def set_picker(eng: Engine) -> str:
    """The evaluation set the owner works on (kept for the session)."""
    default, label = default_set(eng)
    names = evalset.set_names(eng)
    take_pending(SET_KEY)
    if st.session_state.get(SET_KEY) not in names:
        st.session_state[SET_KEY] = default
    choice = st.selectbox("Evaluation set", names, key=SET_KEY, format_func=set_label)
    if choice == default:
        st.caption(f"This set holds {label}.")
    return choice


def literal(text: str, empty: str = "(empty)") -> None:
    """Untrusted text shown exactly as written, never interpreted as Markdown or HTML."""
    if text.strip():
        st.code(text, language=None, wrap_lines=True)
    else:
        st.caption(empty)


def prose(text: str) -> None:
    """Untrusted text in the normal font, escaped so it renders as written."""
    st.markdown(escape_markdown(text) if text.strip() else "*(empty)*")


# --- Identity ----------------------------------------------------------------------------------------------

RATER_KEY = "heval-rater"
ROLE_KEY = "heval-role"


def _logged_in() -> bool:
    # st.user has no "is_logged_in" at all when the deployment configures no OIDC login.
    return bool(st.user.get("is_logged_in", False))


def _auth_configured() -> bool:
    return "is_logged_in" in st.user


def current_person() -> Person | None:
    """The person using the page, or None after showing how to identify (then the page stops)."""
    owners = configured_owners()
    if _logged_in():
        name = str(st.user.get("email") or st.user.get("name") or "signed-in user")
        wants_owner = st.session_state.get(ROLE_KEY) == "owner"
        who = person(name, True, wants_owner, owners)
        c1, c2, c3 = st.columns([6, 2, 1], vertical_alignment="center")
        c1.caption(f"Signed in as **{escape_markdown(who.name)}** · {'owner' if who.owner else 'rater'}")
        if not owners:
            c2.toggle(
                "Owner role",
                value=wants_owner,
                key="heval-owner-toggle",
                on_change=_toggle_role,
                help="No owner list (WORKBENCH_OWNERS) is configured, so anyone may configure campaigns.",
            )
        if c3.button("Log out"):
            st.logout()
        return who
    if _auth_configured():
        st.info("Log in to take part in the evaluation.")
        if st.button("Log in", type="primary"):
            st.login()
        return None
    return _local_person(owners)


def _toggle_role() -> None:
    st.session_state[ROLE_KEY] = "owner" if st.session_state.get("heval-owner-toggle") else "rater"


def _local_person(owners: tuple[str, ...]) -> Person | None:
    # The profile lives in the session and in the URL, so a browser reload keeps it.
    name = st.session_state.get(RATER_KEY) or st.query_params.get("rater")
    role = st.session_state.get(ROLE_KEY) or st.query_params.get("role", "rater")
    if name and not valid_name(name):
        st.session_state[RATER_KEY], st.session_state[ROLE_KEY] = name, role
        if (st.query_params.get("rater"), st.query_params.get("role")) != (name, role):
            st.query_params["rater"], st.query_params["role"] = name, role
        who = person(name, False, role == "owner", owners)
        c1, c2 = st.columns([8, 1], vertical_alignment="center")
        c1.caption(
            f"Rating as **{escape_markdown(who.name)}** · {'owner' if who.owner else 'rater'} · "
            "a local profile (not authenticated)"
        )
        c2.button("Switch", on_click=_forget_profile, key="heval-switch")
        return who
    _profile_form(owners)
    return None


def _forget_profile() -> None:
    for key in (RATER_KEY, ROLE_KEY):
        st.session_state.pop(key, None)
    for key in ("rater", "role"):
        st.query_params.pop(key, None)


def _profile_form(owners: tuple[str, ...]) -> None:
    st.subheader("Who is rating?")
    known = rating_store.known_raters(engine())
    with st.form("heval-profile"):
        picked = st.selectbox("Your profile", known, index=None, placeholder="Choose your name")
        typed = st.text_input("…or a new name", key="heval-new-name")
        if owners:
            st.caption("Owners are the people listed in WORKBENCH_OWNERS; everyone else rates.")
            role = "rater"
        else:
            role = st.radio(
                "Role",
                ["rater", "owner"],
                format_func=lambda r: (
                    "Rater: rate responses" if r == "rater" else "Owner: curate tasks, import, run campaigns"
                ),
                horizontal=True,
            )
            st.caption(
                "No owner list is configured (WORKBENCH_OWNERS), so a local profile may choose the owner "
                "role. Local profiles are not authenticated: configure Streamlit's login (st.login) for that."
            )
        if st.form_submit_button("Start", type="primary"):
            name = (typed or picked or "").strip()
            problem = valid_name(name)
            if problem:
                st.error(problem)
            else:
                st.session_state[RATER_KEY], st.session_state[ROLE_KEY] = name, role
                st.query_params["rater"], st.query_params["role"] = name, role
                st.rerun()
