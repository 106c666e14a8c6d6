"""Instruction Induction core: prompts, post-processing, grouping, scoring, search, cost, BERTScore."""

from __future__ import annotations

import functools
import hashlib
import json

import pytest

from core.datasets.registry import TASK_METRICS
from core.induction import cost, prompts, scoring, search
from core.induction.postprocess import InstructionGroup, clean_instruction, group_instructions

# --- prompts ---------------------------------------------------------------------------------------


def test_paper_induction_prompts_are_reproduced_from_their_demos(shared_datasets) -> None:
    """All 24 tasks x 100 of the paper's prompts, rebuilt from `metadata.examples_seen`."""
    folder = shared_datasets / "instruction-induction"
    checked = 0
    for task in TASK_METRICS:
        examples = json.loads((folder / "induction_input" / f"{task}.json").read_text(encoding="utf-8"))[
            "examples"
        ]
        assert len(examples) == 100, task
        pool = json.loads((folder / "induce" / f"{task}.json").read_text(encoding="utf-8"))[
            "examples"
        ].values()
        pool_pairs = {(e["input"], e["output"]) for e in pool if "input" in e and "output" in e}
        for example in examples.values():
            demos = prompts.parse_demos(example["metadata"]["examples_seen"])
            assert len(demos) == 5
            assert prompts.render_demos(demos) == example["metadata"]["examples_seen"]
            assert prompts.render_induction_prompt(demos) == example["input"], (task, example["input"][:80])
            if pool_pairs:  # the parsed demonstrations are the pool's own input/output pairs
                assert all((d.input, d.output) in pool_pairs for d in demos), task
            checked += 1
    assert checked == 2400


def test_induction_prompt_rendering() -> None:
    demos = [("7 84", "91"), {"input": "1 2", "output": "3"}, prompts.Demo("0 0", "0")]
    text = prompts.render_induction_prompt(demos)
    assert text.startswith("I gave a friend an instruction and three inputs. The friend read")
    assert (
        "Input: 7 84\nOutput: 91\n\nInput: 1 2\nOutput: 3\n\nInput: 0 0\nOutput: 0\n\nThe instruction was"
        in text
    )
    assert text.endswith("\n\nThe instruction was")
    assert prompts.number_word(5) == "five"
    assert prompts.number_word(25) == "25"
    with pytest.raises(ValueError):
        prompts.render_induction_prompt([])
    with pytest.raises(ValueError):
        prompts.render_induction_prompt(demos, template="no placeholder here")


def test_edited_templates_fill_in_one_pass() -> None:
    template = "Pairs ({num_demos}), JSON {'keep': true}:\n{demos}\nRule:"
    text = prompts.render_induction_prompt([("a {demos} b", "{input}")], template)
    # The demonstration's own braces are not substituted again, and unknown braces stay.
    assert text == "Pairs (one), JSON {'keep': true}:\nInput: a {demos} b\nOutput: {input}\nRule:"
    assert (
        prompts.render_execution_prompt("Say {input}", "x") == "Instruction: Say {input}\nInput: x\nOutput:"
    )


def test_execution_prompt_and_versions() -> None:
    assert prompts.EXECUTION_TEMPLATE == "Instruction: {instruction}\nInput: {input}\nOutput:"
    assert prompts.render_execution_prompt("Add the numbers.", "7 84") == (
        "Instruction: Add the numbers.\nInput: 7 84\nOutput:"
    )
    expected = hashlib.sha256(prompts.INDUCTION_TEMPLATE.encode()).hexdigest()[:12]
    assert expected == prompts.INDUCTION_TEMPLATE_VERSION
    assert prompts.template_version(prompts.INDUCTION_TEMPLATE + " ") != expected
    assert prompts.EXECUTION_TEMPLATE_VERSION != prompts.INDUCTION_TEMPLATE_VERSION


def test_chat_rendering_carries_the_same_request() -> None:
    demos = [("cat", "cats"), ("dog", "dogs")]
    messages = prompts.render_induction_messages(demos)
    assert [role for role, _ in messages] == ["system", "user"]
    assert messages[1][1] == prompts.render_induction_prompt(demos)
    bare = prompts.render_induction_messages(demos, system=None)
    assert bare == (("user", prompts.render_induction_prompt(demos)),)
    execution = prompts.render_execution_messages("Pluralise.", "cat")
    assert execution[-1] == ("user", "Instruction: Pluralise.\nInput: cat\nOutput:")
    assert prompts.messages_as_dicts(bare) == [{"role": "user", "content": bare[0][1]}]


