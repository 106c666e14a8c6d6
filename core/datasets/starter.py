"""A small starter set written by this project, so every workflow runs before any download.

Five Instruction Induction-style tasks are generated deterministically from fixed seeds and word lists
(their names never collide with the paper's 24), plus a dozen seed tasks and a few evaluation tasks in our
own words. Everything is labelled source="starter"; the official data replaces it once present.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from functools import lru_cache

from core.datasets.records import STARTER, EvalTask, InductionExample, InductionTask, Instance, SeedTask

STARTER_METRICS: dict[str, str] = {
    "starter_sum": "em",
    "starter_difference": "em",
    "starter_first_letter": "em",
    "starter_letters_list": "em",
    "starter_plural": "em",
}

GOLD_INSTRUCTIONS: dict[str, list[str]] = {
    "starter_sum": [
        "Add the two numbers together.",
        "Output the sum of the two given numbers.",
        "Write the total you get by adding both numbers.",
    ],
    "starter_difference": [
        "Subtract the second number from the first.",
        "Output the first number minus the second number.",
        "Write how much larger the first number is than the second.",
    ],
    "starter_first_letter": [
        "Write the first letter of the word.",
        "Output the letter the given word starts with.",
        "Give the initial letter of the input word.",
    ],
    "starter_letters_list": [
        "Spell out the word with a space between each letter.",
        "Write every letter of the word, separated by spaces.",
        "Split the word into its letters, separated by single spaces.",
    ],
    "starter_plural": [
        "Write the plural form of the noun.",
        "Turn the singular noun into its plural.",
        "Output the word for more than one of the given thing.",
    ],
}

_WORD_TEXT = (
    "apple bridge candle dragon engine forest garden harbor island jacket kitten ladder marble needle "
    "orange pencil quartz rabbit saddle tunnel umbrella violin window yellow zipper anchor basket cactus "
    "desert eagle feather guitar hammer igloo jungle kettle lemon mirror nickel oyster pepper quilt river "
    "silver tomato valley walnut wizard yogurt zebra button cobweb dolphin falcon glacier helmet insect "
    "lantern meadow noodle orchard pillow rocket shadow timber velvet wagon biscuit comet puzzle"
)
WORDS = tuple(_WORD_TEXT.split())

PLURALS = [
    ("cat", "cats"), ("box", "boxes"), ("city", "cities"), ("knife", "knives"), ("child", "children"),
    ("mouse", "mice"), ("tooth", "teeth"), ("foot", "feet"), ("woman", "women"), ("man", "men"),
    ("goose", "geese"), ("leaf", "leaves"), ("wolf", "wolves"), ("baby", "babies"), ("church", "churches"),
    ("bus", "buses"), ("dish", "dishes"), ("potato", "potatoes"), ("hero", "heroes"), ("day", "days"),
    ("toy", "toys"), ("key", "keys"), ("story", "stories"), ("party", "parties"), ("wish", "wishes"),
    ("fox", "foxes"), ("glass", "glasses"), ("watch", "watches"), ("shelf", "shelves"), ("life", "lives"),
    ("wife", "wives"), ("sheep", "sheep"), ("fish", "fish"), ("deer", "deer"), ("person", "people"),
    ("ox", "oxen"), ("cactus", "cacti"), ("crisis", "crises"), ("tree", "trees"), ("car", "cars"),
    ("house", "houses"), ("bird", "birds"), ("book", "books"), ("lamp", "lamps"), ("cloud", "clouds"),
    ("brush", "brushes"), ("bench", "benches"), ("lady", "ladies"), ("valley", "valleys"),
    ("monkey", "monkeys"), ("half", "halves"), ("loaf", "loaves"), ("thief", "thieves"),
    ("tomato", "tomatoes"), ("echo", "echoes"), ("roof", "roofs"), ("chef", "chefs"), ("photo", "photos"),
    ("river", "rivers"), ("phenomenon", "phenomena"),
]  # fmt: skip


def _example(given: str, output: str) -> InductionExample:
    return InductionExample(given, output, [output], {"input": given, "output": output})


def _number_pairs(name: str, count: int, ordered: bool) -> list[tuple[int, int]]:
    rng = random.Random(f"starter:{name}")  # a string seed is stable across runs and platforms
    pairs: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    while len(pairs) < count:
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        if ordered and a < b:
            a, b = b, a
        if (a, b) not in seen:
            seen.add((a, b))
            pairs.append((a, b))
    return pairs


def _split(name: str, items: list, n_execute: int) -> tuple[list, list]:
    """A deterministic shuffle, then disjoint induce and execute parts."""
    items = list(items)
    random.Random(f"starter-split:{name}").shuffle(items)
    return items[n_execute:], items[:n_execute]


def _task(name: str, items: list, make: Callable[..., InductionExample], n_execute: int) -> InductionTask:
    induce, execute = _split(name, items, n_execute)
    return InductionTask(
        name=name,
        metric=STARTER_METRICS[name],
        induce=[make(item) for item in induce],
        execute=[make(item) for item in execute],
        annotations=list(GOLD_INSTRUCTIONS[name]),
        paper_demos=[],
        source=STARTER,
    )


@lru_cache(maxsize=1)
def _tasks() -> dict[str, InductionTask]:
    tasks = [
        _task(
            "starter_sum",
            _number_pairs("starter_sum", 150, ordered=False),
            lambda p: _example(f"{p[0]} {p[1]}", str(p[0] + p[1])),
            50,
        ),
        _task(
            "starter_difference",
            _number_pairs("starter_difference", 150, ordered=True),
            lambda p: _example(f"{p[0]} {p[1]}", str(p[0] - p[1])),
            50,
        ),
        _task("starter_first_letter", WORDS, lambda w: _example(w, w[0]), 30),
        _task("starter_letters_list", WORDS, lambda w: _example(w, " ".join(w)), 30),
        _task("starter_plural", PLURALS, lambda p: _example(p[0], p[1]), 25),
    ]
    return {t.name: t for t in tasks}


def starter_tasks() -> list[InductionTask]:
    # Copies, so a caller editing a task never changes the cached set.
    return copy.deepcopy(list(_tasks().values()))


def starter_task(name: str) -> InductionTask:
    return copy.deepcopy(_tasks()[name])


# Seed tasks: (name, instruction, input, output), written for this project; classification ones below.
_SEEDS = [
    ("packing_list", "Suggest a packing list for the trip described below.",
     "A three-day hiking trip in the mountains in early autumn.",
     "Waterproof jacket, warm fleece, hiking boots, two pairs of wool socks per day, a head torch, "
     "a first-aid kit, a water filter, snacks with plenty of calories and a paper map."),
    ("email_subject", "Write a short, clear subject line for this email.",
     "Hi all, the team lunch moves from Thursday to Friday at 12:30 because the room is booked. "
     "Same place otherwise.", "Team lunch moved to Friday 12:30"),
    ("review_sentiment", "Is the sentiment of this product review positive or negative?",
     "The blender is loud, but it crushes ice in seconds and cleans up easily. I would buy it again.",
     "Positive"),
    ("spam_check", "Decide whether the message is spam. Answer \"spam\" or \"not spam\".",
     "Congratulations! You have been selected for a free cruise. Reply with your card number to claim.",
     "spam"),
    ("explain_to_child", "Explain the idea below so that an eight-year-old can understand it.",
     "Why the sky is blue.",
     "Sunlight is made of many colours. When it passes through the air, the blue part bounces around "
     "much more than the others, so blue light reaches our eyes from every part of the sky."),
    ("unit_conversion", "Convert the quantity to metric units and round to one decimal place.",
     "5 miles", "8.0 kilometres"),
    ("question_topic", "Which school subject does this question belong to: maths, history, biology or "
     "geography?", "What is the longest river in Africa?", "geography"),
    ("polite_rewrite", "Rewrite the message so that it sounds polite and friendly.",
     "Send me the report now.", "Could you please send me the report when you have a moment? Thank you!"),
    ("recipe_idea", "Give a simple dinner idea that uses only the ingredients listed.",
     "eggs, spinach, cheese, bread",
     "A spinach and cheese omelette served with toasted bread."),
    ("fact_or_opinion", "Label the statement as \"fact\" or \"opinion\".",
     "Paris is the most beautiful city in the world.", "opinion"),
    ("summarize_paragraph", "Summarize the paragraph in one sentence.",
     "The town library will close for renovation in March. During the closure, books can be returned "
     "at the community centre, and a mobile library will visit the main square every Saturday.",
     "The library closes for renovation in March, with returns at the community centre and a mobile "
     "library on Saturdays."),
    ("brainstorm_names", "Suggest three names for the business described.",
     "A bakery that only sells sourdough bread.", "Rise & Crust; The Slow Loaf; Wild Yeast Bakery"),
]  # fmt: skip
_CLASSIFICATION = {"review_sentiment", "spam_check", "question_topic", "fact_or_opinion"}

# Evaluation tasks: (motivation_app, instruction, input, output).
_EVALS = [
    ("Email", "Turn these notes into a short email to a colleague.",
     "meeting tomorrow 10am, bring budget numbers, room 4B",
     "Hi, a reminder that we meet tomorrow at 10am in room 4B. Could you bring the budget numbers? Thanks!"),
    ("Calendar", "Extract the date and time of the event as YYYY-MM-DD HH:MM.",
     "The concert starts at half past seven in the evening on 14 June 2025.", "2025-06-14 19:30"),
    ("Notes", "Turn the text into a bulleted to-do list.",
     "I need to call the plumber, pay the phone bill and buy a birthday present for Sam.",
     "- Call the plumber\n- Pay the phone bill\n- Buy a birthday present for Sam"),
    ("Translator", "Translate the sentence into French.", "Where is the train station?",
     "Où est la gare ?"),
    ("Spreadsheet", "Write a spreadsheet formula that adds the values in cells A1 to A10.", "",
     "=SUM(A1:A10)"),
    ("Fitness", "Suggest a 10-minute warm-up for the activity.", "An evening run",
     "Two minutes of brisk walking, then leg swings, walking lunges, high knees and butt kicks for two "
     "minutes each, finishing with easy jogging."),
]  # fmt: skip


def starter_seed_tasks() -> list[SeedTask]:
    return [
        SeedTask(
            id=f"starter_seed_{i}",
            name=name,
            instruction=instruction,
            instances=[Instance(given, output)],
            is_classification=name in _CLASSIFICATION,
            source=STARTER,
        )
        for i, (name, instruction, given, output) in enumerate(_SEEDS)
    ]


def starter_eval_tasks() -> list[EvalTask]:
    return [
        EvalTask(
            id=f"starter_eval_{i}",
            motivation_app=app,
            instruction=instruction,
            instances=[Instance(given, output)],
            source=STARTER,
        )
        for i, (app, instruction, given, output) in enumerate(_EVALS)
    ]
