"""A Self-Instruct run's parameters (RunSpec and its stored form) and the keys of its stored results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from core.selfinstruct.classify import ClassificationRule
from core.selfinstruct.fidelity import PAPER_REQUESTS_PER_ITERATION, departures
from core.selfinstruct.filters import (
    DEFAULT_BLACKLIST,
    NOVELTY_THRESHOLD,
)
from core.selfinstruct.prompts import (
    MAX_INSTANCES,
    DecodingSettings,
    PromptConfig,
)
from core.selfinstruct.templates import default_config

KIND = "selfinstruct"
MAX_IDLE = 20  # default stall limit (iterations that keep nothing in a row)
# The reference's request_batch_size: prompts per iteration, all sampled from the pool as it stood. The
# command line's and (on a real endpoint) the page's default; a RunSpec's own default stays 1, one prompt per
# step. Either way the run names a different value as a departure.
PAPER_REQUESTS = PAPER_REQUESTS_PER_ITERATION
SEED_SOURCES = ("official", "starter")  # or "upload:<file name>"
Style = Literal["completion", "chat"]


def iter_key(t: int) -> str:
    return f"iter/{t:06d}"


def clf_key(t: int, i: int) -> str:
    return f"clf/{t:06d}/{i}"


def inst_key(t: int, i: int) -> str:
    return f"inst/{t:06d}/{i}"


# --- Parameters -----------------------------------------------------------------------------------------------


def _decoding(raw: Mapping[str, Any]) -> DecodingSettings:
    return DecodingSettings(**{**raw, "stop": tuple(raw.get("stop", ()))})


def prompt_config_from_dict(raw: Mapping[str, Any] | None) -> PromptConfig:
    """The inverse of PromptConfig.to_dict (JSON turned its tuples into lists)."""
    if not raw:
        return PromptConfig()
    known = {f.name for f in fields(PromptConfig)}
    kwargs: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    for name, value in kwargs.items():
        if name.endswith("decoding") or name == "instance_decoding_classification":
            kwargs[name] = _decoding(value)
    if "chat_system" in kwargs:
        kwargs["chat_system"] = tuple(tuple(pair) for pair in kwargs["chat_system"])
    if "edited_templates" in kwargs:
        kwargs["edited_templates"] = tuple(kwargs["edited_templates"])
    return PromptConfig(**kwargs)


MAX_LOOKAHEAD = 8


@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs besides its model, resolved from its stored parameters.

    The run stops when it has done `iterations` iterations or its machine pool holds `target` instructions,
    whichever comes first (at least one must be set).
    """

    seeds: str = "official"
    k_human: int = 6
    k_machine: int = 2
    classification_only: bool = False
    prompt: PromptConfig = field(default_factory=PromptConfig)
    on_length: Literal["drop_all", "drop_last"] = "drop_all"
    blacklist_extra: tuple[str, ...] = ()
    threshold: float = NOVELTY_THRESHOLD
    iterations: int | None = None
    target: int | None = None
    requests_per_iteration: int = 1
    seed: int = 0
    style: Literal["auto", "completion", "chat"] = "auto"
    classify: bool = True
    instances: bool = True
    max_instances: int = MAX_INSTANCES
    # A run stops (resumable) after this many consecutive iterations that keep no instruction, or this many
    # consecutive instructions whose instance generation keeps nothing: a model that can never reach the
    # target must not loop forever.
    max_idle_iterations: int = MAX_IDLE
    max_idle_instances: int = MAX_IDLE
    # How a classification reply is read: the reference's exact Yes/yes/YES, or the first yes/no word.
    classification_rule: ClassificationRule = "paper"
    # Classification and instances run beside the generation loop (True), or each iteration waits for its
    # own (False). Decisions, pool and stored results are the same either way; only the waiting differs.
    overlap: bool = True
    # Departure (0 = the paper): generation requests of up to this many later iterations are sent before the
    # current one is judged, so the endpoint never waits for the novelty filter. Iteration t then samples its
    # prompts from the pool as it stood after iteration t-1-lookahead (a few iterations older). Decisions
    # stay sequential and deterministic: the same responses give the same run, resumed or not.
    lookahead: int = 0

    def __post_init__(self) -> None:
        if self.iterations is None and self.target is None:
            raise ValueError("a Self-Instruct run needs a number of iterations or a target pool size")
        if self.max_idle_iterations < 1 or self.max_idle_instances < 1:
            raise ValueError("max_idle_iterations and max_idle_instances must be at least 1")
        if self.requests_per_iteration < 1:
            raise ValueError("requests_per_iteration must be at least 1")
        if not 0 <= self.lookahead <= MAX_LOOKAHEAD:
            raise ValueError(f"lookahead must be between 0 and {MAX_LOOKAHEAD}, got {self.lookahead}")
        if self.on_length not in ("drop_all", "drop_last"):
            raise ValueError(f"on_length must be 'drop_all' or 'drop_last', got {self.on_length!r}")
        if self.classification_rule not in ("paper", "lenient"):
            raise ValueError(
                f"classification_rule must be 'paper' or 'lenient', got {self.classification_rule!r}"
            )
        if self.style not in ("auto", "completion", "chat"):
            raise ValueError(f"style must be 'auto', 'completion' or 'chat', got {self.style!r}")

    @property
    def blacklist(self) -> tuple[str, ...]:
        extra = tuple(w.strip().lower() for w in self.blacklist_extra if w.strip())
        return tuple(dict.fromkeys(DEFAULT_BLACKLIST + extra))

    def goes_on(self, t: int, pool_size: int) -> bool:
        """Whether iteration t runs, given the machine pool size before it."""
        if self.iterations is not None and t >= self.iterations:
            return False
        return self.target is None or pool_size < self.target

    def to_params(self, model: Mapping[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"model": dict(model)}
        for f in fields(self):
            value = getattr(self, f.name)
            params[f.name] = list(value) if isinstance(value, tuple) else value
        params["prompt"] = self.prompt.to_dict()
        params["prompt_version"] = self.prompt.version  # so records and the page can cite it
        params["templates"] = self.prompt.templates_label  # "templates: paper" or the fallback / an edit
        params["departures"] = departures(self)  # stored, so the run says how it differs from the paper
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunSpec:
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: v for k, v in params.items() if k in known}
        kwargs["prompt"] = prompt_config_from_dict(params.get("prompt"))
        kwargs["blacklist_extra"] = tuple(params.get("blacklist_extra") or ())
        return cls(**kwargs)


