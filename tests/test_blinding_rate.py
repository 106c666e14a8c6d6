"""The rating page cannot be de-blinded (issues 11.9, 15.8): nothing a rater's session receives (text, widget
keys, session state, URL) holds a model name or anything computed from task and model names without the
server's secret key.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.datasets.records import EvalTask, Instance
from core.humaneval.campaign import CampaignSpec, assign_items
from core.humaneval.records import blind_id, item_id
from core.store import evalset
from core.store import ratings as rating_store
from core.store.schema import server_keys
from tests.pages import open_page, rendered

SET = "blind-set"
MODELS = ("secret-model-alpha", "Secret-Model-Beta")
TASKS = ("t0", "t1", "t2")


def derivable(tasks: tuple[str, ...], models: tuple[str, ...]) -> set[str]:
    """Strings a rater could compute from guessed model names: the names themselves, the ids the page used
    to carry (an unsalted sha256 of task and model), and common hashes of the pair or the name."""
    found: set[str] = set()
    for model in models:
        found |= {model, model.casefold(), model.upper()}
        for algo in ("sha256", "sha1", "md5", "blake2b"):
            found.add(hashlib.new(algo, model.encode()).hexdigest()[:12])
        for task in tasks:
            found.add(item_id(task, model))
            for text in (f"{task}\x1f{model}", f"{task}::{model}", f"{task}|{model}", f"{task}{model}"):
                for algo in ("sha256", "sha1", "md5", "blake2b"):
                    digest = hashlib.new(algo, text.encode()).hexdigest()
                    found |= {digest[:12], digest[-12:]}
    return found


def _seed(store, raters=("ann",)) -> int:
    tasks = [EvalTask(t, "App", f"Do task {t}.", [Instance(f"input {t}", f"ref {t}")]) for t in TASKS]
    evalset.import_set(store, SET, tasks, actor="olga")
    for model in MODELS:
        rating_store.save_responses(store, SET, model, {t: f"answer {t}" for t in TASKS}, "test")
    spec = CampaignSpec(name="Blind", task_ids=TASKS, models=MODELS, raters=raters, seed=0)
    return rating_store.create_campaign(store, spec.name, SET, spec.to_dict(), owner="olga")


def _widget_keys(at: AppTest) -> list[str]:
    keys = []

    def walk(node) -> None:
        key = getattr(node, "key", None)
        if key:
            keys.append(str(key))
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(proto, "id", ""):
            keys.append(str(proto.id))
        for child in getattr(node, "children", {}).values():
            walk(child)

    for root in at._tree.children.values():
        walk(root)
    return keys


def _everything(at: AppTest) -> str:
    """The rendered tree, every element's full message, the widget keys, the session state's keys and
    values, and the URL's query parameters."""
    parts = [rendered(at), *_widget_keys(at)]
    state = at.session_state.to_dict()
    parts += [f"{k}={v!r}" for k, v in state.items()]
    parts.append(repr(dict(at.query_params)))
    return "\n".join(parts)


def _position(at: AppTest) -> int:
    heading = next(s.value for s in at.subheader if s.value.startswith("Response"))
    return int(re.match(r"Response (\d+) of", heading).group(1))


def test_no_rating_page_holds_anything_derivable_from_the_model(store):
    cid = _seed(store)
    forbidden = derivable(TASKS, MODELS)
    at = open_page("pages/humaneval.py", rater="ann")
    seen_ids: set[str] = set()
    for expected in range(1, len(TASKS) * len(MODELS) + 1):
        assert _position(at) == expected
        page = _everything(at)
        assert "answer t" in page  # the walk does reach the response shown
        leaks = sorted(s for s in forbidden if s in page)
        assert not leaks, f"rating page {expected} holds {leaks}"
        # Item-specific widget keys exist and carry the blind id only.
        comment_keys = [k for k in _widget_keys(at) if k.startswith(f"heval-comment-{cid}-")]
        assert len(comment_keys) == 1
        blind = comment_keys[0].removeprefix(f"heval-comment-{cid}-")
        assert re.fullmatch(r"r-[0-9a-f]{20}", blind)
        seen_ids.add(blind)
        next(b for b in at.button if "Valid and satisfying" in b.label).click()
        at.run()
        assert not at.exception
    assert any("Thank you" in s.value for s in at.success)
    assert not any(s in _everything(at) for s in forbidden)

    # The blind ids are HMACs under the key the server generated and stored: with it they match the stored
    # items; without it, nothing a rater can compute does.
    with store.connect() as conn:
        (key_hex,) = conn.execute(select(server_keys.c.value)).one()
    key = bytes.fromhex(key_hex)
    assert len(key) == 32
    expected_ids = {blind_id(key, cid, item_id(t, m)) for t in TASKS for m in MODELS}
    assert seen_ids == expected_ids
    assert not seen_ids & {blind_id(b"", cid, item_id(t, m)) for t in TASKS for m in MODELS}
    assert len(rating_store.latest_ratings(store, cid)) == 6  # the ratings still reach the right items


@pytest.mark.postgres
def test_blinding_key_is_made_once_and_kept(engine):
    """On SQLite and PostgreSQL (the `engine` fixture runs both)."""
    first = rating_store.blinding_key(engine)
    assert rating_store.blinding_key(engine) == first and len(first) == 32
    with engine.connect() as conn:
        assert len(conn.execute(select(server_keys)).all()) == 1


def test_blind_ids_differ_between_campaigns_and_servers():
    key_a, key_b = b"a" * 32, b"b" * 32
    stored = item_id("t0", "m")
    assert blind_id(key_a, 1, stored) != blind_id(key_a, 2, stored)
    assert blind_id(key_a, 1, stored) != blind_id(key_b, 1, stored)
    assert blind_id(key_a, 1, stored) == blind_id(key_a, 1, stored)


def test_assignment_cannot_be_recomputed_from_the_public_seed(store):
    """A rater who knows the seed (default 0), the raters, the tasks and guessed model names could recompute
    the unsalted assignment and so the model at every position; a stored campaign has a random salt."""
    tasks = tuple(f"task-{i}" for i in range(40))
    spec = CampaignSpec(name="Salted", task_ids=tasks, models=MODELS, raters=("ann", "ben"), overlap=1)
    cid = rating_store.create_campaign(store, spec.name, SET, spec.to_dict(), owner="olga")
    other = rating_store.create_campaign(store, "Salted again", SET, spec.to_dict(), owner="olga")
    stored = CampaignSpec.from_dict(rating_store.get_campaign(store, cid).spec)
    again = CampaignSpec.from_dict(rating_store.get_campaign(store, other).spec)
    assert re.fullmatch(r"[0-9a-f]{32}", stored.salt) and stored.salt != again.salt
    guessed = assign_items(spec.item_ids(), spec.raters, spec.overlap, spec.seed)
    assert stored.assignments() != guessed
    assert stored.assignments() == stored.assignments()  # still deterministic for the stored campaign
    # A campaign stored before salts keeps its original assignment (its raters' progress stays valid).
    legacy = CampaignSpec.from_dict({k: v for k, v in spec.to_dict().items() if k != "salt"})
    assert legacy.assignments() == guessed
