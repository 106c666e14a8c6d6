"""Sampling the items to review: N tasks, one random instance of each (the paper's Table 2 protocol)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from core.review.records import ReviewItem, SourceTask

DEFAULT_SAMPLE = 200


def _instance_index(task: SourceTask, seed: int | str) -> int:
    # Each task draws its instance from its own generator, so the pick for one task does not depend on which
    # other tasks were sampled (or on Python's per-process str hash).
    digest = hashlib.sha256(f"instance\x1f{seed}\x1f{task.id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).randrange(len(task.instances))


def reviewable(tasks: Sequence[SourceTask]) -> list[SourceTask]:
    """Tasks that have at least one instance to show (a generated task without instances has nothing to
    review); sorted by id so the input order does not matter."""
    return sorted((t for t in tasks if t.instances), key=lambda t: t.id)


def sample_items(
    tasks: Sequence[SourceTask], n: int = DEFAULT_SAMPLE, seed: int | str = 0
) -> list[ReviewItem]:
    """`n` tasks (all of them when there are fewer), one instance each, in a seeded order.

    The same tasks and seed give the same items whatever order the tasks come in.
    """
    if n < 1:
        raise ValueError(f"the sample size must be at least 1, got {n}")
    pool = reviewable(tasks)
    ids = [t.id for t in pool]
    if len(set(ids)) != len(ids):
        raise ValueError("task ids must be unique")
    chosen = random.Random(f"review-sample\x1f{seed}").sample(pool, min(n, len(pool)))
    items = []
    for task in chosen:
        index = _instance_index(task, seed)
        inp, out = task.instances[index]
        items.append(ReviewItem(task.id, index, task.instruction, inp, out))
    return items
