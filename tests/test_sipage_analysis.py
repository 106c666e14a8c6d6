"""The analysis job (kind selfinstruct_analysis): what it stores equals the analysis computed directly from a
full load_run of the run (verb-noun pairs with spaCy, ROUGE-L against the seeds, lengths)."""

from __future__ import annotations

from core.jobs import run_once, submit
from core.selfinstruct import analysis_job, index
from core.selfinstruct.analysis import length_distributions, sunburst_data, verb_noun_pairs
from core.selfinstruct.job import record_edit
from core.selfinstruct.view import load_run
from core.store import runs as run_store
from tests.test_sipage_index import make_run


def test_the_job_stores_the_analysis_of_the_pool_as_it_stands(sqlite_engine):
    engine = sqlite_engine
    run_id = make_run(engine, iterations=5, seed=7)
    run_store.update_run(engine, run_id, status="done")
    first = load_run(run_store.results(engine, run_id)).items[0].key
    record_edit(engine, run_id, first, "delete")  # a deleted item leaves the pool's figures
    upto = index.last_result_id(engine, run_id)
    job = submit(engine, analysis_job.KIND, analysis_job.analysis_params(run_id, upto))
    assert run_once(engine) == job
    assert run_store.get_run(engine, job).status == "done"
    assert analysis_job.latest(engine, run_id).id == job
    got = analysis_job.stored(engine, job)

    view = load_run(run_store.results(engine, run_id))
    pairs = verb_noun_pairs([x.instruction for x in view.pool])
    assert got["upto"] == upto and got["instructions"] == len(view.pool)
    assert got["sunburst"] == sunburst_data(pairs)
    assert got["with_pair"] == sum(bool(p.verb and p.noun) for p in pairs)
    assert sum(got["seed_rouge"]["counts"]) == len(view.seed_rouge())
    lengths = length_distributions(view.tasks)
    for name in ("instruction", "input", "output"):
        hist = got["lengths"][name]
        assert sum(hist["counts"]) == len(lengths[name])
        if lengths[name]:
            assert (hist["edges"][0], hist["edges"][-1]) == (min(lengths[name]), max(lengths[name]))


def test_histogram_counts_each_value_once_in_its_bin():
    hist = analysis_job.histogram([0.0, 0.05, 0.5, 1.0], 4, 0.0, 1.0)
    assert hist["counts"] == [2, 0, 1, 1] and hist["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert analysis_job.histogram([]) == {"edges": [], "counts": []}
    assert analysis_job.histogram([3, 3])["counts"][0] == 2  # one value: one bin of width 1