def selfinstruct_params(model: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    """Stored parameters of a run: `model` is a public settings dict (never a key); options are RunSpec's.
    Without a `prompt`, the paper's templates are used when the datasets folder holds them."""
    if "prompt" not in options:
        options["prompt"] = default_config()
    return RunSpec(**options).to_params(model)


def with_decoding(
    config: PromptConfig,
    *,
    header: str | None = None,
    classification_header: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    presence_penalty: float | None = None,
    max_tokens: int | None = None,
    instance_max_tokens: int | None = None,
    clf_instance_max_tokens: int | None = None,
) -> PromptConfig:
    """The prompt configuration with the settings the page and the command line expose changed."""
    changes = {
        k: v
        for k, v in dict(
            temperature=temperature, top_p=top_p, presence_penalty=presence_penalty, max_tokens=max_tokens
        ).items()
        if v is not None
    }
    out = replace(config, instruction_decoding=replace(config.instruction_decoding, **changes))
    if header is not None:
        out = replace(out, header=header)
    if classification_header is not None:
        out = replace(out, classification_header=classification_header)
    # Instances of classification tasks and of the others have their own limits (paper: 300 and 350).
    if instance_max_tokens is not None:
        out = replace(out, instance_decoding=replace(out.instance_decoding, max_tokens=instance_max_tokens))
    if clf_instance_max_tokens is not None:
        out = replace(
            out,
            instance_decoding_classification=replace(
                out.instance_decoding_classification, max_tokens=clf_instance_max_tokens
            ),
        )
    return out
