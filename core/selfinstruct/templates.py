"""Which few-shot templates a run uses: the paper's when their files are present, else the project's fallback.

A user may edit a copy of any template for one run; the edited ones are named in the run's PromptConfig
(`edited_templates`), so the page, the stored parameters and the exports label them as departures.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.selfinstruct.prompts import (
    FALLBACK_SOURCE,
    PAPER_SOURCE,
    TEMPLATE_FIELDS,
    PromptConfig,
)


def base_config(paper: object | None) -> PromptConfig:
    """The prompt configuration with the paper's templates (a core.datasets.PaperTemplates) or the fallback."""
    if paper is None:
        return PromptConfig(template_source=FALLBACK_SOURCE)
    return PromptConfig(
        classify_template=paper.classify,  # type: ignore[attr-defined]
        output_first_template=paper.output_first,  # type: ignore[attr-defined]
        input_first_template=paper.input_first,  # type: ignore[attr-defined]
        template_source=PAPER_SOURCE,
    )


def default_config(folder: Path | str | None = None) -> PromptConfig:
    """The default for a new run: the paper's templates if the datasets folder holds them."""
    import core.datasets as datasets

    return base_config(datasets.paper_templates(folder))


def with_templates(config: PromptConfig, **texts: str | None) -> PromptConfig:
    """`config` with some templates replaced (None leaves one as it is); a text that differs from the
    config's own is recorded as edited. Keyword names are TEMPLATE_FIELDS' keys."""
    unknown = set(texts) - set(TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown template(s) {', '.join(sorted(unknown))}; known: {', '.join(TEMPLATE_FIELDS)}"
        )
    changes = {k: v for k, v in texts.items() if v is not None and v != getattr(config, k)}
    for name, text in changes.items():
        if not text.strip():
            raise ValueError(f"the {TEMPLATE_FIELDS[name]} template cannot be empty")
    edited = tuple(n for n in TEMPLATE_FIELDS if n in changes or n in config.edited_templates)
    return replace(config, **changes, edited_templates=edited)