# --- post-processing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" to add the numbers", "add the numbers"),
        ("To add the numbers", "add the numbers"),
        ("tomato soup recipe", "tomato soup recipe"),  # "to" only as a whole word
        ("today, write the date", "today, write the date"),
        (
            "probably to translate the input from English to French",
            "translate the input from English to French",
        ),
        ("Most likely: to write the antonym", "write the antonym"),
        ("probably: write the antonym", "write the antonym"),
        (": write the antonym", "write the antonym"),
        (":\n\nwrite the antonym\nInput: hot", "write the antonym"),  # strip, then the first line
        ("\n  Sum the two numbers.\n\nThe friend wrote", "Sum the two numbers."),
        (
            '"Write the word that rhymes with the input word"',
            "Write the word that rhymes with the input word",
        ),
        ('to: "write a sentence in the passive voice" and so on', "write a sentence in the passive voice"),
        ('write "positive" if the review is positive', "write positive if the review is positive"),
        ("“Reverse the order of the letters”", "Reverse the order of the letters"),
        ("The instruction was to sort the letters", "sort the letters"),
        ("probably", ""),
        ("   ", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_clean_instruction(raw: str | None, expected: str) -> None:
    assert clean_instruction(raw) == expected


def test_clean_instruction_paper_exact_keeps_the_papers_quirks() -> None:
    assert clean_instruction(" to add the numbers", paper_exact=True) == "add the numbers"
    assert clean_instruction("tomato soup", paper_exact=True) == "mato soup"  # its plain startswith("to")
    assert clean_instruction("To add", paper_exact=True) == "To add"  # case-sensitive
    assert clean_instruction('"Write the word that rhymes with it"', paper_exact=True) == (
        "Write the word that rhymes with it"
    )
    assert clean_instruction("probably: to add two numbers", paper_exact=True) == "add two numbers"


def test_group_instructions() -> None:
    raw = [
        " to add the numbers",
        "write the antonym",
        "add the numbers",
        "Add the numbers",
        "write the antonym",
        "",
    ]
    groups = group_instructions(raw)
    assert groups == [
        InstructionGroup("add the numbers", 2, [0, 2]),
        InstructionGroup("write the antonym", 2, [1, 4]),  # same count: first occurrence decides
        InstructionGroup("Add the numbers", 1, [3]),  # case differs: a different instruction
        InstructionGroup("", 1, [5]),
    ]
    assert sum(g.count for g in groups) == len(raw)
    assert [g.text for g in group_instructions(["b", "a", "a"], clean=False)] == ["a", "b"]
    paper = group_instructions(
        ["tomato", "mato"], clean=functools.partial(clean_instruction, paper_exact=True)
    )
    assert paper == [InstructionGroup("mato", 2, [0, 1])]


# --- scoring ---------------------------------------------------------------------------------------


def _instruction(text: str, count: int, scores: list[float]) -> scoring.InstructionResult:
    inputs = [scoring.InputResult(f"in{i}", "p", ("a",), "p", ("a",), s) for i, s in enumerate(scores)]
    return scoring.InstructionResult(text, count, inputs)


def test_score_input_keeps_the_drill_down() -> None:
    r = scoring.score_task_input("num_to_verbal", "94", "Ninety-four.", ["ninety-four"])
    assert r.score == 1.0
    assert r.normalized_prediction == "ninety four"
    assert r.normalized_answers == ("ninety four",)
    assert r.answers == ("ninety-four",)
    assert scoring.score_input("contains", "x", "happy, glad", "glad").score == 1.0
    with pytest.raises(KeyError):
        scoring.score_task_input("nope", "x", "y", ["y"])
    rows = [("1 2", "3", ["3"]), ("2 2", "5.", ["4"]), ("0 1", " 1\n", ["1"]), ("9 9", "", ["18"])]
    result = scoring.score_instruction("em", "Add the numbers.", 3, rows)
    assert [r.score for r in result.inputs] == [1.0, 0.0, 1.0, 0.0]
    assert (result.count, result.mean_score) == (3, 0.5)


def test_weighted_task_score_and_human_baseline() -> None:
    induced = [_instruction("a", 3, [1, 1, 0, 0]), _instruction("b", 1, [1, 1, 1, 1])]
    assert induced[0].mean_score == 0.5
    assert scoring.weighted_task_score(induced) == pytest.approx((0.5 * 3 + 1.0) / 4)
    assert scoring.weighted_task_score([]) == 0.0
    # Gold instructions weigh 1 each, whatever count they carry.
    gold = [_instruction("g1", 7, [1, 1]), _instruction("g2", 1, [0, 0])]
    assert scoring.human_baseline(gold) == 0.5
    summary = scoring.summarize_task("sum", induced, gold, bertscore_f1=0.9)
    assert (summary.induced, summary.human) == (scoring.weighted_task_score(induced), 0.5)
    assert summary.percent_of_human == pytest.approx(summary.induced / 0.5 * 100)
    assert (summary.n_instructions, summary.n_unique, summary.n_inputs) == (4, 2, 4)
    assert scoring.InstructionResult("empty", 1).mean_score == 0.0


def test_percent_of_human_and_overall() -> None:
    assert scoring.percent_of_human(0.3, 0.6) == pytest.approx(50.0)
    assert scoring.percent_of_human(0.3, 0.0) is None
    assert scoring.percent_of_human(0.0, 0.0) is None
    tasks = [
        scoring.TaskSummary("a", induced=0.2, human=0.8),  # 25%
        scoring.TaskSummary("b", induced=0.6, human=0.6),  # 100%
        scoring.TaskSummary("c", induced=0.1, human=0.0),  # undefined
    ]
    overall = scoring.summarize_overall(tasks)
    assert overall.n_tasks == 3
    assert overall.mean_induced == pytest.approx(0.3)
    assert overall.mean_human == pytest.approx(1.4 / 3)
    assert overall.ratio_of_means == pytest.approx(0.3 / (1.4 / 3) * 100)
    assert overall.mean_of_ratios == pytest.approx(62.5)  # c is skipped
    assert overall.percent_of_human == overall.ratio_of_means
    assert scoring.summarize_overall(tasks, headline="mean_of_ratios").percent_of_human == pytest.approx(62.5)
    assert scoring.summarize_overall([]).percent_of_human is None
    assert scoring.weighted_mean([0.5, None, 1.0], [3, 2, 1]) == pytest.approx((1.5 + 1.0) / 4)
    assert scoring.weighted_mean([None], [1]) is None


# --- search ----------------------------------------------------------------------------------------


def _synthetic(n_candidates: int, best: int, best_p: float = 0.95, other_p: float = 0.45):
    """Candidate i succeeds on example j with probability p_i, fixed by a hash (no hidden state)."""
    probs = [best_p if i == best else other_p - 0.01 * (i % 10) for i in range(n_candidates)]
    calls: list[tuple[str, int]] = []

    def score(instruction: str, example: int) -> float:
        calls.append((instruction, example))
        i = int(instruction.removeprefix("cand-"))
        h = int(hashlib.sha256(f"{i}:{example}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return 1.0 if h < probs[i] else 0.0

    return [f"cand-{i}" for i in range(n_candidates)], score, calls


def test_successive_halving_finds_the_best_with_fewer_calls() -> None:
    candidates, score, calls = _synthetic(32, best=13)
    result = search.successive_halving(candidates, 40, score, seed=3)
    assert result.best_instruction == "cand-13"
    assert result.best_index == 13
    assert result.brute_force_evaluations == 32 * 40
    # Ties at a cutoff survive, so a search spends at least the schedule's figure, and less than all.
    assert search.halving_evaluations(32, 40) <= result.evaluations == len(calls) < 32 * 40 / 2
    assert result.calls_saved == result.brute_force_evaluations - result.evaluations
    assert len(set(calls)) == len(calls)  # never the same (instruction, example) twice
    assert result.estimates[13].n_evaluated == 40  # the winner is scored on the whole split
    assert result.estimates[13].eliminated_in_round is None
    # Every round adds fresh examples; the first gives each candidate more than one.
    seen = [r.examples_per_candidate for r in result.rounds]
    assert seen == sorted(set(seen)) and seen[0] >= 2 and seen[-1] == 40
    # Deterministic given the seed.
    again = search.successive_halving(candidates, 40, _synthetic(32, best=13)[1], seed=3)
    assert again.evaluations == result.evaluations
    assert [e.scores for e in again.estimates] == [e.scores for e in result.estimates]


def test_halving_schedule_shapes() -> None:
    assert search.halving_schedule(1, 10) == [(1, 10)]
    assert search.halving_schedule(2, 10) == [(2, 10)]
    assert search.halving_schedule(5, 20) == [(5, 6), (3, 13), (2, 20)]
    assert search.halving_schedule(8, 2) == [(8, 2)]  # never a cut on a single example
    assert search.halving_evaluations(5, 20) == 5 * 6 + 3 * 7 + 2 * 7
    candidates, score, calls = _synthetic(1, best=0)
    single = search.successive_halving(candidates, 7, score)
    assert (single.best_index, single.evaluations, len(calls)) == (0, 7, 7)
    with pytest.raises(ValueError):
        search.halving_schedule(0, 10)


def test_ucb_search_finds_the_best_within_its_budget() -> None:
    candidates, score, calls = _synthetic(16, best=5)
    result = search.ucb_search(candidates, 40, score, budget=200, seed=1)
    assert result.best_instruction == "cand-5"
    assert result.evaluations == len(calls) == 200 < result.brute_force_evaluations
    assert len(set(calls)) == len(calls)
    default = search.ucb_search(candidates, 40, _synthetic(16, best=5)[1], seed=1)
    assert default.evaluations == search.halving_evaluations(16, 40)


# --- cost ------------------------------------------------------------------------------------------


def test_cost_estimate() -> None:
    est = cost.estimate_cost(
        n_demo_sets=10,
        k_samples=2,
        n_heldout=50,
        induction_prompt_tokens=200,
        execution_prompt_tokens=30,
        induction_completion_tokens=50,
        execution_completion_tokens=10,
        n_gold=5,
        price_per_1k=0.002,
    )
    assert (est.induction_calls, est.execution_calls, est.human_calls) == (20, 1000, 250)
    assert est.calls == 1270
    assert est.prompt_tokens == 20 * 200 + 1250 * 30
    assert est.completion_tokens == 20 * 50 + 1250 * 10
    assert est.cost == pytest.approx(est.tokens / 1000 * 0.002)
    unpriced = cost.estimate_cost(
        n_demo_sets=1, k_samples=1, n_heldout=1, induction_prompt_tokens=1, execution_prompt_tokens=1
    )
    assert unpriced.cost is None
    searched = cost.estimate_cost(
        n_demo_sets=10,
        k_samples=2,
        n_heldout=50,
        induction_prompt_tokens=200,
        execution_prompt_tokens=30,
        search=True,
    )
    assert searched.execution_calls == search.halving_evaluations(20, 50) < 1000
    split = cost.estimate_cost(
        n_demo_sets=1,
        k_samples=1,
        n_heldout=0,
        induction_prompt_tokens=1000,
        execution_prompt_tokens=0,
        induction_completion_tokens=1000,
        price_per_1k=1.0,
        completion_price_per_1k=2.0,
    )
    assert split.cost == pytest.approx(3.0)
    total = cost.sum_estimates([est, est])
    assert total.calls == 2 * est.calls and total.cost == pytest.approx(2 * est.cost)
    assert cost.sum_estimates([est, unpriced]).cost is None
    assert cost.estimate_tokens("abcd" * 10) == 10 and cost.estimate_tokens("") == 0


# --- BERTScore (loads the small offline MiniLM once for the session) -------------------------------


@pytest.fixture(scope="session")
def minilm_scorer():
    from core.induction import bertscore

    return bertscore.get_scorer()


@pytest.mark.slow
def test_bertscore_identical_and_best_reference(minilm_scorer) -> None:
    from core.induction import bertscore

    refs = ["Write the antonym of the word.", "Add the two numbers.", "Translate the word into German."]
    result = bertscore.score_against_references("Add the two numbers.", refs)
    assert result.model == bertscore.OFFLINE_MODEL
    assert [r.reference for r in result.per_reference] == refs
    assert result.best_index == 1
    assert result.best.f1 == pytest.approx(1.0, abs=1e-4)
    assert result.best.precision == pytest.approx(1.0, abs=1e-4)
    assert all(r.f1 < 0.9 for i, r in enumerate(result.per_reference) if i != 1)
    # Batched: each candidate gets its own best reference; the model was loaded once.
    many = bertscore.score_many(["Sum the numbers.", "Give the opposite of the word."], refs)
    assert [m.best_index for m in many] == [1, 0]
    assert bertscore.get_scorer() is minilm_scorer
    assert bertscore.score_against_references("x", []).best is None


def test_bertscore_unavailable_model_fails_clearly() -> None:
    from core.induction import bertscore

    with pytest.raises(bertscore.BertScoreUnavailable, match="not on this machine"):
        bertscore.get_scorer("example-org/not-a-bertscore-model", num_layers=2, allow_download=False)
    with pytest.raises(bertscore.BertScoreUnavailable, match="num_layers"):
        bertscore.get_scorer("example-org/not-a-bertscore-model")
    assert bertscore.available_offline(None)
    assert not bertscore.available_offline("example-org/not-a-bertscore-model")
