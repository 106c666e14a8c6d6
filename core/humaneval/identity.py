"""Who is using the Human Evaluation page, and whether they may configure it (owner) or only rate."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import setting

OWNERS_SETTING = "WORKBENCH_OWNERS"


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


def person(name: str, logged_in: bool, wants_owner: bool, owners: tuple[str, ...]) -> Person:
    """With an owner list, the list decides; without one, anyone may take the owner role."""
    owner = listed_owner(name, owners) if owners else wants_owner
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
