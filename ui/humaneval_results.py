"""Human Evaluation → Results: ratings per model (Figure 6), agreement between raters, disagreements."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from core.humaneval.bootstrap import RESAMPLES, format_interval, small_sample_note
from core.humaneval.campaign import CampaignSpec
from core.humaneval.charts import results_table
from core.humaneval.export import ratings_to_csv, ratings_to_jsonl, results_report
from core.humaneval.identity import Person
from core.humaneval.records import Rating
from core.humaneval.results import agreement_summary, disagreements, model_results, rated
from core.store import evalset
from core.store import ratings as rating_store
from ui import charts
from ui.common import engine
from ui.humaneval_common import literal, prose


def _num(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.2f}"


@st.cache_data(show_spinner="Bootstrapping agreement intervals…", max_entries=8)
def _summary(chosen: list[Rating]) -> dict:
    # The bootstrap takes a few seconds on thousands of items (alpha mostly): once per set of ratings.
    return agreement_summary(chosen)


def render(who: Person) -> None:
    eng = engine()
    campaigns = rating_store.list_campaigns(eng)
    if not campaigns:
        st.info("No campaigns yet: create one in Campaigns.")
        return
    by_id = {c.id: c for c in campaigns}
    cid = st.selectbox(
        "Campaign", list(by_id), format_func=lambda i: f"#{i} {by_id[i].name}", key="heval-res-campaign"
    )
    campaign = by_id[cid]
    spec = CampaignSpec.from_dict(campaign.spec)
    tasks = evalset.list_tasks(eng, campaign.set_name, include_deleted=True)
    task_apps = {t.id: t.motivation_app for t in tasks}
    all_ratings = rating_store.latest_ratings(eng, cid)
    apps_in_use = sorted({task_apps.get(t, "") for t in spec.task_ids} - {""})
    apps = st.multiselect("Motivation app", apps_in_use, key=f"heval-res-apps-{cid}", placeholder="All apps")
    chosen = rated(all_ratings, task_apps, apps)
    note = f"Only tasks motivated by: {', '.join(apps)}." if apps else ""

    results = model_results(chosen, models=spec.models)
    if not chosen:
        st.info("No ratings yet" + (" for these apps." if apps else "."))
    else:
        st.subheader("Ratings per model")
        # An explicit height: left to "content", the layered chart came out a few pixels per bar.
        charts.figure6(results)
        st.dataframe(
            results_table(results),
            hide_index=True,
            column_config={
                "acceptable share": st.column_config.NumberColumn(format="percent"),
                "95% CI low": st.column_config.NumberColumn(format="percent"),
                "95% CI high": st.column_config.NumberColumn(format="percent"),
            },
        )
        st.caption(
            "Every rating counts (an item rated by two raters counts twice); skips are left out. "
            "Acceptable = A or B; the interval is Wilson's 95% score interval."
        )

    summary = _summary(chosen)
    st.subheader("Agreement between raters")
    if summary["pairs"]:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "raters": f"{a} / {b}",
                        "items both rated": s["n"],
                        "Cohen's κ (A-D)": s["kappa"],
                        "κ 95% CI (bootstrap)": format_interval(s["kappa_ci"]),
                        "κ acceptable (A/B vs C/D)": s["kappa_acceptable"],
                        "Spearman (A>B>C>D)": s["spearman"],
                    }
                    for (a, b), s in summary["pairs"].items()
                ]
            ),
            hide_index=True,
            column_config={
                "Cohen's κ (A-D)": st.column_config.NumberColumn(format="%.2f"),
                "κ acceptable (A/B vs C/D)": st.column_config.NumberColumn(format="%.2f"),
                "Spearman (A>B>C>D)": st.column_config.NumberColumn(format="%.2f"),
            },
        )
        st.caption(
            "Empty or n/a where a statistic is undefined, e.g. both raters gave one and the same label. "
            f"Intervals: {RESAMPLES} bootstrap resamples of the shared items (seeded), 95% percentile."
        )
        fewest = min(s["n"] for s in summary["pairs"].values())
        note = small_sample_note(fewest, "items rated by both raters of a pair")
        if note:
            st.warning(note)
    else:
        st.caption("Agreement needs two raters who rated the same responses.")
    overall = summary["all"]
    if overall and len(summary["raters"]) > 2:
        c1, c2, c3 = st.columns(3)
        c1.metric(
            "Krippendorff's α (ordinal)",
            _num(overall["krippendorff_alpha"]),
            help="95% bootstrap interval over the items rated at least twice.",
        )
        c1.caption(f"95% CI {format_interval(overall['alpha_ci'])} · n = {overall['n_items']}")
        c2.metric("Fleiss' κ", _num(overall["fleiss_kappa"]))
        c3.metric("Responses rated at least twice", overall["n_items"])
        note = small_sample_note(overall["n_items"], "responses rated at least twice")
        if note:
            st.warning(note)

    found = disagreements(chosen)
    st.subheader(f"Disagreements ({len(found)})")
    if found:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "task": d.task_id,
                        "model": d.model,
                        "ratings": ", ".join(f"{p}: {lab}" for p, lab in d.labels.items()),
                        "spread": d.spread,
                        "comments": " | ".join(f"{p}: {c}" for p, c in d.comments.items()),
                    }
                    for d in found
                ]
            ),
            hide_index=True,
        )
        labels = {n: f"{d.task_id} / {d.model} — {', '.join(d.labels.values())}" for n, d in enumerate(found)}
        pick = st.selectbox("Look at one", list(labels), format_func=labels.get, key=f"heval-dis-{cid}")
        d = found[pick]
        item = rating_store.response_item(eng, campaign.set_name, d.task_id, d.model)
        if item is not None:
            st.caption("Instruction")
            prose(item.instruction)
            st.caption("Input")
            literal(item.input, "(no input)")
            st.caption("Reference output")
            literal(item.reference_output)
            st.caption("Response")
            literal(item.response)
    flagged = [r for r in all_ratings if r.flagged]
    if flagged:
        with st.expander(f"Flagged by raters ({len(flagged)})"):
            st.dataframe(
                pd.DataFrame(
                    [
                        {"task": r.task_id, "model": r.model, "rater": r.rater, "comment": r.comment}
                        for r in flagged
                    ]
                ),
                hide_index=True,
            )

    st.subheader("Export")
    stem = f"campaign-{cid}"
    c1, c2, c3 = st.columns(3)
    c1.download_button(
        "Ratings (CSV)", ratings_to_csv(all_ratings), f"{stem}-ratings.csv", "text/csv", on_click="ignore"
    )
    c2.download_button(
        "Ratings (JSONL)",
        ratings_to_jsonl(all_ratings),
        f"{stem}-ratings.jsonl",
        "application/jsonl",
        on_click="ignore",
    )
    report = results_report(
        results, summary, found, title=f"Human evaluation results: {campaign.name}", filter_note=note
    )
    c3.download_button(
        "Results report (Markdown)", report, f"{stem}-report.md", "text/markdown", on_click="ignore"
    )
    st.caption("Exports hold every rater's latest rating per response (skips have an empty label).")
