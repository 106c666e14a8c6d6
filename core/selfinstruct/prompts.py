"""Every prompt string of the Self-Instruct pipeline and its decoding settings, in one place.

Wording marked "paper's" is the method's own text from the Self-Instruct code (Wang et al., 2023). The few-shot
templates here are this project's own, written in the paper's format: the fallback used when the paper's
published template files are not in the datasets folder (core.selfinstruct.templates chooses).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property

# --- Stage 2: instruction generation -------------------------------------------------------------------------

# The paper's headers (bootstrap_instructions.py, encode_prompt).
INSTRUCTION_HEADER = "Come up with a series of tasks:"
CLASSIFICATION_HEADER = (
    "Come up with a series of classification tasks. Try to specify the possible output labels when possible."
)


def prompt_line(instruction: str) -> str:
    """An instruction as it appears in the list: one line, no trailing colon (as the paper's code does)."""
    return " ".join(instruction.split()).rstrip(":")  # split() and re's \s agree on what whitespace is


def encode_instruction_prompt(instructions: Sequence[str], header: str = INSTRUCTION_HEADER) -> str:
    """The paper's format: header line, "1. ...\\n" up to "8. ...\\n", then the next number with no space
    after its dot ("9."), so a completion model continues the list."""
    lines = [header.rstrip("\n") + "\n"]
    lines += [f"{i}. {prompt_line(text)}\n" for i, text in enumerate(instructions, start=1)]
    return "".join(lines) + f"{len(instructions) + 1}."


@dataclass(frozen=True)
class DecodingSettings:
    temperature: float = 0.7
    top_p: float = 0.5
    presence_penalty: float = 2.0
    frequency_penalty: float = 0.0
    max_tokens: int = 1024
    stop: tuple[str, ...] = ("\n\n", "\n16", "16.", "16 .")

    def to_dict(self) -> dict:
        return {**asdict(self), "stop": list(self.stop)}


# The paper's settings for each call (bootstrap_instructions.py, identify_clf_or_not.py, generate_instances.py).
INSTRUCTION_DECODING = DecodingSettings()
CLASSIFY_DECODING = DecodingSettings(
    temperature=0.0, top_p=0.0, presence_penalty=0.0, max_tokens=3, stop=("\n", "Task")
)
MAX_INSTANCES = 5
INSTANCE_DECODING = DecodingSettings(
    temperature=0.0,
    top_p=0.0,
    presence_penalty=1.5,
    max_tokens=350,  # the paper uses 300 when the task is classification: its template is longer
    stop=(f"Example {MAX_INSTANCES + 1}", "Task:"),
)
INSTANCE_DECODING_CLASSIFICATION = replace(INSTANCE_DECODING, max_tokens=300)

# --- Stage 5: is it a classification task? ----------------------------------------------------------------------

# First line and the "Is it classification?" question are the paper's (templates/clf_task_template.py);
# the examples are ours.
CLASSIFY_QUESTION = "Is it classification?"
CLASSIFY_EXAMPLES: tuple[tuple[str, bool], ...] = (
    ("Decide whether the given restaurant review is positive or negative.", True),
    ("Write a short poem about autumn leaves.", False),
    ("Tell me which of the two given numbers is larger.", True),
    ("Summarize the news article in two sentences.", False),
    ("Identify the language of the sentence. You can answer English, French, Spanish or German.", True),
    ("Suggest three names for a new coffee shop.", False),
    ("Given an email, tell me whether it is spam.", True),
    ("Explain how a bill becomes a law in the United States.", False),
    ("Tell me the part of speech of the underlined word in the sentence.", True),
    ("Translate the given sentence into German.", False),
    ("Is the following statement a fact or an opinion?", True),
    ("Find all the prime numbers less than the given number.", False),
    ("Rate the difficulty of the math problem as easy, medium or hard.", True),
    ("Rewrite the paragraph in a more formal tone.", False),
    ("Answer the trivia question by choosing one of the options A, B, C or D.", True),
    ("Extract the dates mentioned in the text.", False),
    ("Given a chess position, decide whether white can checkmate in one move.", True),
    ("Give me a recipe that uses leftover rice.", False),
)
CLASSIFY_TEMPLATE = (
    "Can the following task be regarded as a classification task with finite output labels?\n\n"
    + "".join(
        f"Task: {text}\n{CLASSIFY_QUESTION} {'Yes' if yes else 'No'}\n\n" for text, yes in CLASSIFY_EXAMPLES
    )
    + "Task:"
)


def classify_prompt(instruction: str, template: str = CLASSIFY_TEMPLATE) -> str:
    """The paper's layout: template, a space, the instruction, a newline, the question."""
    return f"{template} {instruction.strip()}\n{CLASSIFY_QUESTION}"


# --- Stage 6: instances --------------------------------------------------------------------------------------------

# The first sentence of each template is the paper's (templates/instance_gen_template.py); examples are ours.
OUTPUT_FIRST_TEMPLATE = """\
Given the classification task definition and the class labels, generate an input that corresponds to each of \
the class labels. If the task doesn't require input, just generate possible class labels.

Task: Decide whether the movie review is positive or negative.
Class label: Positive
Review: The acting was superb and the story kept me guessing until the end.
Class label: Negative
Review: Two hours of my life I will never get back. The plot made no sense.

Task: Tell me whether the given number is even or odd.
Class label: Even
Number: 48
Class label: Odd
Number: 17

Task: Identify the language of the sentence. Answer English, French or Spanish.
Class label: French
Sentence: Je voudrais un café, s'il vous plaît.
Class label: Spanish
Sentence: ¿Dónde está la estación de tren?
Class label: English
Sentence: The train leaves at noon.

Task: Is the following statement a fact or an opinion?
Class label: Fact
Statement: Water boils at 100 degrees Celsius at sea level.
Class label: Opinion
Statement: Summer is the best season of the year.

Task: Which planet is closest to the sun?
Class label: Mercury

Task: Classify the email as spam or not spam.
Class label: Spam
Email: Congratulations! You have won a free cruise. Reply now to claim your prize.
Class label: Not spam
Email: Hi team, the quarterly report is attached. Please send comments by Monday.

Task:"""

INPUT_FIRST_TEMPLATE = """\
Come up with examples for the following tasks. Try to generate multiple examples when possible. If the task \
doesn't require additional input, you can generate the output directly.

Task: Name three benefits of regular exercise.
Output:
- Better sleep
- Lower risk of heart disease
- More energy during the day

Task: Convert the given temperature from Fahrenheit to Celsius.
Example 1
Temperature: 212°F
Output: 100°C
Example 2
Temperature: 50°F
Output: 10°C

Task: Correct the spelling mistakes in the sentence.
Example 1
Sentence: I recieved the pakage yesterday.
Output: I received the package yesterday.
Example 2
Sentence: Their going to the libary after class.
Output: They're going to the library after class.

Task: Write a haiku about the sea.
Output:
Grey waves fold and break
salt wind carries gull voices
the tide keeps its time

Task: Count the vowels in the given word.
Example 1
Word: banana
Output: 3
Example 2
Word: rhythm
Output: 0

Task: Write an email to a colleague asking to move a meeting to Friday.
Output: Hi Sam,
Could we move Thursday's meeting to Friday at the same time? Something came up on Thursday afternoon.
Thanks,
Alex

Task:"""


def instance_prompt(
    instruction: str,
    is_classification: bool,
    output_first: str = OUTPUT_FIRST_TEMPLATE,
    input_first: str = INPUT_FIRST_TEMPLATE,
) -> str:
    """Output-first for classification tasks, input-first otherwise; the paper's layout
    (template, a space, the instruction, a newline)."""
    template = output_first if is_classification else input_first
    return f"{template} {instruction.strip()}\n"


# --- Chat rendering ----------------------------------------------------------------------------------------------

# A chat model gets the same text as the completion model, with a system message saying how to answer.
CHAT_SYSTEM: dict[str, str] = {
    "instructions": (
        "You continue numbered lists of tasks. Reply with new, varied tasks only, one per line, each line "
        "starting with its number, beginning with the next number in the list. Write nothing else."
    ),
    "classify": "Answer the last question with Yes or No only.",
    "instances": "Complete the last task in exactly the same format as the examples. Write nothing else.",
}


def chat_messages(prompt: str, stage: str, system: Mapping[str, str] = CHAT_SYSTEM) -> list[dict[str, str]]:
    """The chat rendering of a completion prompt for `stage` ("instructions", "classify" or "instances")."""
    return [{"role": "system", "content": system[stage]}, {"role": "user", "content": prompt}]


# --- Template provenance ---------------------------------------------------------------------------------------

PAPER_SOURCE = "paper"
FALLBACK_SOURCE = "workbench fallback"
# The editable few-shot templates: PromptConfig field -> what the page calls it.
TEMPLATE_FIELDS: dict[str, str] = {
    "classify_template": "classification question",
    "output_first_template": "instances, output-first (classification tasks)",
    "input_first_template": "instances, input-first (other tasks)",
}


def templates_label(source: str, edited: Sequence[str] = ()) -> str:
    """The one-line label of a run's templates, as the page, the stored run and the exports show it."""
    label = f"templates: {source}"
    if edited:
        label += " · edited copy (departure): " + ", ".join(TEMPLATE_FIELDS.get(e, e) for e in edited)
    return label


# --- Versioning --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptConfig:
    """Everything editable about the prompts of a run; `version` names it so each record can cite it."""

    header: str = INSTRUCTION_HEADER
    classification_header: str = CLASSIFICATION_HEADER
    instruction_decoding: DecodingSettings = INSTRUCTION_DECODING
    classify_template: str = CLASSIFY_TEMPLATE
    classify_decoding: DecodingSettings = CLASSIFY_DECODING
    output_first_template: str = OUTPUT_FIRST_TEMPLATE
    input_first_template: str = INPUT_FIRST_TEMPLATE
    instance_decoding: DecodingSettings = INSTANCE_DECODING
    instance_decoding_classification: DecodingSettings = INSTANCE_DECODING_CLASSIFICATION
    chat_system: tuple[tuple[str, str], ...] = tuple(CHAT_SYSTEM.items())  # a tuple keeps the config hashable
    # Where the three few-shot templates come from, and which of them the user edited (each a departure).
    template_source: str = FALLBACK_SOURCE
    edited_templates: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @property
    def templates_label(self) -> str:
        return templates_label(self.template_source, self.edited_templates)

    @cached_property  # the configuration is frozen; every judged response cites it
    def version(self) -> str:
        """A short hash of the whole configuration: equal settings, equal version."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def instruction_prompt(self, instructions: Sequence[str], classification: bool = False) -> str:
        header = self.classification_header if classification else self.header
        return encode_instruction_prompt(instructions, header)

    def classify_prompt(self, instruction: str) -> str:
        return classify_prompt(instruction, self.classify_template)

    def instance_prompt(self, instruction: str, is_classification: bool) -> str:
        return instance_prompt(
            instruction, is_classification, self.output_first_template, self.input_first_template
        )

    def instance_settings(self, is_classification: bool) -> DecodingSettings:
        return self.instance_decoding_classification if is_classification else self.instance_decoding

    def chat(self, prompt: str, stage: str) -> list[dict[str, str]]:
        return chat_messages(prompt, stage, dict(self.chat_system))
