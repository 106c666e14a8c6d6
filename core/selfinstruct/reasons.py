"""Why a candidate or an instance was dropped: stable short codes and the sentence shown for each.

A recorded reason is a string "code: detail" (or just "code"); `reason_code` gives the code back, so charts
can group by code while cards show the detail.
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    # parsing a generation response
    "truncated_response": "Generation stopped at the token limit, so the whole response is dropped.",
    "truncated_last": "Generation stopped at the token limit; the last item may be cut off.",
    "empty": "The numbered item has no text.",
    "repeats_prompt": "The item repeats an instruction from the prompt.",
    # per-instruction rules
    "too_short": "Three words or fewer.",
    "too_long": "More than 150 words.",
    "blacklist": "Contains a word a text-only model cannot act on.",
    "write_a_program": 'Starts with "Write a program".',
    "starts_with_punctuation": "Starts with punctuation.",
    "starts_with_non_ascii": "Starts with a non-ASCII character.",
    # novelty against the pool
    "too_similar": "ROUGE-L with an instruction already in the pool is above the threshold.",
    # instances
    "input_equals_output": "Input and output are the same.",
    "empty_output": "The output is empty.",
    "ends_with_colon": "Input or output ends with a colon, which usually means it was cut off.",
    "conflicting_outputs": "The same input has different outputs, so the task loses all its instances.",
    "duplicate": "An exact duplicate of an earlier instance.",
    "over_limit": "The task already has the maximum number of instances.",
}


def make_reason(code: str, detail: str = "") -> str:
    if code not in REASONS:
        raise KeyError(f"unknown reason code {code!r}")
    return f"{code}: {detail}" if detail else code


def reason_code(reason: str | None) -> str | None:
    return None if reason is None else reason.split(":", 1)[0]
