"""Page tests through Streamlit's AppTest: open a page as someone, prove owner rights, find a button, and read
everything the page sent. One place for these steps, so every page test opens and proves the same way
(tests/test_identity_owner.py covers the identity modes themselves)."""

from __future__ import annotations

from contextlib import suppress

from streamlit.testing.v1 import AppTest

from tests.conftest import OWNER_PASSWORD, REPO_ROOT


def open_page(
    page: str,
    *,
    rater: str | None = None,
    role: str = "rater",
    user: dict | None = None,
    state: dict | None = None,
    prove: bool = True,
    timeout: float = 120,
) -> AppTest:
    """The app switched to `page`. `rater`/`role` set a local profile through the URL, `user` a login
    (st.user); a local profile asking for the owner role enters the owner password unless `prove=False`."""
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=timeout)
    if user is not None:
        at.user = user
    elif rater is not None:
        at.query_params["rater"] = rater
        at.query_params["role"] = role
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page)
    at.run()
    ok(at)
    if prove and user is None and rater is not None and role == "owner":
        prove_owner(at)
    return at


def prove_owner(at: AppTest, secret: str = OWNER_PASSWORD) -> None:
    """Enter `secret` in the identity box's owner field and press "Become owner" (which may refuse it)."""
    at.text_input(key="heval-prove-secret").set_value(secret)
    click(at, "Become owner")


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} in {[b.label for b in at.button]}"
    return matches[0]


def click(at: AppTest, label: str) -> None:
    button(at, label).click()
    at.run()
    ok(at)


def rendered(at: AppTest) -> str:
    """Everything the page sent: the tree's repr plus every element's full message (text bodies, labels,
    help, options, widget ids) and its current value, expanders and tabs included — the repr alone leaves
    out the text of Markdown and code blocks."""
    parts = [repr(at._tree)]

    def walk(node) -> None:
        if (proto := getattr(node, "proto", None)) is not None:
            parts.append(str(proto))
        for attr in ("value", "label", "body"):
            with suppress(Exception):  # not every element has every attribute
                parts.append(str(getattr(node, attr)))
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)
