"""The consistency check: prompts, signals, AUROC, and real runs on the embedded model and a llama.cpp server."""

from __future__ import annotations

import math
import random

import pytest
from sklearn.metrics import roc_auc_score

from core.induction.prompts import INDUCTION_TEMPLATE
from core.jobs import run_once, submit
from core.llm import ModelSettings
from core.review import consistency
from core.review.consistency import CheckTask, check_params, requests_for, separation, suspect, task_result
from core.review.records import ReviewLabel
from core.store import runs as run_store

# One task whose instances follow its instruction, and one whose instruction has nothing to do with them.
CONSISTENT = CheckTask(
    "good",
    "Write the word in capital letters.",
    (("cat", "CAT"), ("dog", "DOG")),
)
INCONSISTENT = CheckTask(
    "bad",
    "Write a poem about the autumn forest.",
    (("cat", "7"), ("dog", "19")),
)


def test_requests_use_the_instruction_induction_prompts():
    reqs = requests_for(CONSISTENT, chat=False)
    assert len(reqs) == 3
    assert reqs[0].prompt.startswith(INDUCTION_TEMPLATE.split("{num_demos}")[0])
    assert "two inputs" in reqs[0].prompt and "Input: dog\nOutput: DOG" in reqs[0].prompt
    assert reqs[1].prompt == "Instruction: Write the word in capital letters.\nInput: cat\nOutput:"
    assert all(r.params.temperature == 0 for r in reqs)
    many = CheckTask("m", "x", tuple((str(i), str(i)) for i in range(9)))
    assert len(requests_for(many, chat=True)) == 1 + consistency.MAX_DEMOS


def test_signals_from_replies():
    result = task_result(CONSISTENT, [" Write the word in capital letters.", " CAT\nmore", "dog"])
    assert result["induced"] == "Write the word in capital letters." and result["induced_rouge"] == 1.0
    assert result["executed"] == ["CAT", "dog"]
    assert result["execution_scores"] == [1.0, 1.0]  # ROUGE-L ignores case
    bad = task_result(INCONSISTENT, [" Count the letters.", " A poem", " Leaves fall"])
    assert bad["induced_rouge"] < 0.3 and bad["execution_rouge"] == 0.0
    assert suspect(bad, 0.2) and not suspect(result, 0.2)


def test_auroc_matches_scikit_learn_and_needs_both_classes():
    rng = random.Random(2)
    results, labels, task_of, truth, scores = {}, [], {}, [], []
    for i in range(50):
        valid = rng.random() < 0.6
        score = rng.random() + (0.3 if valid else 0.0)
        results[f"t{i}"] = {"induced_rouge": score, "execution_rouge": None, "induced_bertscore": score / 2}
        task_of[f"i{i}"] = f"t{i}"
        answers = {"instruction": True, "input": True, "output": valid}
        labels.append(ReviewLabel(f"i{i}", "ann", answers))
        truth.append(valid)
        scores.append(score)
    labels.append(ReviewLabel("i0", "bob", {"instruction": True}))  # half answered: left out
    seps = {s.signal: s for s in separation(results, labels, task_of)}
    assert seps["induced_rouge"].auroc == pytest.approx(roc_auc_score(truth, scores))
    assert seps["induced_rouge"].n == 50 and seps["induced_rouge"].valid == sum(truth)
    assert seps["execution_rouge"].n == 0 and math.isnan(seps["execution_rouge"].auroc)
    only_valid = [x for x in labels if x.all_valid]
    assert math.isnan(separation(results, only_valid, task_of)[0].auroc)


def _run(engine, settings: ModelSettings, chat: bool) -> dict:
    params = check_params([CONSISTENT, INCONSISTENT], settings.public_dict(), chat)
    assert consistency.calls_needed(params) == 6
    run_id = submit(engine, consistency.KIND, params)
    assert run_once(engine, model_settings=settings) == run_id
    run = run_store.get_run(engine, run_id)
    assert run.status == "done", run.error
    results = run_store.results(engine, run_id)
    assert set(results) == {"good", "bad"}
    for value in results.values():
        assert 0.0 <= value["induced_rouge"] <= 1.0 and len(value["executed"]) == 2
        assert value["induced_bertscore"] is not None and -1.0 <= value["induced_bertscore"] <= 1.0
    return results


def test_consistency_on_the_embedded_model(sqlite_engine):
    results = _run(sqlite_engine, ModelSettings(provider="embedded"), chat=False)
    # Copying the word in capitals is within a 270M model's reach; numbers for animals are not.
    assert results["good"]["execution_rouge"] > results["bad"]["execution_rouge"]


def test_consistency_at_a_llama_cpp_server(llama_server, sqlite_engine):
    settings = ModelSettings(
        provider="openai",
        base_url=llama_server.base_url,
        model="gemma-3-270m",
        styles=("chat",),
        max_concurrency=2,
    )
    served = llama_server.requests_served("/v1/chat/completions")
    _run(sqlite_engine, settings, chat=True)
    assert llama_server.requests_served("/v1/chat/completions") == served + 6
