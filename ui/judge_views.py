"""The model judge section of the Data Quality Review page: start a judge run, read it beside the humans.

A judge is a separate, labelled rater ("judge:<model>"): its labels live in its run's results, never in the
ratings or review labels tables, so they cannot leak into human results.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from core.humaneval.charts import results_table
from core.humaneval.display import escape_markdown
from core.humaneval.identity import Person
from core.humaneval.results import model_results
from core.review import judge_run
from core.review.export import table_rows
from core.review.judge import DEFAULT_TEMPLATES, JudgePrompt, template_problems
from core.review.judge_agreement import quality_agreement, rating_agreement
from core.review.official import OFFICIAL_SET, import_official
from core.review.questions import ROW_TITLES
from core.review.records import ReviewLabel
from core.review.results import table2
from core.review.spec import ReviewSpec
from core.store import calls as call_log
from core.store import evalset
from core.store import ratings as rating_store
from core.store import reviews as review_store
from core.store import runs as run_store
from ui import charts
from ui.common import engine, model_banner, model_settings, run_status, runner

PREFIX = "judge"
RUN_KEY = f"{PREFIX}-run"
TARGET_TITLES = {
    "rating": "Model responses, on the A/B/C/D scale",
    "quality": "Review items, on the three quality questions",
}


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def _ci(ci: tuple[float, float]) -> str:
    return "n/a" if math.isnan(ci[0]) else f"{ci[0]:.2f} to {ci[1]:.2f}"


def _submit(params: dict, name: str) -> None:
    st.session_state[RUN_KEY] = runner().submit(judge_run.KIND, params, name=name, settings=model_settings())


def _items_for(eng: Engine, target: str) -> tuple[list[judge_run.JudgeItem], dict] | None:
    if target == "rating":
        sets = evalset.set_names(eng)
        if not sets:
            st.info(
                "No evaluation set yet: open the Human Evaluation page, or use the one-click button above."
            )
            return None
        set_name = st.selectbox("Evaluation set", sets, key=f"{PREFIX}-set")
        counts = rating_store.response_models(eng, set_name)
        models = st.multiselect("Models", list(counts), default=list(counts), key=f"{PREFIX}-models")
        if not models:
            st.info("This set has no responses to judge yet.")
            return None
        items = judge_run.rating_items(rating_store.response_items(eng, set_name, models))
        return items, {"kind": "responses", "set_name": set_name, "models": models}
    reviews = review_store.list_reviews(eng)
    if not reviews:
        st.info("No reviews yet: create one in the Reviews section.")
        return None
    by_id = {r.id: r for r in reviews}
    rid = st.selectbox(
        "Review", list(by_id), format_func=lambda i: f"#{i} {by_id[i].name}", key=f"{PREFIX}-rv"
    )
    spec = ReviewSpec.from_dict(by_id[rid].spec)
    return judge_run.quality_items(spec.items), {"kind": "review", "review_id": rid}


def _one_click(eng: Engine) -> None:
    st.caption(
        "The paper's Figure 6 setting: the 8 official prediction files on the 252 user-oriented tasks, "
        "judged with the default prompt by the model configured in Settings."
    )
    if st.button("Judge all 8 official prediction files", key=f"{PREFIX}-official"):
        stored = import_official(eng)
        if not stored:
            st.error("The official tasks and prediction files are not in the data folder: get them on Home.")
            return
        settings = model_settings()
        items = judge_run.rating_items(rating_store.response_items(eng, OFFICIAL_SET, list(stored)))
        params = judge_run.judge_params(
            "rating",
            items,
            settings.public_dict(),
            chat="completion" not in settings.styles,
            source={"kind": "responses", "set_name": OFFICIAL_SET, "models": list(stored)},
        )
        _submit(params, f"Judge {settings.label} on the official predictions")


def render_judge(who: Person) -> None:
    eng = engine()
    model_banner()
    settings = model_settings()
    _one_click(eng)
    st.subheader("New judge run")
    target = st.radio(
        "Judge", list(TARGET_TITLES), format_func=TARGET_TITLES.get, horizontal=True, key=f"{PREFIX}-target"
    )
    picked = _items_for(eng, target)
    if picked is not None:
        items, source = picked
        styles = [s for s in ("completion", "chat") if s in settings.styles]
        style = st.radio("Request style", styles, horizontal=True, key=f"{PREFIX}-style")
        template = st.text_area(
            "Judge prompt (ours; edit freely — placeholders in braces, and it must end with the answer cue)",
            DEFAULT_TEMPLATES[target],
            height=320,
            key=f"{PREFIX}-template-{target}",
        )
        problems = template_problems(target, template)
        for problem in problems:
            st.error(problem)
        if template != DEFAULT_TEMPLATES[target]:
            st.caption("Departure: an edited judge prompt (stored with the run).")
        if not problems and items:
            params = judge_run.judge_params(
                target, items, settings.public_dict(), style == "chat", template, source
            )
            cost = judge_run.estimate(params, (), call_log.get_prices(eng), settings.model)
            money = "no price set for this model" if cost.cost is None else f"about ${cost.cost:.2f}"
            st.caption(
                f"At most {cost.calls} model calls, about {cost.prompt_tokens:,} prompt and "
                f"{cost.completion_tokens:,} completion tokens; {money}. Cached calls cost nothing."
            )
            with st.expander("The first prompt as it will be sent"):
                prompt = JudgePrompt(target, template)
                first = items[0].values
                st.code(
                    prompt.chat_prompt(first) if style == "chat" else prompt.completion_prompt(first),
                    language=None,
                    wrap_lines=True,
                )
            if st.button("Start the judge", type="primary", key=f"{PREFIX}-start"):
                _submit(params, f"Judge {settings.label} · {target}")
    _runs(eng)


def _runs(eng: Engine) -> None:
    runs = run_store.list_runs(eng, kind=judge_run.KIND)
    if not runs:
        return
    st.subheader("Judge runs")
    by_id = {r.id: r for r in runs}
    if st.session_state.get(RUN_KEY) not in by_id:
        st.session_state[RUN_KEY] = runs[0].id
    rid = st.selectbox("Run", list(by_id), format_func=lambda i: f"Run {i} · {by_id[i].name}", key=RUN_KEY)
    run = run_status(rid) or by_id[rid]
    render_run(eng, run)


def render_run(eng: Engine, run: run_store.Run) -> None:
    params = run.params
    results = run_store.results(eng, run.id)
    s = judge_run.summary(params, results)
    model = params.get("model", {})
    rater = judge_run.judge_rater(str(model.get("model") or model.get("provider", "model")))
    st.caption(
        f"Rater: {escape_markdown(rater)} (a model, not a person; never mixed into human results) · {s.judged} of {s.total} "
        f"judged · {s.unparseable} unparseable replies (stored, counted, not guessed)"
        + ("" if params.get("default_template") else " · departure: an edited judge prompt")
    )
    if model.get("provider") == "embedded":
        st.warning("The embedded 270M base model is not a meaningful judge; use it only to try the workflow.")
    with st.expander("The judge prompt of this run"):
        st.code(params["template"], language=None, wrap_lines=True)
    with st.expander("Replies"):
        st.dataframe(
            pd.DataFrame(
                [
                    {"item": key, **{k: v for k, v in value.items() if k not in ("call_id",)}}
                    for key, value in results.items()
                ]
            ),
            hide_index=True,
        )
    if params["target"] == "rating":
        _rating_results(eng, params, results, rater)
    else:
        _quality_results(eng, params, results, rater)


def _rating_results(eng: Engine, params: dict, results: dict, rater: str) -> None:
    ratings = judge_run.judge_ratings(results, rater)
    set_name = params.get("source", {}).get("set_name")
    human = [
        r
        for c in rating_store.list_campaigns(eng)
        if c.set_name == set_name
        for r in rating_store.latest_ratings(eng, c.id)
    ]
    st.subheader("Judge vs human raters")
    rows = rating_agreement(human, ratings)
    if not rows:
        st.caption("No item has both a human rating and a parsed judge rating yet.")
    else:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "model": r.model,
                        "pairs": r.n,
                        "κ (A/B/C/D)": _fmt(r.kappa),
                        "95% CI": _ci(r.kappa_ci),
                        "κ (acceptable or not)": _fmt(r.kappa_acceptable),
                        "95% CI ": _ci(r.kappa_acceptable_ci),
                        "Spearman": _fmt(r.spearman),
                        "95% CI  ": _ci(r.spearman_ci),
                    }
                    for r in rows
                ]
            ),
            hide_index=True,
        )
        overall = rows[-1]
        st.caption("Confusion over all pairs: rows are the human's label, columns the judge's.")
        st.dataframe(pd.DataFrame(overall.confusion).T)
    if ratings:
        st.subheader(
            f"Figure 6 layout from the judge's ratings ({escape_markdown(rater)}, not human ratings)"
        )
        models = params.get("source", {}).get("models") or None
        results_by_model = model_results(ratings, models=models)
        charts.figure6(results_by_model)
        st.dataframe(results_table(results_by_model), hide_index=True)


def _quality_results(eng: Engine, params: dict, results: dict, rater: str) -> None:
    answers = judge_run.judge_answers(results)
    if answers:
        st.subheader(f"Table 2 from the judge's answers ({escape_markdown(rater)}, not human reviewers)")
        judged = [ReviewLabel(key, rater, dict(a)) for key, a in answers.items()]
        st.dataframe(pd.DataFrame(table_rows(table2(judged))), hide_index=True)
    rid = params.get("source", {}).get("review_id")
    human = review_store.latest_labels(eng, rid) if rid is not None else []
    st.subheader("Judge vs human reviewers")
    rows = quality_agreement(human, answers)
    if not rows or rows[0].n == 0:
        st.caption("No item has both a complete human label and a parsed judge answer yet.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "question": ROW_TITLES[r.question],
                    "pairs": r.n,
                    "κ": _fmt(r.kappa),
                    "95% CI": _ci(r.kappa_ci),
                    "raw agreement": _fmt(r.agreement),
                    "both yes": r.confusion["yes"]["yes"],
                    "human yes, judge no": r.confusion["yes"]["no"],
                    "human no, judge yes": r.confusion["no"]["yes"],
                    "both no": r.confusion["no"]["no"],
                }
                for r in rows
            ]
        ),
        hide_index=True,
    )
