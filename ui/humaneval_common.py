"""What the Human Evaluation sections share: the evaluation set in use, identity, and safe text display."""

from __future__ import annotations

from contextlib import suppress

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from core import datasets
from core.humaneval.curation import CurationError
from core.humaneval.display import escape_markdown
from core.humaneval.identity import (
    Mode,
    Person,
    configured_owners,
    describe_mode,
    identity_mode,
    listed_owner,
    needs_secret,
    owner_password,
    owner_token,
    person,
    secret_matches,
    valid_name,
)
from core.store import evalset
from core.store import ratings as rating_store
from ui.common import engine
from ui.plain_text import BOX_HEIGHT, plain_block

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
        # Where the work is: the set of the latest campaign, else the default set.
        latest = next(iter(rating_store.list_campaigns(eng)), None)
        st.session_state[SET_KEY] = latest.set_name if latest and latest.set_name in names else default
    choice = st.selectbox("Evaluation set", names, key=SET_KEY, format_func=set_label)
    if choice == default:
        st.caption(f"This set holds {label}.")
    return choice


def literal(text: str, empty: str = "(empty)", height: int = BOX_HEIGHT) -> None:
    """Untrusted text shown exactly as written, never interpreted as Markdown or HTML; long text scrolls
    inside a fixed-height box."""
    plain_block(text, empty, height)


def prose(text: str) -> None:
    """Untrusted text in the normal font, escaped so it renders as written."""
    st.markdown(escape_markdown(text) if text.strip() else "*(empty)*")


# --- Identity ----------------------------------------------------------------------------------------------

RATER_KEY = "heval-rater"
ROLE_KEY = "heval-role"
PROVED_KEY = "heval-owner-proved"  # the (casefolded) profile name that entered the owner secret


def _logged_in() -> bool:
    # st.user has no "is_logged_in" at all when the deployment configures no OIDC login.
    return bool(st.user.get("is_logged_in", False))


def _auth_configured() -> bool:
    return "is_logged_in" in st.user


def _mode() -> Mode:
    return identity_mode(_auth_configured(), owner_password(), st.get_option("server.address"))


def current_person() -> Person | None:
    """The person using the page, or None after showing how to identify (then the page stops)."""
    owners = configured_owners()
    mode = _mode()
    if mode == "token":
        owner_token()  # printed to the server's output the first time it is needed
    st.caption(describe_mode(mode, owners))  # our own words, no outside text
    if _logged_in():
        name = str(st.user.get("email") or st.user.get("name") or "signed-in user")
        wants_owner = st.session_state.get(ROLE_KEY) == "owner"
        who = person(name, True, wants_owner, owners)
        c1, c2, c3 = st.columns([4, 2, 1], vertical_alignment="center")
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
    if mode == "login":
        st.info("Log in to take part in the evaluation.")
        if st.button("Log in", type="primary"):
            st.login()
        return None
    return _local_person(owners, mode)


def _toggle_role() -> None:
    st.session_state[ROLE_KEY] = "owner" if st.session_state.get("heval-owner-toggle") else "rater"


def _secret_name(mode: Mode) -> str:
    return "owner password" if mode == "password" else "owner token printed in the server's terminal"


def _expected_secret(mode: Mode) -> str:
    return owner_password() if mode == "password" else owner_token()


def _local_person(owners: tuple[str, ...], mode: Mode) -> Person | None:
    # The profile lives in the session and in the URL, so a browser reload keeps it; owner rights (when they
    # need the secret) live in the session only: a URL never carries them.
    name = st.session_state.get(RATER_KEY) or st.query_params.get("rater")
    role = st.session_state.get(ROLE_KEY) or st.query_params.get("role", "rater")
    if name and not valid_name(name):
        st.session_state[RATER_KEY], st.session_state[ROLE_KEY] = name, role
        if (st.query_params.get("rater"), st.query_params.get("role")) != (name, role):
            st.query_params["rater"], st.query_params["role"] = name, role
        proved = not needs_secret(mode) or st.session_state.get(PROVED_KEY) == name.strip().casefold()
        who = person(name, False, role == "owner", owners, proved)
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.caption(
            f"Rating as **{escape_markdown(who.name)}** · {'owner' if who.owner else 'rater'} · "
            "a local profile (not authenticated)"
        )
        c2.button("Switch", on_click=_forget_profile, key="heval-switch", width="stretch")
        if role == "owner" and not who.owner and needs_secret(mode):
            _prove_owner(name, owners, mode)
        return who
    _profile_form(owners, mode)
    return None


def _forget_profile() -> None:
    for key in (RATER_KEY, ROLE_KEY, PROVED_KEY):
        st.session_state.pop(key, None)
    for key in ("rater", "role"):
        st.query_params.pop(key, None)


def _owner_problem(name: str, secret: str, owners: tuple[str, ...], mode: Mode) -> str | None:
    """Why `name` cannot have owner rights with this secret, or None when it can."""
    if owners and not listed_owner(name, owners):
        return f"{name.strip()} is not listed in WORKBENCH_OWNERS, so this profile can only rate."
    if not secret_matches(secret, _expected_secret(mode)):
        return f"Wrong {_secret_name(mode)}: owner rights refused."
    return None


def _prove_owner(name: str, owners: tuple[str, ...], mode: Mode) -> None:
    """Owner role asked for (e.g. ?role=owner in a link) but not proved in this session: rate until it is."""
    st.warning(f"Owner rights need the {_secret_name(mode)}. Until it is entered, this profile only rates.")
    with st.form("heval-prove-owner", clear_on_submit=True):
        secret = st.text_input(_secret_name(mode).capitalize(), type="password", key="heval-prove-secret")
        if st.form_submit_button("Become owner"):
            problem = _owner_problem(name, secret, owners, mode)
            if problem:
                st.error(escape_markdown(problem))
            else:
                st.session_state[PROVED_KEY] = name.strip().casefold()
                st.rerun()


def _profile_form(owners: tuple[str, ...], mode: Mode) -> None:
    st.subheader("Who is rating?")
    known = rating_store.known_raters(engine())
    secret_needed = needs_secret(mode)
    with st.form("heval-profile"):
        picked = st.selectbox("Your profile", known, index=None, placeholder="Choose your name")
        typed = st.text_input("…or a new name", key="heval-new-name")
        if owners and not secret_needed:
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
        secret = (
            st.text_input(
                f"{_secret_name(mode).capitalize()} (owners only)",
                type="password",
                key="heval-profile-secret",
            )
            if secret_needed
            else ""
        )
        if st.form_submit_button("Start", type="primary"):
            name = (typed or picked or "").strip()
            problem = valid_name(name)
            if not problem and role == "owner" and secret_needed:
                problem = _owner_problem(name, secret, owners, mode)
            if problem:
                st.error(escape_markdown(problem))
            else:
                st.session_state[RATER_KEY], st.session_state[ROLE_KEY] = name, role
                if role == "owner" and secret_needed:
                    st.session_state[PROVED_KEY] = name.casefold()
                st.query_params["rater"], st.query_params["role"] = name, role
                st.rerun()
