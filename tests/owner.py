"""Owner rights in page tests: a local profile asking for the owner role proves it with the owner password
(tests/test_identity_owner.py covers the identity modes themselves)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

OWNER_PASSWORD = "page-tests-owner-password"


@pytest.fixture(autouse=True)
def owner_password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WORKBENCH_OWNER_PASSWORD", OWNER_PASSWORD)
    return OWNER_PASSWORD


def prove_owner(at: AppTest) -> None:
    """Enter the owner password on a page that shows the identity box, then rerun."""
    at.text_input(key="heval-prove-secret").set_value(OWNER_PASSWORD)
    next(b for b in at.button if b.label == "Become owner").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
