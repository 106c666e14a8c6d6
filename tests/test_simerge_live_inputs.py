"""What the Self-Instruct live step reads from the page index (SQLite and PostgreSQL) equals what a full
load_run gives: the job's pool (the texts as kept, in order, untouched by edits and deletions), the seeds,
and how many kept instructions have their last stage stored."""

from __future__ import annotations

from core.selfinstruct import index
from core.selfinstruct import pages as si_pages
from core.selfinstruct.job import record_edit, resolve_seeds
from core.selfinstruct.records import Task
from core.selfinstruct.rows import seed_row
from core.selfinstruct.view import load_run
from core.store import runs as run_store
from tests.test_sipage_index import make_run


def test_live_inputs_equal_a_full_load_run(engine):
    run_id = make_run(engine, iterations=8, seed=3)
    assert si_pages.seeds(engine, run_id) == []  # before the job stored them
    run_store.save_result(engine, run_id, "seeds", [seed_row(s) for s in resolve_seeds("starter")])
    view = load_run(run_store.results(engine, run_id))
    first, second = (x.key for x in view.items[:2])
    # The job's pool is what was kept: an edit or a deletion made on the page never changes it.
    record_edit(engine, run_id, first, "edit", "Name three rivers of the given country.")
    record_edit(engine, run_id, second, "delete")
    index.sync(engine, run_id)
    view = load_run(run_store.results(engine, run_id))

    machine = [Task(text, id=f"{it.t}/{i}") for it in view.iterations for i, text in enumerate(it.kept)]
    got = si_pages.job_pool(engine, run_id)
    assert got == machine and len(got) == view.n_kept > 2
    assert got[0].instruction == view.items[0].original != view.items[0].instruction

    assert [s.instruction for s in si_pages.seeds(engine, run_id)] == [s.instruction for s in view.seeds]
    with_instances = sum(x.instances is not None for x in view.items)
    classified = sum(x.verdict is not None for x in view.items)
    assert si_pages.stages_done(engine, run_id, instances=True) == with_instances
    assert si_pages.stages_done(engine, run_id, instances=False) == classified
    assert 0 < with_instances < len(view.items)  # make_run leaves some items without their stages
