"""Who is using the Human Evaluation page, and whether they may configure it (owner) or only rate.

A local profile is a name anyone can type, so a name alone never grants owner rights. How an owner proves
it is the identity mode, decided per server:

- login: Streamlit's OIDC login (st.login) names the person; WORKBENCH_OWNERS, when set, lists the owners.
- password: WORKBENCH_OWNER_PASSWORD is set; a local profile becomes owner by entering it.
- token: no password and a server others can reach; owner rights need the one-time token the server prints
  to its standard output (new at every start, never stored).
- local: no password and a server listening on the loopback address only, so everyone using it sits at this
  machine: one implicit owner, whoever that is, and local profiles only tell raters apart.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import sys
import threading
from dataclasses import dataclass
from typing import Literal

from core.config import setting

OWNERS_SETTING = "WORKBENCH_OWNERS"
PASSWORD_SETTING = "WORKBENCH_OWNER_PASSWORD"

Mode = Literal["login", "password", "token", "local"]


def owner_password() -> str:
    """WORKBENCH_OWNER_PASSWORD from the environment or secrets.toml; empty when unset."""
    return setting(PASSWORD_SETTING, "") or ""


def loopback_only(address: str | None) -> bool:
    """Whether a server bound to `address` (Streamlit's server.address) is reachable from this machine only.
    Unset means every interface."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip()).is_loopback
    except ValueError:
        return False


def identity_mode(auth_configured: bool, password: str, server_address: str | None) -> Mode:
    if auth_configured:
        return "login"
    if password:
        return "password"
    return "local" if loopback_only(server_address) else "token"


def needs_secret(mode: Mode) -> bool:
    """Whether a local profile needs the owner secret (password or token) for owner rights."""
    return mode in ("password", "token")


def describe_mode(mode: Mode, owners: tuple[str, ...]) -> str:
    """One plain sentence for the page saying how identity and owner rights work right now."""
    listed = " and be listed in WORKBENCH_OWNERS" if owners else ""
    if mode == "login":
        who = (
            "the people listed in WORKBENCH_OWNERS"
            if owners
            else "anyone signed in (no WORKBENCH_OWNERS list)"
        )
        return f"Identity: Streamlit login (OIDC). Owners are {who}; everyone else rates."
    if mode == "password":
        return (
            "Identity: local profiles, not authenticated. Owner rights need the owner password "
            f"(WORKBENCH_OWNER_PASSWORD){listed}; everyone else rates."
        )
    if mode == "token":
        return (
            "Identity: local profiles, not authenticated. Owner rights need the one-time owner token printed "
            f"in the terminal running the server (new at every restart){listed}; everyone else rates. Set "
            "WORKBENCH_OWNER_PASSWORD or configure Streamlit login for a lasting secret."
        )
    who = "the people listed in WORKBENCH_OWNERS" if owners else "whoever uses this machine"
    return (
        "Identity: local install (the server listens on this machine only), so there is one implicit owner: "
        f"{who}. Profiles only tell raters apart and are not authenticated."
    )


def secret_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so response times do not reveal how much of a guess was right."""
    if not expected:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


_token: str | None = None
_token_lock = threading.Lock()


def owner_token() -> str:
    """This server process's one-time owner token: made on first use, printed to standard output for whoever
    started the server, kept in memory only."""
    global _token
    with _token_lock:
        if _token is None:
            _token = secrets.token_urlsafe(18)
            print(f"Human Evaluation owner token (valid until this server stops): {_token}", file=sys.stdout)
            sys.stdout.flush()
        return _token


def configured_owners(value: str | None = None) -> tuple[str, ...]:
    """The owner list from WORKBENCH_OWNERS (comma-separated names or emails); empty when unset."""
    raw = setting(OWNERS_SETTING, "") if value is None else value
    return tuple(dict.fromkeys(p.strip() for p in (raw or "").split(",") if p.strip()))


def listed_owner(name: str, owners: tuple[str, ...]) -> bool:
    # Emails differ in case between identity providers; names are compared the same way.
    return name.strip().casefold() in {o.casefold() for o in owners}


@dataclass(frozen=True)
class Person:
    name: str
    owner: bool
    logged_in: bool  # identity from Streamlit's OIDC login rather than a local profile


def person(
    name: str, logged_in: bool, wants_owner: bool, owners: tuple[str, ...], proved: bool = True
) -> Person:
    """With an owner list, the list decides; without one, asking for the owner role does. Either way a
    local profile that needs the owner secret (`needs_secret`) is owner only once it `proved` it."""
    owner = (listed_owner(name, owners) if owners else wants_owner) and proved
    return Person(name=name.strip(), owner=owner, logged_in=logged_in)


def valid_name(name: str) -> str | None:
    """Why a local profile name cannot be used, or None."""
    if not name.strip():
        return "Enter a name."
    if len(name.strip()) > 120:
        return "Use a name of at most 120 characters."
    return None


def parse_names(text: str) -> tuple[str, ...]:
    """Names given one per line or comma-separated, blanks and repeats dropped, order kept."""
    parts = (p.strip() for line in text.splitlines() for p in line.split(","))
    return tuple(dict.fromkeys(p for p in parts if p))
