"""Stage 5: is a kept instruction a classification task? The prompt lives in prompts.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from core.selfinstruct.prompts import CLASSIFY_QUESTION

ClassificationRule = Literal["paper", "lenient"]
# The reference (generate_instances.py) counts a reply as "classification" only when, stripped, it is exactly
# one of these; anything else (even "Yes." or "Yes, it is") counts as not classification.
PAPER_YES = ("Yes", "yes", "YES")
PAPER_NO = ("No", "no", "NO")


_ANSWER = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ClassificationVerdict:
    """`answer` is "unknown" when the rule finds neither yes nor no in the reply; such a task is treated as
    not classification, as in the paper's code."""

    instruction: str
    answer: Literal["yes", "no", "unknown"]
    raw: str

    @property
    def is_classification(self) -> bool:
        return self.answer == "yes"


def parse_classification(
    instruction: str, response: str | None, rule: ClassificationRule = "paper"
) -> ClassificationVerdict:
    """The paper's rule by default: the stripped reply is exactly Yes/yes/YES (or No/no/NO).

    `lenient` (a labelled option) takes the first yes/no (or true/false) word of the reply, in any case,
    ignoring an echoed question: kinder to chat models that answer in a sentence.
    """
    raw = response or ""
    if rule == "paper":
        stripped = raw.strip()
        answer: Literal["yes", "no", "unknown"] = (
            "yes" if stripped in PAPER_YES else "no" if stripped in PAPER_NO else "unknown"
        )
        return ClassificationVerdict(instruction, answer, raw)
    if rule != "lenient":
        raise ValueError(f"classification rule must be 'paper' or 'lenient', got {rule!r}")
    match = _ANSWER.search(raw.replace(CLASSIFY_QUESTION, " "))
    answer = "unknown"
    if match is not None:
        answer = "yes" if match.group(1).lower() in ("yes", "true") else "no"
    return ClassificationVerdict(instruction, answer, raw)
