"""The three questions of the Self-Instruct paper's data-quality review (Wang et al., 2023, Table 2).

The questions' meaning is the paper's; the wording is ours. Buttons, exports, the judge prompt and the results
table all take their text from here.
"""

from __future__ import annotations

# Keys are stable identifiers (stored in the database and the exports); order is the paper's.
QUESTIONS: dict[str, str] = {
    "instruction": "Does the instruction describe a valid task?",
    "input": "Is the input appropriate for the instruction?",
    "output": "Is the output a correct and acceptable response to the instruction and input?",
}
QUESTION_KEYS: tuple[str, ...] = tuple(QUESTIONS)
ALL_VALID = "all"

# Short row titles for the results table.
ROW_TITLES: dict[str, str] = {
    "instruction": "Instruction describes a valid task",
    "input": "Input is appropriate for the instruction",
    "output": "Output is a correct and acceptable response",
    ALL_VALID: "All fields are valid",
}

# Table 2 of the paper: 200 sampled instructions, one random instance each, one expert annotator.
PAPER_TABLE2: dict[str, float] = {"instruction": 0.92, "input": 0.79, "output": 0.58, ALL_VALID: 0.54}
PAPER_N = 200
