"""Background jobs: long work runs outside the Streamlit script, persisted as it goes.

A job kind is a function `fn(ctx: JobContext) -> None` registered with `@job_kind("name")`. It splits its
work into keyed units and stores each unit's result with `ctx.save(key, value)`; on resume (after a
cancel, a crash or a server restart) `ctx.done(key)` tells it what not to redo. Model calls go through
`ctx.llm()`, which logs and caches them under the run.
"""

from core.jobs.context import Cancelled, JobContext
from core.jobs.registry import JOB_KINDS, job_kind
from core.jobs.runner import JobRunner, execute, resume_here, run_once, start_here, submit, worker_id

__all__ = [
    "JOB_KINDS",
    "Cancelled",
    "JobContext",
    "JobRunner",
    "execute",
    "job_kind",
    "resume_here",
    "run_once",
    "start_here",
    "submit",
    "worker_id",
]
