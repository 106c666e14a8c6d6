"""A workflow page's sections: owners choose one (kept in the URL), raters see only their own view."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st


def route_by_role(
    who: Any,
    owner_sections: Mapping[str, Callable[[Any], None]],
    rater_view: Callable[[Any], None],
    key: str,
) -> None:
    if not who.owner:
        rater_view(who)
        return
    section = st.segmented_control(
        "Section",
        list(owner_sections),
        default=next(iter(owner_sections)),
        required=True,
        key=key,
        bind="query-params",
        label_visibility="collapsed",
    )
    owner_sections[section](who)
