"""Rating campaigns: the guideline text, who rates what in which order, and where a rater resumes."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, fields

from core.humaneval.records import item_id

# The four levels are the Self-Instruct paper's rating scale (Wang et al., 2023, section 4.4); the wording is
# ours. Buttons and reports take their titles from here, and DEFAULT_GUIDELINES is built from it.
RATING_SCALE: dict[str, tuple[str, str]] = {
    "A": (
        "Valid and satisfying",
        "The response does what the instruction asks, correctly and completely.",
    ),
    "B": (
        "Acceptable, minor imperfections",
        "The response does the task; small errors or rough edges do not stop it from being useful.",
    ),
    "C": (
        "Responds, but with significant errors",
        "The response is on topic and attempts the task, but its content has serious mistakes, for example "
        "a correct answer followed by unrelated extra text.",
    ),
    "D": (
        "Irrelevant or invalid",
        "The response does not address the instruction, or it is completely wrong.",
    ),
}

DEFAULT_GUIDELINES: str = (
    "Rate how well the response carries out the instruction, given its input when there is one.\n\n"
    + "\n".join(f"- **{label}: {title}.** {text}" for label, (title, text) in RATING_SCALE.items())
    + "\n\nJudge the response on its own merits: a reference output, when shown, is one good answer, "
    "not the only one. The model that wrote the response is hidden on purpose.\n"
)


def rater_seed(campaign_seed: int | str, rater: str) -> int:
    """A per-rater seed derived from the campaign seed; sha256 because `hash()` differs between processes."""
    digest = hashlib.sha256(f"{campaign_seed}\x1f{rater}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def rater_order(item_ids: Iterable[str], campaign_seed: int | str, rater: str) -> list[str]:
    """The rater's items in their own seeded random order (independent of the order they were given in)."""
    order = sorted(set(item_ids))
    random.Random(rater_seed(campaign_seed, rater)).shuffle(order)
    return order


def assign_items(
    item_ids: Iterable[str], raters: Sequence[str], overlap: int, seed: int | str
) -> dict[str, list[str]]:
    """Give every item to `overlap` different raters; return each rater's items in their own order.

    Deterministic for the same items, raters, overlap and seed, whatever order they come in. Items are
    visited in a seeded order and each goes to the least-loaded raters (ties broken by the seeded generator),
    so loads differ by at most one and pairs of raters are mixed, which pairwise agreement needs. Adding an
    item or a rater reshuffles the assignment: fix the campaign before rating starts.
    """
    people = sorted(set(raters))
    if not people:
        raise ValueError("a campaign needs at least one rater")
    if not 1 <= overlap <= len(people):
        raise ValueError(f"overlap must be between 1 and the number of raters ({len(people)}), got {overlap}")
    items = sorted(set(item_ids))
    rng = random.Random(f"assign\x1f{seed}")
    rng.shuffle(items)
    load = dict.fromkeys(people, 0)
    assigned: dict[str, list[str]] = {person: [] for person in people}
    for item in items:
        ties = {person: rng.random() for person in people}
        for person in sorted(people, key=lambda p: (load[p], ties[p]))[:overlap]:
            assigned[person].append(item)
            load[person] += 1
    return {person: rater_order(assigned[person], seed, person) for person in people}


def resume_index(order: Sequence[str], rated: Collection[str]) -> int:
    """Where a rater picks up: the first item in their order they have not rated; len(order) when done."""
    done = set(rated)
    return next((i for i, item in enumerate(order) if item not in done), len(order))


@dataclass(frozen=True)
class CampaignSpec:
    """What an owner configures. Items are every (task, model) pair."""

    name: str
    task_ids: tuple[str, ...]
    models: tuple[str, ...]
    raters: tuple[str, ...]
    overlap: int = 1
    seed: int = 0
    guidelines: str = DEFAULT_GUIDELINES
    show_reference: bool = True
    # Random, set when the campaign is stored (`with_salt`). Mixed into the assignment's seed so a rater who
    # knows the seed, the tasks and the model names cannot recompute which model is at each position.
    # Campaigns stored before it existed have none and keep their original assignment.
    salt: str = ""

    def problems(self) -> list[str]:
        """Human-readable reasons the campaign cannot start; empty when it can."""
        found = []
        if not self.name.strip():
            found.append("The campaign needs a name.")
        if not self.task_ids:
            found.append("Choose at least one task.")
        if not self.models:
            found.append("Choose at least one model.")
        if not self.raters:
            found.append("Add at least one rater.")
        elif not 1 <= self.overlap <= len(set(self.raters)):
            found.append(f"Raters per item must be between 1 and {len(set(self.raters))}.")
        if len(set(self.task_ids)) != len(self.task_ids):
            found.append("A task is listed twice.")
        if len(set(self.models)) != len(self.models):
            found.append("A model is listed twice.")
        if not self.guidelines.strip():
            found.append("The guidelines are empty.")
        return found

    def to_dict(self) -> dict:
        """JSON-ready, for storing the campaign."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> CampaignSpec:
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)

    def item_ids(self) -> list[str]:
        return [item_id(task, model) for task in self.task_ids for model in self.models]

    def assignment_seed(self) -> int | str:
        return f"{self.seed}\x1f{self.salt}" if self.salt else self.seed

    def assignments(self) -> dict[str, list[str]]:
        return assign_items(self.item_ids(), self.raters, self.overlap, self.assignment_seed())
