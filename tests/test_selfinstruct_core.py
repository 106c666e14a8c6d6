"""The pure core of Self-Instruct, stage by stage, on hand-written model responses."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.selfinstruct import (
    CLASSIFICATION_HEADER,
    DEFAULT_BLACKLIST,
    INSTRUCTION_HEADER,
    REASONS,
    Candidate,
    DecodingSettings,
    Instance,
    PromptConfig,
    RawInstance,
    Task,
    build_task_instances,
    chat_messages,
    classify_prompt,
    decide,
    decide_all,
    encode_instruction_prompt,
    filter_instances,
    instance_prompt,
    parse_classification,
    parse_input_first,
    parse_output_first,
    parse_response,
    process_response,
    reason_code,
    rejection_reason,
    sample_instructions,
)
from core.selfinstruct.analysis import (
    VerbNoun,
    length_distributions,
    load_nlp,
    sunburst_data,
    table1_stats,
    verb_noun_pairs,
)
from core.selfinstruct.export import (
    END_OF_TEXT,
    TEMPLATES_WITH_INPUT,
    TEMPLATES_WITHOUT_INPUT,
    alpaca_json,
    chat_jsonl,
    finetune_jsonl,
    finetune_records,
    provenance_jsonl,
    provenance_records,
    simplify_input,
)
from core.selfinstruct.prompts import CLASSIFY_EXAMPLES, INPUT_FIRST_TEMPLATE, OUTPUT_FIRST_TEMPLATE
from core.selfinstruct.rows import EvidenceBatch
from core.similarity import NoveltyIndex

PROMPT_INSTRUCTIONS = [
    "Give me a recipe for a quick vegetarian dinner.",
    "Classify the sentiment of the tweet as positive or negative.",
    "Explain the difference between weather and climate.",
]


def codes(items) -> list[str | None]:
    return [reason_code(i.reason) for i in items]


def words(n: int) -> str:
    return " ".join(["word"] * n)


# --- 1. sampling -----------------------------------------------------------------------------------------------

HUMAN = [
    Task(f"Human task number {i} for testing.", is_classification=i % 4 == 0, id=f"h{i}") for i in range(20)
]


def test_sampling_fills_from_humans_while_the_machine_pool_is_small() -> None:
    for pool_size, machine_expected in [(0, 0), (1, 1), (2, 2), (50, 2)]:
        machine = [f"Machine task {i} for testing." for i in range(pool_size)]
        sample = sample_instructions(HUMAN, machine, random.Random(0))
        assert len(sample.items) == 8
        assert (sample.n_machine, sample.n_human) == (machine_expected, 8 - machine_expected)
        for item in sample.items:
            assert item.text.startswith("Machine" if item.origin == "machine" else "Human")


def test_sampling_is_seeded_shuffled_and_configurable() -> None:
    machine = [f"Machine task {i} for testing." for i in range(30)]
    first = sample_instructions(HUMAN, machine, random.Random(42))
    assert first == sample_instructions(HUMAN, machine, random.Random(42))
    positions = set()
    for seed in range(20):
        sample = sample_instructions(HUMAN, machine, random.Random(seed))
        positions |= {i for i, item in enumerate(sample.items) if item.origin == "machine"}
    assert len(positions) > 4  # machine items are not always in the same slots
    small = sample_instructions(HUMAN, machine, random.Random(1), k_human=3, k_machine=1)
    assert (small.n_human, small.n_machine) == (3, 1)

    @dataclass
    class SeedLike:  # e.g. core.datasets' SeedTask
        id: str
        instruction: str
        is_classification: bool

    duck = sample_instructions([SeedLike("s1", "Seed one is here.", True)], [], random.Random(0))
    assert duck.items[0].id == "s1" and duck.n_human == 1
    tiny = sample_instructions(HUMAN[:2], [], random.Random(1))
    assert len(tiny.items) == 2  # fewer seeds than slots: a shorter prompt
    with pytest.raises(ValueError):
        sample_instructions(HUMAN, machine, random.Random(1), k_human=0, k_machine=0)


def test_classification_only_mode_uses_only_classification_seeds() -> None:
    sample = sample_instructions(HUMAN, [], random.Random(3), classification_only=True)
    ids = {t.id for t in HUMAN if t.is_classification}
    assert sample.classification_only and len(sample.items) == len(ids) == 5
    assert {item.id for item in sample.items} <= ids
    with pytest.raises(ValueError, match="classification"):
        sample_instructions(
            ["plain string seeds are not marked"], [], random.Random(0), classification_only=True
        )


def test_sampling_from_the_papers_seed_file(shared_datasets: Path) -> None:
    path = shared_datasets / "self-instruct" / "seed_tasks.jsonl"
    seeds = [Task.from_dict(json.loads(line)) for line in path.read_text().splitlines()]
    assert len(seeds) == 175 and sum(bool(t.is_classification) for t in seeds) == 26
    assert seeds[0].instances and seeds[0].id == "seed_task_0"
    sample = sample_instructions(seeds, [], random.Random(0), classification_only=True)
    by_id = {t.id: t for t in seeds}
    assert len(sample.items) == 8 and all(by_id[i.id].is_classification for i in sample.items)


# --- 2. prompts ------------------------------------------------------------------------------------------------


def test_instruction_prompt_has_the_papers_exact_format() -> None:
    prompt = encode_instruction_prompt(["Write a  haiku\nabout rain:", "Name a colour. "])
    assert prompt == "Come up with a series of tasks:\n1. Write a haiku about rain\n2. Name a colour.\n3."
    clf = encode_instruction_prompt(["Is it spam?"], CLASSIFICATION_HEADER)
    assert clf.startswith(
        "Come up with a series of classification tasks. Try to specify the possible output labels when "
        "possible.\n1. Is it spam?\n2."
    )
    assert INSTRUCTION_HEADER == "Come up with a series of tasks:"


def test_decoding_defaults_and_chat_rendering() -> None:
    d = DecodingSettings()
    assert (d.temperature, d.top_p, d.presence_penalty, d.max_tokens) == (0.7, 0.5, 2.0, 1024)
    assert d.to_dict()["stop"] == ["\n\n", "\n16", "16.", "16 ."]
    prompt = encode_instruction_prompt(PROMPT_INSTRUCTIONS)
    messages = chat_messages(prompt, "instructions")
    assert [m["role"] for m in messages] == ["system", "user"] and messages[1]["content"] == prompt


def test_prompt_config_version_follows_every_setting() -> None:
    base = PromptConfig()
    assert base.version == PromptConfig().version and re.fullmatch(r"[0-9a-f]{12}", base.version)
    assert PromptConfig(header="List some tasks:").version != base.version
    assert PromptConfig(instruction_decoding=DecodingSettings(temperature=1.0)).version != base.version
    assert base.instruction_prompt(["A b c d."], classification=True).startswith(CLASSIFICATION_HEADER)
    assert base.instance_settings(True).max_tokens == 300 and base.instance_settings(False).max_tokens == 350
    assert base.chat("hi", "classify")[0]["content"]


def test_classify_and_instance_prompts_layout() -> None:
    prompt = classify_prompt("  Tell me if the number is prime. ")
    assert prompt.endswith("Task: Tell me if the number is prime.\nIs it classification?")
    assert prompt.startswith("Can the following task be regarded as a classification task")
    assert {yes for _, yes in CLASSIFY_EXAMPLES} == {True, False}
    assert instance_prompt("Sort the list.", False) == INPUT_FIRST_TEMPLATE + " Sort the list.\n"
    assert instance_prompt("Is it spam?", True) == OUTPUT_FIRST_TEMPLATE + " Is it spam?\n"
    # Every few-shot example of our templates parses with our parsers.
    for template, parse in (
        (OUTPUT_FIRST_TEMPLATE, parse_output_first),
        (INPUT_FIRST_TEMPLATE, parse_input_first),
    ):
        blocks = template.split("\n\nTask: ")[1:]
        assert len(blocks) == 6
        for block in blocks:
            instances = parse(block.split("\n", 1)[1]).instances
            assert instances and all(i.output for i in instances)


# --- 3. parsing ------------------------------------------------------------------------------------------------


def test_parse_a_completion_with_mixed_numbering() -> None:
    response = (
        " Write a short story about a lost dog.\n"
        "10. Translate the sentence into French.\n"
        "11 . Give me three tips for staying focused while studying.\n"
        "12) List the planets of the solar system in order.\n"
        "13. Convert the recipe quantities:\n"
        "1.5 cups of flour becomes how many grams?"
    )
    parsed = parse_response(response, "stop")
    assert [c.number for c in parsed.candidates] == [9, 10, 11, 12, 13]
    assert parsed.candidates[0].text == "Write a short story about a lost dog."
    assert parsed.candidates[2].text == "Give me three tips for staying focused while studying."
    # "1.5 cups" is a continuation line, not item 1.
    assert (
        parsed.candidates[4].text
        == "Convert the recipe quantities: 1.5 cups of flour becomes how many grams?"
    )
    assert all(c.reason is None for c in parsed.candidates) and not parsed.truncated


def test_parse_chat_reply_with_stray_text() -> None:
    response = (
        "Sure! Here are some more tasks:\n\n"
        "9. Suggest a name for a bakery.\n"
        "10. explain why the sky is blue\n"
        "   in simple words.\n"
        "\n"
        "I hope these help!"
    )
    parsed = parse_response(response, "stop", mode="chat")
    assert parsed.preamble == "Sure! Here are some more tasks:"
    assert parsed.stray == ("I hope these help!",)
    assert [c.text for c in parsed.candidates] == [
        "Suggest a name for a bakery.",
        "Explain why the sky is blue in simple words.",
    ]
    # In completion mode the same opening text would be item 9 itself.
    assert parse_response("Sure thing\n10. Name a fruit that is red.").candidates[0].text == "Sure thing"


def test_truncated_response_is_dropped_whole_by_default() -> None:
    response = " Name three rivers in Europe.\n10. Describe how to plant a tree in your\n11. Write"
    parsed = parse_response(response, "length")
    assert parsed.truncated and len(parsed.candidates) == 3
    assert codes(parsed.candidates) == ["truncated_response"] * 3
    last_only = parse_response(response, "length", on_length="drop_last")
    assert codes(last_only.candidates) == [None, None, "truncated_last"]
    with pytest.raises(ValueError):
        parse_response(response, "length", on_length="keep")


@pytest.mark.parametrize("response", ["", None, "\n", "   "])
def test_empty_response_gives_no_candidates(response) -> None:
    parsed = parse_response(response, "stop")
    assert parsed.candidates == () and parsed.stray == ()


def test_empty_numbered_item_is_recorded() -> None:
    parsed = parse_response(" Name a famous painter from Spain.\n10.\n11. Describe the smell of rain.")
    assert codes(parsed.candidates) == [None, "empty", None]


def test_response_repeating_the_prompt() -> None:
    response = "".join(f"{i}. {text}\n" for i, text in enumerate(PROMPT_INSTRUCTIONS, 1))
    response += "4. Write a limerick about a cat who loves boxes."
    parsed = parse_response(
        response, "stop", next_number=4, mode="chat", prompt_instructions=PROMPT_INSTRUCTIONS
    )
    assert codes(parsed.candidates) == ["repeats_prompt"] * 3 + [None]
    # Case and spacing do not hide a repeat.
    again = parse_response(
        " give me a recipe  for a quick\nvegetarian dinner.", prompt_instructions=PROMPT_INSTRUCTIONS
    )
    assert codes(again.candidates) == ["repeats_prompt"]


def test_non_english_responses() -> None:
    parsed = parse_response(
        " 写一首关于秋天的诗。\n10. Écris un poème sur la mer.\n11. Schreibe ein Gedicht über den Herbst."
    )
    texts = [c.text for c in parsed.candidates]
    assert len(texts) == 3 and all(c.reason is None for c in parsed.candidates)
    assert [reason_code(rejection_reason(t)) for t in texts] == ["too_short", "starts_with_non_ascii", None]
    assert reason_code(rejection_reason("写一首关于秋天的诗 写 一首 关于")) == "starts_with_non_ascii"


def test_normalisation_keeps_the_rest_of_the_case() -> None:
    parsed = parse_response(" write an SQL query that lists users from Paris.")
    assert parsed.candidates[0].text == "Write an SQL query that lists users from Paris."


# --- 4. filters ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instruction", "code"),
    [
        ("Summarize this.", "too_short"),
        ("Tell a joke.", "too_short"),
        ("Tell me a joke please.", None),
        (words(150), None),
        (words(151), "too_long"),
        ("Describe the image in one sentence.", "blacklist"),
        ("Draw a cat using ASCII art.", "blacklist"),
        ("Summarise the attached FILES for me.", "blacklist"),
        ("Tell me how to go  to the station.", "blacklist"),
        ("Explain the mapping between keys and values.", None),
        ("Update the user profile with the new address.", None),
        ("Describe a graphic novel you enjoyed.", None),
        ("Write a program that reverses a string.", "write_a_program"),
        ("write A Program to sort numbers quickly.", "write_a_program"),
        ("Write a Python function that reverses a string.", None),
        ("- List three kinds of clouds.", "starts_with_punctuation"),
        ('"Quote" a famous line from Hamlet.', "starts_with_punctuation"),
        ("¿Cuál es la capital de Francia hoy?", "starts_with_non_ascii"),
        ("", "empty"),
    ],
)
def test_rejection_reason_rules(instruction: str, code: str | None) -> None:
    reason = rejection_reason(instruction)
    assert reason_code(reason) == code
    if reason is not None:
        assert reason_code(reason) in REASONS


def test_rejection_reason_details_and_extension() -> None:
    assert rejection_reason("Describe the Images in one sentence.") == "blacklist: 'images'"
    assert rejection_reason("Go to the store and buy milk.") == "blacklist: 'go to'"
    assert rejection_reason("Write a summary of the video.") is None
    assert (
        rejection_reason("Write a summary of the video.", DEFAULT_BLACKLIST + ("video",))
        == "blacklist: 'video'"
    )
    assert rejection_reason("Describe the image in one sentence.", blacklist=()) is None
    assert rejection_reason("Too short here") == "too_short: 3 words"
    import core.selfinstruct

    assert core.selfinstruct.rejection_reason is rejection_reason


# The blacklist's quick test (ASCII text without any word's first part is not searched) and the whitespace
# folding must decide exactly as the plain regular expressions do, on any text.
_TEXT = st.text(
    alphabet=st.sampled_from(list("aeiogmtprsfdlkwIGMOTK .,\t\n\u00a0\u2003\u017f\u212a\u0131\u0130")),
    max_size=40,
)
_WORDS = st.lists(
    st.sampled_from(["image", "go to", "map", "Kit", "\u017fit", "GRAPH", " ", "fil\u0131"]), max_size=4
)


@given(text=_TEXT, blacklist=_WORDS)
@example(text="Describe the \u0131mage", blacklist=["image"])  # re pairs "ı" with "i"; lower() does not
@settings(max_examples=400, deadline=None)
def test_blacklist_quick_test_agrees_with_the_pattern(text: str, blacklist: list[str]) -> None:
    from core.selfinstruct.filters import _blacklist_pattern, _blacklisted

    compiled = _blacklist_pattern(tuple(blacklist))
    expected = compiled[0].search(text) if compiled else None
    found = _blacklisted(text, blacklist)
    assert (found and found.group(0)) == (expected and expected.group(0))


@given(text=_TEXT)
@settings(max_examples=400, deadline=None)
def test_whitespace_folding_is_the_regex(text: str) -> None:
    from core.selfinstruct.parsing import normalize_candidate
    from core.selfinstruct.prompts import prompt_line

    folded = re.sub(r"\s+", " ", text).strip()
    assert normalize_candidate(text) == folded[:1].upper() + folded[1:]
    assert prompt_line(text) == folded.rstrip(":")


def jaccard_pool(pool: list[str]):
    """A stand-in for the ROUGE-L index: word-set Jaccard against a growing pool."""

    def similar(text: str) -> list[tuple[str, float]]:
        a = set(text.lower().split())
        scored = [(p, len(a & set(p.lower().split())) / len(a | set(p.lower().split()))) for p in pool]
        return sorted(scored, key=lambda s: -s[1])[:10]

    return similar, pool.append


def test_decide_with_a_novelty_check_records_evidence() -> None:
    pool = [f"Write a poem about topic number {i}." for i in range(15)] + ["Explain how vaccines work."]
    similar, _ = jaccard_pool(pool)
    kept = decide("Describe how a bicycle gear system works.", similar)
    assert kept.kept and kept.reason is None and len(kept.evidence) == 10
    assert kept.evidence[0].text == "Explain how vaccines work." and kept.max_similarity < 0.7
    dropped = decide("Write a poem about topic number 3.", similar)
    assert not dropped.kept and dropped.stage == "novelty" and dropped.code == "too_similar"
    assert dropped.reason.startswith("too_similar: ROUGE-L 1.00 with 'Write a poem about topic number 3.'")
    ruled = decide("Plot the data.", similar)
    assert (ruled.stage, ruled.code, ruled.evidence) == ("rules", "too_short", ())
    parsed = decide(Candidate(0, 9, "Name a river.", "Name a river.", "truncated_last"), similar)
    assert (parsed.stage, parsed.reason) == ("parse", "truncated_last")
    assert decide("Name three rivers in Africa.").kept  # no novelty check given


def test_decide_accepts_neighbour_objects() -> None:
    @dataclass
    class Neighbour:
        index: int
        score: float
        text: str | None

    decision = decide(
        "Name three rivers in Africa.", lambda _: [Neighbour(0, 0.2, "x"), Neighbour(1, 0.75, "y")]
    )
    assert decision.code == "too_similar" and [s.text for s in decision.evidence] == ["y", "x"]


def test_decide_all_adds_kept_instructions_before_the_next_candidate() -> None:
    similar, add = jaccard_pool(["Explain how vaccines work."])
    response = (
        " Name three famous bridges in Europe.\n10. Name three famous bridges in Europe.\n11. Draw a map."
    )
    decisions = decide_all(parse_response(response).candidates, similar, add)
    assert [d.code for d in decisions] == [None, "too_similar", "too_short"]


# --- 5. classification -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "paper", "lenient"),
    [
        ("Yes", "yes", "yes"),
        (" yes\n", "yes", "yes"),
        ("YES", "yes", "yes"),
        ("YES.", "unknown", "yes"),  # the reference counts only an exact Yes/yes/YES
        ("yEs", "unknown", "yes"),
        ("No", "no", "no"),
        ("  no, it produces free text", "unknown", "no"),
        ("Answer: Yes", "unknown", "yes"),
        ("Is it classification? No", "unknown", "no"),
        ("True", "unknown", "yes"),
        ("", "unknown", "unknown"),
        (None, "unknown", "unknown"),
        ("Maybe", "unknown", "unknown"),
        ("Nope", "unknown", "unknown"),
    ],
)
def test_parse_classification(reply, paper, lenient) -> None:
    for rule, answer in (("paper", paper), ("lenient", lenient)):
        verdict = parse_classification("Some task.", reply, rule)
        assert verdict.answer == answer, rule
        assert verdict.is_classification is (answer == "yes")
        assert verdict.raw == (reply or "")
    assert parse_classification("Some task.", reply).answer == paper  # the paper's rule is the default


def test_parse_classification_refuses_an_unknown_rule() -> None:
    with pytest.raises(ValueError, match="classification rule"):
        parse_classification("Some task.", "Yes", "loose")  # type: ignore[arg-type]


# --- 6. instances ----------------------------------------------------------------------------------------------


def test_output_first_parsing() -> None:
    response = (
        "Class label: Positive\nReview: Loved every minute of it.\n"
        "Class label: Negative\nReview: Dull and far too long.\nIt never ends.\n"
        "Class label: Neutral\n\n"
        "Task: Another invented task\nClass label: X\nInput: y"
    )
    parsed = parse_output_first(response)
    assert [(i.output, i.input) for i in parsed.instances] == [
        ("Positive", "Review: Loved every minute of it."),
        ("Negative", "Review: Dull and far too long.\nIt never ends."),
        ("Neutral", ""),
    ]
    assert parse_output_first("I cannot think of labels.").instances == ()


def test_input_first_parsing_with_examples() -> None:
    response = (
        "Example 1\nList: [3, 1, 2]\nOutput: [1, 2, 3]\n"
        "Example 2\nInput: List: [9, -1]\nOutput: [-1, 9]\nInput: extra pair\n"
        "Example 3: Text: Example sentences are short.\nOutput: 4\n"
        "Task: Invented next task\nOutput: not ours"
    )
    parsed = parse_input_first(response)
    assert [(i.input, i.output) for i in parsed.instances] == [
        ("List: [3, 1, 2]", "[1, 2, 3]"),
        ("List: [9, -1]", "[-1, 9]"),  # "Input:" prefix removed, the extra pair cut off
        ("Text: Example sentences are short.", "4"),  # "Example" inside a line is not a marker
    ]


def test_input_first_parsing_single_output_and_no_markers() -> None:
    single = parse_input_first("Output:\n- Plank\n- Squats\n- Lunges")
    assert [(i.input, i.output) for i in single.instances] == [("", "- Plank\n- Squats\n- Lunges")]
    with_input = parse_input_first("Sentence: I has a cat.\nOutput: I have a cat.")
    assert [(i.input, i.output) for i in with_input.instances] == [
        ("Sentence: I has a cat.", "I have a cat.")
    ]
    none = parse_input_first("Here is a thought with no structure at all.")
    assert none.instances == () and none.stray == "Here is a thought with no structure at all."
    chat = parse_input_first("Sure, here you go:\nExample 1\nWord: sky\nOutput: 0")
    assert chat.stray == "Sure, here you go:" and chat.instances[0].input == "Word: sky"


# --- 7. instance filters ---------------------------------------------------------------------------------------


def raw(inp: str, out: str) -> RawInstance:
    return RawInstance(inp, out, f"{inp}\n{out}")


def test_each_instance_filter_records_its_reason() -> None:
    decisions = filter_instances(
        [
            raw("a", "b"),
            raw("same", "same"),
            raw("x", ""),
            raw("Sentence:", "y"),
            raw("z", "Answer:"),
            raw("a", "b"),
            raw("c", "d"),
        ],
        "length",
    )
    assert codes(decisions) == [
        None,
        "input_equals_output",
        "empty_output",
        "ends_with_colon",
        "ends_with_colon",
        "duplicate",
        "truncated_last",
    ]
    assert [d.kept for d in decisions] == [True] + [False] * 6


def test_same_input_with_different_outputs_drops_the_task() -> None:
    decisions = filter_instances([raw("2 + 2", "4"), raw("3 + 3", "6"), raw("2 + 2", "5"), raw("", "x")])
    assert codes(decisions) == ["conflicting_outputs"] * 4
    # Empty inputs with different outputs are fine (tasks without input).
    assert all(d.kept for d in filter_instances([raw("", "Paris"), raw("", "Rome")]))


def test_at_most_five_instances_per_task() -> None:
    items = [raw(f"in {i}", f"out {i}") for i in range(8)]
    first = filter_instances(items)
    assert [d.kept for d in first] == [True] * 5 + [False] * 3 and codes(first)[-1] == "over_limit"
    picked = filter_instances(items, rng=random.Random(0))
    assert sum(d.kept for d in picked) == 5
    assert picked == filter_instances(items, rng=random.Random(0))


def test_build_task_instances_for_both_templates() -> None:
    clf = build_task_instances(
        "Is the number even or odd?",
        True,
        "Class label: Even\nNumber: 4\nClass label: Odd\nNumber: 7\nClass label: Even\nNumber: 4\nClass label: Od",
        "length",
        call_id="call-1",
    )
    assert codes(clf.decisions) == [None, None, "duplicate", "truncated_last"]
    assert clf.to_task().instances == (Instance("Number: 4", "Even"), Instance("Number: 7", "Odd"))
    gen = build_task_instances("Name a colour.", False, "Output: Blue", "stop")
    assert gen.kept == (Instance("", "Blue"),) and gen.to_task("g1").is_classification is False


# --- 8. export -------------------------------------------------------------------------------------------------

TASKS = [
    Task(
        "Sort the list.",
        (Instance("List: [3, 1]", "[1, 3]"), Instance("List: [5, 4]\n\n(ascending)", "[4, 5]")),
    ),
    Task("Name a colour.", (Instance("", "Blue"),), is_classification=False),
    Task("Is it spam?", (Instance("Email: Win a prize now", "Spam"),), is_classification=True),
    Task("No instances survived.", ()),
]


def test_finetune_format_uses_the_papers_templates() -> None:
    records = finetune_records(TASKS, random.Random(123))
    assert len(records) == 4 and all(set(r) == {"prompt", "completion"} for r in records)
    assert all(r["completion"].endswith(END_OF_TEXT) for r in records)
    patterns = [
        re.compile(re.escape(p).replace(r"\{instruction\}", ".+").replace(r"\{input\}", "(?s:.*)") + r"\Z")
        for p, _ in TEMPLATES_WITH_INPUT + TEMPLATES_WITHOUT_INPUT
    ]
    assert all(any(p.match(r["prompt"]) for p in patterns) for r in records)
    assert records == finetune_records(TASKS, random.Random(123))
    seen = set()
    for seed in range(40):
        seen |= {r["prompt"] for r in finetune_records(TASKS[1:2], random.Random(seed))}
    assert len(seen) == len(TEMPLATES_WITHOUT_INPUT)  # every template gets used


def test_finetune_without_randomness_and_input_simplification() -> None:
    records = finetune_records(TASKS, None)
    assert records[0] == {
        "prompt": "Sort the list.\n\nList: [3, 1]\n\n",
        "completion": "[1, 3]" + END_OF_TEXT,
    }
    assert simplify_input("List: [5, 4]\n\n(ascending)") == "[5, 4]\n(ascending)"
    assert simplify_input("Time: 10:30") == "Time: 10:30"  # two field-like names: left alone
    lines = finetune_jsonl(TASKS, random.Random(1)).splitlines()
    assert len(lines) == 4 and all(json.loads(line)["prompt"] for line in lines)


def test_alpaca_and_chat_exports() -> None:
    alpaca = json.loads(alpaca_json(TASKS))
    assert alpaca[0] == {"instruction": "Sort the list.", "input": "List: [3, 1]", "output": "[1, 3]"}
    assert len(alpaca) == 4
    chats = [json.loads(line) for line in chat_jsonl(TASKS, system="Be helpful.").splitlines()]
    assert [m["role"] for m in chats[0]["messages"]] == ["system", "user", "assistant"]
    assert chats[0]["messages"][1]["content"] == "Sort the list.\n\nList: [3, 1]"
    assert chats[2]["messages"][1]["content"] == "Name a colour."
    assert "system" not in chat_jsonl(TASKS[1:2])


# --- stages 1-4 together, and provenance -----------------------------------------------------------------------


def test_process_response_and_provenance() -> None:
    rng = random.Random(5)
    sample = sample_instructions(HUMAN, ["Machine task one for testing."], rng)
    prompt = PromptConfig().instruction_prompt(sample.texts)
    similar, add = jaccard_pool(list(sample.texts))
    response = (
        f" Plan a three-day trip to Rome.\n10. {sample.texts[0]}\n11. Plot a graph of sales data.\n12. Hi"
    )
    record = process_response(
        1, sample, prompt, response, "stop", similar=similar, add=add, template_version="v1", call_id="c-1"
    )
    assert record.kept == ["Plan a three-day trip to Rome."]
    assert [d.code for d in record.decisions] == [None, "repeats_prompt", "blacklist", "too_short"]
    assert record.drop_counts() == {"repeats_prompt": 1, "blacklist": 1, "too_short": 1}

    empty = process_response(2, sample, prompt, "", "stop", call_id="c-2")
    verdict = parse_classification("Plan a three-day trip to Rome.", "No")
    inst = build_task_instances("Plan a three-day trip to Rome.", False, "Output: Day 1: ...", "stop")
    rows = provenance_records([record, empty], [verdict], [inst])
    assert [r["kind"] for r in rows] == ["call"] + ["candidate"] * 4 + ["call", "classification", "instances"]
    assert rows[0]["sampled"][0].keys() == {"text", "origin", "id"} and rows[0]["n_kept"] == 1
    assert rows[1]["call_id"] == "c-1" and rows[1]["prompt"] == prompt and rows[1]["response"] == response
    assert rows[1]["kept"] and len(rows[1]["most_similar"]) == len(sample.texts)
    assert rows[3]["reason"] == "blacklist: 'plot'" and rows[3]["stage"] == "rules"
    assert rows[5]["n_candidates"] == 0  # a call with nothing in it is still on record
    text = provenance_jsonl([record, empty], [verdict], [inst])
    assert [json.loads(line) for line in text.splitlines()] == rows


# --- 9. analysis -----------------------------------------------------------------------------------------------


def test_sunburst_data_top_verbs_and_nouns() -> None:
    pairs = (
        [VerbNoun("", "write", "story")] * 5
        + [VerbNoun("", "write", n) for n in ("poem", "poem", "essay", "letter", "code")]
        + [VerbNoun("", "give", "example")] * 3
        + [VerbNoun("", "explain", None)] * 9  # no noun: not counted, as in the paper
        + [VerbNoun("", None, None)]
    )
    rows = sunburst_data(pairs, top_verbs=20, top_nouns=4)
    verbs = [r for r in rows if r["parent"] == ""]
    assert [(r["label"], r["value"]) for r in verbs] == [("write", 9), ("give", 3)]
    write = [(r["label"], r["value"]) for r in rows if r["parent"] == "write"]
    assert write == [("story", 5), ("poem", 2), ("code", 1), ("essay", 1)]
    assert {r["id"] for r in rows} >= {"write/story", "give/example"}
    assert [r["label"] for r in sunburst_data(pairs, top_verbs=1) if not r["parent"]] == ["write"]


def test_table1_stats_and_lengths() -> None:
    stats = table1_stats(TASKS)
    assert stats.instructions == 4 and stats.classification_instructions == 1
    assert stats.classification_share == 0.25 and stats.instances == 4
    assert stats.empty_input_instances == 1 and stats.empty_input_share == 0.25
    assert stats.avg_instruction_words == pytest.approx((3 + 3 + 3 + 3) / 4)
    assert stats.avg_input_words == pytest.approx((3 + 4 + 5) / 3)
    assert stats.avg_output_words == pytest.approx((2 + 2 + 1 + 1) / 4)
    assert length_distributions(TASKS)["input"] == [3, 4, 5]
    empty = table1_stats([])
    assert empty.instructions == 0 and empty.avg_output_words != empty.avg_output_words  # nan


@pytest.mark.slow
def test_verb_noun_extraction_with_spacy() -> None:
    nlp = load_nlp()
    assert load_nlp() is nlp  # loaded once
    pairs = verb_noun_pairs(
        [
            "Write me a story about education.",
            "Generate a list of ideas for a birthday party.",
            "Given a sentence, classify its sentiment.",
            "What is the capital of France?",
        ],
        nlp=nlp,
    )
    assert [(p.verb, p.noun) for p in pairs[:3]] == [
        ("write", "story"),
        ("generate", "list"),
        ("classify", "sentiment"),
    ]
    assert pairs[3].instruction == "What is the capital of France?"
    with pytest.raises(OSError, match="no spaCy pipeline"):
        load_nlp("no_such_pipeline_xyz")


def test_evidence_filled_for_several_iterations_at_once_equals_each_filled_alone() -> None:
    """The finisher scores the iterations waiting for it in one pass, while the loop goes on adding to the
    pool: each kept instruction must still get the evidence of the pool as it stood when it was judged."""
    words = [
        "classify",
        "the",
        "sentence",
        "list",
        "rewrite",
        "a",
        "short",
        "story",
        "about",
        "each",
        "word",
        "give",
        "summary",
        "of",
        "text",
    ]

    def texts(seed: int) -> list[str]:
        rng = random.Random(seed)
        return [" ".join(rng.choices(words, k=rng.randint(4, 9))) for _ in range(40)]

    seeds = texts(1)

    def fill(together: bool) -> list[dict]:
        pool, seed_pool = NoveltyIndex(seeds), NoveltyIndex(seeds)
        stream = iter(texts(2))
        rows, batches = [], []
        for _ in range(4):  # four iterations of three kept instructions each
            batch = EvidenceBatch(pool, seed_pool)
            for _ in range(3):
                text = next(stream)
                row = {"text": text}
                batch.add(row, pool.add(text))
                rows.append(row)
            batches.append(batch)
        for text in stream:  # the loop has moved on before the evidence is filled
            pool.add(text)
        if together:
            EvidenceBatch.fill_together(batches)
        else:
            for batch in batches:
                batch.fill()
        assert all(batch.filled for batch in batches)
        return rows

    alone = fill(together=False)
    assert fill(together=True) == alone
    assert any(row["evidence"] for row in alone) and all(row["avg_similarity_score"] > 0 for row in alone)
    assert all(row["closest_seed"] in seeds for row in alone)
