"""Self-Instruct runs as in the paper by default: its few-shot templates, classification-only mode, decoding per
task type, avg_similarity_score, seed tasks in the fine-tuning export. A scripted in-process model answers
quickly and lets every check fail if the run departs from the reference."""

from __future__ import annotations

import importlib.util
import json
import random
import re
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

import core.datasets as datasets
from core.datasets.templates import read_string_constants
from core.jobs import run_once, submit
from core.llm import Choice, ModelSettings, Response
from core.selfinstruct import calltexts
from core.selfinstruct.filters import rejection_reason
from core.selfinstruct.prompts import CLASSIFY_TEMPLATE, INPUT_FIRST_TEMPLATE, OUTPUT_FIRST_TEMPLATE
from core.selfinstruct.spec import KIND, selfinstruct_params
from core.selfinstruct.templates import default_config, with_templates
from core.selfinstruct.view import export_run, load_run
from core.store import calls as call_log
from core.store import runs as run_store

EMBEDDED = ModelSettings().public_dict()
QUESTION = "Is it classification?"


def reference_templates(shared: Path) -> dict[str, str]:
    """The oracle: the published template modules loaded the way the reference loads them (an import).
    Only this test does that, to check the project's ast-based reading against it."""
    found = {}
    for name in ("clf_task_template", "instance_gen_template"):
        spec = importlib.util.spec_from_file_location(
            name, shared / "self-instruct" / "templates" / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.update({k: v for k, v in vars(module).items() if isinstance(v, str) and not k.startswith("__")})
    return found


class Scripted:
    """Generation: novel instructions (plus, optionally, copies of given texts); classification: Yes when the
    instruction says "classify"; instances: a fixed answer per template."""

    kind = model = "scripted"
    endpoint = "scripted:"
    styles = ("completion",)
    max_concurrency = 1

    def __init__(self, copies: list[str] = (), instances: str | None = None):
        self.copies = list(copies)
        self.instances = instances

    def call(self, request, on_text=None):
        prompt = request.prompt
        if prompt.endswith(QUESTION):
            task = prompt[: -len(QUESTION)].rstrip("\n").rsplit("Task:", 1)[-1]
            text = " Yes" if "classify" in task.lower() else " No"
        elif prompt.endswith("\n") and "Task:" in prompt:  # an instance prompt
            if self.instances is not None:
                text = self.instances
            elif prompt.startswith("Given the classification task"):  # the output-first template
                text = "Class label: Yes\nSentence: it rains\nClass label: No\nSentence: it is dry"
            else:
                text = "Example 1\nInput: two\nOutput: 2\nExample 2\nInput: three\nOutput: 3"
        else:
            rng = random.Random(prompt)
            words = [
                "river",
                "poem",
                "budget",
                "planet",
                "garden",
                "engine",
                "market",
                "lesson",
                "winter",
                "doctor",
                "puzzle",
                "harbor",
                "violin",
                "desert",
                "castle",
                "pepper",
                "ladder",
                "comet",
                "tunnel",
                "meadow",
                "orchard",
                "lantern",
            ]
            novel = [" ".join(rng.choice(words) for _ in range(8)) for _ in range(2)]
            lines = [f" Describe {novel[0]}.", f"10. Classify {novel[1]} as good or bad."]
            lines += [f"{11 + i}. {c}" for i, c in enumerate(self.copies)]
            text = "\n".join(lines)
        return Response((Choice(text, "stop"),), 10, 10, 1.0)


@pytest.fixture()
def with_paper_files(data_dir, shared_datasets):
    datasets.import_folder(shared_datasets, groups=["si_templates", "seed_tasks"])
    return shared_datasets


def sent(engine, run_id: int) -> list[dict]:
    # Through the call log's reader: large prompts are stored compressed.
    rows = call_log.list_calls(engine, run_id=run_id, limit=100_000)
    return [{"prompt": r.prompt, "params": r.params} for r in reversed(rows)]


def run_job(engine, use_model, model, **options) -> tuple[int, run_store.Run]:
    use_model(model)
    run_id = submit(engine, KIND, selfinstruct_params(EMBEDDED, **options))
    assert run_once(engine) == run_id
    run = run_store.get_run(engine, run_id)
    return run_id, run


# --- The templates as data -------------------------------------------------------------------------------------


def test_the_templates_are_official_files_downloaded_imported_and_verified(data_dir, shared_datasets):
    shared = {
        line.split("\t")[0]: line for line in (shared_datasets / "MANIFEST.tsv").read_text().splitlines()
    }
    from core.datasets.manifest import MANIFEST_PATH

    ours = {line.split("\t")[0]: line for line in MANIFEST_PATH.read_text().splitlines()}
    for path in (
        "self-instruct/templates/clf_task_template.py",
        "self-instruct/templates/instance_gen_template.py",
    ):
        assert ours[path] == shared[path]
    status = {g.id: g.state for g in datasets.status()}
    assert status["si_templates"] == "missing" and datasets.paper_templates() is None
    report = datasets.import_folder(shared_datasets, groups=["si_templates"])
    assert sorted(report.fetched) == sorted(p for p in ours if p.startswith("self-instruct/templates/"))
    assert {g.id: g.state for g in datasets.status()}["si_templates"] == "present"
    oracle = reference_templates(shared_datasets)
    paper = datasets.paper_templates()
    assert paper.classify == oracle["template_1"]
    assert paper.output_first == oracle["output_first_template_for_clf"]
    assert paper.input_first == oracle["input_first_template_for_gen"]
    assert paper.classify.count("Is it classification?") == 31
    # A file that differs from the published one (same size) is not used as "the paper's".
    target = data_dir / "datasets" / "self-instruct" / "templates" / "clf_task_template.py"
    target.write_bytes(
        target.read_bytes().replace(b"Is it classification? Yes", b"Is it classification? Nah", 1)
    )
    assert datasets.paper_templates() is None and default_config().template_source == "workbench fallback"


def test_template_files_are_read_never_run(tmp_path):
    marker = tmp_path / "ran"
    hostile = [
        f"import os\ntemplate_1 = 'x'\nos.system('touch {marker}')",
        f"template_1 = __import__('os').system('touch {marker}')",
        "template_1 = 'a' + 'b'",
        "def template_1():\n    return 'x'",
        "template_1 = f'{1}'",
        "x = y = 'two targets'",
        "template_1 = " + "(" * 50_000 + "'deep'" + ")" * 50_000,
    ]
    for source in hostile:
        with pytest.raises(datasets.DatasetError):
            read_string_constants(source, "clf_task_template.py")
    assert not marker.exists()
    assert read_string_constants('"""doc"""\ntemplate_1 = """A\nB"""\n', "t.py") == {"template_1": "A\nB"}


# --- Prompts byte-equal to the reference -------------------------------------------------------------------------


def test_a_default_run_sends_the_papers_prompts_byte_for_byte(sqlite_engine, use_model, with_paper_files):
    oracle = reference_templates(with_paper_files)
    run_id, run = run_job(sqlite_engine, use_model, Scripted(), seeds="official", iterations=1)
    assert run.status == "done", run.error
    assert run.params["templates"] == "templates: paper"
    assert (
        run.params["prompt"]["template_source"] == "paper" and run.params["prompt"]["edited_templates"] == []
    )
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    kept = [x.original for x in view.items]
    assert len(kept) == 2
    prompts = [c["prompt"] for c in sent(sqlite_engine, run_id)]
    for instruction in kept:
        # identify_clf_or_not.py: prefix + " " + instruction.strip() + "\n" + "Is it classification?"
        assert oracle["template_1"] + " " + instruction.strip() + "\n" + "Is it classification?" in prompts
        clf = "classify" in instruction.lower()
        template = oracle["output_first_template_for_clf" if clf else "input_first_template_for_gen"]
        # generate_instances.py: template + " " + instruction.strip() + "\n"
        assert template + " " + instruction.strip() + "\n" in prompts
    for x in view.items:
        assert x.instances.prompt in prompts and x.verdict.answer == (
            "yes" if "classify" in x.original.lower() else "no"
        )


def test_without_the_files_the_fallback_is_used_and_labelled(sqlite_engine, use_model):
    run_id, run = run_job(sqlite_engine, use_model, Scripted(), seeds="starter", iterations=1)
    assert run.status == "done", run.error
    assert run.params["templates"] == "templates: workbench fallback"
    prompts = [c["prompt"] for c in sent(sqlite_engine, run_id)]
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    for x in view.items:
        assert CLASSIFY_TEMPLATE + " " + x.original + "\n" + QUESTION in prompts
        template = OUTPUT_FIRST_TEMPLATE if x.is_classification else INPUT_FIRST_TEMPLATE
        assert x.instances.prompt == template + " " + x.original + "\n"
    head = json.loads(export_run(view, "provenance").splitlines()[0])
    assert head["kind"] == "run" and head["templates"] == "templates: workbench fallback"


def test_an_edited_template_is_stored_with_the_run_and_labelled_a_departure(
    sqlite_engine, use_model, with_paper_files
):
    base = default_config()
    assert base.template_source == "paper"
    edited_text = base.classify_template.replace("Can the following task", "Could the following task")
    config = with_templates(
        base, classify_template=edited_text, input_first_template=base.input_first_template
    )
    assert config.edited_templates == ("classify_template",)
    run_id, run = run_job(sqlite_engine, use_model, Scripted(), seeds="official", iterations=1, prompt=config)
    assert run.params["templates"] == ("templates: paper · edited copy (departure): classification question")
    assert run.params["prompt"]["classify_template"] == edited_text
    prompts = [c["prompt"] for c in sent(sqlite_engine, run_id)]
    assert any(p.startswith("Could the following task") for p in prompts)
    assert not any(p.startswith("Can the following task") for p in prompts)
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    assert (
        "edited copy (departure)" in json.loads(export_run(view, "provenance").splitlines()[0])["templates"]
    )
    with pytest.raises(ValueError):
        with_templates(base, classify_template="  ")


# --- Classification-only mode --------------------------------------------------------------------------------------


def test_classification_only_pools_the_26_classification_seeds_and_still_classifies(
    sqlite_engine, use_model, with_paper_files
):
    seeds = datasets.seed_tasks()
    clf_seeds = [s for s in seeds if s.is_classification]
    other = next(
        s.instruction
        for s in seeds
        if not s.is_classification
        and len(s.instruction.split()) > 5
        and " ".join(s.instruction.split()) == s.instruction
        and rejection_reason(s.instruction) is None
    )
    assert len(seeds) == 175 and len(clf_seeds) == 26
    copy = other  # a copy of a non-classification seed: novel only against the 26 classification seeds
    run_id, run = run_job(
        sqlite_engine,
        use_model,
        Scripted(copies=[copy]),
        seeds="official",
        iterations=2,
        classification_only=True,
    )
    assert run.status == "done", run.error
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    clf_texts = {s.instruction for s in clf_seeds}
    for it in view.iterations:
        for record in it.records:
            assert record.prompt.startswith("Come up with a series of classification tasks.")
            assert all(s.text in clf_texts for s in record.sample.items if s.origin == "human")
    first = view.iterations[0].records[0].decisions
    copied = next(d for d in first if d.text == copy)
    assert copied.kept, copied.reason  # a normal run would drop it: it is a seed
    assert all(
        e.text not in {s.instruction for s in seeds if not s.is_classification} for e in copied.evidence
    )
    # Every kept instruction was classified by the model (no "yes" assumed): the copy is not classification.
    prompts = [c["prompt"] for c in sent(sqlite_engine, run_id)]
    assert sum(p.endswith(QUESTION) for p in prompts) == len(view.items) > 0
    assert view.item("0/2").verdict.answer == "no" and view.item("0/1").verdict.answer == "yes"

    normal_id, normal = run_job(
        sqlite_engine, use_model, Scripted(copies=[copy]), seeds="official", iterations=1
    )
    normal_view = load_run(calltexts.results(sqlite_engine, normal_id), normal.params)
    dropped = next(d for d in normal_view.iterations[0].records[0].decisions if d.text == copy)
    assert not dropped.kept and dropped.code in ("too_similar", "repeats_prompt")


# --- Decoding per task type and the stored evidence ----------------------------------------------------------------


def test_instance_requests_use_300_tokens_for_classification_and_350_otherwise(sqlite_engine, use_model):
    run_id, run = run_job(sqlite_engine, use_model, Scripted(), seeds="starter", iterations=1)
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    by_prompt = {c["prompt"]: c["params"] for c in sent(sqlite_engine, run_id)}
    seen = set()
    for x in view.items:
        params = by_prompt[x.instances.prompt]
        assert params["max_tokens"] == (300 if x.is_classification else 350)
        assert params["temperature"] == 0 and params["top_p"] == 0 and params["presence_penalty"] == 1.5
        assert list(params["stop"]) == ["Example 6", "Task:"]
        seen.add(x.is_classification)
    assert seen == {True, False}


def test_each_candidate_stores_the_mean_rouge_l_against_the_pool(sqlite_engine, use_model):
    """As the reference: a kept instruction stores its 10 most similar pool instructions and its mean ROUGE-L
    against the pool as it stood when it was judged. A candidate dropped as too similar stores the pool
    instruction that exceeded the threshold (its closest), and no mean."""
    # The second text is the first with one word changed (ROUGE-L 0.9): never novel once the first is kept.
    twins = [
        "Write a short story about a lighthouse keeper and a storm.",
        "Write a short story about a lighthouse keeper and a whale.",
    ]
    run_id, run = run_job(sqlite_engine, use_model, Scripted(copies=twins), seeds="starter", iterations=3)
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)  # the reference's scorer
    pool = [s.instruction for s in view.seeds]
    checked = dropped = 0
    for it in view.iterations:
        for row in it.raw["requests"]:
            for c in row["candidates"]:
                scores = [scorer.score(c["text"], p)["rougeL"].fmeasure for p in pool]
                if c["kept"]:
                    assert c["avg_similarity_score"] == pytest.approx(sum(scores) / len(scores), abs=1e-9)
                    assert len(c["evidence"]) == min(10, sum(1 for s in scores if s > 0))
                    top = sorted(scores, reverse=True)[: len(c["evidence"])]
                    assert [s for _, s in c["evidence"]] == pytest.approx(top, abs=1e-9)
                    checked += 1
                elif c["stage"] == "novelty":
                    ((text, score),) = c["evidence"]
                    assert score == pytest.approx(max(scores), abs=1e-9) and score > 0.7
                    assert scorer.score(c["text"], text)["rougeL"].fmeasure == pytest.approx(score, abs=1e-9)
                    assert c["avg_similarity_score"] is None
                    dropped += 1
                else:
                    assert c["avg_similarity_score"] is None
                if c["kept"]:
                    pool.append(c["text"])
    assert checked >= 6 and dropped >= 3, [
        (c["text"], c["reason"])
        for it in view.iterations
        for r in it.raw["requests"]
        for c in r["candidates"]
    ]
    stored = [
        c["avg_similarity_score"]
        for it in view.iterations
        for r in it.raw["requests"]
        for c in r["candidates"]
    ]
    rows = [json.loads(line) for line in export_run(view, "provenance").splitlines()]
    assert [r["avg_similarity_score"] for r in rows if r["kind"] == "candidate"] == stored


# --- Fine-tuning export ---------------------------------------------------------------------------------------------


def test_the_finetune_export_includes_the_seed_tasks_by_default(sqlite_engine, use_model):
    run_id, run = run_job(sqlite_engine, use_model, Scripted(), seeds="starter", iterations=1)
    view = load_run(calltexts.results(sqlite_engine, run_id), run.params)
    seed_rows = sum(len(s.instances) for s in view.seeds)
    generated = sum(len(t.instances) for t in view.tasks)
    assert seed_rows > 0 and generated > 0
    default = [json.loads(line) for line in export_run(view, "finetune").splitlines()]
    without = [
        json.loads(line) for line in export_run(view, "finetune", include_seed_tasks=False).splitlines()
    ]
    assert len(without) == generated and len(default) == generated + seed_rows
    first_seed = view.seeds[0]
    assert any(
        row["prompt"].replace("Task: ", "").startswith(first_seed.instruction.strip()) for row in default
    )
    assert not any(
        row["prompt"].replace("Task: ", "").startswith(first_seed.instruction.strip()) for row in without
    )
    assert all(re.search(r"<\|endoftext\|>$", row["completion"]) for row in default)
