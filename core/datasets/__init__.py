"""The workbench's datasets: the papers' data when present, else the project's starter set, plus uploads.

`folder` arguments default to `data_dir()/datasets`; any folder laid out like `../shared/datasets` works.
Loading is not cached here: callers that load repeatedly (the Streamlit pages) cache on their side.
"""

from __future__ import annotations

from pathlib import Path

from core.datasets import uploads as _uploads
from core.datasets.download import (
    GroupStatus,
    Progress,
    Report,
    datasets_dir,
    download,
    group_present,
    import_folder,
    is_verified,
    status,
)
from core.datasets.errors import ChecksumError, DatasetError, DownloadError
from core.datasets.loaders import (
    eval_path,
    export_eval_tasks,
    export_seed_tasks,
    load_all_predictions,
    load_eval_tasks,
    load_induction_task,
    load_seed_tasks,
    seed_path,
)
from core.datasets.manifest import GROUPS, entries_for
from core.datasets.records import (
    EvalTask,
    InductionExample,
    InductionTask,
    Instance,
    PaperDemoSet,
    Prediction,
    SeedTask,
)
from core.datasets.registry import TASK_METRICS, TASK_NAMES
from core.datasets.starter import (
    STARTER_METRICS,
    starter_eval_tasks,
    starter_seed_tasks,
    starter_task,
)
from core.datasets.templates import PaperTemplates, load_paper_templates
from core.datasets.uploads import KINDS as UPLOAD_KINDS
from core.datasets.uploads import parse_upload


def _root(folder: Path | str | None) -> Path:
    return Path(folder) if folder else datasets_dir()


def has_official(group: str, folder: Path | str | None = None) -> bool:
    """Whether a dataset group's official files are all in the folder (by size; `status()` hashes)."""
    return group_present(group, _root(folder))


def instruction_task_names(folder: Path | str | None = None) -> list[str]:
    """The 24 official task names when downloaded, else the starter tasks' names."""
    return list(TASK_NAMES) if has_official("instruction_induction", folder) else list(STARTER_METRICS)


def load_task(name: str, folder: Path | str | None = None) -> InductionTask:
    """One Instruction Induction task by name: official, starter, or an uploaded demonstrations file."""
    if name in STARTER_METRICS:
        return starter_task(name)
    if name in TASK_METRICS:
        # This task's files only: a benchmark run loads each task several times.
        if not group_present("instruction_induction", _root(folder), f"{name}.json"):
            raise DatasetError(
                f"{name}.json",
                "the Instruction Induction files are not in the datasets folder; "
                "run `python -m core.datasets download` or import them",
            )
        return load_induction_task(_root(folder), name)
    for task in uploaded_tasks(folder):
        if task.name == name:
            return task
    raise KeyError(f"no Instruction Induction task named {name!r}")


def instruction_tasks(folder: Path | str | None = None) -> list[InductionTask]:
    return [load_task(name, folder) for name in instruction_task_names(folder)]


def seed_tasks(folder: Path | str | None = None) -> list[SeedTask]:
    """The 175 Self-Instruct seed tasks, or the starter seeds when they are absent."""
    if has_official("seed_tasks", folder):
        return load_seed_tasks(seed_path(_root(folder)))
    return starter_seed_tasks()


def eval_tasks(folder: Path | str | None = None) -> list[EvalTask]:
    """The 252 user-oriented evaluation tasks, or the starter ones when they are absent."""
    if has_official("user_oriented", folder):
        return load_eval_tasks(eval_path(_root(folder)))
    return starter_eval_tasks()


def predictions(folder: Path | str | None = None) -> dict[str, list[Prediction]]:
    """Each model's predictions on the 252 tasks (row i answers eval task i); empty when absent."""
    if not has_official("predictions", folder):
        return {}
    return load_all_predictions(_root(folder))


def paper_templates(folder: Path | str | None = None) -> PaperTemplates | None:
    """The Self-Instruct paper's three few-shot templates when their files are in the folder with the
    manifest's sha256 (small files, so always hashed: a run labelled "paper" must use the published text),
    else None."""
    root = _root(folder)
    if not all(is_verified(root / e.path, e) for e in entries_for(["si_templates"])):
        return None
    return load_paper_templates(root)


def save_upload(name: str, data: bytes, kind: str, folder: Path | str | None = None) -> Path:
    """Validate a user's file whole, then store it atomically under `<datasets>/uploads/<kind>/`."""
    return _uploads.save_upload(_root(folder), name, data, kind)


def uploaded(kind: str, folder: Path | str | None = None) -> list:
    """Stored uploads of one kind (demonstrations come back as InductionTask objects)."""
    return _uploads.load_uploads(_root(folder), kind)


def uploaded_tasks(folder: Path | str | None = None) -> list[InductionTask]:
    return uploaded("demonstrations", folder)


def delete_upload(name: str, kind: str, folder: Path | str | None = None) -> bool:
    return _uploads.delete_upload(_root(folder), kind, name)


__all__ = [
    "GROUPS",
    "TASK_METRICS",
    "TASK_NAMES",
    "STARTER_METRICS",
    "UPLOAD_KINDS",
    "ChecksumError",
    "DatasetError",
    "DownloadError",
    "EvalTask",
    "GroupStatus",
    "InductionExample",
    "InductionTask",
    "Instance",
    "PaperDemoSet",
    "PaperTemplates",
    "Prediction",
    "Progress",
    "Report",
    "SeedTask",
    "datasets_dir",
    "delete_upload",
    "download",
    "eval_tasks",
    "export_eval_tasks",
    "export_seed_tasks",
    "has_official",
    "import_folder",
    "instruction_task_names",
    "instruction_tasks",
    "load_task",
    "paper_templates",
    "parse_upload",
    "predictions",
    "save_upload",
    "seed_tasks",
    "status",
    "uploaded",
    "uploaded_tasks",
]
