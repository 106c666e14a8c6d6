"""The induction and execution prompts, as plain text (completion models) or messages (chat models).

Templates use two kinds of placeholder, filled in one pass so that text inside a demonstration or an
instruction that happens to contain "{input}" is never substituted again:
- induction: `{num_demos}` (the number of demonstrations as an English word, "five" for five) and `{demos}`
  (the demonstrations, each "Input: …\\nOutput: …", separated by a blank line);
- execution: `{instruction}` and `{input}`.
Any other braces in an edited template are left as they are.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# The paper's induction prompt (Honovich et al., 2022), with its demonstrations and their count as
# placeholders. All 2,400 prompts it ships (24 tasks x 100) have five demonstrations and say "five".
INDUCTION_TEMPLATE = (
    "I gave a friend an instruction and {num_demos} inputs. The friend read the instruction and wrote an "
    "output for every one of the inputs.\nHere are the input-output pairs:\n\n{demos}\n\nThe instruction was"
)

# The paper's format of one demonstration and the separator between two of them.
DEMO_TEMPLATE = "Input: {input}\nOutput: {output}"
DEMO_SEPARATOR = "\n\n"

# The paper's execution prompt.
EXECUTION_TEMPLATE = "Instruction: {instruction}\nInput: {input}\nOutput:"

# Chat models get the very same request text as the user message; these system messages (ours, not the
# paper's) only ask for a bare answer, since a chat model does not continue the user's text.
CHAT_INDUCTION_SYSTEM = (
    "Complete the user's text. Reply with only the instruction that completes the final sentence, "
    "on a single line, without any preamble."
)
CHAT_EXECUTION_SYSTEM = (
    "Follow the instruction for the given input. Reply with only the output, on a single line."
)

_NUMBER_WORDS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"),
    "twenty",
)

_PLACEHOLDER = re.compile(r"\{(num_demos|demos|instruction|input|output)\}")
_DEMO_BLOCK = re.compile(r"Input: (.*?)\nOutput: (.*?)(?=\n\nInput: |\Z)", re.DOTALL)


@dataclass(frozen=True)
class Demo:
    input: str
    output: str


DemoLike = Demo | tuple[str, str] | Mapping[str, str]


def template_version(*parts: str) -> str:
    """A short, stable id of a template (and optionally its chat system message), stored with each run."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:12]


INDUCTION_TEMPLATE_VERSION = template_version(INDUCTION_TEMPLATE)
EXECUTION_TEMPLATE_VERSION = template_version(EXECUTION_TEMPLATE)


def number_word(n: int) -> str:
    """English word for 0–20 ("five"); digits beyond, where words stop reading naturally."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def as_demo(demo: DemoLike) -> Demo:
    if isinstance(demo, Demo):
        return demo
    if isinstance(demo, Mapping):
        return Demo(str(demo["input"]), str(demo["output"]))
    inp, out = demo
    return Demo(str(inp), str(out))


def _fill(template: str, values: Mapping[str, str]) -> str:
    # Placeholders not in `values` stay literal (e.g. "{output}" in an edited induction template).
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def render_demos(demos: Iterable[DemoLike]) -> str:
    return DEMO_SEPARATOR.join(
        _fill(DEMO_TEMPLATE, {"input": d.input, "output": d.output}) for d in map(as_demo, demos)
    )


def render_induction_prompt(demos: Sequence[DemoLike], template: str = INDUCTION_TEMPLATE) -> str:
    """The induction prompt for these demonstrations; `{num_demos}` follows their count."""
    if "{demos}" not in template:
        raise ValueError("an induction template needs a {demos} placeholder")
    demo_list = [as_demo(d) for d in demos]
    if not demo_list:
        raise ValueError("an induction prompt needs at least one demonstration")
    return _fill(template, {"num_demos": number_word(len(demo_list)), "demos": render_demos(demo_list)})


def render_execution_prompt(instruction: str, input: str, template: str = EXECUTION_TEMPLATE) -> str:
    """The execution prompt of one instruction on one input."""
    if "{input}" not in template:
        raise ValueError("an execution template needs an {input} placeholder")
    return _fill(template, {"instruction": instruction, "input": input})


Messages = tuple[tuple[str, str], ...]  # (role, content), the shape of core.llm.types.Request.messages


def render_induction_messages(
    demos: Sequence[DemoLike], template: str = INDUCTION_TEMPLATE, system: str | None = CHAT_INDUCTION_SYSTEM
) -> Messages:
    """The same induction request for a chat model: an optional system message, then the prompt."""
    user = ("user", render_induction_prompt(demos, template))
    return (("system", system), user) if system else (user,)


def render_execution_messages(
    instruction: str,
    input: str,
    template: str = EXECUTION_TEMPLATE,
    system: str | None = CHAT_EXECUTION_SYSTEM,
) -> Messages:
    user = ("user", render_execution_prompt(instruction, input, template))
    return (("system", system), user) if system else (user,)


def messages_as_dicts(messages: Messages) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in messages]


def parse_demos(text: str) -> list[Demo]:
    """The demonstrations of a rendered block ("Input: …\\nOutput: …" separated by blank lines).

    Used to read the paper's `metadata.examples_seen`; the inverse of `render_demos`.
    """
    return [Demo(m.group(1), m.group(2)) for m in _DEMO_BLOCK.finditer(text)]
