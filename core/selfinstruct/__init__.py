"""Self-Instruct, stage by stage, as pure functions and records (Wang et al., 2023).

1 sampling, 2 prompts, 3 parsing, 4 filters (+ novelty, passed in), 5 classify, 6-7 instances, 8 export,
9 analysis (spaCy loaded lazily). Model calls, storage and jobs live elsewhere.
"""

from core.selfinstruct.analysis import (
    DatasetStats,
    VerbNoun,
    length_distributions,
    load_nlp,
    sunburst_data,
    table1_stats,
    verb_noun_pairs,
)
from core.selfinstruct.classify import ClassificationVerdict, parse_classification
from core.selfinstruct.export import (
    alpaca_json,
    alpaca_records,
    chat_jsonl,
    chat_records,
    finetune_jsonl,
    finetune_records,
    provenance_jsonl,
    provenance_records,
)
from core.selfinstruct.filters import (
    DEFAULT_BLACKLIST,
    NOVELTY_THRESHOLD,
    CandidateDecision,
    Similar,
    SimilarityLookup,
    decide,
    decide_all,
    rejection_reason,
)
from core.selfinstruct.instances import (
    InstanceDecision,
    InstanceParse,
    RawInstance,
    TaskInstances,
    build_task_instances,
    filter_instances,
    parse_input_first,
    parse_instances,
    parse_output_first,
)
from core.selfinstruct.iteration import IterationRecord, process_response
from core.selfinstruct.parsing import Candidate, ParseResult, normalize_candidate, parse_response
from core.selfinstruct.prompts import (
    CLASSIFICATION_HEADER,
    INSTRUCTION_HEADER,
    DecodingSettings,
    PromptConfig,
    chat_messages,
    classify_prompt,
    encode_instruction_prompt,
    instance_prompt,
)
from core.selfinstruct.reasons import REASONS, make_reason, reason_code
from core.selfinstruct.records import Instance, Task
from core.selfinstruct.sampling import PromptSample, SampledInstruction, sample_instructions

__all__ = [
    "CLASSIFICATION_HEADER",
    "DEFAULT_BLACKLIST",
    "INSTRUCTION_HEADER",
    "NOVELTY_THRESHOLD",
    "REASONS",
    "Candidate",
    "CandidateDecision",
    "ClassificationVerdict",
    "DatasetStats",
    "DecodingSettings",
    "Instance",
    "InstanceDecision",
    "InstanceParse",
    "IterationRecord",
    "ParseResult",
    "PromptConfig",
    "PromptSample",
    "RawInstance",
    "SampledInstruction",
    "Similar",
    "SimilarityLookup",
    "Task",
    "TaskInstances",
    "VerbNoun",
    "alpaca_json",
    "alpaca_records",
    "chat_jsonl",
    "chat_records",
    "finetune_jsonl",
    "finetune_records",
    "length_distributions",
    "load_nlp",
    "provenance_jsonl",
    "provenance_records",
    "sunburst_data",
    "table1_stats",
    "verb_noun_pairs",
    "build_task_instances",
    "chat_messages",
    "classify_prompt",
    "decide",
    "decide_all",
    "encode_instruction_prompt",
    "filter_instances",
    "instance_prompt",
    "make_reason",
    "normalize_candidate",
    "parse_classification",
    "parse_input_first",
    "parse_instances",
    "parse_output_first",
    "parse_response",
    "process_response",
    "reason_code",
    "rejection_reason",
    "sample_instructions",
]
