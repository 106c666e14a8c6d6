"""Every module that registers a job kind, imported in one place."""

import core.datasets.jobs  # noqa: F401
import core.generation  # noqa: F401
import core.induction.job  # noqa: F401
import core.review.consistency  # noqa: F401
import core.review.judge_run  # noqa: F401
import core.selfinstruct.job  # noqa: F401
