"""The Results page's agreement figures checked by value against independent implementations (issue 15.8),
not only by their labels."""

from __future__ import annotations

from collections import Counter

import krippendorff
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from core.datasets.records import EvalTask, Instance
from core.humaneval.campaign import CampaignSpec
from core.humaneval.records import Rating
from core.store import evalset
from core.store import ratings as rating_store
from tests.pages import open_page

ITEMS = [("t0", "m-alpha"), ("t0", "m-beta"), ("t1", "m-alpha"), ("t1", "m-beta"), ("t2", "m-alpha")]
LABELS = {
    "ann": ["A", "B", "C", "D", "A"],
    "ben": ["A", "C", "C", "D", "B"],
    "cy": ["B", "B", "D", "D", "A"],
}
ORDINAL = {"A": 0, "B": 1, "C": 2, "D": 3}

pytestmark = pytest.mark.usefixtures("owner_password")


def _fleiss(rows: list[list[str]]) -> float:
    """Fleiss' kappa by its textbook formula, over items with the same number of ratings."""
    cats = sorted(ORDINAL)
    n = len(rows[0])
    counts = [Counter(r) for r in rows]
    p_j = [sum(c[k] for c in counts) / (len(rows) * n) for k in cats]
    p_i = [(sum(c[k] ** 2 for k in cats) - n) / (n * (n - 1)) for c in counts]
    p_bar, p_e = sum(p_i) / len(rows), sum(p**2 for p in p_j)
    return (p_bar - p_e) / (1 - p_e)


def test_agreement_figures_on_the_results_page_match_reference_implementations(store):
    tasks = [EvalTask(t, "App", f"Do {t}.", [Instance("", "ref")]) for t in ("t0", "t1", "t2")]
    evalset.import_set(store, "res-set", tasks, actor="olga")
    for model in ("m-alpha", "m-beta"):
        rating_store.save_responses(store, "res-set", model, {t.id: "x" for t in tasks}, "test")
    spec = CampaignSpec(
        name="Values",
        task_ids=("t0", "t1", "t2"),
        models=("m-alpha", "m-beta"),
        raters=tuple(LABELS),
        overlap=3,
    )
    cid = rating_store.create_campaign(store, spec.name, "res-set", spec.to_dict(), owner="olga")
    for rater, given in LABELS.items():
        for (task, model), label in zip(ITEMS, given, strict=True):
            rating_store.add_rating(store, cid, Rating(task, model, rater, label))

    at = open_page("pages/humaneval.py", rater="olga", role="owner")
    at.segmented_control(key="section").set_value("Results").run()
    assert not at.exception, [e.value for e in at.exception]

    alpha = krippendorff.alpha(
        reliability_data=[[ORDINAL[lab] for lab in LABELS[r]] for r in LABELS], level_of_measurement="ordinal"
    )
    kappa = _fleiss([[LABELS[r][i] for r in LABELS] for i in range(len(ITEMS))])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Krippendorff's α (ordinal)"] == f"{alpha:.2f}"
    assert metrics["Fleiss' κ"] == f"{kappa:.2f}"
    assert metrics["Responses rated at least twice"] == "5"

    pairs = at.dataframe[1].value.set_index("raters")
    for a, b in (("ann", "ben"), ("ann", "cy"), ("ben", "cy")):
        x, y = LABELS[a], LABELS[b]
        row = pairs.loc[f"{a} / {b}"]
        assert row["items both rated"] == len(ITEMS)
        assert row["Cohen's κ (A-D)"] == pytest.approx(cohen_kappa_score(x, y, labels=sorted(ORDINAL)))
        rho = spearmanr([ORDINAL[v] for v in x], [ORDINAL[v] for v in y]).statistic
        assert row["Spearman (A>B>C>D)"] == pytest.approx(rho)
