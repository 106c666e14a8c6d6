"""Instance parsing against the Self-Instruct reference's behaviour, on many generated response layouts.

The oracle below restates, in this file's own words, how the reference `prepare_for_finetuning.py` turns a
generated response into (input, output) pairs before its filters: split the stripped text wherever
"Example", an optional whitespace character, optional digits and an optional dot occur; drop empty pieces;
in each piece, the text before the first "Output<digits>:" is the input (minus a leading "Input:"), the
text after it the output (cut at a following "Input:"); with no "Output:" the whole piece is the output.
For classification tasks, the text after each "Class label:" holds the label on its first line and the
input below it.

The reference splits only plain "Example N" markers well. Models also write "Example 1 Input: ...",
"Example 1 - ...", "**Example 1**", "### Example 1:"; for those the expected parse is the reference's parse
of the same instances written with plain markers (the reference itself would keep "**" or "-" as text).
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from core.selfinstruct.instances import build_task_instances, parse_input_first, parse_output_first

# --- The oracle ----------------------------------------------------------------------------------------------------


def oracle_pair(piece: str) -> tuple[str, str]:
    output_marker = r"Output\s*\d*\s*:"
    input_marker = r"Input\s*\d*\s*:"
    if re.search(output_marker, piece):
        parts = re.split(output_marker, piece)
        given_input, given_output = parts[0].strip(), parts[1].strip()
    else:
        given_input, given_output = "", piece.strip()
    if re.search(input_marker, given_output):
        given_output = re.split(input_marker, given_output)[0].strip()
    given_input = re.sub(r"^" + input_marker, "", given_input).strip()
    return given_input, given_output


def oracle_generation(text: str) -> list[tuple[str, str]]:
    text = text.strip()
    if re.search(r"Example\s?\d*\.?", text):
        pieces = [p.strip() for p in re.split(r"Example\s?\d*\.?", text)]
        return [oracle_pair(p) for p in pieces if p]
    if re.search(r"Output\s*\d*\s*:", text):
        return [oracle_pair(text)]
    return []


def oracle_classification(text: str) -> list[tuple[str, str]]:
    if "Class label:" not in text:
        return []
    found = []
    for piece in text.split("Class label:")[1:]:
        label, _, rest = piece.strip().partition("\n")
        found.append((rest.strip(), label.strip()))
    return found


# --- Generated layouts -----------------------------------------------------------------------------------------

# Words that cannot be mistaken for a marker: no "Example", "Input", "Output", "Class label", no colon.
WORD = st.sampled_from(
    ["the", "cat", "sat", "on", "a", "mat", "42", "blue", "river", "quickly", "why", "is", "sky", "(b)", "-1"]
)
PHRASE = st.lists(WORD, min_size=1, max_size=6).map(" ".join)
LINES = st.lists(PHRASE, min_size=1, max_size=2).map("\n".join)
FIELD = st.sampled_from(["Input", "Sentence", "Question", "Text"])


@st.composite
def instance(draw) -> tuple[str, str, str]:
    """(field name, input, output); an empty input means an instance written as "Output: ..." only."""
    has_input = draw(st.booleans())
    return draw(FIELD), draw(LINES) if has_input else "", draw(LINES)


def body(field: str, given_input: str, given_output: str) -> str:
    head = f"{field}: {given_input}\n" if given_input else ""
    return f"{head}Output: {given_output}"


def plain(instances: list[tuple[str, str, str]]) -> str:
    return "".join(f"Example {n}\n{body(*x)}\n" for n, x in enumerate(instances, start=1))


# Marker styles. `same_line` styles put the start of the instance on the marker's line.
STYLES: dict[str, tuple[str, bool]] = {
    "plain": ("Example {n}", False),
    "colon": ("Example {n}:", False),
    "dot": ("Example {n}.", False),
    "bold": ("**Example {n}**", False),
    "bold colon": ("**Example {n}:**", False),
    "heading": ("### Example {n}", False),
    "heading colon": ("## Example {n}:", False),
    "indented": ("  Example {n}", False),
    "same line": ("Example {n}", True),
    "same line colon": ("Example {n}:", True),
    "same line dash": ("Example {n} -", True),
    "same line en dash": ("Example {n} \u2013", True),
    "same line bold": ("**Example {n}**", True),
    "same line bold colon": ("**Example {n}:**", True),
    "same line paren": ("Example {n})", True),
}
# Where the reference itself parses the styled text as intended (plain markers, text after "Example N").
REFERENCE_READS_AS_IS = {"plain", "dot", "same line", "indented"}


def styled(instances: list[tuple[str, str, str]], style: str, trailing: str) -> str:
    marker, same_line = STYLES[style]
    out = []
    for n, x in enumerate(instances, start=1):
        head = marker.format(n=n)
        out.append(f"{head} {body(*x)}" if same_line else f"{head}\n{body(*x)}")
    return "\n".join(out) + trailing


def ours(text: str) -> list[tuple[str, str]]:
    return [(i.input, i.output) for i in parse_input_first(text).instances]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(instance(), min_size=1, max_size=5),
    st.sampled_from(sorted(STYLES)),
    st.sampled_from(["", "\n", "\n\n"]),
)
def test_every_marker_style_splits_like_the_reference_splits_plain_markers(instances, style, trailing):
    text = styled(instances, style, trailing)
    expected = oracle_generation(plain(instances))
    assert ours(text) == expected, text
    # Each instance, as written: input (field name and all, "Input:" removed, as the reference does), output.
    assert len(expected) == len(instances)
    if style in REFERENCE_READS_AS_IS:
        assert oracle_generation(text) == expected  # the reference agrees on these without translation


def test_the_reference_leaves_markdown_and_dashes_in_instances_and_we_do_not():
    text = "**Example 1**\nInput: two\nOutput: 2\n**Example 2**\nInput: three\nOutput: 3"
    assert oracle_generation(text)[0] == ("", "**")  # what the reference would store
    assert ours(text) == [("two", "2"), ("three", "3")]
    dash = "Example 1 - Input: two\nOutput: 2\nExample 2 - Input: three\nOutput: 3"
    assert oracle_generation(dash)[0] == ("- Input: two", "2")
    assert ours(dash) == [("two", "2"), ("three", "3")]


def test_a_word_starting_with_example_inside_an_instance_does_not_split_it():
    text = (
        "Example 1\nSentence: Example sentences are short.\nOutput: yes\nExample 2\nSentence: Hi.\nOutput: no"
    )
    assert ours(text) == [("Sentence: Example sentences are short.", "yes"), ("Sentence: Hi.", "no")]


def test_an_unnumbered_marker_with_text_after_it_is_not_a_marker():
    text = "Example of a list:\n- one\n- two"
    parsed = parse_input_first(text)
    assert parsed.instances == () and parsed.stray == text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(PHRASE, st.one_of(st.just(""), LINES)), min_size=1, max_size=5),
    st.sampled_from(["", "\n", "\n\n", "\n\nTask: next"]),
)
def test_classification_layouts_parse_like_the_reference(pairs, trailing):
    text = "".join(
        f"Class label: {label}\n{inp}\n" if inp else f"Class label: {label}\n" for label, inp in pairs
    )
    text += trailing
    expected = oracle_classification(text.split("\n\nTask:")[0])  # the reference's stop sequence "Task:"
    assert [(i.input, i.output) for i in parse_output_first(text).instances] == expected


def test_a_response_cut_for_length_loses_its_last_instance_after_the_split():
    text = "Example 1 Input: a b\nOutput: c\nExample 2 Input: d\nOutput: e"
    task = build_task_instances("Do it.", False, text, "length")
    assert [(d.input, d.output, d.kept) for d in task.decisions] == [("a b", "c", True), ("d", "e", False)]
