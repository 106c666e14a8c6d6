"""Stage 5: is a kept instruction a classification task? The prompt lives in prompts.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from core.selfinstruct.prompts import CLASSIFY_QUESTION

_ANSWER = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ClassificationVerdict:
    """`answer` is "unknown" when the reply holds neither yes nor no; such a task is treated as not
    classification (the paper's code does the same: only an exact "Yes" counts)."""

    instruction: str
    answer: Literal["yes", "no", "unknown"]
    raw: str

    @property
    def is_classification(self) -> bool:
        return self.answer == "yes"


def parse_classification(instruction: str, response: str | None) -> ClassificationVerdict:
    """The first yes/no (or true/false) word of the reply, in any case, ignoring an echoed question."""
    raw = response or ""
    text = raw.replace(CLASSIFY_QUESTION, " ")
    match = _ANSWER.search(text)
    answer = "unknown"
    if match is not None:
        answer = "yes" if match.group(1).lower() in ("yes", "true") else "no"
    return ClassificationVerdict(instruction, answer, raw)
