"""Downloading or importing the official datasets as a background job, so the page can be left meanwhile."""

from __future__ import annotations

from pathlib import Path

from core.datasets.download import Progress, download, import_folder
from core.jobs.context import JobContext
from core.jobs.registry import job_kind


def dataset_params(action: str, groups: list[str] | None = None, folder: str | None = None) -> dict:
    if action not in ("download", "import"):
        raise ValueError(f"unknown dataset action {action!r}")
    if action == "import" and not folder:
        raise ValueError("importing needs a folder")
    return {"action": action, "groups": groups, "folder": folder}


@job_kind("datasets")
def run_datasets(ctx: JobContext) -> None:
    p = ctx.params

    def progress(event: Progress) -> None:
        # Progress counts files; the message names the file and its bytes so far.
        ctx.progress(
            event.index - (event.state not in ("verified", "present")),
            event.count,
            f"{event.state} {event.path} ({event.done:,}/{event.total:,} bytes)",
        )

    if p["action"] == "download":
        report = download(groups=p.get("groups"), progress=progress)
    else:
        report = import_folder(Path(p["folder"]), groups=p.get("groups"), progress=progress)
    ctx.save("report", {"fetched": report.fetched, "present": report.present, "missing": report.missing})
