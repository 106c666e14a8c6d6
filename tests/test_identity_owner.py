"""Owner rights on the Human Evaluation page: a typed name is not enough without a login (issue 11.8).

The page runs through Streamlit's AppTest in this process, so the server's one-time token is the one
`core.humaneval.identity.owner_token()` returns here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from core.humaneval import identity
from core.humaneval.identity import (
    describe_mode,
    identity_mode,
    loopback_only,
    owner_token,
    person,
    secret_matches,
)
from tests.pages import click, open_page, prove_owner, rendered

PASSWORD = "s3cret owner pass"
SECTIONS = ["Tasks", "Responses", "Campaigns", "Rate", "Results"]


@pytest.fixture()
def no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_OWNER_PASSWORD", raising=False)
    assert not identity.owner_password(), "a secrets.toml in the repository sets WORKBENCH_OWNER_PASSWORD"


@pytest.fixture()
def loopback_server() -> Iterator[None]:
    """The server listening on 127.0.0.1 only (Streamlit's server.address), as `streamlit run
    --server.address 127.0.0.1` sets it."""
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    yield
    st_config.set_option("server.address", before)


def _open(rater: str | None = None, role: str = "rater") -> AppTest:
    """The page as `rater`, owner rights not yet proved: these tests enter the secret themselves."""
    return open_page("pages/humaneval.py", rater=rater, role=role, prove=False)


def _is_owner(at: AppTest) -> bool:
    return bool(at.segmented_control) and at.segmented_control(key="section").options == SECTIONS


def _mode_line(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Identity"))


def _profile(at: AppTest, name: str, role: str, secret: str | None) -> None:
    at.text_input(key="heval-new-name").set_value(name)
    at.radio[0].set_value(role)
    if secret is not None:
        at.text_input(key="heval-profile-secret").set_value(secret)
    click(at, "Start")


# --- Password mode ----------------------------------------------------------------------------------------


def test_owner_name_in_the_url_gets_rater_rights_until_the_password(data_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OWNER_PASSWORD", PASSWORD)
    monkeypatch.setenv("WORKBENCH_OWNERS", "alice")
    at = _open(rater=" ALICE ", role="owner")  # the owner's name, spelled loosely, as a local profile
    assert "owner password" in _mode_line(at)
    assert not _is_owner(at)
    assert any("Owner rights need the owner password" in w.value for w in at.warning)
    assert any("· rater ·" in c.value for c in at.caption)

    prove_owner(at, PASSWORD + "x")
    assert not _is_owner(at)
    assert any(e.value.startswith("Wrong owner password") for e in at.error)

    prove_owner(at, PASSWORD)
    assert _is_owner(at)
    assert PASSWORD not in repr(at.query_params) and PASSWORD not in str(dict(at.query_params))


def test_profile_form_refuses_a_wrong_password_and_accepts_the_right_one(data_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OWNER_PASSWORD", PASSWORD)
    monkeypatch.delenv("WORKBENCH_OWNERS", raising=False)
    at = _open()
    _profile(at, "bob", "owner", "")
    assert any(e.value.startswith("Wrong owner password") for e in at.error)
    assert "rater" not in at.query_params and not _is_owner(at)  # refused: no profile started
    _profile(at, "bob", "owner", "not it")
    assert any(e.value.startswith("Wrong owner password") for e in at.error) and not _is_owner(at)
    _profile(at, "bob", "owner", PASSWORD)
    assert _is_owner(at) and at.query_params["rater"] == "bob"

    # A new session from the same link (a reload, or someone given the URL) must prove it again.
    again = _open(rater="bob", role="owner")
    assert not _is_owner(again)


def test_a_rater_needs_no_password(data_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OWNER_PASSWORD", PASSWORD)
    at = _open()
    _profile(at, "cy", "rater", None)
    assert not _is_owner(at) and not at.error
    assert any("No campaign lists cy as a rater" in i.value for i in at.info)


# --- Token mode -------------------------------------------------------------------------------------------


def test_without_a_password_the_server_token_is_the_owner_secret(data_dir, no_password):
    at = _open(rater="alice", role="owner")
    assert "one-time owner token" in _mode_line(at)
    assert not _is_owner(at)
    token = owner_token()  # this process's token (test_the_token_is_printed... checks it is printed)
    assert token not in rendered(at)

    prove_owner(at, "guess")
    assert not _is_owner(at)
    assert any(e.value.startswith("Wrong owner token") for e in at.error)
    prove_owner(at, token)
    assert _is_owner(at)
    assert token not in rendered(at)
    assert token.encode() not in (data_dir / "workbench.db").read_bytes()


def test_the_token_is_printed_to_standard_output_once(capsys, monkeypatch):
    monkeypatch.setattr(identity, "_token", None)
    first = owner_token()
    assert owner_token() == first
    out = capsys.readouterr().out
    assert out.count(first) == 1 and "owner token" in out


# --- Local install ----------------------------------------------------------------------------------------


def test_loopback_server_without_secret_has_one_implicit_owner(data_dir, no_password, loopback_server):
    at = _open()
    line = _mode_line(at)
    assert "local install" in line and "one implicit owner" in line
    assert not any(t.key == "heval-profile-secret" for t in at.text_input)
    _profile(at, "dora", "owner", None)
    assert _is_owner(at)


# --- Pure parts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "password", "address", "mode"),
    [
        (True, "pw", "127.0.0.1", "login"),
        (False, "pw", "127.0.0.1", "password"),
        (False, "", None, "token"),
        (False, "", "", "token"),
        (False, "", "0.0.0.0", "token"),
        (False, "", "192.168.1.5", "token"),
        (False, "", "127.0.0.1", "local"),
        (False, "", "localhost", "local"),
        (False, "", "::1", "local"),
        (False, "", "not an address", "token"),
    ],
)
def test_identity_mode(auth, password, address, mode):
    assert identity_mode(auth, password, address) == mode
    assert loopback_only(address) == (address in ("127.0.0.1", "localhost", "::1"))
    assert describe_mode(mode, ()).startswith("Identity:")


def test_secret_comparison_and_owner_rights():
    assert secret_matches(PASSWORD, PASSWORD) and secret_matches(f" {PASSWORD}\n", PASSWORD)
    assert not secret_matches(PASSWORD.upper(), PASSWORD)
    assert not secret_matches("", "") and not secret_matches("anything", "")
    # The owner list decides who may be owner; the secret decides whether the claim is proved.
    assert not person(" ALICE ", False, True, ("alice",), proved=False).owner
    assert person(" ALICE ", False, True, ("alice",), proved=True).owner
    assert not person("mallory", False, True, ("alice",), proved=True).owner
    assert not person("bob", False, True, (), proved=False).owner
    assert person("bob", False, True, (), proved=True).owner
    assert not person("bob", False, False, (), proved=True).owner
