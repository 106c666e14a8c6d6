"""Bring a keyed container into view once, after a start button far down a long form was clicked.

Streamlit keeps the window's scroll position across reruns, so a result drawn at the top of the page stays
out of sight below a long form. A one-pixel iframe runs a few lines of this module's own script in the
page (same origin, nothing fetched) that scroll the container's top into view.
"""

from __future__ import annotations

import json

import streamlit as st

_SCRIPT = """<script>
(function () {
  const selector = %s;
  let tries = 0;
  function go() {
    const el = window.parent.document.querySelector(selector);
    if (el) { el.scrollIntoView({block: "start"}); return; }
    if (tries++ < 50) { setTimeout(go, 100); }
  }
  go();
})();
</script>"""


def scroll_into_view(key: str) -> None:
    """Scroll the container made with st.container(key=key) into view (Streamlit gives it class st-key-<key>)."""
    # Only this module's constant script with a selector built from our own key: no outside text in it.
    st.iframe(_SCRIPT % json.dumps(f".st-key-{key}"), height=1)
