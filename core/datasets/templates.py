"""The Self-Instruct paper's few-shot prompt templates, read as data.

The published files (`clf_task_template.py`, `instance_gen_template.py`) are Python modules made of plain
string assignments. They are never imported or executed: the source is parsed with `ast` and only
`NAME = <string literal>` assignments are evaluated, with `ast.literal_eval`; anything else is refused.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from core.datasets.errors import DatasetError
from core.datasets.manifest import CLF_TEMPLATE_FILE, INSTANCE_TEMPLATE_FILE

# The names the reference code imports from each file.
CLF_NAME = "template_1"
OUTPUT_FIRST_NAME = "output_first_template_for_clf"
INPUT_FIRST_NAME = "input_first_template_for_gen"


@dataclass(frozen=True)
class PaperTemplates:
    classify: str  # clf_task_template.template_1
    output_first: str  # instance_gen_template.output_first_template_for_clf
    input_first: str  # instance_gen_template.input_first_template_for_gen


def read_string_constants(source: str, name: str = "<template>") -> dict[str, str]:
    """Every `NAME = "literal"` of a Python source, without running it; other statements are refused."""
    try:
        tree = ast.parse(source, filename=name)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise DatasetError(name, f"not a readable template file ({type(exc).__name__})") from None
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring or a bare literal: harmless
        if not (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            raise DatasetError(
                name, f"expected only string assignments, found {type(node).__name__}", line=node.lineno
            )
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            value = None
        if not isinstance(value, str):
            raise DatasetError(name, "the assigned value is not a string literal", line=node.lineno)
        found[node.targets[0].id] = value
    return found


def _pick(constants: dict[str, str], key: str, name: str) -> str:
    if key not in constants:
        raise DatasetError(name, f"no assignment to {key}")
    return constants[key]


def load_paper_templates(root: Path) -> PaperTemplates:
    """The three templates from a datasets folder laid out like ../shared/datasets."""
    clf_path, inst_path = root / CLF_TEMPLATE_FILE, root / INSTANCE_TEMPLATE_FILE
    clf = read_string_constants(clf_path.read_text(encoding="utf-8"), clf_path.name)
    inst = read_string_constants(inst_path.read_text(encoding="utf-8"), inst_path.name)
    return PaperTemplates(
        classify=_pick(clf, CLF_NAME, clf_path.name),
        output_first=_pick(inst, OUTPUT_FIRST_NAME, inst_path.name),
        input_first=_pick(inst, INPUT_FIRST_NAME, inst_path.name),
    )
