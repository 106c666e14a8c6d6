"""Human evaluation of model responses on the paper's A/B/C/D scale: blind rating campaigns, per-model
results and inter-rater agreement. Pure functions; storage and pages live elsewhere."""

from core.humaneval.agreement import (
    ACCEPTABLE,
    LABELS,
    ORDINAL,
    agreement,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    krippendorff_alpha,
    multi_rater_agreement,
)
from core.humaneval.campaign import (
    DEFAULT_GUIDELINES,
    RATING_SCALE,
    CampaignSpec,
    assign_items,
    rater_order,
    rater_seed,
    resume_index,
)
from core.humaneval.export import ratings_to_csv, ratings_to_jsonl, results_report
from core.humaneval.records import RaterView, Rating, ResponseItem, blind, blind_id, item_id
from core.humaneval.results import (
    Disagreement,
    ModelResult,
    agreement_between,
    agreement_summary,
    disagreements,
    model_results,
    rating_matrix,
    wilson_interval,
)

__all__ = [
    "ACCEPTABLE",
    "DEFAULT_GUIDELINES",
    "LABELS",
    "ORDINAL",
    "RATING_SCALE",
    "CampaignSpec",
    "Disagreement",
    "ModelResult",
    "Rating",
    "RaterView",
    "ResponseItem",
    "agreement",
    "agreement_between",
    "agreement_summary",
    "assign_items",
    "blind",
    "blind_id",
    "disagreements",
    "fleiss_kappa",
    "fleiss_kappa_from_counts",
    "item_id",
    "krippendorff_alpha",
    "model_results",
    "multi_rater_agreement",
    "rater_order",
    "rater_seed",
    "rating_matrix",
    "ratings_to_csv",
    "ratings_to_jsonl",
    "results_report",
    "resume_index",
    "wilson_interval",
]
