"""The paper's Figure 6 setting for the judge: the 8 official prediction files on the 252 tasks."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from core import datasets
from core.humaneval.matching import match_responses
from core.humaneval.response_files import prediction_rows
from core.store import evalset
from core.store import ratings as rating_store

OFFICIAL_SET = "user-oriented-252"
SOURCE = "official predictions"


def import_official(engine: Engine, folder: Path | str | None = None) -> dict[str, int]:
    """Load the 252 tasks and the official prediction files into the store, as the Human Evaluation page
    does (what is already there stays); returns model -> responses now stored. Empty when the files are
    not in the data folder."""
    if not datasets.has_official("user_oriented", folder):
        return {}
    official = datasets.predictions(folder)
    if not official:
        return {}
    if OFFICIAL_SET not in evalset.set_names(engine):
        evalset.import_set(engine, OFFICIAL_SET, datasets.eval_tasks(folder), actor="system")
    tasks = evalset.list_tasks(engine, OFFICIAL_SET)
    for model, predictions in official.items():
        report = match_responses(tasks, prediction_rows(predictions))
        rating_store.save_responses(engine, OFFICIAL_SET, model, report.matched, source=SOURCE)
    counts = rating_store.response_models(engine, OFFICIAL_SET)
    return {model: counts.get(model, 0) for model in official}
